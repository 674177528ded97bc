//! Two hosts joined by a link, as network namespaces joined by a veth pair:
//! each side's `thunderbolt0` has a real link-local address, and the
//! transports run with every default (ports 5000 and 5001, 64 MiB buffers).

mod common;

use std::net::{Ipv6Addr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::netns::{Veth, INTERFACE};
use common::{pattern, stream_through, PATIENCE};
use socket2::{Domain, Socket, Type};
use tidenet_thunderbolt::probe;
use tidenet_thunderbolt::{
    Message, Thunderbolt, TransportError, DEFAULT_CONTROL_PORT, DEFAULT_DATA_PORT, LOG_INTERVAL,
};

fn transport() -> Thunderbolt {
    Thunderbolt::builder()
        .build()
        .expect("a transport with the defaults on thunderbolt0")
}

#[test]
fn defaults_bind_the_link_local_address_of_thunderbolt0() {
    let Some(veth) = Veth::new() else { return };
    veth.run(0, || {
        let t = transport();
        assert_eq!(t.interface(), INTERFACE);
        let control = t.control_addr().unwrap();
        assert_eq!(
            (*control.ip(), control.port()),
            (veth.ips[0], DEFAULT_CONTROL_PORT)
        );
        assert_ne!(control.scope_id(), 0, "a link-local address is scoped");
        assert_eq!(t.data_addr().unwrap().port(), 5001);
        assert_eq!(
            t.config().resolve("fe80::2%thunderbolt0").unwrap(),
            veth.ips[1]
        );
        let lo = t.config().resolve("fe80::2%lo").unwrap_err();
        assert!(matches!(lo, TransportError::InvalidAddress { .. }), "{lo}");
    });
}

#[test]
fn control_messages_echo_across_the_link() {
    let Some(veth) = Veth::new() else { return };
    let (ready_tx, ready) = mpsc::channel();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            veth.run(1, || {
                let b = transport();
                ready_tx.send(()).unwrap();
                while !done.load(Ordering::Relaxed) {
                    if let Ok(Message { from, data }) = b.recv_message(Duration::from_millis(10)) {
                        assert_eq!(*from.ip(), veth.ips[0]);
                        b.send_message(*from.ip(), &data).expect("echo");
                    }
                }
            })
        });
        ready.recv().unwrap();
        veth.run(0, || {
            let a = transport();
            for (i, size) in [0, 1, 1200, 1500, 9000, 65_527].into_iter().enumerate() {
                let message = pattern(size, i as u64);
                a.send_message(veth.ips[1], &message).expect("send");
                let echo = a
                    .recv_message(PATIENCE)
                    .unwrap_or_else(|e| panic!("the echo of {size} bytes: {e}"));
                assert_eq!(*echo.from.ip(), veth.ips[1]);
                assert!(echo.data == message, "{size} bytes came back changed");
            }
        });
        done.store(true, Ordering::Relaxed);
    });
}

#[test]
fn a_64_mib_stream_and_rtt_cross_the_link() {
    let Some(veth) = Veth::new() else { return };
    let (ready_tx, ready) = mpsc::channel();
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            veth.run(1, || {
                let b = transport();
                ready_tx.send(()).unwrap();
                let at_b = b.accept_data_stream(PATIENCE).expect("accept");
                (b, at_b)
            })
        });
        ready.recv().unwrap();
        veth.run(0, || {
            let a = transport();
            for _ in 0..10 {
                a.measure_rtt(veth.ips[1], PATIENCE).expect("measure_rtt");
            }
            assert_eq!(a.get_stats().pongs_rx, 10);
            let to_b = a.open_data_stream(veth.ips[1]).expect("open_data_stream");
            let (b, at_b) = b.join().unwrap();
            assert_eq!(*at_b.peer_addr().unwrap().ip(), veth.ips[0]);
            const TOTAL: usize = 64 << 20;
            let (sent, received) = stream_through(to_b, at_b, TOTAL);
            assert_eq!(sent, received, "SHA-256 of what arrived differs");
            assert_eq!(b.get_stats().stream_bytes_rx, TOTAL as u64);
            assert_eq!(b.get_stats().pings_answered, 10);
        });
    });
}

#[test]
fn a_transport_hears_only_its_interface() {
    let Some(veth) = Veth::new() else { return };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let _a = veth.run(0, || {
        // Bound to every address, but tied to thunderbolt0.
        Thunderbolt::builder()
            .address(Ipv6Addr::UNSPECIFIED)
            .message_handler(move |from, data| {
                sink.lock().unwrap().push((*from.ip(), data.to_vec()))
            })
            .build()
            .expect("transport on ::")
    });
    veth.run(0, || {
        let local = UdpSocket::bind("[::1]:0").unwrap();
        local.send_to(b"from lo", "[::1]:5000").unwrap();
    });
    veth.run(1, || {
        let remote = UdpSocket::bind("[::]:0").unwrap();
        remote
            .send_to(b"over the link", veth.scoped(0, 5000))
            .unwrap();
    });
    let start = Instant::now();
    while heard.lock().unwrap().is_empty() && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50)); // the lo datagram had its chance
    assert_eq!(
        *heard.lock().unwrap(),
        [(veth.ips[1], b"over the link".to_vec())],
        "what came over lo must not reach a transport tied to thunderbolt0"
    );
}

