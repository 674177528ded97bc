//! The DCF API on `::1%lo`: messages, streams, RTT, ports and bad input.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv6Addr, SocketAddrV6, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{control, free_ports, loopback_pair, on_loopback, pattern, stream_through, PATIENCE};
use tidenet_thunderbolt::probe::{self, PING_MAGIC, PONG_MAGIC};
use tidenet_thunderbolt::{Message, Thunderbolt, TransportError, MAX_MESSAGE};

const LOCALHOST: Ipv6Addr = Ipv6Addr::LOCALHOST;

/// Replies to every message B gets with the same bytes, until B closes.
fn echo(b: Thunderbolt) -> thread::JoinHandle<Thunderbolt> {
    thread::spawn(move || {
        while let Ok(Message { from, data }) = b.recv_message(Duration::from_millis(300)) {
            b.send_message(*from.ip(), &data).expect("echo");
        }
        b
    })
}

#[test]
fn messages_of_every_kind_of_size_echo_intact_with_their_sender() {
    let (a, b) = loopback_pair(|b| b, |b| b);
    let a_control = control(&a);
    let b = echo(b);
    let sizes = [0, 1, 15, 16, 17, 1400, 9000, MAX_MESSAGE];
    for (i, &size) in sizes.iter().enumerate() {
        let message = pattern(size, i as u64 + 1);
        a.send_message(LOCALHOST, &message).expect("send_message");
        let echoed = a.recv_message(PATIENCE).expect("the echo");
        assert_eq!(echoed.data.len(), size);
        assert!(
            echoed.data == message,
            "the {size}-byte message came back changed"
        );
        assert_ne!(echoed.from, a_control, "the echo comes from B");
    }
    let b = b.join().expect("echo thread");
    let n = sizes.len() as u64;
    assert_eq!(
        (a.get_stats().datagrams_tx, a.get_stats().datagrams_rx),
        (n, n)
    );
    assert_eq!(
        (b.get_stats().datagrams_rx, b.get_stats().datagrams_tx),
        (n, n)
    );
}

#[test]
fn a_message_handler_gets_messages_instead_of_the_queue() {
    let got = Arc::new(Mutex::new(Vec::new()));
    let sink = got.clone();
    let (a, b) = loopback_pair(
        |b| b,
        |b| b.message_handler(move |from, data| sink.lock().unwrap().push((from, data.to_vec()))),
    );
    a.send_message(LOCALHOST, b"to the handler").expect("send");
    let start = Instant::now();
    while got.lock().unwrap().is_empty() && start.elapsed() < PATIENCE {
        thread::sleep(Duration::from_millis(1));
    }
    let got = got.lock().unwrap();
    assert_eq!(got.as_slice(), &[(control(&a), b"to the handler".to_vec())]);
    assert!(matches!(
        b.recv_message(Duration::from_millis(50)),
        Err(TransportError::Timeout)
    ));
}

#[test]
fn oversized_and_probe_like_messages_are_refused_by_name() {
    let (a, _b) = loopback_pair(|b| b, |b| b);
    let too_big = vec![0u8; MAX_MESSAGE + 1];
    let err = a.send_message(LOCALHOST, &too_big).unwrap_err();
    assert!(
        matches!(err, TransportError::MessageTooLarge { size, max } if size == 65_528 && max == 65_527),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("message-too-large: 65528 bytes exceeds the 65527-byte limit"));
    for probe in [probe::ping(5), probe::pong(5)] {
        let err = a.send_message(LOCALHOST, &probe).unwrap_err();
        assert!(matches!(err, TransportError::ReservedMessage), "{err}");
    }
    assert_eq!(a.get_stats().datagrams_tx, 0, "nothing refused was sent");
}

#[test]
fn a_64_mib_stream_arrives_intact() {
    let (a, b) = loopback_pair(|b| b, |b| b);
    let to_b = a.open_data_stream(LOCALHOST).expect("open_data_stream");
    let at_b = b.accept_data_stream(PATIENCE).expect("accept_data_stream");
    assert_eq!(at_b.peer_addr().unwrap().ip(), &LOCALHOST);
    const TOTAL: usize = 64 << 20;
    let (sent, received) = stream_through(to_b, at_b, TOTAL);
    assert_eq!(
        sent, received,
        "SHA-256 of what arrived differs from what was sent"
    );
    assert_eq!(a.get_stats().stream_bytes_tx, TOTAL as u64);
    assert_eq!(b.get_stats().stream_bytes_rx, TOTAL as u64);
}

