//! The report's sweeps, in virtual time: efficiency against loss,
//! corruption and outage rate, one curve per depth, and ping round trips
//! against the link's physical round trip.
//!
//! Efficiency is goodput over the per-CPU ceiling (see the docs' "The
//! ringbuffer link" chapter, section Efficiency); it depends on the seed
//! and the flags, never on the machine, so one run per point is enough.

use indicatif::ProgressBar;
use tidenet_core::Error;
use tidenet_model::{Faults, LinkConfig, CYCLE_NS};
use tidenet_ringbuffer::wire::frame_words;

use super::plot::{Curve, Figure};
use super::table::{case, run};
use super::BenchError;
use crate::{transfer, Driver, Stack, TransferConfig, TransferError};

/// The depths each efficiency sweep draws a curve for: bittide's
/// simulation tests, its async-comms demo, the default, and the deepest.
pub const DEPTHS: [usize; 4] = [16, 128, 256, 4000];
/// Loss rates swept: fractions of write bursts lost.
const LOSSES: [f64; 7] = [0.0, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5];
/// Corruption rates swept: fractions of write bursts with a bit flipped.
const CORRUPTIONS: [f64; 6] = [0.0, 0.01, 0.02, 0.05, 0.1, 0.2];
/// Outage rates swept: the chance per pass that an outage starts.
const OUTAGES: [f64; 6] = [0.0, 0.001, 0.003, 0.01, 0.03, 0.1];
/// Passes an outage lasts: the `tidenet demo` default.
const OUTAGE_PASSES: u32 = 8;
/// Link latencies, in cycles, of the ping sweep: from a short cable to
/// 800 µs.
const LATENCIES: [u64; 6] = [50, 200, 1_000, 5_000, 20_000, 100_000];
/// Pings per point of the ping sweep, for a median.
const PINGS: u32 = 15;
/// The ping's frame: a 16-byte UDP payload behind IPv4 and UDP headers.
const PING_FRAME: usize = 16 + 8 + 20;
/// The stacks and drivers of the loss sweep.
pub const STACKS: [(Stack, Driver); 3] = [
    (Stack::Tcpip, Driver::Poll),
    (Stack::Tcpip, Driver::Async),
    (Stack::Bespoke, Driver::Poll),
];

/// Transfers the sweeps run, for a progress bar's length (a stack that
/// does not deliver skips its share).
pub fn runs() -> usize {
    STACKS.len() * DEPTHS.len() * LOSSES.len()
        + DEPTHS.len() * (CORRUPTIONS.len() + OUTAGES.len())
        + 2 * LATENCIES.len()
}

/// Bytes a point moves: fewer where the link carries little, so that the
/// worst points cost no more wall time than the best.
fn bytes_at(bytes: u64, faults: &Faults) -> u64 {
    let harm = faults.loss + faults.corrupt + faults.burst * f64::from(faults.burst_passes);
    if harm >= 0.3 {
        bytes / 8
    } else if harm >= 0.1 {
        bytes / 2
    } else {
        bytes
    }
    .max(16 * 1024)
}

/// What the sweeps found.
pub struct Sweeps {
    /// The plotted figures, in report order.
    pub figures: Vec<(String, Figure)>,
    /// Things the report must say: a stack that does not deliver.
    pub notes: Vec<String>,
}

/// Efficiency of one transfer of about `bytes`.
fn efficiency(
    bytes: u64,
    depth: usize,
    faults: Faults,
    stack: Stack,
    driver: Driver,
) -> Result<f64, BenchError> {
    let config = TransferConfig {
        stack,
        ..case(bytes_at(bytes, &faults), depth, faults, driver)
    };
    Ok(run(&config)?.efficiency())
}

