//! The idle figures: what a sleeping node's stack costs at rest, how often
//! the two-node image wakes, and its shell's round trip.
//!
//! Instructions per idle second come from the `tidenet-cpu` image's idle
//! run (the stack's, both nodes, the model excluded, modelled time jumping
//! from deadline to deadline as the sleeping loop's does). The two-node
//! image itself cannot give them: under `-icount shift=0` its model, which
//! simulates every link cycle in software, never catches up with the
//! virtual clock, so it never idles. Its wake-ups are counted under plain
//! TCG instead (`IdleCounters`, read through the monitor), where virtual
//! time follows the host's. Before the loop slept it never stopped: every
//! instruction the CPU could run.
//! The round trip is timed on the host, from a request written to the
//! UART to its reply read.

use std::thread::sleep;
use std::time::{Duration, Instant};

use tidenet_core::proto::{Request, Response};
use tidenet_qemu::{cpu, Qemu};
use tidenet_shell::client::Client;

use crate::report::{one, Table};

/// Wall time the image idles before counting, for the boot's work to end.
const SETTLE: Duration = Duration::from_secs(1);
/// Wall time counted.
const IDLE: Duration = Duration::from_secs(3);
/// Round trips timed.
const TRIPS: usize = 50;
/// The depth of the two-node image's link, whose idle cost is reported.
const DEPTH: u64 = 256;
/// The loop turns per second the spinning loop made when idle, as issue 17
/// measured it under QEMU (about 125 µs a turn).
const SPINNING_TURNS: f64 = 8000.0;

/// What was measured.
pub struct Idle {
    /// The stack's instructions per modelled idle second, both nodes.
    per_second: f64,
    /// The stack's instructions per poll of an idle link.
    per_poll: f64,
    /// The image's turns of its loop, and sleeps, per wall second at rest.
    turns: f64,
    sleeps: f64,
    /// The median and the 90th percentile round trip.
    rtt: (Duration, Duration),
}

pub fn measure(counted: &cpu::Report) -> Result<Idle, Box<dyn std::error::Error>> {
    let d = counted
        .depths
        .iter()
        .find(|d| d.depth == DEPTH)
        .ok_or("the CPU-cost image counted no idle run at depth 256")?;
    let mut qemu = Qemu::boot_default()?;
    sleep(SETTLE);
    let started = Instant::now();
    let before = qemu.idle_counters()?;
    sleep(IDLE);
    let after = qemu.idle_counters()?;
    let wall = started.elapsed().as_secs_f64();

    let mut client = Client::new(qemu.uart()?);
    let mut trips = Vec::with_capacity(TRIPS);
    for _ in 0..TRIPS {
        let started = Instant::now();
        match client.call(&Request::Status)? {
            Response::Error(e) => return Err(format!("status: {e:?}").into()),
            _ => trips.push(started.elapsed()),
        }
    }
    trips.sort();
    Ok(Idle {
        per_second: d.idle_instructions as f64 / d.idle_nanos.max(1) as f64 * 1e9,
        per_poll: d.idle_instructions as f64 / d.idle_polls.max(1) as f64,
        turns: (after.loops - before.loops) as f64 / wall,
        sleeps: (after.sleeps - before.sleeps) as f64 / wall,
        rtt: (trips[TRIPS / 2], trips[TRIPS * 9 / 10]),
    })
}

impl Idle {
    pub fn table(&self) -> Table {
        Table {
            name: "idle",
            caption: format!(
                "At rest, before and after the loop sleeps. Instructions: the stack's, both \
                 nodes, depth {DEPTH}, counted by `tidenet-cpu`. Turns and sleeps: the \
                 two-node image under QEMU (TCG), {} s. Round trip: `status`, host to \
                 image and back, {TRIPS} trips.",
                IDLE.as_secs()
            ),
            header: vec!["figure", "spinning loop (before)", "sleeping loop (wfi)"],
            rows: vec![
                vec![
                    "stack instructions per idle second".into(),
                    "all the CPU runs".into(),
                    format!("{:.0}", self.per_second),
                ],
                vec![
                    "stack instructions per idle poll per link".into(),
                    one(self.per_poll),
                    one(self.per_poll),
                ],
                vec![
                    "loop turns per second (image)".into(),
                    format!("about {SPINNING_TURNS:.0} (issue 17)"),
                    format!("{:.0}", self.turns),
                ],
                vec![
                    "sleeps per second (image)".into(),
                    "0".into(),
                    format!("{:.0}", self.sleeps),
                ],
                vec![
                    "shell round trip, median / p90 (ms)".into(),
                    "-".into(),
                    format!(
                        "{:.2} / {:.2}",
                        self.rtt.0.as_secs_f64() * 1e3,
                        self.rtt.1.as_secs_f64() * 1e3
                    ),
                ],
            ],
        }
    }
}