#[test]
fn rtt_is_measured_and_every_ping_answered() {
    let (a, b) = loopback_pair(|b| b, |b| b);
    for _ in 0..20 {
        let rtt = a.measure_rtt(LOCALHOST, PATIENCE).expect("measure_rtt");
        assert!(rtt < PATIENCE);
    }
    let (sa, sb) = (a.get_stats(), b.get_stats());
    assert_eq!((sa.pings_tx, sa.pongs_rx), (20, 20));
    assert_eq!(sb.pings_answered, 20, "B answered without anyone calling B");
    a.reset_stats();
    assert_eq!(a.get_stats(), Default::default());
}

#[test]
fn pings_from_several_threads_at_once_are_all_answered() {
    let (a, b) = loopback_pair(|b| b, |b| b);
    // One caller at a time has the ping socket; the others are answered
    // through the control thread.
    thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..50 {
                    a.measure_rtt(LOCALHOST, PATIENCE).expect("measure_rtt");
                }
            });
        }
    });
    assert_eq!((a.get_stats().pings_tx, a.get_stats().pongs_rx), (200, 200));
    assert_eq!(b.get_stats().pings_answered, 200);
    assert_eq!(a.drops().pongs_unmatched, 0);
}

#[test]
fn a_late_pong_is_not_taken_for_the_next_ping() {
    // A raw peer that answers the first ping only after it timed out.
    let peer = UdpSocket::bind("[::1]:0").expect("bind");
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    let a = on_loopback(free_ports())
        .peer(tidenet_thunderbolt::Peer {
            ip: LOCALHOST,
            control_port: peer.local_addr().unwrap().port(),
            data_port: 1,
        })
        .build()
        .expect("transport");
    let err = a
        .measure_rtt(LOCALHOST, Duration::from_millis(20))
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout), "{err}");
    let answer = |late: bool| {
        let mut ping = [0u8; 16];
        let (n, from) = peer.recv_from(&mut ping).expect("a ping");
        assert_eq!(n, 16);
        let stamp = u64::from_be_bytes(ping[8..].try_into().unwrap());
        peer.send_to(&probe::pong(stamp), from).unwrap();
        if late {
            // A second copy, as a duplicating link would deliver it.
            peer.send_to(&probe::pong(stamp), from).unwrap();
        }
    };
    answer(true);
    thread::scope(|s| {
        s.spawn(|| answer(false));
        a.measure_rtt(LOCALHOST, PATIENCE)
            .expect("the second ping's own pong");
    });
    assert_eq!(a.get_stats().pongs_rx, 1);
    assert_eq!(a.drops().pongs_unmatched, 2, "the late pong and its copy");
}

#[test]
fn a_ping_to_nobody_times_out() {
    let (control_port, data_port) = free_ports();
    let nobody = tidenet_thunderbolt::Peer {
        ip: LOCALHOST,
        control_port,
        data_port,
    };
    let a = on_loopback(free_ports())
        .peer(nobody)
        .build()
        .expect("transport");
    let err = a
        .measure_rtt(LOCALHOST, Duration::from_millis(100))
        .unwrap_err();
    assert!(matches!(err, TransportError::Timeout), "{err}");
    assert_eq!(a.get_stats().pongs_rx, 0);
}

#[test]
fn a_raw_dcf_peer_gets_its_pong_byte_for_byte() {
    let b = on_loopback(free_ports()).build().expect("transport");
    let raw = UdpSocket::bind("[::1]:0").expect("bind");
    raw.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut ping = [0u8; 16];
    ping[..8].copy_from_slice(&PING_MAGIC.to_be_bytes());
    ping[8..].copy_from_slice(&0x1122_3344_5566_7788u64.to_be_bytes());
    raw.send_to(&ping, control(&b)).unwrap();
    let mut pong = [0u8; 64];
    let (n, from) = raw.recv_from(&mut pong).expect("a pong");
    assert_eq!(
        from,
        control(&b).into(),
        "the pong comes from the control port"
    );
    assert_eq!(n, 16);
    assert_eq!(pong[..8], PONG_MAGIC.to_be_bytes());
    assert_eq!(pong[8..16], 0x1122_3344_5566_7788u64.to_be_bytes());
}

