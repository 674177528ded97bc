//! tidenet's task runner, invoked as `cargo xtask <task>` (see
//! `.cargo/config.toml`).
//!
//! It holds the commands CI and developers run, so that both run the same
//! ones: `.ci/run` is `cargo xtask test` and nothing else. Plain std, no
//! dependencies, so it builds in seconds on a fresh checkout. What it needs
//! beyond cargo (the riscv32imc target, QEMU) it installs.
#![forbid(unsafe_code)]

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod docs;
mod fuzz;
mod tshark;

/// The bare-metal target of bittide's management-unit CPU (a VexRiscv).
const RISCV_TARGET: &str = "riscv32imc-unknown-none-elf";
/// The firmware image's crate, a workspace of its own whose
/// `.cargo/config.toml` sets the target and linker script, so cargo must
/// run in its directory.
const FIRMWARE_DIR: &str = "firmware/riscv";
const FIRMWARE_MANIFEST: &str = "firmware/riscv/Cargo.toml";
/// Where its build leaves the image.
const FIRMWARE_IMAGE: &str =
    "firmware/riscv/target/riscv32imc-unknown-none-elf/release/tidenet-firmware";
/// The emulator, and the Debian package it comes in.
const QEMU: &str = "qemu-system-riscv32";
const QEMU_PACKAGE: &str = "qemu-system-misc";
/// The seven-link node configuration, and its link count.
const NODE7_IMAGE: &str = "firmware/riscv/target/riscv32imc-unknown-none-elf/release/tidenet-node7";
const NODE7_LINKS: u64 = 7;
/// The least stack a node image may be left: the two-node image, whose
/// `main` frame holds both nodes, has been measured at some 30 KiB, and a
/// node kept in a static needs less.
const MIN_STACK: u64 = 16 * 1024;
/// bittide's management CPU memories, as firmware/riscv/memory.x lays them
/// out: instruction memory, then data memory.
const IMEM: (u64, u64) = (0x8000_0000, 160 * 1024);
const DMEM: (u64, u64) = (0x8002_8000, 160 * 1024);

/// Printed by `cargo xtask help`; the steps of `test` are listed from [`TEST`].
fn usage() -> String {
    let mut usage = String::from(
        "usage: cargo xtask <task> [args]\n\n\
         tasks:\n  \
         test      every check CI runs, in order, stopping at the first failure:\n",
    );
    for step in TEST {
        usage += &format!("              - {}\n", step.name);
    }
    usage += "  \
        firmware  build the riscv32imc image and print how much of bittide's\n            \
        160 KiB instruction and 160 KiB data memory it uses\n  \
        qemu      build the image and boot it under QEMU with its UART on this\n            \
        terminal (Ctrl-A X quits)\n  \
        bench     write the bench report, target/bench/report.md, with CSVs and\n            \
        SVG plots beside it: the simulator's benchmarks and sweeps\n            \
        (`tidenet bench --report`, further args going to it), the\n            \
        Thunderbolt transport's on loopback, the firmware's under QEMU\n            \
        and the criterion benches of the hot paths\n  \
        soak      run `tidenet soak` in release mode: random transfers and rigs,\n            \
        each checked end to end; args go to it (--minutes N, default 2;\n            \
        --seed S; --only K)\n  \
        fuzz      run every cargo-fuzz target in fuzz/ (nightly; installs\n            \
        cargo-fuzz if missing) for --seconds N each (default 60;\n            \
        --only TARGET), then print executions per target\n  \
        docs      build the book in docs/ with mdBook (installed if missing) and\n            \
        check that every link and anchor in it resolves\n  \
        help      print this message\n";
    usage
}

/// What a step does.
enum Action {
    /// Run `cargo` with these arguments in the workspace root.
    Cargo(&'static [&'static str]),
    /// Run a function that needs more than one command.
    Call(fn(&Path) -> Result<(), String>),
}

/// One step of a task: a name for its header and for the failure message.
struct Step {
    name: &'static str,
    action: Action,
}

