//! One test suite for every [`Transport`], written once against the trait.
//!
//! A transport's crate runs it from a test file with [`suite!`], handing in a
//! harness that builds two connected ends and what the transport claims to
//! do. Claimed behaviour is checked in full: streams in order both ways,
//! close and abort (which the peer must tell apart), datagrams, ping, counters, named errors, and loss on the link where
//! the harness can make some. Unclaimed operations must answer
//! [`Error::Unsupported`]: a stub passes by saying what it cannot do, never by
//! doing it silently wrong. Every transport, stub or not, runs its link: it
//! comes up, and its state says so.
//!
//! The suite depends on `tidenet-core` alone; a harness brings whatever its
//! transport runs on (the hardware model, a network namespace).
//!
//! With the `async` feature, `asynch` holds a second suite, run with
//! `async_suite!`. It checks the same promises through
//! `tidenet_core::asynch`'s futures and net task, with each harness's own
//! executor, clock and link signal. It adds only embassy-futures' `join`
//! and embedded-io-async's `Read` and `Write`, which those futures use
//! already.
#![forbid(unsafe_code)]

#[cfg(feature = "async")]
pub mod asynch;

use std::net::{IpAddr, Ipv4Addr};
use std::vec::Vec;

use tidenet_core::{Error, LinkState, StreamId, StreamState, Transport};

/// What a transport claims to do.
#[derive(Clone, Copy, Debug)]
pub struct Claims {
    /// Reliable streams: connect, listen, accept, send, recv, close.
    pub streams: bool,
    /// Control datagrams.
    pub datagrams: bool,
    /// Ping and round-trip times.
    pub ping: bool,
}

/// The link a case wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditions {
    /// No injected faults.
    Clean,
    /// Lost and corrupted writes, seeded, where the harness can inject them;
    /// a harness on a real network may treat this as `Clean`.
    Lossy,
}

/// Two ends of one link.
pub trait Ends {
    /// One end.
    fn a(&mut self) -> &mut dyn Transport;
    /// The other.
    fn b(&mut self) -> &mut dyn Transport;
    /// Polls both ends once and lets time pass.
    fn step(&mut self);
}

/// Builds fresh ends under `conditions` and runs the case on them.
pub type Harness = fn(Conditions, &mut dyn FnMut(&mut dyn Ends));

/// Steps a case may take waiting for one thing before it fails.
const PATIENCE: usize = 2_000_000;
/// The port cases listen on.
const PORT: u16 = 7000;

/// Runs every case as its own `#[test]`: `suite!(harness, CLAIMS);`
#[macro_export]
macro_rules! suite {
    ($harness:expr, $claims:expr) => {
        $crate::suite!(@cases $harness, $claims;
            identity, link_comes_up, streams_deliver_in_order_both_ways,
            streams_deliver_in_order_over_a_lossy_link, close_reaches_the_peer,
            a_close_in_flight_ends_cleanly_after_every_byte, an_abort_reads_as_a_reset,
            send_queue_drains_once_delivered, stream_errors_are_named,
            datagrams_arrive_from_their_sender, ping_measures_a_round_trip,
            counters_move_and_reset);
    };
    (@cases $harness:expr, $claims:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::$case($harness, $claims);
            }
        )*
    };
}

fn wait(ends: &mut dyn Ends, what: &str, mut done: impl FnMut(&mut dyn Ends) -> bool) {
    for _ in 0..PATIENCE {
        if done(ends) {
            return;
        }
        ends.step();
    }
    panic!("gave up waiting: {what}");
}

fn up(ends: &mut dyn Ends) -> (IpAddr, IpAddr) {
    let (a, b) = (ends.a().local_addr(), ends.b().local_addr());
    wait(ends, "both ends to learn their peer", |e| {
        e.a().peer() == Some(b) && e.b().peer() == Some(a)
    });
    (a, b)
}

/// Opens a stream from A to B; returns (A's id, B's id).
fn open(ends: &mut dyn Ends) -> (StreamId, StreamId) {
    let (_, b) = up(ends);
    ends.b().listen(PORT).expect("listen");
    let at_a = ends.a().connect(b, PORT).expect("connect");
    let mut at_b = None;
    wait(ends, "B to accept and A to be established", |e| {
        if at_b.is_none() {
            at_b = e.b().accept(PORT).expect("accept");
        }
        at_b.is_some() && e.a().state(at_a) == Ok(StreamState::Established)
    });
    (at_a, at_b.expect("accepted"))
}

/// Checks the operations of an unclaimed feature all say `Unsupported`.
fn unsupported(what: &str, results: &[Result<(), Error>]) {
    for (i, r) in results.iter().enumerate() {
        assert_eq!(
            *r,
            Err(Error::Unsupported),
            "{what}: operation {i} must say it is unsupported"
        );
    }
}

