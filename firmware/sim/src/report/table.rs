//! `tidenet bench`'s table: goodput and efficiency at a fixed set of fault
//! rates and depths, on both drivers, and efficiency per window size.

use indicatif::ProgressBar;
use tidenet_model::{Faults, LinkConfig};
use tidenet_ringbuffer::wire::{frame_words, MAX_MTU};

use super::BenchError;
use crate::{link_ram, transfer, Driver, Report, TransferConfig, Window};

/// The cases of the main table: (depth, loss, corrupt).
const CASES: &[(usize, f64, f64)] = &[
    (256, 0.0, 0.0),
    (256, 0.01, 0.0),
    (256, 0.10, 0.0),
    (256, 0.05, 0.01),
    (256, 0.50, 0.10),
    (16, 0.0, 0.0),
    (128, 0.0, 0.0),
    (4000, 0.0, 0.0),
    (4000, 0.01, 0.0),
];

/// The clean links each window size is measured on: the default depth and
/// the deepest, which needs the most frames in flight.
const WINDOW_DEPTHS: [usize; 2] = [256, 4000];

/// Transfers the table runs, for a progress bar's length.
pub const RUNS: usize = CASES.len() * 2 + Window::ALL.len() * WINDOW_DEPTHS.len();

/// One row of the main table: a case on both drivers.
struct Row {
    depth: usize,
    loss: f64,
    corrupt: f64,
    poll: Report,
    tasks: Report,
}

/// The measured table.
pub struct Table {
    bytes: u64,
    rows: Vec<Row>,
    /// Per window size, the clean efficiency at each of [`WINDOW_DEPTHS`].
    windows: Vec<(Window, [f64; 2])>,
}

/// One transfer of `bytes` on a seed-1 link of `depth` with `faults`; an
/// error unless every byte arrived intact.
pub fn run(config: &TransferConfig) -> Result<Report, BenchError> {
    let what = || {
        format!(
            "depth {}, loss {}, corrupt {}, outages {}/pass, {:?} stack, {:?} driver, window {}",
            config.link.depth,
            config.link.faults.loss,
            config.link.faults.corrupt,
            config.link.faults.burst,
            config.stack,
            config.driver,
            config.window.bytes()
        )
    };
    match transfer(config, |_| {}) {
        Ok(r) if r.intact() => Ok(r),
        Ok(_) => Err(BenchError::Mismatch(what())),
        Err(error) => Err(BenchError::Transfer {
            what: what(),
            error,
        }),
    }
}

/// A transfer config for the table: `bytes` over a seed-1 link.
pub fn case(bytes: u64, depth: usize, faults: Faults, driver: Driver) -> TransferConfig {
    TransferConfig {
        bytes,
        link: LinkConfig {
            depth,
            seed: 1,
            faults,
            ..LinkConfig::default()
        },
        driver,
        ..TransferConfig::default()
    }
}

impl Table {
    /// Runs every case of `bytes`, printing each row to stdout as it comes
    /// (through `bar`, which each run advances).
    pub fn measure(bytes: u64, bar: &ProgressBar) -> Result<Table, BenchError> {
        let link = LinkConfig::default();
        let bus = TransferConfig::default().bus_cycles;
        println!(
            "tidenet bench: {bytes} bytes A -> B per case over TCP/IP; latency {} cycles, bus {bus} cycles/word on each CPU, seed 1",
            link.latency
        );
        println!(
            "efficiency: goodput over the per-CPU ceiling, the slower of the wire (8 B/cycle) and one CPU's bus (8 B per {bus} cycles)"
        );
        println!(
            "{:>5} {:>5} {:>7} {:>5} {:>9} {:>6} {:>8} {:>6} {:>7} {:>9} {:>6} {:>10}",
            "depth",
            "loss",
            "corrupt",
            "MTU",
            "MB/s",
            "effic",
            "link_rtx",
            "naks",
            "tcp_rtx",
            "async MB/s",
            "effic",
            "async/poll"
        );
        let mut table = Table {
            bytes,
            rows: Vec::new(),
            windows: Vec::new(),
        };
        for &(depth, loss, corrupt) in CASES {
            let faults = Faults {
                loss,
                corrupt,
                ..Faults::default()
            };
            let poll = run(&case(bytes, depth, faults, Driver::Poll))?;
            bar.inc(1);
            let tasks = run(&case(bytes, depth, faults, Driver::Async))?;
            bar.inc(1);
            let row = Row {
                depth,
                loss,
                corrupt,
                poll,
                tasks,
            };
            // Through `suspend`, not the bar's own println: that prints
            // nothing when the bar is hidden, as it is when stderr is not a
            // terminal, and a script capturing the table would get none.
            bar.suspend(|| println!("{}", row.text()));
            table.rows.push(row);
        }
        println!();
        println!(
            "RAM per link, each end: the link layer's state and its window of frames in flight (the stack's sockets come on top); efficiency clean, poll loop"
        );
        print!("{:>6} {:>13} {:>9}", "window", "1500 B frames", "RAM B");
        for depth in WINDOW_DEPTHS {
            print!(" {:>11}", format!("depth {depth}"));
        }
        println!();
        for window in Window::ALL {
            let mut efficiency = [0.0; 2];
            for (e, depth) in efficiency.iter_mut().zip(WINDOW_DEPTHS) {
                let config = TransferConfig {
                    window,
                    ..case(bytes, depth, Faults::default(), Driver::Poll)
                };
                *e = run(&config)?.efficiency();
                bar.inc(1);
            }
            bar.suspend(|| {
                println!(
                    "{:>6} {:>13} {:>9} {:>11.3} {:>11.3}",
                    window.bytes(),
                    frames(window),
                    link_ram(window),
                    efficiency[0],
                    efficiency[1]
                )
            });
            table.windows.push((window, efficiency));
        }
        println!("virtual time: 125 MHz link cycles; the same on every machine");
        println!("MB/s and the first efficiency are the poll loops'; async is the same transfer as async tasks (--driver async)");
        Ok(table)
    }

