//! DCF's own README examples (basic setup, send, open a stream, RTT,
//! stats, the cross-language receive), ported to the `dcf` face with their
//! `use` lines changed, and run on `::1%lo`.
//!
//! Two things differ from the README's text, because two transports share
//! one loopback host: the addresses are `::1%lo`, not `fe80::1%thunderbolt0`,
//! and each end is told the other's ports with `peer` (DCF assumes the
//! peer's port numbers are its own).

mod common;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, UdpSocket};
use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use common::{free_ports, pattern, PATIENCE};
use tidenet_thunderbolt::dcf::{
    make_thunderbolt_transport, LogLevel, MessageData, MessageType, ThunderboltConfig,
    ThunderboltTransport, ThunderboltTransportBuilder, TransportError, MAX_UDP_PAYLOAD,
};
use tidenet_thunderbolt::Peer;

/// The peer's address as DCF users write it, on loopback.
const PEER: &str = "::1%lo";

/// What a handler was handed, as a test can hold it.
#[derive(Debug)]
enum Got {
    Bytes(Vec<u8>),
    Stream,
}

/// A builder on loopback with `ports`, told that its peer listens on
/// `peer_ports`.
fn builder(
    (control, data): (u16, u16),
    (peer_control, peer_data): (u16, u16),
) -> ThunderboltTransportBuilder {
    ThunderboltTransportBuilder::new()
        .interface("lo")
        .control_port(control)
        .data_port(data)
        .buffer_size(4 << 20)
        .peer(Peer {
            ip: Ipv6Addr::LOCALHOST,
            control_port: peer_control,
            data_port: peer_data,
        })
}