impl Step {
    const fn cargo(name: &'static str, args: &'static [&'static str]) -> Step {
        Step {
            name,
            action: Action::Cargo(args),
        }
    }

    const fn call(name: &'static str, f: fn(&Path) -> Result<(), String>) -> Step {
        Step {
            name,
            action: Action::Call(f),
        }
    }
}

/// `cargo xtask test`, in order. Adding a check is adding an entry.
#[rustfmt::skip]
const TEST: &[Step] = &[
    Step::call("install the riscv32imc target if it is missing", ensure_riscv_target),
    Step::cargo("check formatting (cargo fmt --check)", &["fmt", "--all", "--", "--check"]),
    Step::cargo(
        "check the firmware image's formatting",
        &["fmt", "--manifest-path", FIRMWARE_MANIFEST, "--", "--check"],
    ),
    Step::cargo(
        "build the no_std crates for riscv32imc (no std, no alloc), core with its async API",
        &[
            "build", "-p", "tidenet-core", "-p", "tidenet-ringbuffer", "-p", "tidenet-tcpip",
            "-p", "tidenet-bespoke", "-p", "tidenet-model", "-p", "tidenet-shell", "-p",
            "tidenet-node", "--features", "tidenet-core/async",
            "--target", RISCV_TARGET,
        ],
    ),
    Step::cargo(
        "lint every crate and target (cargo clippy -D warnings)",
        &["clippy", "--workspace", "--all-targets", "--all-features", "--", "-D", "warnings"],
    ),
    Step::call("build the book (mdBook) and check every link in it", docs::check),
    Step::call("build the firmware image and check its memory use", firmware),
    Step::call("install QEMU if it is missing", ensure_qemu),
    Step::cargo("run every test (cargo test --workspace)", &["test", "--workspace"]),
    Step::call(
        "build the fuzz targets and check their seeds are current (cargo +nightly test in fuzz/)",
        fuzz::check,
    ),
    Step::call(
        "install tshark if it is missing and check the simulator's packet captures with Wireshark's dissectors",
        tshark::check,
    ),
    Step::call(
        "run the Linux TCP interop test: the kernel against a simulated node over TUN (root)",
        tun_interop,
    ),
    Step::cargo(
        "smoke-run the Thunderbolt transport's loopback benchmark (quick sizes)",
        &["bench", "-p", "tidenet-thunderbolt", "--", "--quick"],
    ),
    Step::cargo(
        "smoke-run the criterion benches once each (link frames and window, postcard, shell)",
        &[
            "bench", "-p", "tidenet-ringbuffer", "-p", "tidenet-core", "-p", "tidenet-shell",
            "--bench", "link", "--bench", "proto", "--bench", "shell", "--", "--test",
        ],
    ),
    Step::cargo(
        "boot the image under QEMU and run the scripted shell sessions",
        &["test", "-p", "tidenet-sim", "--test", "firmware", "--", "--ignored", "--test-threads=1"],
    ),
    Step::cargo(
        "soak for 2 minutes: random transfers and rigs, each checked end to end (seed 1)",
        &["run", "--release", "-p", "tidenet-sim", "--", "soak", "--minutes", "2", "--seed", "1"],
    ),
    Step::cargo(
        "run the async example: one node serving two peers at once",
        &["run", "--release", "-p", "tidenet-sim", "--example", "async_node"],
    ),
    Step::cargo(
        "smoke-run the demo (256 KiB)",
        &["run", "--release", "-p", "tidenet-sim", "--", "demo", "--bytes", "262144"],
    ),
];

/// `tidenet soak`, which `cargo xtask soak` passes its arguments to.
const SOAK: &[&str] = &["run", "--release", "-p", "tidenet-sim", "--", "soak"];

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();

    let result = match task.as_deref() {
        Some("test") if rest.is_empty() => run_steps(&root, TEST),
        Some("test") => return usage_error(&format!("'test' takes no arguments, got {rest:?}")),
        Some("soak") => run_cargo(&root, SOAK, &rest),
        Some("fuzz") => fuzz::run(&root, &rest),
        Some("bench") => bench::bench(&root, &rest),
        Some(task @ ("firmware" | "qemu" | "docs")) if !rest.is_empty() => {
            return usage_error(&format!("'{task}' takes no arguments, got {rest:?}"))
        }
        Some("firmware") => firmware(&root),
        Some("docs") => docs::check(&root),
        Some("qemu") => firmware(&root)
            .and_then(|()| ensure_qemu(&root))
            .and_then(|()| qemu(&root)),
        Some("help" | "-h" | "--help") => {
            print!("{}", usage());
            return ExitCode::SUCCESS;
        }
        Some(other) => return usage_error(&format!("unknown task '{other}'")),
        None => return usage_error("no task given"),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}\n\n{}", usage());
    ExitCode::from(2)
}

