//! tidenet's task runner, invoked as `cargo xtask <task>` (see
//! `.cargo/config.toml`).
//!
//! It holds the commands CI and developers run, so that both run the same
//! ones: `.ci/run` is `cargo xtask test` and nothing else. Plain std, no
//! dependencies, so it builds in seconds on a fresh checkout.

use std::env;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// The bare-metal target of bittide's management-unit CPU (a VexRiscv).
const RISCV_TARGET: &str = "riscv32imc-unknown-none-elf";

/// Printed by `cargo xtask help`; the steps of `test` are listed from [`TEST`].
fn usage() -> String {
    let mut usage = String::from(
        "usage: cargo xtask <task> [args]\n\n\
         tasks:\n  \
         test     every check CI runs, in order, stopping at the first failure:\n",
    );
    for step in TEST {
        usage += &format!("             - {}\n", step.name);
    }
    usage += "  \
        bench    run the simulator's benchmarks (`tidenet bench`) in release mode;\n           \
        further args are passed on to it\n  \
        help     print this message\n";
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
        "build the no_std crates for riscv32imc (no std, no alloc)",
        &[
            "build", "-p", "tidenet-core", "-p", "tidenet-ringbuffer", "-p", "tidenet-bespoke",
            "-p", "tidenet-shell", "--target", RISCV_TARGET,
        ],
    ),
    Step::cargo("run every test (cargo test --workspace)", &["test", "--workspace"]),
    Step::cargo(
        "smoke-run the demo (256 KiB)",
        &["run", "--release", "-p", "tidenet-sim", "--", "demo", "--bytes", "262144"],
    ),
];

/// `cargo xtask bench`; extra arguments go to `tidenet bench`.
const BENCH: &[&str] = &["run", "--release", "-p", "tidenet-sim", "--", "bench"];

fn main() -> ExitCode {
    let mut args = env::args().skip(1);
    let task = args.next();
    let rest: Vec<String> = args.collect();
    let root = workspace_root();

    let result = match task.as_deref() {
        Some("test") if rest.is_empty() => run_steps(&root, TEST),
        Some("test") => return usage_error(&format!("'test' takes no arguments, got {rest:?}")),
        Some("bench") => run_cargo(&root, BENCH, &rest),
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

/// Runs the cargo that runs us (so the toolchain stays the same) with `args`
/// and then `extra`.
fn run_cargo(root: &Path, args: &[&str], extra: &[String]) -> Result<(), String> {
    let all: Vec<&str> = args
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .collect();
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let mut command = Command::new(cargo);
    command.args(&all).current_dir(root);
    run(command, &format!("cargo {}", all.join(" ")))
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
