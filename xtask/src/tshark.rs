//! The tshark step of `cargo xtask test`: Wireshark's dissectors, which
//! nobody here wrote, read the packet captures of `tidenet demo`, `mesh`
//! and `shell` (the test `firmware/sim/tests/pcap.rs`), with checksum
//! validation on. tshark comes from apt when it is missing.

use std::path::Path;

use crate::{ensure_tool, run_cargo_with};

/// The capture test.
const TEST: &[&str] = &["test", "-p", "tidenet-sim", "--test", "pcap"];
/// Makes the test fail, instead of skip, where tshark is missing: here it
/// has just been installed, so a skip would hide a broken install.
const REQUIRE: &str = "TIDENET_REQUIRE_TSHARK";

/// Installs tshark if it is missing, then runs the capture test with
/// tshark required.
pub(crate) fn check(root: &Path) -> Result<(), String> {
    ensure_tool(root, "tshark", "tshark")?;
    run_cargo_with(root, TEST, REQUIRE, "1")
}
