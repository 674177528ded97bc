//! `cargo xtask fuzz`: every cargo-fuzz target in `fuzz/`, one after the
//! other, for a fixed time each, with a table of what each did.
//!
//! libFuzzer needs nightly, so this runs `cargo +nightly fuzz` (and installs
//! cargo-fuzz if it is missing). Each target starts from its scratch corpus,
//! `target/fuzz-corpus/<target>`, which libFuzzer grows, and the checked-in
//! seeds, `fuzz/seeds/<target>`, which it only reads. A crash fails the run
//! and names the input libFuzzer saved and the command that replays it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fuzz crate, a workspace of its own.
const FUZZ_DIR: &str = "fuzz";
/// Seconds per target unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 60;

/// What one target's run came to.
struct Outcome {
    target: String,
    executions: u64,
    per_second: u64,
    /// The input that crashed it, as libFuzzer saved it.
    crash: Option<String>,
}

/// `cargo xtask fuzz [--seconds N] [--only TARGET]`.
pub fn run(root: &Path, args: &[String]) -> Result<(), String> {
    let mut seconds = DEFAULT_SECONDS;
    let mut only = None;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let value = args.next();
        match (arg.as_str(), value) {
            ("--seconds", Some(n)) => {
                // libFuzzer takes a time limit of 0 as none at all.
                seconds =
                    n.parse().ok().filter(|&s| s > 0).ok_or_else(|| {
                        format!("--seconds takes a whole number above 0, got '{n}'")
                    })?;
            }
            ("--only", Some(target)) => only = Some(target.clone()),
            ("--seconds" | "--only", None) => {
                return Err(format!("{arg} needs a value: --seconds N, --only TARGET"))
            }
            _ => {
                return Err(format!(
                    "unknown argument '{arg}'; fuzz takes --seconds N and --only TARGET"
                ))
            }
        }
    }
    ensure_cargo_fuzz(root)?;
    let dir = root.join(FUZZ_DIR);
    let listed = crate::command_output(&mut nightly_fuzz(&dir, &["list"]))?;
    let targets: Vec<&str> = listed
        .lines()
        .map(str::trim)
        .filter(|t| !t.is_empty() && only.as_deref().is_none_or(|o| o == *t))
        .collect();
    if targets.is_empty() {
        return Err(format!(
            "no fuzz target named {only:?}; `cargo +nightly fuzz list` in {FUZZ_DIR}/ lists them"
        ));
    }
    crate::run(
        nightly_fuzz(&dir, &["build"]),
        "cargo +nightly fuzz build (in fuzz/)",
    )?;
    let mut outcomes = Vec::new();
    for target in targets {
        println!("    fuzzing {target} for {seconds} s");
        outcomes.push(fuzz_one(root, &dir, target, seconds)?);
    }
    report(&outcomes)
}

/// Builds every target without libFuzzer's instrumentation and checks the
/// seeds are what the encoders make today: under a minute, so that CI
/// notices a target an API change broke, or a seed a format change left
/// stale, without the minutes an instrumented build and a run take.
pub fn check(root: &Path) -> Result<(), String> {
    let mut command = Command::new("cargo");
    command
        .args(["+nightly", "test"])
        .current_dir(root.join(FUZZ_DIR));
    crate::run(command, "cargo +nightly test (in fuzz/)").map_err(|e| {
        format!(
            "{e}; the fuzz targets need the nightly toolchain (rustup toolchain install nightly)"
        )
    })
}

/// `cargo +nightly fuzz <args>` in the fuzz crate.
fn nightly_fuzz(dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("cargo");
    command
        .arg("+nightly")
        .arg("fuzz")
        .args(args)
        .current_dir(dir);
    command
}

/// Installs cargo-fuzz with cargo unless it is already there.
fn ensure_cargo_fuzz(root: &Path) -> Result<(), String> {
    let installed = Command::new("cargo")
        .args(["+nightly", "fuzz", "--version"])
        .current_dir(root)
        .output()
        .is_ok_and(|o| o.status.success());
    if installed {
        return Ok(());
    }
    let mut command = Command::new("cargo");
    command
        .args(["install", "cargo-fuzz", "--locked"])
        .current_dir(root);
    crate::run(command, "cargo install cargo-fuzz --locked").map_err(|e| {
        format!("{e}; fuzzing also needs the nightly toolchain (rustup toolchain install nightly)")
    })
}

/// Runs `target` for `seconds` from its scratch corpus and its seeds.
fn fuzz_one(root: &Path, dir: &Path, target: &str, seconds: u64) -> Result<Outcome, String> {
    let scratch = root.join("target/fuzz-corpus").join(target);
    let seeds = dir.join("seeds").join(target);
    std::fs::create_dir_all(&scratch)
        .map_err(|e| format!("could not create {}: {e}", scratch.display()))?;
    let mut command = nightly_fuzz(dir, &["run", target]);
    command
        .arg(&scratch)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .arg("-print_final_stats=1");
    let shown = format!("cargo +nightly fuzz run {target}");
    let out = command
        .output()
        .map_err(|e| format!("could not start `{shown}`: {e}"))?;
    let log = String::from_utf8_lossy(&out.stderr);
    let stat = |name: &str| {
        log.lines()
            .find_map(|line| line.strip_prefix(name)?.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    let crash = log.lines().find_map(|line| {
        let (_, path) = line.split_once("Test unit written to ")?;
        Some(path.trim().to_string())
    });
    if !out.status.success() && crash.is_none() {
        let tail: Vec<&str> = log.lines().rev().take(20).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(format!(
            "`{shown}` exited with {} and saved no input:\n{}",
            out.status,
            tail.join("\n")
        ));
    }
    Ok(Outcome {
        target: target.to_string(),
        executions: stat("stat::number_of_executed_units:"),
        per_second: stat("stat::average_exec_per_sec:"),
        crash,
    })
}

/// Prints the table, and fails naming each crash and how to replay it.
fn report(outcomes: &[Outcome]) -> Result<(), String> {
    println!(
        "    {:<14} {:>14} {:>12} {:>8}",
        "target", "executions", "execs/s", "crashes"
    );
    for o in outcomes {
        println!(
            "    {:<14} {:>14} {:>12} {:>8}",
            o.target,
            o.executions,
            o.per_second,
            u8::from(o.crash.is_some())
        );
    }
    let total: u64 = outcomes.iter().map(|o| o.executions).sum();
    println!("    total executions: {total}");
    let crashes: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            let artifact = PathBuf::from(o.crash.as_ref()?);
            Some(format!(
                "{} crashed on {}; replay it with `cd {FUZZ_DIR} && cargo +nightly fuzz run {} {}`",
                o.target,
                artifact.display(),
                o.target,
                artifact.display()
            ))
        })
        .collect();
    if crashes.is_empty() {
        Ok(())
    } else {
        Err(crashes.join("\n       "))
    }
}
