//! The firmware image under QEMU, for tests, benchmarks and people.
//!
//! [`Qemu::boot`] starts `qemu-system-riscv32` on the image with its UART on
//! a Unix socket, waits for the boot banner and the prompt, and hands the
//! UART out as a [`UnixStream`]: the same kind of stream the simulated nodes
//! give, so the shell's [`client`] drives both the same way. It also reads
//! the image's memory through the QEMU monitor, which is how
//! [`Qemu::stack_used`] measures the stack.
//!
//! [`client`]: https://docs.rs/tidenet-shell (the `client` module of tidenet-shell)
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::fmt;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub mod cpu;

/// Where `cargo xtask firmware` leaves the image.
pub const IMAGE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../riscv/target/riscv32imc-unknown-none-elf/release/tidenet-firmware"
);
/// The emulator; `TIDENET_QEMU` names another.
pub const QEMU: &str = "qemu-system-riscv32";
/// How long QEMU gets to create its sockets, and the image to print its
/// prompt.
const BOOT_TIMEOUT: Duration = Duration::from_secs(30);
/// The read timeout of the UART handed out, so that clients can give up.
const READ_TIMEOUT: Duration = Duration::from_millis(20);
/// The line the image prints before its first prompt.
const LAST_BANNER_LINE: &str = "node a ";
/// The shell's prompt.
const PROMPT: &[u8] = b"> ";

/// Why QEMU or the image did not come up, or a measurement failed.
#[derive(Debug)]
pub enum QemuError {
    /// The image is not where it was looked for.
    NoImage(PathBuf),
    /// QEMU could not be started: not installed, or not runnable.
    Spawn(io::Error),
    /// QEMU exited; its stderr says why.
    Exited(String),
    /// The image printed no prompt in time; what it did print is attached.
    NoPrompt(String),
    /// The banner did not say where the stack is.
    NoStackLine(String),
    /// A socket or file operation failed.
    Io(io::Error),
    /// The monitor did not answer as expected.
    Monitor(String),
    /// A benchmark image could not be built.
    Build(String),
    /// A benchmark image reported a failure, or figures that do not parse.
    Bench(String),
}

impl fmt::Display for QemuError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QemuError::NoImage(path) => write!(
                f,
                "no firmware image at {}; build it with `cargo xtask firmware`",
                path.display()
            ),
            QemuError::Spawn(e) => write!(
                f,
                "could not start {QEMU} ({e}); install it with `apt-get install qemu-system-misc` \
                 or run `cargo xtask test`, which does"
            ),
            QemuError::Exited(stderr) => write!(f, "QEMU exited: {stderr}"),
            QemuError::NoPrompt(seen) => write!(
                f,
                "the image printed no prompt within {BOOT_TIMEOUT:?}; it printed: {seen:?}"
            ),
            QemuError::NoStackLine(seen) => {
                write!(f, "the boot banner has no `stack 0x..` line: {seen:?}")
            }
            QemuError::Io(e) => write!(f, "{e}"),
            QemuError::Monitor(what) => write!(f, "QEMU monitor: {what}"),
            QemuError::Build(what) => write!(f, "{what}; build it by hand to see why"),
            QemuError::Bench(what) => write!(f, "the benchmark image failed: {what}"),
        }
    }
}

impl std::error::Error for QemuError {}

impl From<io::Error> for QemuError {
    fn from(e: io::Error) -> Self {
        QemuError::Io(e)
    }
}

/// What booting took and printed.
#[derive(Clone, Debug)]
pub struct Boot {
    /// From starting QEMU to its UART socket accepting a connection: the
    /// emulator's own start-up.
    pub to_start: Duration,
    /// From the machine starting (the UART connected) to the first prompt:
    /// the image's boot, alignment and link bring-up.
    pub to_prompt: Duration,
    /// The banner, line by line.
    pub banner: Vec<String>,
    /// The stack region the image painted.
    pub stack: StackRegion,
    /// Where the image keeps its [`IdleCounters`], if its banner says.
    pub idle: Option<u32>,
}

/// How the image's main loop spent its time: `firmware/riscv/src/sleep.rs`
/// keeps them. `busy` and `at` are `minstret` figures, instructions only
/// where `minstret` counts them (a board; QEMU with `-icount shift=0`,
/// under which the two-node image's model cannot keep real time); under
/// plain TCG it counts host ticks, and only `sleeps` and `loops` mean
/// anything.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdleCounters {
    /// Instructions run outside `wfi`, up to the last sleep.
    pub busy: u64,
    /// Virtual nanoseconds since reset at the last sleep.
    pub at: u64,
    /// Sleeps taken.
    pub sleeps: u64,
    /// Turns of the main loop.
    pub loops: u64,
}

/// The stack region, as the banner gives it: `low..high`, painted with
/// `paint` below the boot frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackRegion {
    /// The lowest address of the stack region.
    pub low: u32,
    /// One past the highest: where the stack starts.
    pub high: u32,
    /// The 32-bit pattern free stack holds.
    pub paint: u32,
}

