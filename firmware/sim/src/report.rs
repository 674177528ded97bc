//! `tidenet bench`: the table it prints, and with `--report DIR` (or
//! `TIDENET_BENCH_DIR`, which `cargo xtask bench` sets) the simulator's
//! section of the bench report: `DIR/sim.md`, a CSV per table and an SVG
//! plot per sweep.
//!
//! - [`table`]: goodput and efficiency at a fixed set of fault rates and
//!   depths, on both drivers; the table `tidenet bench` has always printed.
//! - [`sweep`]: efficiency against loss, corruption and outage rate, one
//!   curve per depth, and ping round trips against the physical round trip.
//!   Virtual time: the same on every machine.
//! - [`host`]: wall-clock figures as ratios to references measured in the
//!   same run: the nodes' throughput against `memcpy` and Linux loopback
//!   TCP, and virtual seconds simulated per wall second.
//! - [`plot`]: CSV and SVG output.

pub mod host;
pub mod plot;
pub mod sweep;
pub mod table;

use std::fmt::{self, Write as _};
use std::fs;
use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};

use crate::TransferError;
use plot::Figure;
use table::Table;

/// Why the bench stopped.
#[derive(Debug)]
pub enum BenchError {
    /// A transfer failed.
    Transfer {
        /// Which case.
        what: String,
        /// How.
        error: TransferError,
    },
    /// A transfer finished with different bytes than were sent.
    Mismatch(String),
    /// The rig did not collect every report.
    Rig(String),
    /// A file or socket failed.
    Io {
        /// What was being done.
        what: String,
        /// How it failed.
        error: std::io::Error,
    },
    /// A plot could not be drawn.
    Plot(String),
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BenchError::Transfer { what, error } => write!(f, "{what}: {error}"),
            BenchError::Mismatch(what) => write!(
                f,
                "data-mismatch: {what}: what arrived differs from what was sent; rerun it with `tidenet demo` and its flags"
            ),
            BenchError::Rig(what) => write!(f, "the rig run failed: {what}; rerun it with `tidenet mesh`"),
            BenchError::Io { what, error } => write!(f, "{what}: {error}"),
            BenchError::Plot(what) => write!(f, "{what}"),
        }
    }
}

impl std::error::Error for BenchError {}

/// What `tidenet bench` measures.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    /// Bytes per case of the table.
    pub bytes: u64,
    /// Where to write the report's files; `None` prints the table only.
    pub report: Option<PathBuf>,
    /// Bytes per point of the sweeps (fewer where the link carries little).
    pub sweep_bytes: u64,
    /// Bytes the host-throughput figures move.
    pub host_bytes: u64,
}

/// Runs the bench: the table, and with a report directory the sweeps and
/// the host figures, written there.
pub fn bench(config: &BenchConfig) -> Result<(), BenchError> {
    let runs = table::RUNS
        + match config.report {
            Some(_) => sweep::runs() + 3,
            None => 0,
        };
    let bar = ProgressBar::new(runs as u64).with_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} runs ({eta} left) {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message("the table");
    let result = measure(config, &bar);
    bar.finish_and_clear();
    result
}

fn measure(config: &BenchConfig, bar: &ProgressBar) -> Result<(), BenchError> {
    let table = Table::measure(config.bytes, bar)?;
    let Some(dir) = &config.report else {
        return Ok(());
    };
    bar.set_message("sweeps");
    let sweeps = sweep::sweeps(config.sweep_bytes, bar)?;
    bar.set_message("host throughput");
    let (throughput, fast) = host::throughput(config.host_bytes)?;
    bar.inc(1);
    let two = host::two_nodes(config.bytes)?;
    bar.inc(1);
    bar.set_message("the largest rig");
    let rig = host::rig()?;
    bar.inc(1);

    fs::create_dir_all(dir).map_err(|error| BenchError::Io {
        what: format!("create {}", dir.display()),
        error,
    })?;
    write(dir, "sim-table.csv", &table.csv())?;
    for (_, figure) in &sweeps.figures {
        figure.write(dir).map_err(BenchError::Plot)?;
    }
    let host_csv = host_csv(&throughput, &[&fast, &two, &rig]);
    write(dir, "sim-host.csv", &host_csv)?;
    let markdown = markdown(
        config,
        &table,
        &sweeps.figures,
        &sweeps.notes,
        &throughput,
        &[&fast, &two, &rig],
    );
    write(dir, "sim.md", &markdown)?;
    bar.suspend(|| {
        println!();
        println!(
            "host: two nodes {:.1} MB/s, {:.4} of memcpy ({:.0} MB/s), {:.4} of loopback TCP ({:.0} MB/s)",
            throughput.model / 1e6,
            throughput.model / throughput.memcpy,
            throughput.memcpy / 1e6,
            throughput.model / throughput.tcp,
            throughput.tcp / 1e6
        );
        for s in [&fast, &two, &rig] {
            println!(
                "simulator speed, {}: {:.4} virtual s per wall s",
                s.what,
                s.virtual_s / s.wall_s
            );
        }
        println!("wrote {}", dir.join("sim.md").display());
    });
    Ok(())
}

