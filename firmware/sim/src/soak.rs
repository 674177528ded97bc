//! The soak: transfers and rigs drawn at random, each checked end to end,
//! for as long as asked.
//!
//! Fixed-seed tests prove what they were tuned on; the soak draws what
//! nobody tuned on. Case `k` of seed `s` is always the same case, so a
//! failure is rerun with `tidenet soak --seed s --only k`, whatever ran
//! before it.

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::Stats;
use tidenet_model::{Faults, LinkConfig};

use crate::mesh::{mesh, MeshConfig};
use crate::topology::Topology;
use crate::{transfer, Driver, TransferConfig, Window};

/// Cycles in a virtual second.
const SECOND: u64 = 125_000_000;

/// One drawn case.
#[derive(Clone, Copy, Debug)]
pub enum Case {
    /// A stream from node A to node B over one link.
    Transfer(TransferConfig),
    /// A rig whose reports must all reach the manager.
    Mesh(MeshConfig),
}

/// What a case moved, when it passed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Moved {
    /// Link frames sent, both ways, on every link.
    pub frames: u64,
    /// Stream bytes delivered.
    pub bytes: u64,
    /// What was correct but not as good as it should be: a clean link
    /// that re-sent frames, say. Reported, not failed.
    pub notice: Option<String>,
}

/// A uniform draw in `[0, 1)`.
fn unit(rng: &mut Xoshiro256PlusPlus) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A rate in `[0, max]`, zero a third of the time: clean links must hold
/// too.
fn rate(rng: &mut Xoshiro256PlusPlus, max: f64) -> f64 {
    if rng.next_u32() % 3 == 0 {
        0.0
    } else {
        max * unit(rng)
    }
}

/// The faults and shape of one link, from `rng`.
fn link(rng: &mut Xoshiro256PlusPlus, max_loss: f64) -> LinkConfig {
    // Every depth from 12 to 4000, shallow ones as often as deep.
    let depth = (12.0 * (4000.0f64 / 12.0).powf(unit(rng))) as usize;
    let outages = rng.next_u32() % 4 == 0;
    LinkConfig {
        depth,
        latency: (rng.next_u64() % 2001) as usize,
        seed: rng.next_u64(),
        faults: Faults {
            loss: rate(rng, max_loss),
            corrupt: rate(rng, 0.1),
            burst: if outages { 0.002 * unit(rng) } else { 0.0 },
            burst_passes: 1 + rng.next_u32() % 32,
        },
        ..LinkConfig::default()
    }
}