impl StackRegion {
    /// Reads `stack 0x8003a9f0..0x80050000 (87568 bytes), painted 0x5afe57ac`.
    fn parse(line: &str) -> Option<StackRegion> {
        let rest = line.strip_prefix("stack ")?;
        let (range, rest) = rest.split_once(' ')?;
        let (low, high) = range.split_once("..")?;
        let paint = rest.rsplit_once("painted ")?.1;
        let hex = |s: &str| u32::from_str_radix(s.trim().strip_prefix("0x")?, 16).ok();
        Some(StackRegion {
            low: hex(low)?,
            high: hex(high)?,
            paint: hex(paint)?,
        })
    }
}

/// A running QEMU with the image booted to its prompt. Dropping it stops
/// QEMU.
pub struct Qemu {
    process: Process,
    uart: UnixStream,
    monitor: UnixStream,
    dir: TempDir,
    boot: Boot,
}

impl Qemu {
    /// Boots the image at `TIDENET_FIRMWARE`, or at [`IMAGE`].
    pub fn boot_default() -> Result<Qemu, QemuError> {
        let image = std::env::var_os("TIDENET_FIRMWARE")
            .map_or_else(|| PathBuf::from(IMAGE), PathBuf::from);
        Qemu::boot(&image)
    }

    /// Starts QEMU's `virt` machine on `image` and waits for the prompt.
    pub fn boot(image: &Path) -> Result<Qemu, QemuError> {
        if !image.is_file() {
            return Err(QemuError::NoImage(image.to_path_buf()));
        }
        let dir = tempfile::Builder::new().prefix("tidenet-qemu").tempdir()?;
        let uart_path = dir.path().join("uart");
        let monitor_path = dir.path().join("monitor");
        let qemu = std::env::var_os("TIDENET_QEMU").unwrap_or_else(|| QEMU.into());
        let started = Instant::now();
        let mut process = Process(
            Command::new(qemu)
                .args(["-machine", "virt", "-bios", "none", "-display", "none"])
                .arg("-chardev")
                // wait=on: the machine starts once the UART is connected, so
                // nothing it prints is lost.
                .arg(format!(
                    "socket,id=uart,path={},server=on,wait=on",
                    uart_path.display()
                ))
                .args(["-serial", "chardev:uart"])
                .arg("-monitor")
                .arg(format!(
                    "unix:{},server=on,wait=off",
                    monitor_path.display()
                ))
                .arg("-kernel")
                .arg(image)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(QemuError::Spawn)?,
        );
        let mut uart = process.connect(&uart_path)?;
        let to_start = started.elapsed();
        let mut monitor = process.connect(&monitor_path)?;

        let machine_started = Instant::now();
        let seen = process.read_until(&mut uart, |seen| {
            let text = String::from_utf8_lossy(seen);
            text.find(LAST_BANNER_LINE)
                .is_some_and(|at| seen[at..].ends_with(PROMPT))
        });
        let seen = seen.map_err(|e| match e {
            ReadError::Timeout(seen) => {
                QemuError::NoPrompt(String::from_utf8_lossy(&seen).into_owned())
            }
            ReadError::Qemu(e) => e,
        })?;
        let to_prompt = machine_started.elapsed();
        let banner: Vec<String> = String::from_utf8_lossy(&seen)
            .lines()
            .map(|l| l.trim_end().to_owned())
            .filter(|l| !l.is_empty() && l != ">")
            .collect();
        let stack = banner
            .iter()
            .find_map(|line| StackRegion::parse(line))
            .ok_or_else(|| QemuError::NoStackLine(banner.join("\n")))?;
        let idle = banner.iter().find_map(|line| {
            let hex = line.strip_prefix("idle counters at 0x")?;
            u32::from_str_radix(hex.trim(), 16).ok()
        });
        read_monitor_prompt(&mut process, &mut monitor)?;
        Ok(Qemu {
            process,
            uart,
            monitor,
            dir,
            boot: Boot {
                to_start,
                to_prompt,
                banner,
                stack,
                idle,
            },
        })
    }

    /// What booting took and printed.
    pub fn boot_report(&self) -> &Boot {
        &self.boot
    }

    /// A handle on the UART, with a short read timeout, as
    /// `tidenet_shell::client` expects. Every handle reads the same stream.
    pub fn uart(&self) -> io::Result<UnixStream> {
        self.uart.try_clone()
    }