fn write(dir: &Path, name: &str, text: &str) -> Result<(), BenchError> {
    let path = dir.join(name);
    fs::write(&path, text).map_err(|error| BenchError::Io {
        what: format!("write {}", path.display()),
        error,
    })
}

fn host_csv(t: &host::Throughput, speeds: &[&host::Speed]) -> String {
    let mut out = String::from("what,value\n");
    let _ = writeln!(out, "bytes,{}", t.bytes);
    let _ = writeln!(out, "two_nodes_bytes_per_s,{:.0}", t.model);
    let _ = writeln!(out, "memcpy_bytes_per_s,{:.0}", t.memcpy);
    let _ = writeln!(out, "loopback_tcp_bytes_per_s,{:.0}", t.tcp);
    let _ = writeln!(out, "ratio_to_memcpy,{:.6}", t.model / t.memcpy);
    let _ = writeln!(out, "ratio_to_loopback_tcp,{:.6}", t.model / t.tcp);
    for s in speeds {
        let _ = writeln!(
            out,
            "\"virtual s per wall s: {}\",{:.6}",
            s.what,
            s.virtual_s / s.wall_s
        );
    }
    out
}

/// `sim.md`: the section `cargo xtask bench` puts in its report.
fn markdown(
    config: &BenchConfig,
    table: &Table,
    figures: &[(String, Figure)],
    notes: &[String],
    t: &host::Throughput,
    speeds: &[&host::Speed],
) -> String {
    let mut md = String::from("## Simulator (`tidenet bench`)\n\n");
    md += "Virtual time: 125 MHz link cycles, the same on every machine. Efficiency is goodput over the per-CPU ceiling, \
           the slower of the wire (8 B/cycle) and one CPU's bus (8 B per `bus_cycles`); see the chapter on the ringbuffer link.\n\n";
    md += &table.markdown();
    md += "\nCSV: `sim-table.csv`.\n\n";
    let _ = write!(
        md,
        "### Sweeps\n\nAbout {} KiB per point (an eighth of that where loss, corruption or outages reach 30%, half from 10%), seed 1, \
         latency 200 cycles, bus 8 cycles/word, window 16 KiB. Each figure has a CSV of the same name.\n\n",
        config.sweep_bytes / 1024
    );
    for note in notes {
        let _ = writeln!(md, "- {note}");
    }
    if !notes.is_empty() {
        md.push('\n');
    }
    for (caption, figure) in figures {
        let _ = write!(
            md,
            "#### {caption}\n\n![{caption}]({name}.svg)\n\nCSV: `{name}.csv`.\n\n",
            name = figure.name
        );
    }
    let _ = write!(
        md,
        "The ping's physical round trip is twice the latency plus, each way, its {}-word frame written by one CPU and read by the other at 8 cycles a word.\n\n",
        tidenet_ringbuffer::wire::frame_words(44)
    );
    let fast = host::fast(t.bytes);
    let _ = write!(
        md,
        "### Host throughput\n\n\
         {} MiB each, measured in the same run, on this machine's wall clock. The two nodes run TCP/IP on a modelled link in fast mode \
         (no faults, bus {} cycle a word, depth {}, latency {} cycles, poll loop); their figure includes the harness's own work \
         (generating the data and a SHA-256 at each end).\n\n\
         | what | MB/s | two nodes as a ratio |\n|---|---:|---:|\n\
         | two nodes over the model | {:.1} | 1 |\n\
         | `memcpy` (one `copy_from_slice`, best of 3) | {:.1} | {:.5} |\n\
         | Linux TCP over 127.0.0.1 (std `TcpStream`, 64 KiB writes, two threads, best of 3) | {:.1} | {:.4} |\n\n",
        t.bytes >> 20,
        fast.bus_cycles,
        fast.link.depth,
        fast.link.latency,
        t.model / 1e6,
        t.memcpy / 1e6,
        t.model / t.memcpy,
        t.tcp / 1e6,
        t.model / t.tcp
    );
    md += "The simulator's own speed, virtual seconds simulated per wall second:\n\n| run | virtual s | wall s | virtual/wall |\n|---|---:|---:|---:|\n";
    for s in speeds {
        let _ = writeln!(
            md,
            "| {} | {:.4} | {:.2} | {:.4} |",
            s.what,
            s.virtual_s,
            s.wall_s,
            s.virtual_s / s.wall_s
        );
    }
    md += "\nCSV: `sim-host.csv`.\n";
    md
}
