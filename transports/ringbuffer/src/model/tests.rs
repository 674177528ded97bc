use core::cell::RefCell;

use super::*;

extern crate std;
use std::vec;

fn link_with(config: LinkConfig) -> (LinkConfig, vec::Vec<u64>) {
    let words = config.memory_words();
    (config, vec![0; words])
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
            let (config, mut memory) = link_with(LinkConfig {
                depth,
                latency,
                bus_cycles,
                seed,
                ..LinkConfig::default()
            });
            let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
            let (mut a, mut b) = align(&link, 1_000)
                .unwrap_or_else(|| panic!("seed {seed} depth {depth}: no alignment"));
            let pattern: vec::Vec<u64> =
                (0..depth as u64).map(|i| (seed << 32) | (i + 1)).collect();
            a.write(0, &pattern);
            b.write(0, &pattern);
            // Two passes plus the latency later, every word has landed.
            let t = link.borrow().cycles() + 2 * (depth + latency) as u64;
            link.borrow_mut().advance_to(t);
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

#[test]
fn an_unchanged_word_is_delivered_again_every_pass() {
    let (config, mut memory) = link_with(LinkConfig::default());
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (mut a, mut b) = align(&link, 10_000).unwrap();
    a.write(5, &[0xfeed]);
    let mut seen = [0u64];
    for pass in 0..10u64 {
        let t = link.borrow().cycles() + 256 + 200;
        link.borrow_mut().advance_to(t);
        b.read(5, &mut seen);
        assert_eq!(seen[0], 0xfeed, "pass {pass}");
    }
}

#[test]
fn a_word_arrives_no_sooner_than_the_latency() {
    let (config, mut memory) = link_with(LinkConfig {
        latency: 500,
        bus_cycles: 1,
        ..LinkConfig::default()
    });
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (mut a, mut b) = align(&link, 10_000).unwrap();
    let written_at = link.borrow().cycles();
    a.write(0, &[0xabc]);
    let mut seen = [0u64];
    loop {
        b.read(0, &mut seen);
        if seen[0] == 0xabc {
            break;
        }
    }
    assert!(link.borrow().cycles() - written_at >= 500);
}

/// Time passes until every earlier write has landed and been reported, so
/// the next landing is the one a test makes.
fn settle(link: &RefCell<Link<'_>>) {
    let mut link = link.borrow_mut();
    let t = link.cycles() + 2 * (link.depth() as u64 + 1000);
    link.advance_to(t);
    link.take_landed(Side::A);
    link.take_landed(Side::B);
}

#[test]
fn a_word_is_seen_exactly_from_its_landing() {
    for seed in 0..50u64 {
        let (config, mut memory) = link_with(LinkConfig {
            latency: 37 + seed as usize,
            bus_cycles: 1,
            seed,
            ..LinkConfig::default()
        });
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let (mut a, mut b) = align(&link, 10_000).unwrap();
        let offset = (seed as usize * 41) % 200;
        settle(&link);
        assert_eq!(link.borrow().next_landing(Side::B), None);
        a.write(offset, &[0x1a4d + seed]);
        let lands = link.borrow().next_landing(Side::B).unwrap();
        assert_eq!(
            link.borrow().next_landing(Side::A),
            None,
            "A's memory is untouched"
        );
        // A read costs one bus cycle and samples at its end.
        let mut seen = [0u64];
        link.borrow_mut().advance_to(lands - 2);
        b.read(offset, &mut seen);
        assert_ne!(seen[0], 0x1a4d + seed, "seed {seed}: seen before it landed");
        assert!(!link.borrow_mut().take_landed(Side::B));
        b.read(offset, &mut seen);
        assert_eq!(seen[0], 0x1a4d + seed, "seed {seed}: not seen once landed");
        assert!(link.borrow_mut().take_landed(Side::B));
        assert!(!link.borrow_mut().take_landed(Side::B), "reported once");
    }
}

#[test]
fn a_burst_lands_when_its_last_word_does() {
    for seed in 0..50u64 {
        let (config, mut memory) = link_with(LinkConfig {
            seed,
            ..LinkConfig::default()
        });
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let (mut a, mut b) = align(&link, 10_000).unwrap();
        settle(&link);
        let burst: vec::Vec<u64> = (0..190).map(|i| (seed << 32) | (i + 1)).collect();
        a.write(2, &burst);
        let lands = link.borrow().next_landing(Side::B).unwrap();
        let bus = config.bus_cycles;
        link.borrow_mut().advance_to(lands - bus);
        let mut got = vec![0u64; burst.len()];
        b.read(2, &mut got);
        assert_eq!(got, burst, "seed {seed}");
    }
}

#[test]
fn bursts_past_the_record_fold_into_a_later_landing() {
    let (config, mut memory) = link_with(LinkConfig::default());
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (mut a, mut b) = align(&link, 10_000).unwrap();
    settle(&link);
    for i in 0..3 * LANDINGS as u64 {
        a.write(i as usize, &[100 + i]);
    }
    // The record never forgets the last burst: once nothing is pending,
    // everything has landed.
    loop {
        let next = link.borrow().next_landing(Side::B);
        let Some(at) = next else { break };
        link.borrow_mut().advance_to(at);
        assert!(link.borrow_mut().take_landed(Side::B));
    }
    let mut got = [0u64; 3 * LANDINGS];
    b.read(0, &mut got);
    let want: vec::Vec<u64> = (0..3 * LANDINGS as u64).map(|i| 100 + i).collect();
    assert_eq!(got[..], want[..]);
}

#[test]
fn same_seed_gives_the_same_run() {
    let run = |seed| {
        let (config, mut memory) = link_with(LinkConfig {
            seed,
            faults: Faults {
                loss: 0.2,
                corrupt: 0.2,
                burst: 0.01,
                burst_passes: 3,
            },
            ..LinkConfig::default()
        });
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let (mut a, mut b) = align(&link, 10_000).unwrap();
        let mut trace = vec::Vec::new();
        for i in 0..200u64 {
            a.write(1, &[i, i * 3, i * 7]);
            let mut got = [0u64; 3];
            b.read(1, &mut got);
            trace.push(got);
        }
        let end = (link.borrow().injected(), link.borrow().cycles());
        (trace, end)
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7).0, run(8).0);
}

#[test]
fn bad_configurations_are_named() {
    let mut memory = vec![0; 16];
    let too_shallow = LinkConfig {
        depth: 2,
        ..LinkConfig::default()
    };
    assert_eq!(
        Link::new(&too_shallow, &mut memory).err(),
        Some(ConfigError::Depth(2))
    );
    assert!(matches!(
        Link::new(&LinkConfig::default(), &mut memory).err(),
        Some(ConfigError::Memory { given: 16, .. })
    ));
    let mut memory = vec![0; LinkConfig::default().memory_words()];
    let bad_rate = LinkConfig {
        faults: Faults {
            loss: 1.5,
            ..Faults::default()
        },
        ..LinkConfig::default()
    };
    assert_eq!(
        Link::new(&bad_rate, &mut memory).err(),
        Some(ConfigError::Rate("loss"))
    );
}
