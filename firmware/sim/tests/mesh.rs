//! Rigs of many nodes in virtual time: every link comes up, every end
//! learns who is at the other, and every node's report reaches the manager
//! over any topology, relayed by nodes that are not its neighbours.

mod common;

use common::{field, ok};
use tidenet_model::{Faults, LinkConfig};
use tidenet_shell::client::Text;
use tidenet_sim::mesh::{mesh, mesh_id, MeshConfig, MeshReport, Missing};
use tidenet_sim::nodes::Nodes;
use tidenet_sim::topology::Topology;

fn config(
    topology: Topology,
    nodes: usize,
    manager: usize,
    faults: Faults,
    seed: u64,
) -> MeshConfig {
    MeshConfig {
        nodes,
        topology,
        manager,
        link: LinkConfig {
            depth: 256,
            seed,
            faults,
            ..LinkConfig::default()
        },
        bus_cycles: 8,
        deadline_cycles: 125_000_000,
        off: None,
    }
}

fn run(topology: Topology, nodes: usize, manager: usize, faults: Faults, seed: u64) -> MeshReport {
    let config = config(topology, nodes, manager, faults, seed);
    mesh(&config, |_, _| {}).unwrap_or_else(|e| panic!("{topology:?} {nodes}: {e}"))
}

fn lossy(loss: f64) -> Faults {
    Faults {
        loss,
        corrupt: loss / 5.0,
        ..Faults::default()
    }
}

/// Every edge in the manager's book from both ends, as wired, each with
/// the link's true UGN.
fn assert_complete(report: &MeshReport) {
    assert_eq!(report.missing, Vec::<Missing>::new(), "{:?}", report.stages);
    assert_eq!(report.wrong_ugns, []);
    let ugns: Vec<i64> = report
        .collected
        .reports()
        .iter()
        .flat_map(|r| r.edges.iter().map(|e| e.ugn.expect("measured")))
        .collect();
    assert_eq!(ugns.len(), 2 * report.edges.len());
    // The nodes' counters started hours apart: no UGN is the latency alone.
    assert!(ugns.iter().all(|&u| u != 200), "{ugns:?}");
    for edge in &report.edges {
        for ((node, port), (peer, peer_port)) in [(edge.a, edge.b), (edge.b, edge.a)] {
            let r = report.collected.get(&mesh_id(node, 0).dna).unwrap();
            let e = r.edges.iter().find(|e| e.port == port).unwrap();
            assert_eq!(e.peer, mesh_id(peer, peer_port));
        }
    }
    let s = report.stages;
    let (aligned, up, identified, reported) = (
        s.aligned.unwrap(),
        s.up.unwrap(),
        s.identified.unwrap(),
        s.reported.unwrap(),
    );
    assert!(
        aligned <= up && up <= identified && identified <= reported,
        "{s:?}"
    );
}

#[test]
fn a_line_relays_the_far_end_through_the_middle() {
    let report = run(Topology::Line, 4, 0, Faults::default(), 1);
    assert_complete(&report);
}

#[test]
fn the_full_mesh_of_eight_reports_every_edge() {
    let report = run(Topology::Full, 8, 6, Faults::default(), 2);
    assert_eq!(report.edges.len(), 28);
    assert_complete(&report);
}

#[test]
fn a_hypercube_and_a_torus_report_through_loss() {
    assert_complete(&run(Topology::Hypercube, 16, 5, lossy(0.05), 3));
    assert_complete(&run(Topology::Torus, 9, 4, lossy(0.3), 4));
    assert_complete(&run(Topology::Star, 8, 3, lossy(0.05), 5));
    assert_complete(&run(Topology::Ring, 12, 0, lossy(0.05), 6));
}

