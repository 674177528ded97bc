//! The link layer over the hardware model: two ends, each on its own CPU,
//! moving self-checking frames both ways.

mod common;

use common::{with_rig, Setup};
use tidenet_core::LinkState;
use tidenet_model::{Faults, LinkConfig};

fn link(depth: usize, seed: u64, loss: f64, corrupt: f64) -> LinkConfig {
    LinkConfig {
        depth,
        seed,
        faults: Faults {
            loss,
            corrupt,
            ..Faults::default()
        },
        ..LinkConfig::default()
    }
}

#[test]
fn a_clean_link_comes_up_and_delivers_every_frame_in_order() {
    with_rig(Setup::new(link(256, 1, 0.0, 0.0)), [300, 300], |rig| {
        assert!(
            rig.run_until(50_000_000, |r| r.all_delivered()),
            "stalled at {} cycles: {:?} {:?}",
            rig.cycles(),
            rig.stats(0),
            rig.stats(1)
        );
        assert_eq!(rig.corrupted, None);
        for n in 0..2 {
            let s = rig.stats(n);
            assert_eq!(rig.nodes[n].link.state(), LinkState::Up);
            assert_eq!(s.link_ups, 1);
            assert_eq!(s.frames_tx, 300, "node {n}: {s:?}");
            assert_eq!(s.frames_rx, 300, "node {n}: {s:?}");
            assert_eq!(
                s.drop_corrupt + s.drop_lost + s.naks_tx + s.link_timeouts,
                0,
                "node {n}: {s:?}"
            );
        }
        assert_eq!(rig.model.borrow().late_writes(), 0);
    });
}

/// However the traffic is shaped (both ways, mostly one way, full frames),
/// a clean link delivers everything at the first attempt: no frame is
/// taken for damaged because a read straddled a word's landing.
#[test]
fn a_clean_link_never_drops_a_frame_whatever_the_traffic() {
    for (frames, full) in [
        ([2000, 2000], false),
        ([2000, 600], false),
        ([3000, 100], false),
        ([1200, 0], true),
        ([1200, 600], true),
    ] {
        for (depth, seed) in [16, 128, 256, 4000]
            .into_iter()
            .flat_map(|d| (1..4).map(move |s| (d, s)))
        {
            let mut setup = Setup::new(link(depth, seed, 0.0, 0.0));
            setup.full_frames = full;
            with_rig(setup, frames, |rig| {
                assert!(rig.run_until(u64::MAX / 2, |r| r.all_delivered()));
                assert_eq!(rig.corrupted, None);
                for n in 0..2 {
                    let s = rig.stats(n);
                    assert_eq!(
                        s.drop_corrupt
                            + s.drop_lost
                            + s.naks_tx
                            + s.link_timeouts
                            + s.link_retransmits,
                        0,
                        "{frames:?} full {full} depth {depth} seed {seed} node {n}: {s:?}"
                    );
                }
                assert_eq!(rig.model.borrow().late_writes(), 0);
            });
        }
    }
}
