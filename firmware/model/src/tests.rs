use core::cell::RefCell;

use super::*;

extern crate std;
use std::string::ToString;
use std::vec;
use std::vec::Vec as StdVec;

fn memory(config: &LinkConfig) -> StdVec<u64> {
    vec![0; config.memory_words()]
}

fn config(depth: usize, latency: usize, seed: u64) -> LinkConfig {
    LinkConfig {
        depth,
        latency,
        seed,
        ..LinkConfig::default()
    }
}

/// Both CPUs idle until `cycles`.
fn idle(cpus: [&Cpu; 2], cycles: u64) {
    cpus[0].advance_to(cycles);
    cpus[1].advance_to(cycles);
}

#[test]
fn alignment_maps_every_transmit_index_to_the_same_receive_index() {
    for seed in 0..200u64 {
        for &(depth, latency, bus_cycles) in &[
            (16, 3, 8),
            (128, 200, 8),
            (256, 37, 1),
            (256, 500, 1),
            (4000, 1000, 8),
            (16, 0, 2),
        ] {
            let config = config(depth, latency, seed);
            let mut memory = memory(&config);
            let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
            let (ca, cb) = (Cpu::new(bus_cycles), Cpu::new(bus_cycles));
            let (mut a, mut b) = align(&link, [&ca, &cb], 100_000)
                .unwrap_or_else(|| panic!("seed {seed} depth {depth}: no alignment"));
            let pattern: StdVec<u64> = (0..depth as u64).map(|i| (seed << 32) | (i + 1)).collect();
            a.write(0, &pattern);
            b.write(0, &pattern);
            // Two passes plus the latency later, every word has landed.
            let t = ca.cycles().max(cb.cycles()) + 2 * (depth + latency) as u64;
            idle([&ca, &cb], t);
            let mut got = vec![0; depth];
            b.read(0, &mut got);
            assert_eq!(
                got, pattern,
                "A to B, seed {seed} depth {depth} latency {latency}"
            );
            a.read(0, &mut got);
            assert_eq!(
                got, pattern,
                "B to A, seed {seed} depth {depth} latency {latency}"
            );
            if depth == 4000 && seed > 20 {
                break;
            }
        }
    }
}

/// An aligned link and its two CPUs at the same cycle, for the tests below.
struct Rig {
    memory: StdVec<u64>,
    config: LinkConfig,
    cpus: [Cpu; 2],
}

impl Rig {
    fn new(config: LinkConfig, bus_cycles: u64) -> Self {
        Self::with_buses(config, [bus_cycles; 2])
    }

    fn with_buses(config: LinkConfig, buses: [u64; 2]) -> Self {
        Rig {
            memory: memory(&config),
            config,
            cpus: buses.map(Cpu::new),
        }
    }

