//! `cargo xtask bench`: runs every producer of the bench report and puts
//! their sections together in `target/bench/report.md`.
//!
//! Each producer is told the report directory in `TIDENET_BENCH_DIR` and
//! writes its own section there, `<name>.md` (starting with `## `), with
//! its CSVs and SVG plots beside it; the plotting stays in the producers,
//! so this crate keeps to plain std. A producer that fails or writes
//! nothing leaves a note in its place, and the task fails at the end,
//! after the report is written.

use std::env;
use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::{ensure_qemu, firmware, run_cargo};

/// Where the report goes, under the workspace root.
const DIR: &str = "target/bench";
/// `tidenet bench`; `cargo xtask bench`'s own arguments go to it.
const SIM: &[&str] = &["run", "--release", "-p", "tidenet-sim", "--", "bench"];
/// The Thunderbolt transport's benchmark on loopback.
const THUNDERBOLT: &[&str] = &["bench", "-p", "tidenet-thunderbolt"];
/// The firmware's benchmark, after the image is built and QEMU installed.
const FIRMWARE: &[&str] = &["bench", "-p", "tidenet-qemu"];
/// The criterion benches of the hot paths, at shortened times: their
/// figures are for the report's summary, not for comparing builds.
const CRITERION: &[&str] = &[
    "bench",
    "-p",
    "tidenet-ringbuffer",
    "-p",
    "tidenet-core",
    "-p",
    "tidenet-shell",
    "--bench",
    "link",
    "--bench",
    "proto",
    "--bench",
    "shell",
    "--",
    "--warm-up-time",
    "1",
    "--measurement-time",
    "2",
];

/// The report's sections, in order: the file each producer writes, and a
/// title for the note if it is missing.
const SECTIONS: [(&str, &str); 4] = [
    ("sim.md", "Simulator (`tidenet bench`)"),
    ("thunderbolt.md", "Thunderbolt transport on loopback"),
    ("firmware.md", "Firmware under QEMU"),
    ("criterion.md", "Criterion benches of the hot paths"),
];

/// Runs the producers, then writes the report.
pub fn bench(root: &Path, sim_args: &[String]) -> Result<(), String> {
    let started = Instant::now();
    let dir = root.join(DIR);
    // Stale sections would pass for this run's.
    if dir.exists() {
        fs::remove_dir_all(&dir).map_err(|e| format!("clear {}: {e}", dir.display()))?;
    }
    fs::create_dir_all(&dir).map_err(|e| format!("create {}: {e}", dir.display()))?;
    // Every producer below inherits it.
    env::set_var("TIDENET_BENCH_DIR", &dir);

    let mut failed = Vec::new();
    let mut step = |name: &str, result: Result<(), String>| {
        if let Err(e) = result {
            eprintln!("error: {name}: {e}");
            failed.push(format!("{name}: {e}"));
        }
    };
    println!("==> the simulator's bench");
    step("the simulator", run_cargo(root, SIM, sim_args));
    println!("==> the Thunderbolt transport's bench on loopback");
    step("Thunderbolt", run_cargo(root, THUNDERBOLT, &[]));
    println!("==> the firmware's bench under QEMU");
    step(
        "the firmware",
        firmware(root)
            .and_then(|()| ensure_qemu(root))
            .and_then(|()| run_cargo(root, FIRMWARE, &[])),
    );
    println!("==> the criterion benches");
    step("criterion", criterion(root, &dir));

    let took = started.elapsed().as_secs_f64();
    let report = report(root, &dir, took, &failed)?;
    println!("==> wrote {} in {took:.0} s", report);
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} of the producers failed ({}); the report says which",
            failed.len(),
            failed.join("; ")
        ))
    }
}

/// Runs the criterion benches, echoing their output, and writes its
/// summary as `criterion.md`.
fn criterion(root: &Path, dir: &Path) -> Result<(), String> {
    println!("    $ cargo {}", CRITERION.join(" "));
    let mut child = crate::cargo()
        .args(CRITERION)
        .current_dir(root)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo bench: {e}"))?;
    let mut output = String::new();
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines() {
            let line = line.map_err(|e| format!("read cargo bench's output: {e}"))?;
            println!("{line}");
            output += &line;
            output.push('\n');
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("wait for cargo bench: {e}"))?;
    if !status.success() {
        return Err(format!("cargo bench exited with {status}"));
    }
    let rows = parse_criterion(&output);
    if rows.is_empty() {
        return Err("cargo bench printed no criterion results".into());
    }
    let mut md = String::from(
        "## Criterion benches of the hot paths\n\n\
         `cargo bench -p tidenet-ringbuffer -p tidenet-core -p tidenet-shell --bench link --bench proto --bench shell`, \
         at 1 s warm-up and 2 s measurement each (criterion's defaults are 3 and 5). \
         The middle of criterion's estimate; throughput counts the bytes each operation handles.\n\n\
         | bench | time per operation | throughput |\n|---|---:|---:|\n",
    );
    for row in rows {
        md += &format!("| {} | {} | {} |\n", row.name, row.time, row.throughput);
    }
    fs::write(dir.join("criterion.md"), md).map_err(|e| format!("write criterion.md: {e}"))
}