/// A receiving end whose handler reports what it is handed, and echoes
/// every stream back to its opener on a thread of its own.
fn echoing_receiver(
    ports: (u16, u16),
    peer_ports: (u16, u16),
) -> (Arc<ThunderboltTransport>, Receiver<(MessageType, Got)>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let transport = builder(ports, peer_ports)
        .message_handler(move |msg_type, data| {
            let got = match data {
                MessageData::Bytes(bytes) => Got::Bytes(bytes),
                MessageData::Stream(mut stream) => {
                    thread::spawn(move || {
                        let mut buf = [0u8; 4096];
                        while let Ok(n @ 1..) = stream.read(&mut buf) {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    });
                    Got::Stream
                }
            };
            let _ = tx.lock().unwrap().send((msg_type, got));
        })
        .build()
        .expect("the receiving end");
    (transport, rx)
}

#[test]
fn the_readme_examples_run_against_the_face() {
    let (ours, theirs) = (free_ports(), free_ports());
    let (peer, handed) = echoing_receiver(theirs, ours);
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();

    // Basic setup.
    let transport = builder(ours, theirs)
        .message_handler(|msg_type, data| match msg_type {
            MessageType::ControlMessage => {
                if let MessageData::Bytes(bytes) = data {
                    println!("Control: {} bytes", bytes.len());
                }
            }
            MessageType::DataStream => {
                if let MessageData::Stream(_stream) = data {
                    println!("Data stream received");
                }
            }
        })
        .logger(move |level, msg| sink.lock().unwrap().push(format!("[{level:?}] {msg}")))
        .build()
        .expect("build");
    assert!(transport.is_running());
    assert_eq!(transport.interface(), "lo");
    assert_eq!((transport.control_port(), transport.data_port()), ours);

    // Send a control message.
    let sent = transport
        .send_message(&[1, 2, 3, 4, 5], PEER)
        .expect("send_message");
    assert_eq!(sent, 5);
    let (msg_type, got) = handed.recv_timeout(PATIENCE).expect("the message arrives");
    assert_eq!(msg_type, MessageType::ControlMessage);
    assert!(
        matches!(got, Got::Bytes(ref b) if b == &[1, 2, 3, 4, 5]),
        "{got:?}"
    );

    // Open a data stream: write, flush, read the response.
    let mut stream = transport.open_data_stream(PEER).expect("open_data_stream");
    stream.write_all(b"Hello, Thunderbolt!").expect("write_all");
    stream.flush().expect("flush");
    let mut response = [0u8; 1024];
    let mut n = 0;
    while n < 19 {
        n += stream.read(&mut response[n..]).expect("read");
    }
    assert_eq!(&response[..n], b"Hello, Thunderbolt!");
    let (msg_type, got) = handed.recv_timeout(PATIENCE).expect("the stream arrives");
    assert_eq!(msg_type, MessageType::DataStream);
    assert!(matches!(got, Got::Stream), "{got:?}");

    // Measure RTT.
    let rtt = transport
        .measure_rtt(PEER, Duration::from_secs(5))
        .expect("measure_rtt")
        .expect("a pong within 5 s");
    assert!(rtt > 0.0 && rtt < 5.0, "{rtt} s");

    // Get statistics.
    let stats = transport.get_stats();
    assert_eq!(
        (stats.messages_sent, stats.bytes_sent, stats.errors),
        (1, 5, 0)
    );
    assert_eq!(stats.connections_initiated, 1);
    assert_eq!(
        (stats.stream_bytes_sent, stats.stream_bytes_received),
        (19, 19)
    );
    assert_eq!((stats.pings_sent, stats.pongs_received), (1, 1));
    let theirs = peer.get_stats();
    assert_eq!((theirs.messages_received, theirs.bytes_received), (1, 5));
    assert_eq!((theirs.connections_accepted, theirs.pings_answered), (1, 1));
    assert_eq!(theirs.errors, 0);

    transport.reset_stats();
    let reset = transport.get_stats();
    assert_eq!(
        (reset.messages_sent, reset.bytes_sent, reset.uptime_secs),
        (0, 0, 0)
    );
    let log = log.lock().unwrap();
    assert!(log.is_empty(), "nothing worth a line happened: {log:?}");
}

#[test]
fn a_message_from_another_implementation_reaches_the_handler() {
    // The README's cross-language example: the Lisp peer's
    // (send-message *transport* #(1 2 3 4 5) "fe80::1%thunderbolt0") is one
    // plain datagram to the control port, as a bare socket sends it here.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let transport = builder(free_ports(), free_ports())
        .message_handler(move |_msg_type, data| {
            if let MessageData::Bytes(bytes) = data {
                assert_eq!(bytes, vec![1, 2, 3, 4, 5]);
                let _ = tx.lock().unwrap().send(bytes);
            }
        })
        .build()
        .expect("build");
    let lisp = UdpSocket::bind("[::1]:0").expect("bind");
    lisp.send_to(&[1, 2, 3, 4, 5], ("::1", transport.control_port()))
        .expect("send");
    assert_eq!(
        rx.recv_timeout(PATIENCE).expect("handed over"),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(transport.get_stats().messages_received, 1);
}

#[test]
fn dcf_constructors_build_the_same_transport() {
    let (control, data) = free_ports();
    let t = make_thunderbolt_transport("lo", control, data, None, None).expect("make");
    assert_eq!((t.control_port(), t.data_port()), (control, data));
    let (control, data) = free_ports();
    let config = ThunderboltConfig {
        interface: "lo".into(),
        control_port: control,
        data_port: data,
        buffer_size: 1 << 20,
        ..ThunderboltConfig::default()
    };
    let levels = Arc::new(Mutex::new(Vec::new()));
    let sink = levels.clone();
    let t = ThunderboltTransport::new(
        config,
        Some(Box::new(|_, _| {})),
        Some(Box::new(move |level, _| sink.lock().unwrap().push(level))),
    )
    .expect("new");
    assert!(t.is_running());
    t.close();
    assert!(!t.is_running());
    assert!(
        levels.lock().unwrap().iter().all(|&l| l <= LogLevel::Warn),
        "closing is no error"
    );
}

#[test]
fn every_dcf_error_is_named_and_says_what_to_do() {
    let (ours, nobody) = (free_ports(), free_ports());
    let t = builder(ours, nobody).build().expect("build");

    for (address, says) in [
        ("fe80:::1", "'fe80:::1' is not an IPv6 address"),
        ("10.0.0.1", "is IPv4"),
        ("fe80::1%", "nothing after the '%'"),
        ("fe80::1%thunderbolt0x", ""),
    ] {
        let err = t.send_message(b"x", address).unwrap_err();
        match err {
            TransportError::InvalidAddress(ref what) => assert!(what.contains(says), "{err}"),
            TransportError::InterfaceNotFound(ref name) => assert_eq!(name, "thunderbolt0x"),
            ref other => panic!("{address}: {other}"),
        }
        assert!(err.to_string().contains("; "), "says what to do: {err}");
    }
    // An address on another interface than the transport's.
    let other = std::fs::read_dir("/sys/class/net")
        .expect("/sys/class/net")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .find(|name| name != "lo");
    if let Some(other) = other {
        let err = t
            .measure_rtt(&format!("fe80::2%{other}"), PATIENCE)
            .unwrap_err();
        assert!(
            matches!(err, TransportError::InvalidAddress(ref what) if what.contains("another interface than 'lo'")),
            "{err}"
        );
    }

    let too_big = vec![0u8; MAX_UDP_PAYLOAD + 1];
    let err = t.send_message(&too_big, PEER).unwrap_err();
    assert!(
        matches!(
            err,
            TransportError::MessageTooLarge {
                size: 65_508,
                max: 65_507
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .starts_with("message-too-large: 65508 bytes"),
        "{err}"
    );

    let probe_like = tidenet_thunderbolt::probe::ping(1);
    let err = t.send_message(&probe_like, PEER).unwrap_err();
    assert!(matches!(err, TransportError::InvalidMessage(_)), "{err}");
    assert!(err.to_string().contains("pad it"), "{err}");

    let err = t.open_data_stream(PEER).unwrap_err();
    assert!(matches!(err, TransportError::ConnectionFailed(_)), "{err}");
    assert!(
        err.to_string().contains(&format!("[::1]:{}", nobody.1)),
        "{err}"
    );

    // A ping nobody answers is no error in DCF's API: `None`.
    assert!(matches!(
        t.measure_rtt(PEER, Duration::from_millis(50)),
        Ok(None)
    ));

    let err = builder(ours, nobody)
        .build()
        .err()
        .expect("the ports are taken");
    assert!(matches!(err, TransportError::Io(_)), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("port {} is in use", ours.0)),
        "{err}"
    );

    let err = ThunderboltTransportBuilder::new()
        .interface("nosuchif0")
        .build()
        .err()
        .expect("no such interface");
    assert!(
        matches!(err, TransportError::InterfaceNotFound(ref n) if n == "nosuchif0"),
        "{err}"
    );
    assert!(
        err.to_string().contains("list them with 'ip link'"),
        "{err}"
    );

    // Errors of socket operations are counted; bad input and timeouts not.
    assert_eq!(t.get_stats().errors, 1, "the refused connection");

    t.close();
    for err in [
        t.send_message(b"x", PEER).unwrap_err(),
        t.open_data_stream(PEER).unwrap_err(),
        t.measure_rtt(PEER, PATIENCE).unwrap_err(),
    ] {
        assert!(matches!(err, TransportError::Shutdown), "{err}");
    }
}

#[test]
fn without_a_handler_streams_wait_for_accept_and_arrive_intact() {
    let (a, b) = (free_ports(), free_ports());
    let ta = builder(a, b).build().expect("A");
    let tb = builder(b, a).build().expect("B");
    let mut to_b = ta.open_data_stream(PEER).expect("open");
    let mut at_b = tb.accept_data_stream(PATIENCE).expect("accept");
    let data = pattern(1 << 20, 7);
    let writer = {
        let data = data.clone();
        thread::spawn(move || to_b.write_all(&data).map(|()| to_b))
    };
    let mut got = vec![0u8; data.len()];
    at_b.read_exact(&mut got)
        .expect("read_exact on a blocking stream");
    assert!(got == data, "the stream's bytes arrive unchanged");
    writer.join().unwrap().expect("write_all");
    assert_eq!(tb.get_stats().stream_bytes_received, 1 << 20);
    assert_eq!(tb.get_stats().connections_accepted, 1);
}