#[test]
fn datagrams_of_every_size_and_forged_probes_never_stop_the_service() {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let sink = sizes.clone();
    let b = on_loopback(free_ports())
        .message_handler(move |_, data| sink.lock().unwrap().push(data.len()))
        .build()
        .expect("transport");
    let raw = UdpSocket::bind("[::1]:0").expect("bind");
    let to = control(&b);
    let mut sent = Vec::new();
    for size in (0..=2048).chain([4096, 9000, 32_768, 65_000, MAX_MESSAGE]) {
        raw.send_to(&pattern(size, size as u64), to).unwrap();
        sent.push(size);
        if size % 256 == 0 {
            thread::sleep(Duration::from_millis(2)); // stay inside the socket buffer
        }
    }
    // Truncated and padded pings are messages; a forged pong is dropped.
    let ping = probe::ping(9);
    raw.send_to(&ping[..15], to).unwrap();
    raw.send_to(&[&ping[..], &[0]].concat(), to).unwrap();
    raw.send_to(&probe::pong(12345), to).unwrap();
    sent.extend([15, 17]);

    let start = Instant::now();
    while sizes.lock().unwrap().len() < sent.len() && start.elapsed() < PATIENCE {
        thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        *sizes.lock().unwrap(),
        sent,
        "every message arrives once, in order, whole"
    );
    assert_eq!(b.get_stats().pongs_rx, 0, "the forged pong answers no ping");
    // Still serving: a real peer's ping is answered.
    let probe_from = UdpSocket::bind("[::1]:0").unwrap();
    probe_from.set_read_timeout(Some(PATIENCE)).unwrap();
    probe_from.send_to(&probe::ping(1), to).unwrap();
    let mut pong = [0u8; 16];
    assert_eq!(
        probe_from
            .recv(&mut pong)
            .expect("a pong after the garbage"),
        16
    );
    assert_eq!(pong, probe::pong(1));
}

#[test]
fn a_peer_that_resets_mid_stream_leaves_the_transport_serving() {
    let (a, b) = loopback_pair(|b| b, |b| b);
    // A raw peer opens a stream to B, sends part of a message and resets.
    let mut raw = TcpStream::connect(b.data_addr().unwrap()).expect("connect to B's data port");
    raw.write_all(&pattern(100_000, 1)).unwrap();
    let mut at_b = b
        .accept_data_stream(PATIENCE)
        .expect("the raw peer's stream");
    socket2::SockRef::from(&raw)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(raw);
    let mut buf = vec![0u8; 1 << 20];
    let ended = loop {
        match at_b.read(&mut buf) {
            Ok(0) => break None,
            Ok(_) => continue,
            Err(e) => break Some(e.kind()),
        }
    };
    assert!(
        matches!(ended, None | Some(ErrorKind::ConnectionReset)),
        "{ended:?}"
    );

    // B resets a stream A is writing into: A's writes fail, nothing panics.
    let mut to_b = a.open_data_stream(LOCALHOST).expect("open");
    let at_b = b.accept_data_stream(PATIENCE).expect("accept");
    socket2::SockRef::from(at_b.get_ref())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(at_b);
    let chunk = pattern(1 << 20, 2);
    let failed = (0..64).find_map(|_| to_b.write_all(&chunk).err());
    assert!(
        matches!(
            failed.map(|e| e.kind()),
            Some(ErrorKind::ConnectionReset | ErrorKind::BrokenPipe)
        ),
        "writing into a reset stream must fail"
    );

    // Both still serve.
    assert!(a.measure_rtt(LOCALHOST, PATIENCE).is_ok());
    let again = a
        .open_data_stream(LOCALHOST)
        .expect("a new stream after the resets");
    let at_b = b.accept_data_stream(PATIENCE).expect("accept it");
    let (sent, received) = stream_through(again, at_b, 1 << 20);
    assert_eq!(sent, received);
}

