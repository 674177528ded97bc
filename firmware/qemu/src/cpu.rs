//! The CPU-cost benchmark image (`tidenet-cpu`, in firmware/riscv): built
//! with its own feature and memory layout, run under QEMU with
//! `-icount shift=0`, and its figures read off its UART.
//!
//! The image does the counting (see `firmware/riscv/src/bin/cpu`); this
//! builds it, runs it and parses its `cpu <what> key=value ...` lines.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{Process, QemuError, QEMU};

/// The firmware workspace.
const FIRMWARE_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../riscv");
/// Its own target directory: the image is linked with another memory
/// layout (2 MiB of data memory, for a 4000-word link's model), which is a
/// different RUSTFLAGS, so it must not share artifacts with the real
/// images.
const TARGET_DIR: &str = "target/cpu-bench";
/// Where the build leaves the image, under [`FIRMWARE_DIR`].
const IMAGE: &str = "target/cpu-bench/riscv32imc-unknown-none-elf/release/tidenet-cpu";
/// How long the run may take, in wall time.
const RUN_TIMEOUT: Duration = Duration::from_secs(240);

/// Builds the CPU-cost image and returns its path.
pub fn build() -> Result<PathBuf, QemuError> {
    let dir = Path::new(FIRMWARE_DIR);
    let layout = dir.join("memory-bench.x");
    let status = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()))
        .current_dir(dir)
        .args([
            "build",
            "--release",
            "--features",
            "cpu-bench",
            "--bin",
            "tidenet-cpu",
        ])
        .args(["--target-dir", TARGET_DIR])
        // The layout replaces memory.x; the rest is .cargo/config.toml's.
        .env(
            "RUSTFLAGS",
            format!("-C link-arg=-T{} -C link-arg=-Tlink.x", layout.display()),
        )
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .map_err(QemuError::Io)?;
    if !status.success() {
        return Err(QemuError::Build(format!(
            "cargo build of the tidenet-cpu image in {} failed ({status})",
            dir.display()
        )));
    }
    Ok(dir.join(IMAGE))
}

/// How the counter was checked.
#[derive(Clone, Debug)]
pub struct Calibration {
    /// Turns of a two-instruction loop.
    pub turns: u64,
    /// Instructions counted around it.
    pub short: u64,
    /// Instructions counted around twice as many turns.
    pub long: u64,
    /// Instructions counted around nothing.
    pub empty: u64,
}

impl Calibration {
    /// Whether doubling the loop added exactly its instructions.
    pub fn exact(&self) -> bool {
        self.long - self.short == 2 * self.turns
    }
}

/// Instructions one run counted, by node.
#[derive(Clone, Copy, Debug)]
pub struct Run {
    /// Payload bytes delivered.
    pub bytes: u64,
    /// The sending node's stack.
    pub sender: u64,
    /// The receiving node's stack.
    pub receiver: u64,
    /// The link model's work, left out of both.
    pub model: u64,
}

/// What the image counted on a link of one depth.
#[derive(Clone, Debug)]
pub struct Depth {
    /// Link depth in 64-bit words.
    pub depth: u64,
    /// The link's MTU there.
    pub mtu: u64,
    /// Bulk TCP from node A to node B.
    pub tcpip: Run,
    /// The same bytes through the link layer alone.
    pub link: Run,
    /// Bytes the CRC and copy were counted over.
    pub crc_bytes: u64,
    /// CRC-32C of them, as a sender seals frames of the MTU.
    pub crc: u64,
    /// A `copy_from_slice` of them.
    pub copy: u64,
    /// Polls of an idle link (both nodes').
    pub idle_polls: u64,
    /// The stack's instructions in them.
    pub idle_instructions: u64,
    /// The modelled nanoseconds they spanned, the nodes sleeping between
    /// them.
    pub idle_nanos: u64,
}

/// Everything the image printed.
#[derive(Clone, Debug)]
pub struct Report {
    /// The counter's check.
    pub calibration: Calibration,
    /// One entry per depth, in the image's order.
    pub depths: Vec<Depth>,
}

