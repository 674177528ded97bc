//! What the transport refuses or drops is counted, not only logged, and
//! its log lines about repeated events are rate-limited; peers' control
//! ports are learned from their messages. On `::1%lo`.
//!
//! Every sender on loopback is `::1`, so here a stranger is made by
//! configuring the peer elsewhere (`fe80::99`). A stranger next to a
//! learned peer, and the load test, run between two hosts in `veth.rs`.

mod common;

use std::io::Read;
use std::net::{Ipv6Addr, TcpStream, UdpSocket};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{control, free_ports, on_loopback, PATIENCE};
use tidenet_thunderbolt::probe;
use tidenet_thunderbolt::{
    Builder, Peer, Strangers, TransportError, LOG_INTERVAL, MESSAGE_QUEUE, STREAM_QUEUE,
};

/// A peer that is not on this host: every sender here is a stranger.
const ELSEWHERE: Peer = Peer {
    ip: Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x99),
    control_port: 5000,
    data_port: 5001,
};

/// Log lines, as a test reads them.
type Lines = Arc<Mutex<Vec<String>>>;

fn logged(builder: Builder) -> (Builder, Lines) {
    let lines = Lines::default();
    let sink = lines.clone();
    let builder = builder.logger(move |line| sink.lock().unwrap().push(line.to_string()));
    (builder, lines)
}

/// Waits until `done` holds, for at most [`PATIENCE`].
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < PATIENCE, "gave up waiting: {what}");
        thread::sleep(Duration::from_millis(1));
    }
}

/// The most lines a rate-limited kind of event may have written since
/// `start`: the first, then one per interval.
fn line_bound(start: Instant) -> usize {
    1 + (start.elapsed().as_secs_f64() / LOG_INTERVAL.as_secs_f64()) as usize
}

fn count(lines: &Lines, about: &str) -> usize {
    lines
        .lock()
        .unwrap()
        .iter()
        .filter(|l| l.contains(about))
        .count()
}

#[test]
fn a_strangers_datagrams_are_refused_counted_and_logged_once_per_interval() {
    let (builder, lines) = logged(on_loopback(free_ports()).peer(ELSEWHERE));
    let t = builder.build().expect("transport");
    let to = control(&t);
    let stranger = UdpSocket::bind("[::1]:0").expect("bind");
    let start = Instant::now();
    let (messages, pings) = (2000, 100);
    for i in 0..messages + pings {
        let datagram = match i < messages {
            true => b"let me in".to_vec(),
            false => probe::ping(i as u64).to_vec(),
        };
        stranger.send_to(&datagram, to).expect("send");
        if i % 200 == 0 {
            // Stay inside the socket buffer.
            eventually("the control thread to catch up", || {
                t.drops().stranger_datagrams >= i as u64
            });
        }
    }
    let total = (messages + pings) as u64;
    eventually("every datagram counted", || {
        t.drops().stranger_datagrams == total
    });
    let stats = t.get_stats();
    assert_eq!((stats.datagrams_rx, stats.pings_answered), (0, 0));
    assert!(matches!(
        t.recv_message(Duration::from_millis(20)),
        Err(TransportError::Timeout)
    ));
    stranger.set_nonblocking(true).unwrap();
    let mut pong = [0u8; 16];
    assert!(stranger.recv(&mut pong).is_err(), "no ping was answered");

    let written = count(&lines, "refused a datagram from [::1]");
    assert!(
        (1..=line_bound(start)).contains(&written),
        "{written} lines"
    );
    assert!(
        lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("refused a datagram") && l.contains("Strangers::Accept")),
        "the line says what to do"
    );
    assert_eq!(
        t.drops().log_lines_suppressed,
        total - written as u64,
        "every line held back is counted"
    );
}

#[test]
fn accepting_strangers_serves_them_and_still_counts_them_apart() {
    let t = on_loopback(free_ports())
        .peer(ELSEWHERE)
        .strangers(Strangers::Accept)
        .build()
        .expect("transport");
    let stranger = UdpSocket::bind("[::1]:0").expect("bind");
    stranger.set_read_timeout(Some(PATIENCE)).unwrap();
    stranger.send_to(b"hello", control(&t)).unwrap();
    let message = t.recv_message(PATIENCE).expect("the stranger's message");
    assert_eq!(message.data, b"hello");
    stranger.send_to(&probe::ping(42), control(&t)).unwrap();
    let mut pong = [0u8; 16];
    stranger.recv(&mut pong).expect("the stranger's pong");
    assert_eq!(pong, probe::pong(42));
    assert_eq!(t.drops().stranger_datagrams, 2);
    assert_eq!(t.get_stats().datagrams_rx, 1);
}