#[test]
fn the_default_ports_are_free_again_after_drop() {
    let Some(veth) = Veth::new() else { return };
    let b = veth.run(1, transport);
    for round in 0..3 {
        let a = veth.run(0, transport);
        // A stream B opened and A closed first leaves A's data port in
        // TIME_WAIT, as a real session does.
        let from_b = veth
            .run(1, || b.open_data_stream(veth.ips[0]))
            .expect("open");
        let at_a = a.accept_data_stream(PATIENCE).expect("accept");
        drop(at_a);
        drop(from_b);
        assert!(
            veth.run(1, || b.measure_rtt(veth.ips[0], PATIENCE)).is_ok(),
            "round {round}: A answers"
        );
        drop(a);
    }
}

/// The load test: a third host on the link floods side 0 with 100,000
/// datagrams (messages and pings) and opens 500 streams to it. Side 0 has
/// learned side 1 as its peer, keeps answering its pings, counts everything
/// it refused, and writes a bounded number of log lines.
#[test]
fn a_stranger_flooding_the_link_is_refused_counted_and_logged_rarely() {
    const DATAGRAMS: u64 = 100_000;
    /// Datagrams sent before waiting for them to be counted: well within
    /// the kernel's per-CPU backlog (`net.core.netdev_max_backlog`, 1000)
    /// that a veth pair hands packets through.
    const BURST: u64 = 100;
    const STREAMS: u64 = 500;
    let Some(veth) = Veth::new() else { return };
    let lines = Arc::new(Mutex::new(Vec::<String>::new()));
    let sink = lines.clone();
    let a = veth.run(0, || {
        Thunderbolt::builder()
            .logger(move |line| sink.lock().unwrap().push(line.to_string()))
            .build()
            .expect("side 0's transport")
    });
    let b = veth.run(1, transport);
    // The stranger is a second address on side 1's end, added once side
    // 1's transport has bound its own.
    let stranger_ip = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 3);
    veth.add_address(1, stranger_ip);
    // Side 1 speaks first, so side 0 learns it as its peer.
    veth.run(1, || b.measure_rtt(veth.ips[0], PATIENCE))
        .expect("side 0 answers its peer");
    let stranger = veth.run(1, || {
        let socket = UdpSocket::bind(veth.scoped_addr(stranger_ip, 0)).expect("bind fe80::3");
        socket.set_nonblocking(true).unwrap();
        socket
    });
    let to = veth.run(1, || veth.scoped(0, DEFAULT_CONTROL_PORT));
    let start = Instant::now();
    let mut pings = 1;
    for burst in 0..DATAGRAMS / BURST {
        for i in 0..BURST {
            let n = burst * BURST + i;
            let datagram = match n % 10 {
                0 => probe::ping(n).to_vec(),
                _ => pattern(64, n),
            };
            stranger.send_to(&datagram, to).expect("send");
        }
        // Each burst counted before the next, so none is lost to a full
        // socket buffer and the count is exact.
        let sent = (burst + 1) * BURST;
        let waited = Instant::now();
        while a.drops().stranger_datagrams < sent {
            assert!(
                waited.elapsed() < PATIENCE,
                "burst {burst} not counted: {:?}",
                a.drops()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        if burst % 100 == 99 {
            veth.run(1, || b.measure_rtt(veth.ips[0], PATIENCE))
                .unwrap_or_else(|e| panic!("during the flood, burst {burst}: {e}"));
            pings += 1;
        }
    }
    let streams: Vec<TcpStream> = veth.run(1, || {
        (0..STREAMS)
            .map(|_| {
                let socket = Socket::new(Domain::IPV6, Type::STREAM, None).unwrap();
                socket
                    .bind(&veth.scoped_addr(stranger_ip, 0).into())
                    .expect("bind fe80::3");
                socket
                    .connect(&veth.scoped(0, DEFAULT_DATA_PORT).into())
                    .expect("the kernel takes the connection");
                socket.into()
            })
            .collect()
    });
    let waited = Instant::now();
    while a.drops().stranger_streams < STREAMS {
        assert!(waited.elapsed() < PATIENCE, "streams not counted");
        std::thread::sleep(Duration::from_millis(1));
    }
    drop(streams);
    veth.run(1, || b.measure_rtt(veth.ips[0], PATIENCE))
        .expect("after the flood");
    pings += 1;

    let (stats, drops) = (a.get_stats(), a.drops());
    assert_eq!(drops.stranger_datagrams, DATAGRAMS);
    assert_eq!(drops.stranger_streams, STREAMS);
    assert_eq!(stats.datagrams_rx, 0, "no stranger's message got through");
    assert_eq!(
        stats.pings_answered, pings,
        "only the peer's pings are answered"
    );
    assert!(matches!(
        a.accept_data_stream(Duration::from_millis(10)),
        Err(TransportError::Timeout)
    ));
    let mut pong = [0u8; 16];
    assert!(
        stranger.recv(&mut pong).is_err(),
        "the stranger got no pong"
    );

    // One line per kind, then at most one per interval.
    let bound = 1 + (start.elapsed().as_secs_f64() / LOG_INTERVAL.as_secs_f64()) as usize;
    let lines = lines.lock().unwrap();
    let mut refusals = 0;
    for about in ["refused a datagram", "refused a stream"] {
        let written = lines.iter().filter(|l| l.contains(about)).count();
        assert!(
            (1..=bound).contains(&written),
            "{written} lines {about}: {lines:?}"
        );
        refusals += written as u64;
    }
    assert_eq!(
        drops.log_lines_suppressed + refusals,
        DATAGRAMS + STREAMS,
        "every refusal is logged or counted as held back: {lines:?}"
    );
}
