//! A link's life past the first bring-up: a peer that hangs, reboots or
//! loses the wire goes down for a named reason and comes back, and every
//! frame delivered on either side of it is whole and in order.

mod common;

use common::{cycles, with_rig, Rig, Setup};
use tidenet_core::{DownReason, LinkState, Stats};
use tidenet_model::{Faults, LinkConfig};
use tidenet_ringbuffer::{Alignment, Config};

/// Frames each way: enough that every event below lands mid-stream.
const FRAMES: usize = 3000;
/// Far more virtual time than any test here needs.
const LIMIT: u64 = 2_000_000_000;

fn setup(seed: u64, faults: Faults) -> Setup {
    Setup::new(LinkConfig {
        depth: 256,
        seed,
        faults,
        ..LinkConfig::default()
    })
}

fn silence() -> u64 {
    cycles(Config::new(0).silence)
}

fn downs(s: &Stats) -> u64 {
    s.down_peer_silent + s.down_peer_restarted + s.down_peer_realigning + s.down_handshake_timeout
}

/// Runs until node 1 has received `frames` of node 0's.
fn run_to(rig: &mut Rig, frames: usize) {
    assert!(
        rig.run_until(LIMIT, |r| r.nodes[1].traffic.received >= frames),
        "stalled before frame {frames}: {:?} {:?}",
        rig.stats(0),
        rig.stats(1)
    );
}

/// Runs the rest of both streams and checks every frame that arrived.
fn finish(rig: &mut Rig) {
    assert!(
        rig.run_until(LIMIT, |r| r.all_delivered()),
        "stalled at {} cycles: {:?} {:?}",
        rig.cycles(),
        rig.stats(0),
        rig.stats(1)
    );
    assert_eq!(rig.corrupted, None);
    for n in 0..2 {
        assert_eq!(rig.nodes[n].link.state(), LinkState::Up, "node {n}");
    }
}

fn hung(seed: u64, faults: Faults) {
    with_rig(setup(seed, faults), [FRAMES; 2], |rig| {
        run_to(rig, 500);
        rig.set_off(1, true);
        let hung = rig.cycles();
        assert!(rig.run_until(LIMIT, |r| r.nodes[0].link.state()
            == LinkState::Down(DownReason::PeerSilent)));
        let noticed = rig.cycles() - hung;
        assert!(
            (silence()..silence() + silence() / 4).contains(&noticed),
            "noticed after {noticed} cycles, silence is {}",
            silence()
        );
        // Hung well past the silence: node 0 keeps trying to align alone.
        assert!(!rig.run_until(rig.cycles() + 2 * silence(), |r| r.nodes[0]
            .link
            .state()
            .is_up()));
        rig.set_off(1, false);
        finish(rig);
        let (a, b) = (rig.stats(0), rig.stats(1));
        assert_eq!((a.down_peer_silent, downs(&a), a.link_ups), (1, 1, 2));
        // The hung node finds, on waking, that it has not heard from its
        // peer for long, or that its peer is aligning: down once either way.
        assert_eq!((downs(&b), b.link_ups), (1, 2), "{b:?}");
    });
}

fn paused(seed: u64, faults: Faults) {
    with_rig(setup(seed, faults), [FRAMES; 2], |rig| {
        run_to(rig, 500);
        rig.set_off(1, true);
        let resume = rig.cycles() + silence() / 2;
        assert!(!rig.run_until(resume, |r| !r.nodes[0].link.state().is_up()));
        rig.set_off(1, false);
        finish(rig);
        for n in 0..2 {
            let s = rig.stats(n);
            assert_eq!((downs(&s), s.link_ups), (0, 1), "node {n}: {s:?}");
            assert_eq!(rig.nodes[n].traffic.gaps, 0, "node {n} lost frames");
        }
    });
}

/// Node 1 reboots mid-stream; node 0 sees it go for `reason` and both come
/// back up and carry the rest.
fn reboot(seed: u64, faults: Faults, alignment: Alignment, reason: DownReason) {
    let mut setup = setup(seed, faults);
    setup.alignment = alignment;
    // Counted, not watched: a peer that restarted on an aligned link may
    // have its new session ready before the poll that notices, and then the
    // link goes down and comes back up within that one poll.
    let went_down = move |s: &Stats| match reason {
        DownReason::PeerRestarted => s.down_peer_restarted,
        _ => s.down_peer_realigning,
    };
    with_rig(setup, [FRAMES; 2], |rig| {
        run_to(rig, 500);
        rig.reboot(1, 0xb007);
        assert!(rig.run_until(LIMIT, |r| went_down(&r.stats(0)) == 1));
        finish(rig);
        let (a, b) = (rig.stats(0), rig.stats(1));
        assert_eq!((downs(&a), a.link_ups), (1, 2), "{a:?}");
        // The rebooted end came up once, fresh.
        assert_eq!((downs(&b), b.link_ups), (0, 1), "{b:?}");
        // Only what was in flight at the reboot is gone.
        for n in 0..2 {
            assert!(rig.nodes[n].traffic.gaps < 64, "node {n}");
        }
    });
}