#[test]
fn dropping_the_transport_frees_its_ports() {
    let ports = free_ports();
    for round in 0..3 {
        let t = on_loopback(ports)
            .build()
            .unwrap_or_else(|e| panic!("round {round}: {e}"));
        // Leave a stream behind in TIME_WAIT, as a real session would.
        let s = TcpStream::connect(t.data_addr().unwrap()).expect("connect");
        let at = t.accept_data_stream(PATIENCE).expect("accept");
        drop((s, at));
        assert!(t.measure_rtt(LOCALHOST, PATIENCE).is_ok());
        drop(t);
    }
}

#[test]
fn a_closed_transport_says_shutdown_and_holds_no_ports() {
    let ports = free_ports();
    let log = Arc::new(Mutex::new(Vec::new()));
    let sink = log.clone();
    let t = on_loopback(ports)
        .logger(move |line| sink.lock().unwrap().push(line.to_string()))
        .build()
        .expect("transport");
    t.close();
    let log = log.lock().unwrap();
    assert!(!log.iter().any(|l| l.contains("panicked")), "{log:?}");
    for err in [
        t.send_message(LOCALHOST, b"x").unwrap_err(),
        t.measure_rtt(LOCALHOST, PATIENCE).unwrap_err(),
        t.open_data_stream(LOCALHOST).unwrap_err(),
        t.recv_message(PATIENCE).unwrap_err(),
        t.accept_data_stream(PATIENCE).unwrap_err(),
    ] {
        assert!(matches!(err, TransportError::Shutdown), "{err}");
    }
    let again = on_loopback(ports).build();
    assert!(again.is_ok(), "the ports are still held: {:?}", again.err());
}

#[test]
fn a_second_transport_on_the_same_ports_is_refused_by_name() {
    let ports = free_ports();
    let _first = on_loopback(ports).build().expect("transport");
    let err = on_loopback(ports)
        .build()
        .err()
        .expect("a second bind must fail");
    assert!(matches!(err, TransportError::BindFailed { .. }), "{err}");
    assert!(
        err.to_string()
            .contains(&format!("port {} is in use", ports.0)),
        "{err}"
    );
}

#[test]
fn unknown_interfaces_and_addresses_are_named() {
    let err = Thunderbolt::builder()
        .interface("nosuchif0")
        .build()
        .err()
        .expect("no such interface");
    assert!(
        matches!(err, TransportError::InterfaceNotFound(ref n) if n == "nosuchif0"),
        "{err}"
    );
    assert!(err
        .to_string()
        .starts_with("interface-not-found: there is no network interface 'nosuchif0'"));

    let t = on_loopback(free_ports()).build().expect("transport");
    assert_eq!(t.config().resolve("::1%lo").unwrap(), LOCALHOST);
    assert_eq!(
        t.config().resolve("fe80::2%1").unwrap(),
        "fe80::2".parse::<Ipv6Addr>().unwrap()
    );
    assert!(matches!(
        t.config().resolve("fe80::2%nosuchif0"),
        Err(TransportError::InterfaceNotFound(_))
    ));
    assert!(matches!(
        t.config().resolve("fe80::2%4000000"),
        Err(TransportError::InterfaceNotFound(_))
    ));
    assert!(matches!(
        t.config().resolve("10.0.0.1"),
        Err(TransportError::InvalidAddress { .. })
    ));
}

#[test]
fn a_stream_to_a_port_nobody_serves_fails_by_name() {
    let ports = free_ports();
    let a = on_loopback(free_ports())
        .peer(tidenet_thunderbolt::Peer {
            ip: LOCALHOST,
            control_port: ports.0,
            data_port: ports.1,
        })
        .build()
        .expect("transport");
    let err = a.open_data_stream(LOCALHOST).unwrap_err();
    assert!(
        matches!(err, TransportError::ConnectionFailed { peer, .. } if peer == SocketAddrV6::new(LOCALHOST, ports.1, 0, 0)),
        "{err}"
    );
}
