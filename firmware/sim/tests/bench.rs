//! `tidenet bench` as a script runs it: stdout captured, stderr not a
//! terminal. Every case's row must reach stdout, with figures in range.

use std::process::Command;

#[test]
fn every_bench_row_reaches_a_captured_stdout() {
    let out = Command::new(env!("CARGO_BIN_EXE_tidenet"))
        .args(["bench", "--bytes", "65536"])
        // The table only: the report is the next test's.
        .env_remove("TIDENET_BENCH_DIR")
        .output()
        .expect("tidenet runs");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    let numeric: Vec<Vec<f64>> = stdout
        .lines()
        .filter_map(|line| line.split_whitespace().map(|f| f.parse().ok()).collect())
        .filter(|r: &Vec<f64>| !r.is_empty())
        .collect();
    // The cases' rows have twelve columns, the window table's five.
    let (rows, windows): (Vec<_>, Vec<_>) = numeric.into_iter().partition(|r| r.len() == 12);
    // Depth, loss and corruption of each case, in the order printed.
    let cases: Vec<[f64; 3]> = rows.iter().map(|r| [r[0], r[1], r[2]]).collect();
    assert_eq!(
        cases,
        [
            [256.0, 0.0, 0.0],
            [256.0, 0.01, 0.0],
            [256.0, 0.1, 0.0],
            [256.0, 0.05, 0.01],
            [256.0, 0.5, 0.1],
            [16.0, 0.0, 0.0],
            [128.0, 0.0, 0.0],
            [4000.0, 0.0, 0.0],
            [4000.0, 0.01, 0.0],
        ],
        "{stdout}"
    );
    for row in &rows {
        // Both efficiencies are fractions of a ceiling, and no clean link
        // needs a retransmission.
        let (poll, asynch) = (row[5], row[10]);
        assert!(
            poll > 0.0 && poll <= 1.0 && asynch > 0.0 && asynch <= 1.0,
            "{row:?}"
        );
        if row[1] == 0.0 {
            assert_eq!(row[6], 0.0, "link retransmits on a clean link: {row:?}");
        }
    }
    // Window, full frames it holds, RAM per link, efficiency at depths 256
    // and 4000: the link's own state is the same whatever the window.
    assert_eq!(
        windows.iter().map(|w| w[0]).collect::<Vec<_>>(),
        [4096.0, 6144.0, 16384.0],
        "{stdout}"
    );
    let state = windows[0][2] - windows[0][0];
    for w in &windows {
        assert_eq!(w[1], (w[0] / 1512.0).floor(), "{w:?}");
        assert!(state > 0.0 && w[2] - w[0] == state, "{w:?}");
        assert!(
            w[3] > 0.0 && w[3] <= 1.0 && w[4] > 0.0 && w[4] <= 1.0,
            "{w:?}"
        );
    }
}

/// `--report` writes the simulator's section with every figure it names,
/// each as a CSV and an SVG, and says the bespoke stub has no curves.
#[test]
fn the_report_names_every_figure_it_writes() {
    let dir = std::env::temp_dir().join(format!("tidenet-bench-{}", std::process::id()));
    let out = Command::new(env!("CARGO_BIN_EXE_tidenet"))
        .args(["bench", "--bytes", "16384", "--sweep-bytes", "16384"])
        .args(["--host-bytes", "262144", "--report"])
        .arg(&dir)
        .output()
        .expect("tidenet runs");
    assert!(out.status.success(), "{out:?}");
    let md = std::fs::read_to_string(dir.join("sim.md")).expect("sim.md");
    assert!(md.starts_with("## "), "{md}");
    assert!(
        md.contains("Bespoke stack, poll loop: does not deliver yet"),
        "{md}"
    );
    let figures: Vec<&str> = md
        .lines()
        .filter_map(|l| l.strip_prefix("CSV: `")?.strip_suffix(".csv`."))
        .collect();
    assert_eq!(
        figures,
        [
            "sim-table",
            "sim-loss-tcpip-poll",
            "sim-loss-tcpip-async",
            "sim-corruption",
            "sim-outage",
            "sim-ping",
            "sim-host"
        ],
        "{md}"
    );
    for name in &figures {
        let csv = std::fs::read_to_string(dir.join(format!("{name}.csv"))).expect("csv");
        assert!(csv.lines().count() > 1, "{name}.csv: {csv}");
        if !["sim-table", "sim-host"].contains(name) {
            let svg = std::fs::read_to_string(dir.join(format!("{name}.svg"))).expect("svg");
            assert!(svg.starts_with("<svg") && md.contains(&format!("]({name}.svg)")));
        }
    }
    std::fs::remove_dir_all(&dir).expect("clean up");
}