fn pattern(len: usize, salt: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ salt ^ (i >> 8) as u8)
        .collect()
}

/// Moves `a_to_b` from A to B and `b_to_a` back at the same time; returns
/// what each side received.
fn exchange(
    ends: &mut dyn Ends,
    (sa, sb): (StreamId, StreamId),
    a_to_b: &[u8],
    b_to_a: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let (mut sent_a, mut sent_b) = (0, 0);
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    let mut buf = [0u8; 1024];
    wait(ends, "both directions to arrive", |e| {
        sent_a += e.a().send(sa, &a_to_b[sent_a..]).expect("send at A");
        sent_b += e.b().send(sb, &b_to_a[sent_b..]).expect("send at B");
        let n = e.b().recv(sb, &mut buf).expect("recv at B");
        got_b.extend_from_slice(&buf[..n]);
        let n = e.a().recv(sa, &mut buf).expect("recv at A");
        got_a.extend_from_slice(&buf[..n]);
        got_b.len() >= a_to_b.len() && got_a.len() >= b_to_a.len()
    });
    (got_a, got_b)
}

/// The stack has a name, and the two ends have different addresses.
pub fn identity(harness: Harness, _claims: Claims) {
    harness(Conditions::Clean, &mut |e| {
        assert!(!e.a().stack().is_empty());
        assert_eq!(e.a().stack(), e.b().stack());
        assert_ne!(e.a().local_addr(), e.b().local_addr());
    });
}

/// Each end learns the other's address from the link, and says the link
/// is up.
pub fn link_comes_up(harness: Harness, _claims: Claims) {
    harness(Conditions::Clean, &mut |e| {
        up(e);
        assert_eq!(e.a().link_state(), LinkState::Up);
        assert_eq!(e.b().link_state(), LinkState::Up);
    });
}

fn in_order(harness: Harness, claims: Claims, conditions: Conditions) {
    harness(conditions, &mut |e| {
        if !claims.streams {
            let peer = e.b().local_addr();
            let a = e.a();
            unsupported(
                "streams",
                &[
                    a.connect(peer, PORT).map(drop),
                    a.listen(PORT),
                    a.accept(PORT).map(drop),
                    a.state(StreamId(0)).map(drop),
                    a.send(StreamId(0), b"x").map(drop),
                    a.recv(StreamId(0), &mut [0; 4]).map(drop),
                    a.send_queue(StreamId(0)).map(drop),
                    a.close(StreamId(0)),
                    a.abort(StreamId(0)),
                ],
            );
            return;
        }
        let streams = open(e);
        let (to_b, to_a) = (pattern(48 * 1024, 0x5a), pattern(16 * 1024, 0xa5));
        let (got_a, got_b) = exchange(e, streams, &to_b, &to_a);
        assert!(got_b == to_b, "A to B arrived changed or out of order");
        assert!(got_a == to_a, "B to A arrived changed or out of order");
    });
}

/// A stream carries bytes intact and in order, both ways at once.
pub fn streams_deliver_in_order_both_ways(harness: Harness, claims: Claims) {
    in_order(harness, claims, Conditions::Clean);
}

/// The same over a link that loses and corrupts writes.
pub fn streams_deliver_in_order_over_a_lossy_link(harness: Harness, claims: Claims) {
    in_order(harness, claims, Conditions::Lossy);
}

/// Closing one end lets the other drain what was sent, then say
/// `StreamClosed`; a closed id is unknown afterwards.
pub fn close_reaches_the_peer(harness: Harness, claims: Claims) {
    if !claims.streams {
        return; // in_order checks every stream operation says unsupported
    }
    harness(Conditions::Clean, &mut |e| {
        let (sa, sb) = open(e);
        assert_eq!(e.a().send(sa, b"last words"), Ok(10));
        e.a().close(sa).expect("close at A");
        let mut got = Vec::new();
        let mut buf = [0u8; 64];
        wait(e, "B to drain and see the close", |e| {
            match e.b().recv(sb, &mut buf) {
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    false
                }
                Err(Error::StreamClosed(id)) => {
                    assert_eq!(id, sb.0);
                    true
                }
                Err(other) => panic!("B's recv after A closed: {other}"),
            }
        });
        assert_eq!(got, b"last words");
        e.b().close(sb).expect("close at B");
        wait(e, "A's id to be freed", |e| e.a().state(sa).is_err());
        assert_eq!(e.a().send(sa, b"x"), Err(Error::UnknownStream(sa.0)));
    });
}

