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
