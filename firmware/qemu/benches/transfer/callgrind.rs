//! The host-side cross-check: callgrind counts the instructions of the
//! same bulk transfer (see `host.rs`) on x86_64, by function, and the
//! functions are grouped as the image's figures are.
//!
//! The bench runs itself under `valgrind --tool=callgrind` with
//! `--host-transfer <depth>`, collecting only inside the transfer, then
//! reads `callgrind_annotate`'s self cost per function.

use std::path::Path;
use std::process::Command;

use crate::host::COUNTED;

/// The argument that makes the bench run the host transfer and exit.
pub const CHILD_ARG: &str = "--host-transfer";

/// The groups, in report order, each with the fragments of a source path,
/// then of a function name, that put a line in it; the first group that
/// matches wins. Paths come first: callgrind names the function an
/// instruction ran in, and with inlining that is often another crate's
/// (the model's code inlined into the link layer's, say), while the path
/// is the code's own.
const GROUPS: &[(&str, &[&str], &[&str])] = &[
    (
        "copy + CRC",
        &["crc32c.rs", "memmove", "memcpy", "memset"],
        &["crc32c", "memcpy", "memmove", "memset"],
    ),
    (
        "link model (not the stack's)",
        &["/firmware/model/"],
        &["tidenet_model"],
    ),
    (
        "link layer",
        &["/transports/ringbuffer/", "/core/src/ringbuffer/"],
        &["tidenet_ringbuffer", "tidenet_core::ringbuffer"],
    ),
    (
        "IP/TCP (smoltcp)",
        &["smoltcp", "/transports/tcpip/"],
        &["smoltcp", "tidenet_tcpip"],
    ),
    (
        "benchmark (data made and checked)",
        &["/benches/transfer/"],
        &["host::fill", "host::intact"],
    ),
];
/// Where a function no group names goes.
const OTHER: &str = "other (core, alloc, glue)";

/// Instructions by group.
pub struct Split {
    /// `(group, instructions)`, in [`GROUPS`] order, then [`OTHER`].
    pub groups: Vec<(&'static str, u64)>,
}

impl Split {
    /// The stack's instructions: all but the model's and the benchmark's.
    pub fn stack(&self) -> u64 {
        self.groups
            .iter()
            .filter(|(g, _)| !g.starts_with("link model") && !g.starts_with("benchmark"))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Runs the host transfer on a link of `depth` words under callgrind.
pub fn run(depth: usize, dir: &Path) -> Result<Split, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = dir.join(format!("callgrind.{depth}.out"));
    let status = Command::new("valgrind")
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out.display()))
        .arg(format!("--toggle-collect={COUNTED}"))
        .arg("--quiet")
        .arg(&exe)
        .args([CHILD_ARG, &depth.to_string()])
        .status()
        .map_err(|e| {
            format!("could not run valgrind ({e}); install it with `apt-get install valgrind`")
        })?;
    if !status.success() {
        return Err(format!(
            "the host transfer under callgrind failed ({status})"
        ));
    }
    let annotated = Command::new("callgrind_annotate")
        .args(["--inclusive=no", "--threshold=100", "--auto=no"])
        .arg(&out)
        .output()
        .map_err(|e| format!("could not run callgrind_annotate ({e})"))?;
    if !annotated.status.success() {
        return Err(format!(
            "callgrind_annotate failed: {}",
            String::from_utf8_lossy(&annotated.stderr)
        ));
    }
    Ok(split(&String::from_utf8_lossy(&annotated.stdout)))
}

/// Groups `callgrind_annotate`'s lines, `  1,234 (12.3%)  file:function [obj]`.
fn split(annotated: &str) -> Split {
    let mut groups: Vec<(&'static str, u64)> = GROUPS.iter().map(|(g, ..)| (*g, 0)).collect();
    groups.push((OTHER, 0));
    for line in annotated.lines() {
        let line = line.trim_start();
        let Some((count, rest)) = line.split_once(' ') else {
            continue;
        };
        let Ok(n) = count.replace(',', "").parse::<u64>() else {
            continue;
        };
        if rest.contains("PROGRAM TOTALS") || !rest.contains(':') {
            continue;
        }
        let (path, function) = rest.trim().split_once(':').unwrap_or(("", rest));
        let by_path = GROUPS
            .iter()
            .position(|(_, paths, _)| paths.iter().any(|p| path.contains(p)));
        let by_function = || {
            GROUPS
                .iter()
                .position(|(_, _, names)| names.iter().any(|name| function.contains(name)))
        };
        let group = by_path.or_else(by_function).unwrap_or(GROUPS.len());
        groups[group].1 += n;
    }
    Split { groups }
}