/// A close straight after the last write, with bytes still in flight over
/// a lossy link, is the clean end at the peer: every byte arrives, then
/// `StreamClosed`, never `StreamReset`.
pub fn a_close_in_flight_ends_cleanly_after_every_byte(harness: Harness, claims: Claims) {
    if !claims.streams {
        return; // in_order checks every stream operation says unsupported
    }
    harness(Conditions::Lossy, &mut |e| {
        let (sa, sb) = open(e);
        let data = pattern(32 * 1024, 0xc1);
        let (mut sent, mut closed) = (0, false);
        let mut got = Vec::new();
        let mut end = None;
        let mut buf = [0u8; 1024];
        wait(e, "B to read to the end", |e| {
            if sent < data.len() {
                sent += e.a().send(sa, &data[sent..]).expect("send at A");
            } else if !closed {
                e.a().close(sa).expect("close at A");
                closed = true;
            }
            match e.b().recv(sb, &mut buf) {
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(err) => end = Some(err),
            }
            end.is_some()
        });
        assert_eq!(
            end,
            Some(Error::StreamClosed(sb.0)),
            "a close is the clean end"
        );
        assert!(closed, "B saw the end before A closed");
        assert!(got == data, "A to B arrived changed, short or out of order");
        e.b().close(sb).expect("close at B");
    });
}

/// A stream one end aborts mid-transfer ends at the other in
/// `StreamReset`, never in the clean `StreamClosed`, so that the peer can
/// tell that the bytes it has may not be all. What did arrive is intact,
/// the aborted id is free at once, and the peer's `send` names the reset
/// too.
pub fn an_abort_reads_as_a_reset(harness: Harness, claims: Claims) {
    if !claims.streams {
        return; // in_order checks every stream operation says unsupported
    }
    harness(Conditions::Clean, &mut |e| {
        let (sa, sb) = open(e);
        let data = pattern(64 * 1024, 0x2d);
        let mut sent = 0;
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        wait(e, "B to read the first KiB while A writes", |e| {
            sent += e.a().send(sa, &data[sent..]).expect("send at A");
            let n = e.b().recv(sb, &mut buf).expect("recv at B");
            got.extend_from_slice(&buf[..n]);
            got.len() >= 1024
        });
        // More queued, so that the abort drops bytes not yet delivered.
        e.a().send(sa, &data[sent..]).expect("send at A");
        e.a().abort(sa).expect("abort at A");
        assert_eq!(
            e.a().state(sa),
            Err(Error::UnknownStream(sa.0)),
            "an aborted id is no stream's"
        );
        let mut end = None;
        wait(e, "B to see the reset", |e| {
            match e.b().recv(sb, &mut buf) {
                Ok(n) => {
                    got.extend_from_slice(&buf[..n]);
                    false
                }
                Err(err) => {
                    end = Some(err);
                    true
                }
            }
        });
        assert_eq!(
            end,
            Some(Error::StreamReset(sb.0)),
            "an abort must not read as the clean end"
        );
        assert!(
            got[..] == data[..got.len()],
            "what arrived before the reset arrived changed"
        );
        assert_eq!(e.b().state(sb), Ok(StreamState::Closed));
        assert_eq!(e.b().send(sb, b"x"), Err(Error::StreamReset(sb.0)));
        e.b().close(sb).expect("close at B");
        wait(e, "B's id to be freed", |e| e.b().state(sb).is_err());
    });
}

/// Written bytes stay counted in the send queue until the peer has them and
/// its acknowledgement is back; then the queue is empty.
pub fn send_queue_drains_once_delivered(harness: Harness, claims: Claims) {
    if !claims.streams {
        return; // in_order checks every stream operation says unsupported
    }
    harness(Conditions::Clean, &mut |e| {
        let (sa, sb) = open(e);
        assert_eq!(e.a().send_queue(sa), Ok(0), "a new stream has sent nothing");
        assert_eq!(e.b().send_queue(sb), Ok(0), "a new stream has sent nothing");
        let data = pattern(4 * 1024, 0x7e);
        let written = e.a().send(sa, &data).expect("send at A");
        assert!(written > 0, "a new stream's send buffer takes a few KiB");
        // A kernel may have the acknowledgement before `send` returns, so all
        // that holds at once is an upper bound.
        let queued = e.a().send_queue(sa).expect("send_queue at A");
        assert!(
            queued <= written,
            "{queued} bytes queued, {written} written"
        );
        let mut got = Vec::new();
        let mut buf = [0u8; 1024];
        wait(e, "B to read every byte", |e| {
            let n = e.b().recv(sb, &mut buf).expect("recv at B");
            got.extend_from_slice(&buf[..n]);
            got.len() >= written
        });
        assert!(got == data[..written], "A to B arrived changed");
        wait(e, "A's send queue to drain", |e| {
            e.a().send_queue(sa).expect("send_queue at A") == 0
        });
        e.a().close(sa).expect("close at A");
        e.b().close(sb).expect("close at B");
        // Once closed, the id is no stream's: at once on some transports,
        // after the close completes on others.
        wait(e, "A's id to be unknown", |e| e.a().state(sa).is_err());
        assert_eq!(e.a().send_queue(sa), Err(Error::UnknownStream(sa.0)));
    });
}