/// One curve per depth of efficiency against `rates`, each rate made into
/// faults by `faults`.
fn per_depth(
    bytes: u64,
    rates: &[f64],
    faults: impl Fn(f64) -> Faults,
    stack: Stack,
    driver: Driver,
    bar: &ProgressBar,
) -> Result<Vec<Curve>, BenchError> {
    let mut curves = Vec::new();
    for depth in DEPTHS {
        let mut points = Vec::new();
        for &rate in rates {
            points.push((
                rate * 100.0,
                efficiency(bytes, depth, faults(rate), stack, driver)?,
            ));
            bar.inc(1);
        }
        curves.push(Curve {
            name: format!("depth {depth}"),
            points,
        });
    }
    Ok(curves)
}

/// Whether `stack` delivers at all: a clean transfer of a few bytes.
/// `Ok(None)` if it does, the reason if it does not.
fn delivers(stack: Stack) -> Result<Option<String>, BenchError> {
    let config = TransferConfig {
        bytes: 1000,
        stack,
        ..TransferConfig::default()
    };
    match transfer(&config, |_| {}) {
        Ok(r) if r.intact() => Ok(None),
        Ok(_) => Err(BenchError::Mismatch(format!("{stack:?} stack, clean"))),
        Err(TransferError::Transport(e @ Error::Unsupported)) => Ok(Some(e.to_string())),
        Err(error) => Err(BenchError::Transfer {
            what: format!("{stack:?} stack, clean"),
            error,
        }),
    }
}

/// Runs every sweep with about `bytes` per point.
pub fn sweeps(bytes: u64, bar: &ProgressBar) -> Result<Sweeps, BenchError> {
    let mut sweeps = Sweeps {
        figures: Vec::new(),
        notes: Vec::new(),
    };
    let y_range = Some(0.0..1.0);
    for (stack, driver) in STACKS {
        if let Some(reason) = delivers(stack)? {
            sweeps.notes.push(format!(
                "{stack:?} stack, {}: does not deliver yet, so it has no curves; a clean transfer stops at `{reason}`.",
                describe(driver)
            ));
            bar.inc((DEPTHS.len() * LOSSES.len()) as u64);
            continue;
        }
        let name = format!("sim-loss-{}-{}", slug(stack), slug_driver(driver));
        let loss = |rate| Faults {
            loss: rate,
            ..Faults::default()
        };
        let title = format!(
            "Efficiency against loss: {}, {}",
            stack.describe(),
            describe(driver)
        );
        sweeps.figures.push((
            format!(
                "Efficiency against loss, {}, {}",
                stack.describe(),
                describe(driver)
            ),
            Figure {
                name,
                title,
                x: "write bursts lost (%)",
                y: "efficiency",
                y_range: y_range.clone(),
                log: false,
                curves: per_depth(bytes, &LOSSES, loss, stack, driver, bar)?,
            },
        ));
    }
    let corrupt = |rate| Faults {
        corrupt: rate,
        ..Faults::default()
    };
    sweeps.figures.push((
        "Efficiency against corruption, TCP/IP, poll loop".into(),
        Figure {
            name: "sim-corruption".into(),
            title: "Efficiency against corruption: TCP/IP, poll loop".into(),
            x: "write bursts with a bit flipped (%)",
            y: "efficiency",
            y_range: y_range.clone(),
            log: false,
            curves: per_depth(
                bytes,
                &CORRUPTIONS,
                corrupt,
                Stack::Tcpip,
                Driver::Poll,
                bar,
            )?,
        },
    ));
    let outage = |rate| Faults {
        burst: rate,
        burst_passes: OUTAGE_PASSES,
        ..Faults::default()
    };
    sweeps.figures.push((
        format!("Efficiency against outage rate ({OUTAGE_PASSES}-pass outages), TCP/IP, poll loop"),
        Figure {
            name: "sim-outage".into(),
            title: format!(
                "Efficiency against outages of {OUTAGE_PASSES} passes: TCP/IP, poll loop"
            ),
            x: "chance per pass that an outage starts (%)",
            y: "efficiency",
            y_range,
            log: false,
            curves: per_depth(bytes, &OUTAGES, outage, Stack::Tcpip, Driver::Poll, bar)?,
        },
    ));
    sweeps.figures.push((
        "Ping round trip against the link's physical round trip, TCP/IP, depth 256".into(),
        ping_figure(bar)?,
    ));
    Ok(sweeps)
}