/// One bench's estimate, as criterion printed it.
#[derive(Debug, PartialEq)]
struct Estimate {
    name: String,
    time: String,
    throughput: String,
}

/// The estimates in criterion's text output:
///
/// ```text
/// link/crc32c 1500 B      time:   [1.0 µs 1.1 µs 1.2 µs]
///                         thrpt:  [1.2 GiB/s 1.3 GiB/s 1.4 GiB/s]
/// ```
///
/// A name too long for its column stands alone on the line before.
fn parse_criterion(output: &str) -> Vec<Estimate> {
    let middle = |line: &str| {
        let inner = line.split('[').nth(1)?.split(']').next()?;
        let words: Vec<&str> = inner.split_whitespace().collect();
        (words.len() == 6).then(|| format!("{} {}", words[2], words[3]))
    };
    let mut rows: Vec<Estimate> = Vec::new();
    let mut name = String::new();
    for line in output.lines() {
        if let Some((before, _)) = line.split_once("time:") {
            if !before.trim().is_empty() {
                name = before.trim().to_owned();
            }
            if let Some(time) = middle(line) {
                rows.push(Estimate {
                    name: name.clone(),
                    time,
                    throughput: String::new(),
                });
            }
        } else if line.contains("thrpt:") {
            if let (Some(row), Some(throughput)) = (rows.last_mut(), middle(line)) {
                row.throughput = throughput;
            }
        } else if !line.starts_with(char::is_whitespace) && line.contains('/') {
            name = line.trim().to_owned();
        }
    }
    rows
}

/// Writes `report.md`: the header, then each section or a note where it
/// is missing. Returns its path.
fn report(root: &Path, dir: &Path, took: f64, failed: &[String]) -> Result<String, String> {
    let text = |program: &str, args: &[&str]| {
        Command::new(program)
            .args(args)
            .current_dir(root)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let date = text("date", &["-u", "+%Y-%m-%d %H:%M UTC"]).unwrap_or_else(|| "unknown".into());
    let commit =
        text("git", &["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    let dirty = text("git", &["status", "--porcelain"]).is_some_and(|s| !s.is_empty());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpu = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let mut md = format!(
        "# tidenet bench report\n\n\
         - date: {date}\n\
         - commit: {commit}{}\n\
         - machine: {cores} cores, {cpu}\n\
         - `cargo xtask bench` took {:.1} minutes\n\n",
        if dirty {
            " (with uncommitted changes)"
        } else {
            ""
        },
        took / 60.0
    );
    for (file, title) in SECTIONS {
        match fs::read_to_string(dir.join(file)) {
            Ok(section) if section.starts_with("## ") => {
                md += section.trim_end();
                md += "\n\n";
            }
            _ => {
                let why = failed
                    .iter()
                    .find(|f| f.starts_with(producer(file)))
                    .map_or_else(
                        || "its producer wrote nothing".to_owned(),
                        |f| format!("failed: {f}"),
                    );
                md += &format!("## {title}\n\n_Missing: `{file}` was not written ({why})._\n\n");
            }
        }
    }
    let path = dir.join("report.md");
    fs::write(&path, md).map_err(|e| format!("write {}: {e}", path.display()))?;
    Ok(path.display().to_string())
}

/// The name [`bench`] gives the producer of `file` in its failures.
fn producer(file: &str) -> &'static str {
    match file {
        "sim.md" => "the simulator",
        "thunderbolt.md" => "Thunderbolt",
        "firmware.md" => "the firmware",
        _ => "criterion",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn criterion_estimates_are_read_with_short_and_long_names() {
        let output = "\
Testing nothing
link/crc32c 1500 B      time:   [1.0012 µs 1.1000 µs 1.2000 µs]
                        thrpt:  [1.1642 GiB/s 1.2700 GiB/s 1.3952 GiB/s]
Found 3 outliers among 100 measurements (3.00%)
shell/COBS send frame, deframe and reply
                        time:   [2.5000 µs 2.6000 µs 2.7000 µs]
                        thrpt:  [45.000 MiB/s 46.000 MiB/s 47.000 MiB/s]
";
        assert_eq!(
            parse_criterion(output),
            vec![
                Estimate {
                    name: "link/crc32c 1500 B".into(),
                    time: "1.1000 µs".into(),
                    throughput: "1.2700 GiB/s".into(),
                },
                Estimate {
                    name: "shell/COBS send frame, deframe and reply".into(),
                    time: "2.6000 µs".into(),
                    throughput: "46.000 MiB/s".into(),
                },
            ]
        );
    }
}