/// Mistakes a user or a peer can make each get their own error.
pub fn stream_errors_are_named(harness: Harness, claims: Claims) {
    if !claims.streams {
        return;
    }
    harness(Conditions::Clean, &mut |e| {
        let (_, b) = up(e);
        let stranger = IpAddr::V4(Ipv4Addr::new(169, 254, 254, 254));
        assert_eq!(e.a().connect(b, 0), Err(Error::InvalidPort));
        assert_eq!(
            e.a().connect(stranger, PORT),
            Err(Error::PeerUnreachable(stranger))
        );
        assert_eq!(e.b().listen(0), Err(Error::InvalidPort));
        e.b().listen(PORT).expect("listen");
        assert_eq!(e.b().listen(PORT), Err(Error::PortInUse(PORT)));
        assert_eq!(e.b().accept(PORT + 1), Err(Error::NotListening(PORT + 1)));
        assert_eq!(
            e.a().send(StreamId(200), b"x"),
            Err(Error::UnknownStream(200))
        );
        assert_eq!(
            e.a().recv(StreamId(200), &mut [0; 4]),
            Err(Error::UnknownStream(200))
        );
        assert_eq!(
            e.a().send_queue(StreamId(200)),
            Err(Error::UnknownStream(200))
        );
    });
}

/// A datagram arrives whole, with its sender; one too large is refused by
/// name.
pub fn datagrams_arrive_from_their_sender(harness: Harness, claims: Claims) {
    harness(Conditions::Clean, &mut |e| {
        if !claims.datagrams {
            let peer = e.b().local_addr();
            let a = e.a();
            unsupported(
                "datagrams",
                &[
                    a.send_datagram(peer, b"x"),
                    a.recv_datagram(&mut [0; 8]).map(drop),
                ],
            );
            return;
        }
        let (a, b) = up(e);
        let max = e.a().max_datagram();
        let big = std::vec![0u8; max + 1];
        assert_eq!(
            e.a().send_datagram(b, &big),
            Err(Error::message_too_large(max + 1, max))
        );
        let message = pattern(max.min(1000), 0x3c);
        e.a().send_datagram(b, &message).expect("send_datagram");
        let mut buf = std::vec![0u8; max];
        let mut got = None;
        wait(e, "the datagram to arrive", |e| {
            got = e.b().recv_datagram(&mut buf).expect("recv_datagram");
            got.is_some()
        });
        let (from, len) = got.expect("arrived");
        assert_eq!(from, a);
        assert!(buf[..len] == message[..], "the datagram arrived changed");
    });
}

/// A ping's round trip arrives, from the peer pinged.
pub fn ping_measures_a_round_trip(harness: Harness, claims: Claims) {
    harness(Conditions::Clean, &mut |e| {
        if !claims.ping {
            let peer = e.b().local_addr();
            unsupported("ping", &[e.a().ping(peer, Default::default())]);
            assert_eq!(e.a().take_rtt(), None);
            return;
        }
        let (_, b) = up(e);
        e.a().ping(b, Default::default()).expect("ping");
        let mut rtt = None;
        wait(e, "the pong", |e| {
            rtt = e.a().take_rtt();
            rtt.is_some()
        });
        assert_eq!(rtt.map(|(from, _)| from), Some(b));
        assert_eq!(e.b().stats().pings_answered, 1);
        assert_eq!(e.a().stats().pongs_rx, 1);
    });
}

/// Counters count what was done, and reset to zero.
pub fn counters_move_and_reset(harness: Harness, claims: Claims) {
    harness(Conditions::Clean, &mut |e| {
        if !claims.streams {
            up(e);
            let s = e.a().stats();
            assert_eq!(
                (s.stream_bytes_tx, s.datagrams_tx, s.pings_tx),
                (0, 0, 0),
                "no stream, datagram or ping moved, so none is counted"
            );
            e.a().reset_stats();
            assert_eq!(e.a().stats(), Default::default());
            return;
        }
        let streams = open(e);
        let data = pattern(5000, 1);
        exchange(e, streams, &data, &[]);
        let (a, b) = (e.a().stats(), e.b().stats());
        assert_eq!(a.stream_bytes_tx, 5000);
        assert_eq!(b.stream_bytes_rx, 5000);
        e.a().reset_stats();
        assert_eq!(e.a().stats(), Default::default());
    });
}