/// The link's physical round trip, in cycles: the latency each way, and
/// each way the ping's frame written word by word by one CPU and read by
/// the other, at `bus_cycles` a word.
pub fn physical_rtt(latency: u64, bus_cycles: u64) -> u64 {
    2 * latency + 2 * 2 * frame_words(PING_FRAME) as u64 * bus_cycles
}

/// Median ping round trips against the physical round trip, on both
/// drivers, with the physical round trip itself as the floor.
fn ping_figure(bar: &ProgressBar) -> Result<Figure, BenchError> {
    let us = |cycles: u64| (cycles * CYCLE_NS) as f64 / 1e3;
    let mut curves = Vec::new();
    for driver in [Driver::Poll, Driver::Async] {
        let mut points = Vec::new();
        for latency in LATENCIES {
            let config = TransferConfig {
                bytes: 1,
                link: LinkConfig {
                    latency: latency as usize,
                    seed: 1,
                    ..LinkConfig::default()
                },
                driver,
                pings: PINGS,
                ..TransferConfig::default()
            };
            let report = run(&config)?;
            let mut rtts = report.rtts.clone();
            rtts.sort_unstable();
            let median = rtts[rtts.len() / 2];
            let physical = physical_rtt(latency, config.bus_cycles);
            points.push((us(physical), median.as_nanos() as f64 / 1e3));
            bar.inc(1);
        }
        curves.push(Curve {
            name: format!("ping, {}", describe(driver)),
            points,
        });
    }
    let bus = TransferConfig::default().bus_cycles;
    curves.push(Curve {
        name: "physical round trip".into(),
        points: LATENCIES
            .iter()
            .map(|&l| (us(physical_rtt(l, bus)), us(physical_rtt(l, bus))))
            .collect(),
    });
    Ok(Figure {
        name: "sim-ping".into(),
        title: "Ping RTT against the physical round trip (depth 256, bus 8)".into(),
        x: "physical round trip (us)",
        y: "median ping RTT (us)",
        y_range: None,
        log: true,
        curves,
    })
}

fn slug(stack: Stack) -> &'static str {
    match stack {
        Stack::Tcpip => "tcpip",
        Stack::Bespoke => "bespoke",
    }
}

fn slug_driver(driver: Driver) -> &'static str {
    match driver {
        Driver::Poll => "poll",
        Driver::Async => "async",
    }
}

/// A driver in words.
pub fn describe(driver: Driver) -> &'static str {
    match driver {
        Driver::Poll => "poll loop",
        Driver::Async => "async tasks",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Both drivers ping as asked, and no ping beats the physics: each
    /// takes at least the physical round trip, and on a clean link not
    /// much more.
    #[test]
    fn pings_take_the_physical_round_trip_and_little_more() {
        let latency = 5_000;
        for driver in [Driver::Poll, Driver::Async] {
            let config = TransferConfig {
                bytes: 1,
                link: LinkConfig {
                    latency,
                    seed: 2,
                    ..LinkConfig::default()
                },
                driver,
                pings: 4,
                ..TransferConfig::default()
            };
            let report = run(&config).unwrap();
            let physical = u128::from(physical_rtt(latency as u64, config.bus_cycles) * CYCLE_NS);
            assert_eq!(report.rtts.len(), 4, "{driver:?}");
            for rtt in &report.rtts {
                let ns = rtt.as_nanos();
                assert!(
                    ns >= physical && ns < physical * 11 / 10,
                    "{driver:?}: {ns} ns against {physical} ns"
                );
            }
        }
    }
}