/// The workspace root: this crate lives in `<root>/xtask`.
fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("xtask sits one level below the workspace root")
        .to_path_buf()
}

/// Runs `steps` in order, each under a `==> name` header; stops at the first
/// that fails and names it.
fn run_steps(root: &Path, steps: &[Step]) -> Result<(), String> {
    for step in steps {
        println!("==> {}", step.name);
        let result = match step.action {
            Action::Cargo(args) => run_cargo(root, args, &[]),
            Action::Call(f) => f(root),
        };
        result.map_err(|e| format!("step '{}' failed: {e}", step.name))?;
    }
    println!("==> all {} steps passed", steps.len());
    Ok(())
}

/// Runs the cargo that runs us (so the toolchain stays the same) in `dir`
/// with `args` and then `extra`.
fn run_cargo(dir: &Path, args: &[&str], extra: &[String]) -> Result<(), String> {
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect();
    let mut command = cargo();
    command.args(&all).current_dir(dir);
    run(command, &format!("cargo {}", all.join(" ")))
}

/// Runs cargo with `args` in `dir` and `var=value` in its environment: how
/// a test that skips where its tool or privilege is missing is told to fail
/// instead.
fn run_cargo_with(dir: &Path, args: &[&str], var: &str, value: &str) -> Result<(), String> {
    let mut command = cargo();
    command.args(args).env(var, value).current_dir(dir);
    run(command, &format!("{var}={value} cargo {}", args.join(" ")))
}