    /// The table as markdown, for the report.
    pub fn markdown(&self) -> String {
        let mut out = format!(
            "{} bytes A -> B per case over TCP/IP, seed 1, default link (latency 200 cycles, bus 8 cycles/word).\n\n\
             | depth | loss | corrupt | MTU | poll MB/s | efficiency | link re-sends | NAKs | TCP re-sends | async MB/s | async efficiency | async/poll |\n\
             |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
            self.bytes
        );
        for r in &self.rows {
            let (p, a) = (&r.poll, &r.tasks);
            out += &format!(
                "| {} | {} | {} | {} | {:.2} | {:.3} | {} | {} | {} | {:.2} | {:.3} | {:.3} |\n",
                r.depth,
                r.loss,
                r.corrupt,
                p.mtu,
                p.goodput_mb_s(),
                p.efficiency(),
                p.a.link_retransmits + p.b.link_retransmits,
                p.a.naks_tx + p.b.naks_tx,
                p.a.tcp_retransmits + p.b.tcp_retransmits,
                a.goodput_mb_s(),
                a.efficiency(),
                a.goodput_mb_s() / p.goodput_mb_s()
            );
        }
        out += &format!(
            "\nEfficiency per window size, clean link, poll loop:\n\n\
             | window B | 1500 B frames | link-layer RAM B | depth {} | depth {} |\n|---:|---:|---:|---:|---:|\n",
            WINDOW_DEPTHS[0], WINDOW_DEPTHS[1]
        );
        for (window, e) in &self.windows {
            out += &format!(
                "| {} | {} | {} | {:.3} | {:.3} |\n",
                window.bytes(),
                frames(*window),
                link_ram(*window),
                e[0],
                e[1]
            );
        }
        out
    }

    /// The main table as CSV.
    pub fn csv(&self) -> String {
        let mut out = String::from(
            "depth,loss,corrupt,mtu,poll_mb_s,poll_efficiency,link_retransmits,naks,tcp_retransmits,async_mb_s,async_efficiency\n",
        );
        for r in &self.rows {
            let (p, a) = (&r.poll, &r.tasks);
            out += &format!(
                "{},{},{},{},{:.3},{:.4},{},{},{},{:.3},{:.4}\n",
                r.depth,
                r.loss,
                r.corrupt,
                p.mtu,
                p.goodput_mb_s(),
                p.efficiency(),
                p.a.link_retransmits + p.b.link_retransmits,
                p.a.naks_tx + p.b.naks_tx,
                p.a.tcp_retransmits + p.b.tcp_retransmits,
                a.goodput_mb_s(),
                a.efficiency()
            );
        }
        out
    }
}

impl Row {
    /// The row as `tidenet bench` prints it.
    fn text(&self) -> String {
        let (r, a) = (&self.poll, &self.tasks);
        format!(
            "{:>5} {:>5.2} {:>7.2} {:>5} {:>9.2} {:>6.3} {:>8} {:>6} {:>7} {:>9.2} {:>6.3} {:>10.3}",
            self.depth,
            self.loss,
            self.corrupt,
            r.mtu,
            r.goodput_mb_s(),
            r.efficiency(),
            r.a.link_retransmits + r.b.link_retransmits,
            r.a.naks_tx + r.b.naks_tx,
            r.a.tcp_retransmits + r.b.tcp_retransmits,
            a.goodput_mb_s(),
            a.efficiency(),
            a.goodput_mb_s() / r.goodput_mb_s(),
        )
    }
}

/// Full 1500-byte frames a window holds.
fn frames(window: Window) -> usize {
    window.bytes() / (frame_words(MAX_MTU) * 8)
}