    /// The deepest the stack has been since boot, in bytes: from the top of
    /// the region to the lowest word that no longer holds the paint. Reads
    /// the region through the monitor while the machine runs.
    pub fn stack_used(&mut self) -> Result<u32, QemuError> {
        let StackRegion { low, high, paint } = self.boot.stack;
        let bytes = self.read_memory(low, high - low)?;
        let untouched = bytes
            .chunks_exact(4)
            .take_while(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]) == paint)
            .count() as u32;
        Ok(high - low - 4 * untouched)
    }

    /// The image's [`IdleCounters`], read through the monitor while the
    /// machine runs.
    pub fn idle_counters(&mut self) -> Result<IdleCounters, QemuError> {
        let at = self.boot.idle.ok_or_else(|| {
            QemuError::Monitor("the banner has no `idle counters at 0x..` line".into())
        })?;
        let bytes = self.read_memory(at, 32)?;
        let word = |i: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[8 * i..8 * i + 8]);
            u64::from_le_bytes(b)
        };
        Ok(IdleCounters {
            busy: word(0),
            at: word(1),
            sleeps: word(2),
            loops: word(3),
        })
    }

    /// `len` bytes of the machine's memory from `address`, through the
    /// monitor's `pmemsave`.
    fn read_memory(&mut self, address: u32, len: u32) -> Result<Vec<u8>, QemuError> {
        let dump = self.dir.path().join("memory");
        let command = format!("pmemsave {address:#x} {len} \"{}\"\n", dump.display());
        self.monitor.write_all(command.as_bytes())?;
        read_monitor_prompt(&mut self.process, &mut self.monitor)?;
        let bytes = std::fs::read(&dump)?;
        if bytes.len() != len as usize {
            return Err(QemuError::Monitor(format!(
                "pmemsave wrote {} bytes, not {len}",
                bytes.len()
            )));
        }
        Ok(bytes)
    }
}

/// Reads the monitor's output up to its next `(qemu) ` prompt.
fn read_monitor_prompt(process: &mut Process, monitor: &mut UnixStream) -> Result<(), QemuError> {
    match process.read_until(monitor, |seen| seen.ends_with(b"(qemu) ")) {
        Ok(_) => Ok(()),
        Err(ReadError::Timeout(seen)) => Err(QemuError::Monitor(format!(
            "no prompt; it printed {:?}",
            String::from_utf8_lossy(&seen)
        ))),
        Err(ReadError::Qemu(e)) => Err(e),
    }
}

/// Why [`Process::read_until`] stopped short.
enum ReadError {
    /// [`BOOT_TIMEOUT`] passed; what was read is attached.
    Timeout(Vec<u8>),
    /// QEMU exited, or the socket failed.
    Qemu(QemuError),
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> Self {
        ReadError::Qemu(e.into())
    }
}

/// The QEMU process: killed when dropped, so that every early return from
/// [`Qemu::boot`] and every dropped [`Qemu`] leaves nothing running.
struct Process(Child);

impl Process {
    /// Connects to a socket QEMU is about to create, while QEMU runs.
    fn connect(&mut self, path: &Path) -> Result<UnixStream, QemuError> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        loop {
            match UnixStream::connect(path) {
                Ok(stream) => {
                    stream.set_read_timeout(Some(READ_TIMEOUT))?;
                    return Ok(stream);
                }
                Err(e) if Instant::now() > deadline => return Err(e.into()),
                Err(_) => {}
            }
            self.check_running()?;
            sleep(Duration::from_millis(5));
        }
    }

    /// Reads `stream` until what was read satisfies `done`, QEMU exits, or
    /// [`BOOT_TIMEOUT`] passes. Returns what was read.
    fn read_until(
        &mut self,
        stream: &mut UnixStream,
        done: impl Fn(&[u8]) -> bool,
    ) -> Result<Vec<u8>, ReadError> {
        let deadline = Instant::now() + BOOT_TIMEOUT;
        let mut seen = Vec::new();
        let mut chunk = [0u8; 512];
        while !done(&seen) {
            if Instant::now() > deadline {
                return Err(ReadError::Timeout(seen));
            }
            self.check_running().map_err(ReadError::Qemu)?;
            match stream.read(&mut chunk) {
                Ok(0) => return Err(ReadError::Qemu(self.exited())),
                Ok(n) => seen.extend_from_slice(&chunk[..n]),
                Err(e) if is_timeout(&e) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(seen)
    }

    fn check_running(&mut self) -> Result<(), QemuError> {
        match self.0.try_wait()? {
            Some(_) => Err(self.exited()),
            None => Ok(()),
        }
    }

    /// Stops QEMU and returns what it said on stderr.
    fn exited(&mut self) -> QemuError {
        self.stop();
        let mut stderr = String::new();
        if let Some(pipe) = self.0.stderr.as_mut() {
            let _ = pipe.read_to_string(&mut stderr);
        }
        QemuError::Exited(stderr.trim().to_owned())
    }

    fn stop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.stop();
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

#[cfg(test)]
mod tests {
    use super::StackRegion;

    #[test]
    fn the_banners_stack_line_parses() {
        assert_eq!(
            StackRegion::parse("stack 0x8003a9f0..0x80050000 (87568 bytes), painted 0x5afe57ac"),
            Some(StackRegion {
                low: 0x8003_a9f0,
                high: 0x8005_0000,
                paint: 0x5afe_57ac,
            })
        );
        assert_eq!(
            StackRegion::parse("stack 0x10..zz (1 bytes), painted 0x1"),
            None
        );
        assert_eq!(StackRegion::parse("node a 169.254.1.1"), None);
    }
}