/// The cargo that runs us, so that the toolchain stays the same.
fn cargo() -> Command {
    Command::new(env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo")))
}

/// Runs `command`, shown as `shown` in messages, with inherited stdio.
fn run(mut command: Command, shown: &str) -> Result<(), String> {
    println!("    $ {shown}");
    let status = command
        .status()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` exited with {status}"))
    }
}

/// The TUN interop test (`firmware/sim/tests/tun.rs`), required to run:
/// where it would skip (no root, no TUN), the step fails instead.
fn tun_interop(root: &Path) -> Result<(), String> {
    const TEST: &[&str] = &["test", "-p", "tidenet-sim", "--test", "tun"];
    const REQUIRE: &str = "TIDENET_REQUIRE_TUN";
    // CI runs as root, where a skip would hide a broken test; a developer
    // without root may set TIDENET_REQUIRE_TUN=0 to let it skip.
    let require = env::var(REQUIRE).unwrap_or_else(|_| "1".into());
    run_cargo_with(root, TEST, REQUIRE, &require)
}

/// Installs the riscv32imc target with rustup unless it is already there.
fn ensure_riscv_target(root: &Path) -> Result<(), String> {
    let output = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(root)
        .output()
        .map_err(|e| {
            format!("could not run rustup ({e}); install the {RISCV_TARGET} target by hand")
        })?;
    if !output.status.success() {
        return Err(format!(
            "`rustup target list --installed` exited with {}",
            output.status
        ));
    }
    let installed = String::from_utf8_lossy(&output.stdout);
    if installed.lines().any(|line| line.trim() == RISCV_TARGET) {
        println!("    {RISCV_TARGET} is installed");
        return Ok(());
    }
    let mut command = Command::new("rustup");
    command
        .args(["target", "add", RISCV_TARGET])
        .current_dir(root);
    run(command, &format!("rustup target add {RISCV_TARGET}"))
}

/// Builds the firmware image and prints how much of each memory it uses.
/// The linker already refuses an image that does not fit; this shows the
/// margin.
fn firmware(root: &Path) -> Result<(), String> {
    // The image is read from the firmware's own target directory, whatever
    // CARGO_TARGET_DIR says.
    run_cargo(
        &root.join(FIRMWARE_DIR),
        &["build", "--release", "--target-dir", "target"],
        &[],
    )?;
    println!("    the two-node image QEMU runs:");
    sizes(&root.join(FIRMWARE_IMAGE))?;
    println!("    a seven-link node (built to show it fits; QEMU has no ringbuffers):");
    let node7 = root.join(NODE7_IMAGE);
    let stack = sizes(&node7)?;
    if stack < MIN_STACK {
        return Err(format!(
            "the seven-link node leaves {stack} bytes of stack, less than the {MIN_STACK} it needs; shrink its buffers"
        ));
    }
    let symbols = command_output(Command::new("nm").arg("-S").arg(&node7))?;
    let size_of = |name: &str| {
        symbols.lines().find_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            match fields[..] {
                [_, size, _, symbol] if symbol == name => u64::from_str_radix(size, 16).ok(),
                _ => None,
            }
        })
    };
    let (Some(buffers), Some(node)) = (size_of("LINK_BUFFERS"), size_of("NODE")) else {
        return Err(format!(
            "{} lacks its LINK_BUFFERS or NODE symbol",
            node7.display()
        ));
    };
    println!(
        "    RAM per link: {} bytes of buffers (streams, window, datagrams) and about {} of state \
         (stack, link layer and a seventh of the node and shell: {node} bytes in all)",
        buffers / NODE7_LINKS,
        node / NODE7_LINKS
    );
    Ok(())
}

/// Prints an image's sections in instruction and data memory and their
/// totals; returns the bytes left to the stack.
fn sizes(image: &Path) -> Result<u64, String> {
    let listing = command_output(Command::new("size").arg("-A").arg(image))?;
    let mut imem = 0;
    let mut dmem = 0;
    let mut stack = 0;
    println!("    {:<12} {:>8} {:>10}", "section", "bytes", "address");
    for line in listing.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [name, size, addr] = fields[..] else {
            continue;
        };
        let (Ok(size), Ok(addr)) = (size.parse::<u64>(), addr.parse::<u64>()) else {
            continue;
        };
        let within = |(origin, len): (u64, u64)| (origin..origin + len).contains(&addr);
        if size == 0 || !(within(IMEM) || within(DMEM)) {
            continue; // debug info and empty markers
        }
        println!("    {name:<12} {size:>8} {addr:#010x}");
        match name {
            ".stack" => stack = size,
            _ if within(IMEM) => imem += size,
            _ => dmem += size,
        }
    }
    let kib = |b: u64| b as f64 / 1024.0;
    println!(
        "    instruction memory: {imem} bytes ({:.1} of {} KiB)",
        kib(imem),
        IMEM.1 / 1024
    );
    println!(
        "    data memory: {dmem} bytes of constants, data and bss ({:.1} of {} KiB); \
         the stack gets the other {stack} bytes",
        kib(dmem),
        DMEM.1 / 1024
    );
    println!("    image: {}", image.display());
    Ok(stack)
}

/// What a tool printed, or why it could not run.
fn command_output(command: &mut Command) -> Result<String, String> {
    let shown = format!("{command:?}");
    let output = command
        .output()
        .map_err(|e| format!("could not run {shown} ({e}); install binutils"))?;
    if !output.status.success() {
        return Err(format!(
            "{shown} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Installs QEMU's riscv32 emulator with apt-get unless it is already there.
fn ensure_qemu(root: &Path) -> Result<(), String> {
    ensure_tool(root, QEMU, QEMU_PACKAGE)
}

/// Installs the Debian `package` that provides `tool` with apt-get, unless
/// `tool --version` already runs; noninteractive, so that a package's
/// questions (tshark's about who may capture) take their defaults.
pub(crate) fn ensure_tool(root: &Path, tool: &str, package: &str) -> Result<(), String> {
    if let Ok(output) = Command::new(tool).arg("--version").output() {
        if output.status.success() {
            let version = String::from_utf8_lossy(&output.stdout);
            println!("    {}", version.lines().next().unwrap_or(tool));
            return Ok(());
        }
    }
    let apt = |args: &[&str]| {
        let mut command = Command::new("apt-get");
        command
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .current_dir(root);
        run(command, &format!("apt-get {}", args.join(" ")))
    };
    let install = ["install", "-y", "--no-install-recommends", package];
    // A fresh machine may have no package lists yet.
    apt(&install)
        .or_else(|_| apt(&["update"]).and_then(|()| apt(&install)))
        .map_err(|e| format!("{e}; install {package} by hand (it provides {tool})"))
}

/// Boots the image with its UART (and QEMU's monitor, behind Ctrl-A C) on
/// this terminal.
fn qemu(root: &Path) -> Result<(), String> {
    println!("    Ctrl-A X quits QEMU; Ctrl-A C switches to its monitor and back");
    let mut command = Command::new(QEMU);
    command
        .args(["-machine", "virt", "-bios", "none", "-nographic", "-kernel"])
        .arg(root.join(FIRMWARE_IMAGE))
        .current_dir(root);
    run(
        command,
        &format!("{QEMU} -machine virt -bios none -nographic -kernel {FIRMWARE_IMAGE}"),
    )
}