fn rebooted(seed: u64, faults: Faults) {
    reboot(
        seed,
        faults,
        Alignment::Protocol,
        DownReason::PeerRealigning,
    );
}

fn rebooted_aligned(seed: u64, faults: Faults) {
    reboot(seed, faults, Alignment::Hardware, DownReason::PeerRestarted);
}

/// Cuts the wire both ways for `span` cycles, mid-stream, and runs both
/// streams to the end.
fn cut(seed: u64, faults: Faults, span: u64) -> [(Stats, usize); 2] {
    with_rig(setup(seed, faults), [FRAMES; 2], |rig| {
        run_to(rig, 500);
        let at = rig.cycles() + rig.model.borrow().latency();
        rig.model.borrow_mut().cut(at, span);
        finish(rig);
        [0, 1].map(|n| (rig.stats(n), rig.nodes[n].traffic.gaps))
    })
}

fn long_outage(seed: u64, faults: Faults) {
    for (n, (s, _)) in cut(seed, faults, silence() * 3 / 2).iter().enumerate() {
        // Each end hears nothing for the silence; the one that says so
        // first starts aligning, which the other may see first instead.
        assert_eq!((downs(s), s.link_ups), (1, 2), "node {n}: {s:?}");
        assert_eq!(
            s.down_peer_silent + s.down_peer_realigning,
            1,
            "node {n}: {s:?}"
        );
    }
}

fn short_outage(seed: u64, faults: Faults) {
    for (n, (s, gaps)) in cut(seed, faults, silence() / 2).iter().enumerate() {
        assert_eq!((downs(s), s.link_ups, *gaps), (0, 1, 0), "node {n}: {s:?}");
        // What the outage hid was sent again.
        assert!(s.link_retransmits > 0, "node {n}: {s:?}");
    }
}

type Scenario = fn(u64, Faults);

/// Every scenario, by name.
const SCENARIOS: [(&str, Scenario); 6] = [
    ("hung", hung),
    ("paused", paused),
    ("rebooted", rebooted),
    ("rebooted_aligned", rebooted_aligned),
    ("long_outage", long_outage),
    ("short_outage", short_outage),
];

/// Some loss and corruption on top: what a real link adds.
fn lossy() -> Faults {
    Faults {
        loss: 0.01,
        corrupt: 0.001,
        ..Faults::default()
    }
}

#[test]
fn a_hung_peer_takes_the_link_down_after_the_silence_and_it_comes_back() {
    hung(2, Faults::default());
    hung(2, lossy());
}

#[test]
fn a_peer_that_hangs_for_less_than_the_silence_keeps_the_link_up() {
    paused(3, Faults::default());
    paused(3, lossy());
}

#[test]
fn a_rebooted_peer_realigns_and_the_link_comes_back() {
    rebooted(4, Faults::default());
    rebooted(4, lossy());
}

#[test]
fn a_rebooted_peer_on_a_hardware_aligned_link_restarts_its_session() {
    rebooted_aligned(4, Faults::default());
    rebooted_aligned(4, lossy());
}

#[test]
fn an_outage_longer_than_the_silence_takes_the_link_down_and_it_comes_back() {
    long_outage(5, Faults::default());
    long_outage(5, lossy());
}

#[test]
fn an_outage_shorter_than_the_silence_keeps_the_link_up() {
    short_outage(6, Faults::default());
    short_outage(6, lossy());
}

/// Every scenario on `SEEDS` seeds (default 1000) from `FIRST_SEED`
/// (default 1000) on, clean and lossy, or only the scenarios whose name
/// starts with `SCENARIO`; prints each failure with its message and fails
/// if there were any.
///
/// `SEEDS=1000 cargo test --release -p tidenet-ringbuffer --test lifecycle -- --ignored`
#[test]
#[ignore = "a sweep of minutes; run before calling a lifecycle change done"]
fn sweep() {
    let env = |name, default| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let (first, seeds) = (env("FIRST_SEED", 1000), env("SEEDS", 1000));
    let only = std::env::var("SCENARIO").unwrap_or_default();
    std::panic::set_hook(Box::new(|_| {}));
    let mut failed = Vec::new();
    for (name, scenario) in SCENARIOS.into_iter().filter(|(n, _)| n.starts_with(&only)) {
        for (kind, faults) in [("clean", Faults::default()), ("lossy", lossy())] {
            for seed in first..first + seeds {
                if let Err(panic) = std::panic::catch_unwind(|| scenario(seed, faults)) {
                    let message = panic
                        .downcast_ref::<String>()
                        .map(String::as_str)
                        .or_else(|| panic.downcast_ref::<&str>().copied())
                        .unwrap_or("(no message)");
                    failed.push(format!("{name} {kind} seed {seed}: {message}"));
                }
            }
            println!("{name} {kind}: {seeds} seeds");
        }
    }
    let _ = std::panic::take_hook();
    assert!(failed.is_empty(), "{} failed: {failed:#?}", failed.len());
}
