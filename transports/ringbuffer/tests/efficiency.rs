//! Prints link efficiency for a grid of depths and faults (tuning aid).

mod common;

use common::{with_rig, Setup};
use tidenet_model::{Faults, LinkConfig};

#[test]
#[ignore]
fn print_efficiency() {
    let only: Option<usize> = std::env::var("ONLY").ok().and_then(|v| v.parse().ok());
    for &(depth, loss, corrupt) in &[
        (256, 0.0, 0.0),
        (256, 0.01, 0.0),
        (256, 0.10, 0.0),
        (256, 0.05, 0.01),
        (16, 0.0, 0.0),
        (128, 0.0, 0.0),
        (4000, 0.0, 0.0),
    ] {
        let only_loss: Option<f64> = std::env::var("LOSS").ok().and_then(|v| v.parse().ok());
        if only.is_some_and(|d| d != depth) || only_loss.is_some_and(|l| l != loss) {
            continue;
        }
        let mut setup = Setup::new(LinkConfig {
            depth,
            seed: 1,
            faults: Faults {
                loss,
                corrupt,
                ..Faults::default()
            },
            ..LinkConfig::default()
        });
        setup.full_frames = true;
        setup.window = 16384;
        let frames = 200;
        with_rig(setup, [frames, 0], |rig| {
            assert!(rig.run_until(u64::MAX, |r| r.nodes[0].link.state().is_up()
                && r.nodes[1].link.state().is_up()));
            let start = rig.cycles();
            let busy0 = [
                rig.nodes[0].cpu.busy_cycles(),
                rig.nodes[1].cpu.busy_cycles(),
            ];
            let ok = rig.run_until(start + 2_000_000_000, |r| r.all_delivered());
            let cycles = rig.cycles() - start;
            let mtu = tidenet_ringbuffer::wire::mtu_for_depth(depth);
            let bytes = (frames * mtu) as f64;
            let eff = bytes / cycles as f64 / (8.0 / 8.0);
            let (a, b) = (rig.stats(0), rig.stats(1));
            let busy =
                [0, 1].map(|i| (rig.nodes[i].cpu.busy_cycles() - busy0[i]) as f64 / cycles as f64);
            println!(
                "depth {depth:5} loss {loss:.2} corrupt {corrupt:.2}: ok {ok} eff {eff:.3} busy {:.2}/{:.2} rtx {} to {} naks {} corrupt {} lost {} late {} corrupted {:?}",
                busy[0], busy[1], a.link_retransmits, a.link_timeouts, b.naks_tx, b.drop_corrupt, b.drop_lost,
                rig.model.borrow().late_writes(), rig.corrupted
            );
        });
    }
}