    fn run(
        &mut self,
        f: impl FnOnce(&RefCell<Link<'_>>, End<'_, '_, '_>, End<'_, '_, '_>, [&Cpu; 2]),
    ) {
        let link = RefCell::new(Link::new(&self.config, &mut self.memory).unwrap());
        let cpus = [&self.cpus[0], &self.cpus[1]];
        let (a, b) = align(&link, cpus, 100_000).expect("aligns");
        let t = cpus[0].cycles().max(cpus[1].cycles());
        idle(cpus, t);
        f(&link, a, b, cpus);
    }
}

#[test]
fn an_unchanged_word_is_delivered_again_every_pass() {
    Rig::new(LinkConfig::default(), 8).run(|_, mut a, mut b, cpus| {
        a.write(5, &[0xfeed]);
        let mut seen = [0u64];
        for pass in 0..10u64 {
            let t = cpus[1].cycles() + 256 + 200;
            cpus[1].advance_to(t);
            b.read(5, &mut seen);
            assert_eq!(seen[0], 0xfeed, "pass {pass}");
        }
    });
}

#[test]
fn a_word_arrives_no_sooner_than_the_latency() {
    Rig::new(config(256, 500, 0), 1).run(|_, mut a, mut b, cpus| {
        let written_at = cpus[0].cycles();
        a.write(0, &[0xabc]);
        let mut seen = [0u64];
        loop {
            b.read(0, &mut seen);
            if seen[0] == 0xabc {
                break;
            }
        }
        assert!(cpus[1].cycles() - written_at >= 500);
    });
}

#[test]
fn each_cpu_pays_only_for_its_own_accesses() {
    Rig::new(LinkConfig::default(), 8).run(|_, mut a, mut b, cpus| {
        let (a0, b0) = (cpus[0].cycles(), cpus[1].cycles());
        a.write(4, &[7; 100]);
        assert_eq!(cpus[0].cycles() - a0, 800, "A paid 8 cycles a word");
        assert_eq!(cpus[1].cycles(), b0, "B's clock did not move");
        let mut got = [0u64; 10];
        b.read(4, &mut got);
        assert_eq!(cpus[1].cycles() - b0, 80);
        assert_eq!(cpus[0].cycles() - a0, 800);
    });
}

/// Every earlier write has landed and been reported, so the next landing
/// is the one a test makes.
fn settle(link: &RefCell<Link<'_>>, cpus: [&Cpu; 2]) {
    let mut l = link.borrow_mut();
    let t = cpus[0].cycles().max(cpus[1].cycles()) + 2 * (l.depth() as u64 + 1000);
    idle(cpus, t);
    l.take_landed(Side::A, t);
    l.take_landed(Side::B, t);
}

#[test]
fn a_word_is_seen_exactly_from_its_landing() {
    for seed in 0..50u64 {
        Rig::new(config(256, 37 + seed as usize, seed), 1).run(|link, mut a, mut b, cpus| {
            let offset = (seed as usize * 41) % 200;
            settle(link, cpus);
            assert_eq!(link.borrow().next_landing(Side::B), None);
            a.write(offset, &[0x1a4d + seed]);
            let lands = link.borrow().next_landing(Side::B).unwrap();
            // One bus cycle before the landing, the old word; at it, the new.
            let mut seen = [0u64];
            cpus[1].advance_to(lands - 2);
            b.read(offset, &mut seen);
            assert_eq!(seen[0], 0, "seed {seed}: seen before its landing");
            assert!(!link.borrow_mut().take_landed(Side::B, cpus[1].cycles()));
            b.read(offset, &mut seen);
            assert_eq!(cpus[1].cycles(), lands);
            assert_eq!(
                seen[0],
                0x1a4d + seed,
                "seed {seed}: not seen at its landing"
            );
            assert!(link.borrow_mut().take_landed(Side::B, cpus[1].cycles()));
            assert_eq!(link.borrow().next_landing(Side::B), None);
        });
    }
}

#[test]
fn a_burst_lands_when_its_last_word_does() {
    Rig::new(config(256, 200, 3), 1).run(|link, mut a, mut b, cpus| {
        settle(link, cpus);
        let burst: StdVec<u64> = (1..=190).collect();
        a.write(2, &burst);
        let lands = link.borrow().next_landing(Side::B).unwrap();
        cpus[1].advance_to(lands);
        let mut got = vec![0u64; 190];
        b.read(2, &mut got);
        assert_eq!(got, burst, "the whole burst is there at its landing");
    });
}

#[test]
fn bursts_past_the_record_fold_into_a_later_landing() {
    Rig::new(LinkConfig::default(), 1).run(|link, mut a, _, cpus| {
        settle(link, cpus);
        let mut latest = 0;
        for i in 0..24u64 {
            a.write((i as usize * 10) % 250, &[i + 1]);
            latest = latest.max(link.borrow().landings[0].iter().copied().max().unwrap_or(0));
        }
        let mut rung = 0;
        let mut last = 0;
        loop {
            let Some(at) = link.borrow().next_landing(Side::B) else {
                break;
            };
            assert!(at >= last);
            last = at;
            cpus[1].advance_to(at);
            assert!(link.borrow_mut().take_landed(Side::B, at));
            rung += 1;
        }
        assert!(rung <= LANDINGS, "at most the record's size rings");
        assert_eq!(last, latest, "the latest landing is never lost");
    });
}

#[test]
fn a_word_written_while_it_streams_can_go_out_torn_between_its_halves() {
    // A 32-bit CPU writes the low half, then the high half, 4 cycles later
    // on an 8-cycle bus. A pass that reads the word in between sends the
    // new low half with the old high half. Walk the write through every
    // phase of the counter and look for exactly that. B reads with a 64-bit
    // bus, so that its own reads cannot tear.
    const OLD: u64 = 0x1111_1111_2222_2222;
    const NEW: u64 = 0x3333_3333_4444_4444;
    const TORN: u64 = 0x1111_1111_4444_4444;
    let mut torn = 0;
    for phase in 0..16u64 {
        Rig::with_buses(config(16, 5, 7), [8, 1]).run(|_, mut a, mut b, cpus| {
            a.write(3, &[OLD]);
            let t = cpus[0].cycles() + 64 + phase;
            idle(cpus, t);
            a.write(3, &[NEW]);
            // Read it after the pass it goes out on lands, before the next.
            cpus[1].advance_to(cpus[0].cycles() + 6);
            let mut seen = [0u64];
            b.read(3, &mut seen);
            assert!(
                [OLD, NEW, TORN].contains(&seen[0]),
                "phase {phase}: {:#x}",
                seen[0]
            );
            torn += u64::from(seen[0] == TORN);
        });
    }
    assert!(torn > 0, "no phase tore the word");
}

#[test]
fn a_read_that_straddles_a_landing_sees_the_old_low_and_the_new_high_half() {
    const OLD: u64 = 0xaaaa_aaaa_bbbb_bbbb;
    const NEW: u64 = 0xcccc_cccc_dddd_dddd;
    Rig::new(config(256, 100, 1), 8).run(|link, mut a, mut b, cpus| {
        a.write(9, &[OLD]);
        settle(link, cpus);
        a.write(9, &[NEW]);
        let lands = link.borrow().next_landing(Side::B).unwrap();
        // The low half is read 4 cycles in, before the landing; the high
        // half at 8, after it.
        cpus[1].advance_to(lands - 6);
        let mut seen = [0u64];
        b.read(9, &mut seen);
        assert_eq!(seen[0], 0xcccc_cccc_bbbb_bbbb);
    });
}

#[test]
fn a_cpu_that_keeps_to_its_horizon_is_never_late() {
    // B reads ahead of A by no more than the latency: exact. Then B runs a
    // pass ahead and A writes behind it: the write is late, and counted.
    Rig::new(config(64, 100, 2), 8).run(|link, mut a, mut b, cpus| {
        assert_eq!(link.borrow().late_writes(), 0, "alignment kept in step");
        let mut buf = [0u64; 8];
        for i in 0..50 {
            let horizon = cpus[0].cycles() + link.borrow().latency();
            cpus[1].set_horizon(horizon);
            let n = b.rx.burst_budget().min(8);
            b.read(i % 50, &mut buf[..n]);
            a.write(i % 50, &[i as u64]);
        }
        assert_eq!(link.borrow().late_writes(), 0);
        cpus[1].advance_to(cpus[0].cycles() + 1000);
        b.read(0, &mut buf);
        a.write(1, &[1]);
        assert_eq!(link.borrow().late_writes(), 1);
    });
}

#[test]
fn same_seed_gives_the_same_run() {
    let run = |seed| {
        let config = LinkConfig {
            seed,
            faults: Faults {
                loss: 0.2,
                corrupt: 0.2,
                burst: 0.01,
                burst_passes: 2,
            },
            ..config(64, 30, seed)
        };
        let mut memory = memory(&config);
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let (ca, cb) = (Cpu::new(3), Cpu::new(5));
        let (mut a, mut b) = align(&link, [&ca, &cb], 100_000).unwrap();
        let mut seen = StdVec::new();
        let mut buf = [0u64; 8];
        for i in 0..500u64 {
            a.write((i % 56) as usize, &[i, !i]);
            b.read((i % 50) as usize, &mut buf);
            seen.extend_from_slice(&buf);
        }
        let injected = link.borrow().injected();
        (seen, injected, ca.cycles(), cb.cycles())
    };
    assert_eq!(run(11), run(11));
    assert_ne!(run(11).0, run(12).0);
}

#[test]
fn outages_store_zeros_and_ring_when_they_end() {
    let config = LinkConfig {
        faults: Faults {
            burst: 0.3,
            burst_passes: 3,
            ..Faults::default()
        },
        ..config(32, 10, 4)
    };
    let mut memory = memory(&config);
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (ca, cb) = (Cpu::new(1), Cpu::new(1));
    // Alignment itself runs through outages: every pass starts one.
    let (mut a, mut b) = align(&link, [&ca, &cb], 1_000_000).expect("aligns through outages");
    a.write(5, &[0x5eed]);
    let mut seen = [0u64];
    let (mut zeros, mut whole) = (0, 0);
    for _ in 0..400 {
        let t = cb.cycles() + 7;
        cb.advance_to(t);
        b.read(5, &mut seen);
        match seen[0] {
            0 => zeros += 1,
            0x5eed => whole += 1,
            other => panic!("{other:#x} was never written"),
        }
    }
    assert!(zeros > 0 && whole > 0, "zeros {zeros}, whole {whole}");
    assert!(link.borrow().injected().outages > 10);
}

#[test]
fn a_cut_stores_zeros_for_its_span_and_rings_when_it_ends() {
    Rig::new(LinkConfig::default(), 8).run(|link, mut a, mut b, cpus| {
        a.write(5, &[0xfeed]);
        b.write(5, &[0xbeef]);
        settle(link, cpus);
        let start = cpus[0].cycles().max(cpus[1].cycles()) + 200;
        link.borrow_mut().cut(start, 10 * 256);
        let restored = link.borrow().next_landing(Side::B).expect("the end rings");
        assert!(restored >= start + 10 * 256, "rings at {restored}");
        let mut seen = [0u64];
        // A pass into the cut, both ways see zeros.
        idle(cpus, start + 256);
        b.read(5, &mut seen);
        assert_eq!(seen[0], 0);
        a.read(5, &mut seen);
        assert_eq!(seen[0], 0);
        idle(cpus, restored);
        b.read(5, &mut seen);
        assert_eq!(seen[0], 0xfeed);
        a.read(5, &mut seen);
        assert_eq!(seen[0], 0xbeef);
        assert_eq!(link.borrow().injected().outages, 2);
    });
}

#[test]
fn bad_configurations_are_named() {
    let mut memory = [0u64; 4096];
    let small = LinkConfig {
        depth: 8,
        ..LinkConfig::default()
    };
    assert_eq!(
        Link::new(&small, &mut memory).err(),
        Some(ConfigError::Depth(8))
    );
    let rate = LinkConfig {
        faults: Faults {
            loss: 1.5,
            ..Faults::default()
        },
        ..LinkConfig::default()
    };
    assert_eq!(
        Link::new(&rate, &mut memory).err(),
        Some(ConfigError::Rate("loss"))
    );
    let mut tiny = [0u64; 10];
    let needed = LinkConfig::default().memory_words();
    assert_eq!(
        Link::new(&LinkConfig::default(), &mut tiny).err(),
        Some(ConfigError::Memory { needed, given: 10 })
    );
    assert_eq!(
        ConfigError::Depth(8).to_string(),
        "depth 8 is out of range; use 12 to 65536 words"
    );
}

#[test]
fn a_write_after_a_long_idle_is_seen_after_a_longer_one() {
    Rig::new(LinkConfig::default(), 8).run(|link, mut a, mut b, cpus| {
        let mut seen = [0u64];
        for round in 1..5u64 {
            let t = cpus[0].cycles().max(cpus[1].cycles()) + 20_000;
            cpus[0].advance_to(t);
            a.write(7, &[round]);
            cpus[1].advance_to(t + 40_000);
            b.read(7, &mut seen);
            assert_eq!(seen[0], round, "round {round}");
            let _ = link;
        }
    });
}

#[test]
fn the_ugn_capture_latches_the_latency_and_the_counters_offsets() {
    let config = config(64, 300, 3);
    let mut mem = memory(&config);
    let link = RefCell::new(Link::new(&config, &mut mem).unwrap());
    // A booted 5,000 cycles before B; B's counter is the later one.
    let cpus = [Cpu::new(8).with_counter(5_000), Cpu::new(8).with_counter(0)];
    let (_, mut rx_a) = Port::pair(&link, Side::A, &cpus[0]);
    let (_, mut rx_b) = Port::pair(&link, Side::B, &cpus[1]);
    assert_eq!(rx_b.ugn_capture(), None, "nothing latched before receiving");
    idle([&cpus[0], &cpus[1]], 1_000);
    rx_b.set_enabled(true);
    cpus[0].advance_to(7_777);
    rx_a.set_enabled(true);
    // A to B: 300 cycles of latency, less the 5,000 A's counter is ahead.
    let b = rx_b.ugn_capture().unwrap();
    assert_eq!(b.ugn(), 300 - 5_000);
    assert_eq!(b.local, 1_000, "B's counter when the word arrived");
    assert_eq!(b.remote, 700 + 5_000, "A's counter when it left");
    assert_eq!(rx_a.ugn_capture().unwrap().ugn(), 300 + 5_000);
    // The two directions' UGNs add up to the round trip, offsets aside.
    assert_eq!(link.borrow().true_ugn(Side::B), Some(300 - 5_000));
    assert_eq!(link.borrow().true_ugn(Side::A), Some(300 + 5_000));
    // Latched once: enabling again later changes nothing.
    cpus[1].advance_to(90_000);
    rx_b.set_enabled(false);
    rx_b.set_enabled(true);
    assert_eq!(rx_b.ugn_capture(), Some(b));
}