#[test]
fn a_strangers_stream_is_closed_at_once_and_counted() {
    let (builder, lines) = logged(on_loopback(free_ports()).peer(ELSEWHERE));
    let t = builder.build().expect("transport");
    for _ in 0..3 {
        let mut raw = TcpStream::connect(t.data_addr().unwrap()).expect("the kernel accepts");
        raw.set_read_timeout(Some(PATIENCE)).unwrap();
        let mut buf = [0u8; 1];
        // Closed by the transport: end of stream (or a reset).
        assert!(matches!(raw.read(&mut buf), Ok(0) | Err(_)));
    }
    eventually("three refused streams", || t.drops().stranger_streams == 3);
    assert!(matches!(
        t.accept_data_stream(Duration::from_millis(20)),
        Err(TransportError::Timeout)
    ));
    assert_eq!(count(&lines, "refused a stream from [::1]"), 1);
    assert_eq!(t.drops().log_lines_suppressed, 2);
}

#[test]
fn streams_beyond_the_queue_are_refused_and_counted() {
    let (builder, lines) = logged(on_loopback(free_ports()));
    let t = builder.build().expect("transport");
    let extra = 10;
    let start = Instant::now();
    let streams: Vec<TcpStream> = (0..STREAM_QUEUE + extra)
        .map(|_| TcpStream::connect(t.data_addr().unwrap()).expect("connect"))
        .collect();
    eventually("every stream taken or refused", || {
        t.drops().streams_unclaimed == extra as u64
    });
    let drops = t.drops();
    assert_eq!(drops.streams_unclaimed, extra as u64);
    let written = count(&lines, "accepted streams wait unclaimed");
    assert!(
        (1..=line_bound(start)).contains(&written),
        "{written} lines"
    );
    // The queued ones are still there to claim.
    for _ in 0..STREAM_QUEUE {
        t.accept_data_stream(PATIENCE).expect("a queued stream");
    }
    drop(streams);
}

#[test]
fn messages_beyond_the_queue_are_dropped_and_counted() {
    let t = on_loopback(free_ports()).build().expect("transport");
    let peer = UdpSocket::bind("[::1]:0").expect("bind");
    let extra = 100;
    let total = MESSAGE_QUEUE + extra;
    for i in 0..total {
        peer.send_to(&(i as u32).to_be_bytes(), control(&t))
            .unwrap();
    }
    eventually("every message queued or dropped", || {
        t.get_stats().datagrams_rx + t.drops().messages_dropped == total as u64
    });
    assert_eq!(t.get_stats().datagrams_rx, MESSAGE_QUEUE as u64);
    assert_eq!(t.drops().messages_dropped, extra as u64);
    for i in 0..MESSAGE_QUEUE {
        let message = t.recv_message(PATIENCE).expect("a queued message");
        assert_eq!(message.data, (i as u32).to_be_bytes(), "in order");
    }
}

#[test]
fn pongs_that_answer_no_ping_are_counted() {
    let t = on_loopback(free_ports()).build().expect("transport");
    let forger = UdpSocket::bind("[::1]:0").expect("bind");
    for stamp in 0..5 {
        forger.send_to(&probe::pong(stamp), control(&t)).unwrap();
    }
    eventually("five forged pongs counted", || {
        t.drops().pongs_unmatched == 5
    });
    assert_eq!(t.get_stats().pongs_rx, 0);
}

#[test]
fn the_peers_control_port_is_learned_from_its_messages() {
    let t = on_loopback(free_ports()).build().expect("transport");
    // A peer whose control port is not ours.
    let peer = UdpSocket::bind("[::1]:0").expect("bind");
    peer.set_read_timeout(Some(PATIENCE)).unwrap();
    peer.send_to(b"hello", control(&t)).unwrap();
    t.recv_message(PATIENCE).expect("its message");
    t.send_message(Ipv6Addr::LOCALHOST, b"and hello to you")
        .expect("reply");
    let mut buf = [0u8; 64];
    let (n, from) = peer
        .recv_from(&mut buf)
        .expect("the reply reaches its port");
    assert_eq!(&buf[..n], b"and hello to you");
    assert_eq!(from, control(&t).into());
    // Its pings, from a port of their own, teach nothing.
    let pinger = UdpSocket::bind("[::1]:0").expect("bind");
    pinger.set_read_timeout(Some(PATIENCE)).unwrap();
    pinger.send_to(&probe::ping(1), control(&t)).unwrap();
    pinger.recv(&mut buf).expect("a pong");
    t.send_message(Ipv6Addr::LOCALHOST, b"still yours").unwrap();
    let n = peer.recv(&mut buf).expect("still the message port");
    assert_eq!(&buf[..n], b"still yours");
}

#[test]
fn a_configured_peers_ports_are_used_as_given() {
    let (a, b) = common::loopback_pair(|b| b, |b| b);
    // A's pings come from sockets of their own; B's configured port for A
    // stays the one messages go to.
    a.measure_rtt(Ipv6Addr::LOCALHOST, PATIENCE)
        .expect("a ping");
    b.send_message(Ipv6Addr::LOCALHOST, b"to A's control port")
        .unwrap();
    let message = a.recv_message(PATIENCE).expect("A gets it");
    assert_eq!(message.data, b"to A's control port");
    assert_eq!(message.from, control(&b));
}