impl Case {
    /// Case `k` of soak `seed`.
    pub fn draw(seed: u64, k: u64) -> Case {
        let mut rng =
            Xoshiro256PlusPlus::seed_from_u64(seed ^ k.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let bus_cycles = 1 + rng.next_u64() % 16;
        if rng.next_u32() % 5 == 0 {
            let nodes = 2 + (rng.next_u64() % 7) as usize;
            let topologies = [
                Topology::Full,
                Topology::Ring,
                Topology::Line,
                Topology::Star,
                Topology::Hypercube,
                Topology::Torus,
            ];
            let topology = (0..topologies.len())
                .map(|i| topologies[(rng.next_u64() as usize + i) % topologies.len()])
                .find(|t| t.wire(nodes).is_ok())
                .unwrap_or(Topology::Line);
            let mut link = link(&mut rng, 0.3);
            // A rig is many links: keep each to rings the mesh's clock
            // can run through in a few seconds of host time.
            link.depth = link.depth.min(1024);
            return Case::Mesh(MeshConfig {
                nodes,
                topology,
                manager: (rng.next_u64() % nodes as u64) as usize,
                link,
                bus_cycles,
                deadline_cycles: 2 * SECOND,
                off: None,
            });
        }
        let link = link(&mut rng, 0.5);
        let faulty = link.faults.loss > 0.0 || link.faults.corrupt > 0.0 || link.faults.burst > 0.0;
        Case::Transfer(TransferConfig {
            bytes: 16 * 1024 + rng.next_u64() % (512 * 1024),
            link,
            bus_cycles,
            // Past smoltcp's longest back-off on a faulty link; a clean
            // one has no reason to wait on anything for a tenth of that.
            stall_cycles: if faulty { 12 * SECOND } else { SECOND },
            driver: if rng.next_u32() % 2 == 0 {
                Driver::Poll
            } else {
                Driver::Async
            },
            window: Window::ALL[(rng.next_u64() % 3) as usize],
            ..TransferConfig::default()
        })
    }

    /// The same case as `tidenet demo` or `tidenet mesh` flags, for a
    /// person to look at it more closely.
    pub fn flags(&self) -> String {
        let link = |l: &LinkConfig, bus: u64| {
            format!(
                "--depth {} --latency {} --loss {} --corrupt {} --burst {} --burst-passes {} --bus-cycles {bus} --seed {}",
                l.depth,
                l.latency,
                l.faults.loss,
                l.faults.corrupt,
                l.faults.burst,
                l.faults.burst_passes,
                l.seed
            )
        };
        match self {
            Case::Transfer(c) => format!(
                "tidenet demo --bytes {} --driver {} --window {} {}",
                c.bytes,
                match c.driver {
                    Driver::Poll => "poll",
                    Driver::Async => "async",
                },
                c.window.bytes(),
                link(&c.link, c.bus_cycles)
            ),
            Case::Mesh(c) => format!(
                "tidenet mesh --nodes {} --topology {} --manager {} --deadline-ms {} {}",
                c.nodes,
                format!("{:?}", c.topology).to_lowercase(),
                c.manager,
                c.deadline_cycles / (SECOND / 1000),
                link(&c.link, c.bus_cycles)
            ),
        }
    }

    /// Runs the case and checks it end to end: every byte intact, no stall
    /// past the case's bound, counters that agree; for a rig, every report
    /// and every UGN right.
    pub fn run(&self) -> Result<Moved, String> {
        match self {
            Case::Transfer(config) => {
                let report = transfer(config, |_| {}).map_err(|e| e.to_string())?;
                if !report.intact() {
                    return Err(format!(
                        "data-mismatch: {} bytes arrived, SHA-256 differs",
                        report.received
                    ));
                }
                let faulty = config.link.faults.loss > 0.0
                    || config.link.faults.corrupt > 0.0
                    || config.link.faults.burst > 0.0;
                let mut notice = None;
                for (name, tx, rx) in [("A", &report.a, &report.b), ("B", &report.b, &report.a)] {
                    counters_agree(name, tx, rx)?;
                    if !faulty {
                        notice = notice.or_else(|| rewinds_on_a_clean_link(name, tx, rx));
                    }
                }
                if report.b.stream_bytes_rx != config.bytes {
                    return Err(format!(
                        "counters: B counted {} stream bytes in, {} arrived",
                        report.b.stream_bytes_rx, config.bytes
                    ));
                }
                Ok(Moved {
                    frames: report.a.frames_tx + report.b.frames_tx,
                    bytes: report.received,
                    notice,
                })
            }
            Case::Mesh(config) => {
                let report = mesh(config, |_, _| {}).map_err(|e| e.to_string())?;
                if let Some(missing) = report.missing.first() {
                    return Err(format!(
                        "reports-missing: {missing}, and {} more, by {} ms",
                        report.missing.len() - 1,
                        config.deadline_cycles / (SECOND / 1000)
                    ));
                }
                if let Some(wrong) = report.wrong_ugns.first() {
                    return Err(format!("wrong-ugn: {wrong}"));
                }
                Ok(Moved::default())
            }
        }
    }
}

/// The link counters of one direction agree: the receiver took no more
/// distinct frames than were sent, and every rewind request follows a
/// failed read.
fn counters_agree(name: &str, tx: &Stats, rx: &Stats) -> Result<(), String> {
    if rx.frames_rx > tx.frames_tx {
        return Err(format!(
            "counters: {name} sent {} frames and its peer took {}",
            tx.frames_tx, rx.frames_rx
        ));
    }
    if rx.naks_tx > 0 && rx.drop_corrupt + rx.drop_lost == 0 {
        return Err(format!(
            "counters: {name}'s peer asked for {} rewinds with no failed read",
            rx.naks_tx
        ));
    }
    Ok(())
}

/// On a clean link nothing should be read too early or sent twice; if it
/// was, the data still arrived, so it is a notice, not a failure.
fn rewinds_on_a_clean_link(name: &str, tx: &Stats, rx: &Stats) -> Option<String> {
    let drops = rx.drop_corrupt + rx.drop_lost + rx.drop_malformed_len + rx.drop_oversized;
    (tx.link_retransmits + tx.link_timeouts + drops > 0).then(|| {
        format!(
            "a clean link from {name} re-sent {} frames, timed out {} times and dropped {drops}",
            tx.link_retransmits, tx.link_timeouts
        )
    })
}