/// Runs `image` under QEMU with `-icount shift=0` and reads its figures.
pub fn run(image: &Path) -> Result<Report, QemuError> {
    if !image.is_file() {
        return Err(QemuError::NoImage(image.to_path_buf()));
    }
    let qemu = std::env::var_os("TIDENET_QEMU").unwrap_or_else(|| QEMU.into());
    let mut child = Command::new(qemu)
        .args(["-machine", "virt", "-bios", "none", "-display", "none"])
        .args(["-icount", "shift=0", "-serial", "stdio", "-monitor", "none"])
        .arg("-kernel")
        .arg(image)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(QemuError::Spawn)?;
    let stdout = child.stdout.take();
    let mut process = Process(child);
    let (lines, seen) = mpsc::channel();
    if let Some(stdout) = stdout {
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { return };
                if lines.send(line).is_err() {
                    return;
                }
            }
        });
    }
    let mut printed = Vec::new();
    loop {
        let line = match seen.recv_timeout(RUN_TIMEOUT) {
            Ok(line) => line.trim_end().to_owned(),
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(QemuError::Bench(format!(
                    "no `cpu done` within {RUN_TIMEOUT:?}; it printed {printed:?}"
                )));
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => return Err(process.exited()),
        };
        if line.starts_with("cpu error") {
            return Err(QemuError::Bench(line));
        }
        let done = line == "cpu done";
        printed.push(line);
        if done {
            break;
        }
    }
    parse(&printed).ok_or_else(|| QemuError::Bench(format!("unreadable figures: {printed:?}")))
}

/// Reads `cpu <what> key=value ...` lines.
fn parse(lines: &[String]) -> Option<Report> {
    let mut calibration = None;
    let mut depths: Vec<Depth> = Vec::new();
    for line in lines {
        let mut words = line.split_whitespace();
        if words.next() != Some("cpu") {
            continue;
        }
        let what = words.next()?;
        let fields: HashMap<&str, &str> = words.filter_map(|w| w.split_once('=')).collect();
        let get = |key: &str| fields.get(key)?.parse::<u64>().ok();
        let run = || {
            Some(Run {
                bytes: get("bytes")?,
                sender: get("sender")?,
                receiver: get("receiver")?,
                model: get("model")?,
            })
        };
        match what {
            "calibration" => {
                calibration = Some(Calibration {
                    turns: get("turns")?,
                    short: get("short")?,
                    long: get("long")?,
                    empty: get("empty")?,
                })
            }
            "tcpip" => depths.push(Depth {
                depth: get("depth")?,
                mtu: get("mtu")?,
                tcpip: run()?,
                link: run()?,
                crc_bytes: 0,
                crc: 0,
                copy: 0,
                idle_polls: 0,
                idle_instructions: 0,
                idle_nanos: 0,
            }),
            "link" => depths.last_mut()?.link = run()?,
            "crc_copy" => {
                let d = depths.last_mut()?;
                d.crc_bytes = get("bytes")?;
                d.crc = get("crc")?;
                d.copy = get("copy")?;
            }
            "idle" => {
                let d = depths.last_mut()?;
                d.idle_polls = get("polls")?;
                d.idle_instructions = get("instructions")?;
                d.idle_nanos = get("nanos")?;
            }
            _ => {}
        }
    }
    Some(Report {
        calibration: calibration?,
        depths,
    })
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn the_images_lines_parse() {
        let lines: Vec<String> = [
            "cpu calibration turns=10 short=21 long=41 empty=3 exact=true",
            "cpu tcpip depth=256 mtu=664 bytes=100 sender=900 receiver=1100 model=5",
            "cpu link depth=256 mtu=664 bytes=100 sender=400 receiver=500 model=4",
            "cpu crc_copy depth=256 bytes=100 crc=300 copy=20",
            "cpu idle depth=256 polls=4 instructions=4000 nanos=2000",
            "cpu done",
        ]
        .map(String::from)
        .into();
        let report = parse(&lines).expect("parses");
        assert!(report.calibration.exact());
        let d = &report.depths[0];
        assert_eq!((d.depth, d.mtu), (256, 664));
        assert_eq!((d.tcpip.sender, d.tcpip.receiver), (900, 1100));
        assert_eq!(
            (d.link.sender, d.link.receiver, d.link.model),
            (400, 500, 4)
        );
        assert_eq!(
            (d.crc, d.copy, d.idle_polls, d.idle_instructions),
            (300, 20, 4, 4000)
        );
        assert!(parse(&["cpu tcpip depth=x".to_owned()]).is_none());
    }
}