#[test]
fn a_node_that_never_starts_is_named_with_each_link_to_it() {
    // A ring of 5: node 2 is off, so 1's and 3's links to it stay down,
    // and the reports of 3 and 4 come round the other way.
    let mut config = config(Topology::Ring, 5, 0, Faults::default(), 7);
    config.off = Some(2);
    config.deadline_cycles = 12_500_000;
    let report = mesh(&config, |_, _| {}).unwrap();
    let mut missing = report.missing.clone();
    missing.sort_by_key(|m| format!("{m:?}"));
    // Ring ports: node 1's port 1 and node 3's port 0 face node 2.
    assert_eq!(
        missing,
        [
            Missing::Link { node: 1, port: 1 },
            Missing::Link { node: 3, port: 0 },
            Missing::Node(2),
        ]
    );
    assert_eq!(report.stages.up, None);
    assert_eq!(report.stages.reported, None);
    for node in [1, 3, 4] {
        assert!(
            report.collected.get(&mesh_id(node, 0).dna).is_some(),
            "node {node}"
        );
    }
}

#[test]
fn impossible_rigs_are_refused_by_name() {
    let full = config(Topology::Full, 9, 0, Faults::default(), 1);
    let err = mesh(&full, |_, _| {}).unwrap_err().to_string();
    assert!(
        err.starts_with("bad-topology: a Full of 9 nodes needs 8 ports"),
        "{err}"
    );
    let mut off = config(Topology::Line, 3, 1, Faults::default(), 1);
    off.off = Some(1);
    let err = mesh(&off, |_, _| {}).unwrap_err().to_string();
    assert!(err.starts_with("bad-node: node 1 cannot be both"), "{err}");
    let far = config(Topology::Line, 3, 3, Faults::default(), 1);
    let err = mesh(&far, |_, _| {}).unwrap_err().to_string();
    assert!(err.starts_with("bad-node: the manager node 3"), "{err}");
}

/// `tidenet mesh` as a script runs it: stage lines on stdout, and an exit
/// code that says whether every report arrived.
#[test]
fn the_mesh_command_exits_by_what_the_manager_holds() {
    let tidenet = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_tidenet"))
            .arg("mesh")
            .args(args)
            .output()
            .expect("tidenet runs")
    };
    let out = tidenet(&["--nodes", "4", "--topology", "ring"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    for stage in [
        "all links aligned",
        "all links up",
        "all peers known",
        "all reports in",
    ] {
        let line = stdout.lines().find(|l| l.starts_with(stage)).unwrap();
        assert!(line.ends_with(" ms virtual"), "{line}");
    }
    assert!(
        stdout.contains("ok: the manager holds 4 reports"),
        "{stdout}"
    );

    let out = tidenet(&[
        "--nodes",
        "3",
        "--topology",
        "line",
        "--off",
        "2",
        "--deadline-ms",
        "30",
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("missing: node 2 never reported"),
        "{stdout}"
    );
    assert!(
        stdout.contains("missing: node 1 reported without its link on port 1"),
        "{stdout}"
    );

    let out = tidenet(&["--nodes", "9", "--topology", "full"]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.starts_with("error: bad-topology:"), "{stderr}");
}

/// `tidenet mesh --node 1`: the shell of the middle node of a line, its
/// links up, naming both neighbours, and a neighbour's view by `remote`.
#[test]
fn a_shell_attaches_to_a_node_of_a_running_rig() {
    let nodes = Nodes::mesh(config(Topology::Line, 3, 0, lossy(0.05), 8), 1)
        .unwrap_or_else(|e| panic!("the rig did not start: {e}"));
    let mut t = Text::new(nodes.uart(0).unwrap());
    let links = ok(&mut t, "links");
    let hex = |n: u8| format!("{}0{n}", "746964656e65742d73696d");
    for (row, neighbour, port) in [(0, 1, "0"), (1, 3, "0")] {
        assert_eq!(field(&links[row], "state"), Some("up"), "{links:?}");
        assert_eq!(field(&links[row], "peer_dna"), Some(&*hex(neighbour)));
        assert_eq!(field(&links[row], "peer_port"), Some(port));
    }
    assert_eq!(field(&links[2], "reason"), Some("unwired"));
    // The two directions of a link add up to its round trip: the
    // counters' offsets cancel.
    let ugn = |row: &str| field(row, "ugn").unwrap().parse::<i64>().unwrap();
    let theirs = ok(&mut t, "remote 0 links");
    assert_eq!(
        ugn(&links[0]) + ugn(&theirs[0]),
        2 * 200,
        "{links:?} {theirs:?}"
    );
}
