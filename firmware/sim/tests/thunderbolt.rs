//! A node's shell on the Thunderbolt transport, on `::1%lo`, with a peer
//! that speaks the DCF API at the far end: the shell's commands work over it
//! unchanged, and what they put on the wire is what DCF peers speak.

use std::io::{Read, Write};
use std::net::{Ipv6Addr, TcpListener};
use std::os::unix::net::UnixStream;

use tidenet_shell::client::Text;
use tidenet_sim::nodes::Nodes;
use tidenet_thunderbolt::{Config, Peer, Thunderbolt};

mod common;
use common::*;

const LOCALHOST: Ipv6Addr = Ipv6Addr::LOCALHOST;

/// Two ports nothing on loopback holds right now.
fn free_ports() -> (u16, u16) {
    let a = TcpListener::bind("[::1]:0").expect("an ephemeral port");
    let b = TcpListener::bind("[::1]:0").expect("an ephemeral port");
    let port = |l: &TcpListener| l.local_addr().expect("its address").port();
    (port(&a), port(&b))
}

struct Setup {
    nodes: Nodes,
    shell: Text<UnixStream>,
    /// The DCF peer.
    dcf: Thunderbolt,
    /// The node's data port and the peer's.
    data_ports: (u16, u16),
}

/// A node on loopback whose link 0 leads to a DCF peer; with `configured`,
/// the node is told the peer's address and ports, else it learns them.
fn setup(configured: bool) -> Setup {
    let ((node_control, node_data), (dcf_control, dcf_data)) = (free_ports(), free_ports());
    let config = Config {
        interface: "lo".into(),
        control_port: node_control,
        data_port: node_data,
        buffer_size: 1 << 20,
        peers: configured
            .then_some(Peer {
                ip: LOCALHOST,
                control_port: dcf_control,
                data_port: dcf_data,
            })
            .into_iter()
            .collect(),
        ..Config::default()
    };
    let node = Thunderbolt::new(config).expect("the node's transport");
    let dcf = Thunderbolt::builder()
        .interface("lo")
        .control_port(dcf_control)
        .data_port(dcf_data)
        .buffer_size(1 << 20)
        .peer(Peer {
            ip: LOCALHOST,
            control_port: node_control,
            data_port: node_data,
        })
        .build()
        .expect("the DCF peer");
    let nodes = Nodes::host(node, tidenet_core::node::RemotePolicy::ReadOnly)
        .unwrap_or_else(|e| panic!("the node did not start: {e}"));
    let shell = Text::new(nodes.uart(0).expect("the node's UART"));
    Setup {
        nodes,
        shell,
        dcf,
        data_ports: (node_data, dcf_data),
    }
}

#[test]
fn the_shell_runs_unchanged_over_thunderbolt_with_a_dcf_peer() {
    let Setup {
        nodes: _nodes,
        mut shell,
        dcf,
        data_ports: (node_data, dcf_data),
    } = setup(true);
    let t = &mut shell;
    let status = ok(t, "status");
    assert!(
        status.contains(&"stack=thunderbolt".to_string()),
        "{status:?}"
    );
    assert_eq!(await_link_up(t), "::1");
    assert_eq!(field(&ok(t, "links")[0], "local"), Some("::1"));

    // ping is the DCF probe: the DCF peer's control thread answers it.
    let pong = ok(t, "ping 0");
    assert_eq!(field(&pong[0], "peer"), Some("::1"), "{pong:?}");
    assert!(
        field(&pong[0], "rtt_ns")
            .and_then(|n| n.parse::<u64>().ok())
            .is_some(),
        "{pong:?}"
    );
    assert_eq!(dcf.get_stats().pings_answered, 1);

    // A stream the shell opens to the peer's data port is one the DCF peer
    // accepts with accept_data_stream.
    let opened = ok(t, &format!("connect 0 {dcf_data}"));
    assert_eq!(opened, ["ok stream=0"]);
    let mut at_dcf = dcf
        .accept_data_stream(PATIENCE)
        .expect("the DCF peer accepts");
    await_established(t, 0, "opened");
    assert_eq!(ok(t, "send 0 \"hello, dcf\""), ["ok sent=10"]);
    let mut got = [0u8; 10];
    at_dcf.read_exact(&mut got).expect("the shell's bytes");
    assert_eq!(&got, b"hello, dcf");
    at_dcf.write_all(b"hello, node").expect("write");
    let reply = eventually("the DCF peer's bytes", || {
        let line = ok(t, "recv 0").pop()?;
        (line != "ok len=0 data=").then_some(line)
    });
    assert_eq!(recv_data(&reply, 0), b"hello, node");

    // A stream the DCF peer opens with open_data_stream lands on the node's
    // data port, where the shell listens.
    assert_eq!(ok(t, &format!("listen {node_data}")), ["ok"]);
    let mut to_node = dcf.open_data_stream(LOCALHOST).expect("open_data_stream");
    to_node.write_all(b"from dcf").expect("write");
    await_established(t, 1, "accepted");
    let line = eventually("the opened stream's bytes", || {
        let line = ok(t, "recv 1").pop()?;
        (line != "ok len=0 data=").then_some(line)
    });
    assert_eq!(recv_data(&line, 1), b"from dcf");

    // Closing reaches the DCF peer as end of stream.
    assert_eq!(ok(t, "close 0"), ["ok"]);
    assert_eq!(at_dcf.read(&mut got).expect("end of stream"), 0);

    let stats = ok(t, "stats");
    assert_eq!(stat(&stats, "stream_bytes_tx"), 10);
    assert_eq!(stat(&stats, "stream_bytes_rx"), 11 + 8);
    assert_eq!((stat(&stats, "pings_tx"), stat(&stats, "pongs_rx")), (1, 1));
    assert_eq!(dcf.get_stats().stream_bytes_rx, 10);

    // Mistakes get their named errors, as on the ringbuffer.
    err(t, "connect 169.254.1.1 7000", "peer-unreachable");
    err(t, "connect 0 0", "invalid-port");
    err(t, &format!("listen {node_data}"), "port-in-use");
    err(t, "recv 9", "unknown-stream");
}

#[test]
fn a_node_without_a_configured_peer_learns_it_from_the_first_ping() {
    let Setup {
        nodes: _nodes,
        mut shell,
        dcf,
        ..
    } = setup(false);
    let t = &mut shell;
    err(t, "ping 0", "link-down");
    dcf.measure_rtt(LOCALHOST, PATIENCE)
        .expect("the node answers pings");
    assert_eq!(await_link_up(t), "::1");
    let pong = ok(t, "ping 0");
    assert_eq!(field(&pong[0], "peer"), Some("::1"), "{pong:?}");
}
