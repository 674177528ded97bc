//! The TCP/IP transport's promises at its edges: the errors a user or a peer
//! can cause are named, pings are answered, datagrams arrive.

use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr};

use tidenet_core::addr::HardwareId;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, StreamId, StreamState, Transport};
use tidenet_ringbuffer::model::{align, Link, LinkConfig, Port, Side};
use tidenet_ringbuffer::{Resources, TcpIp};

fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

/// Runs `body` with two transports on an aligned, fault-free modelled link,
/// and a function that polls both once.
fn with_pair(body: impl FnOnce(&mut Step<'_>)) {
    let config = LinkConfig::default();
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (ra, rb) = align(&link, 10_000).expect("the link did not align");
    let mut res_a = Box::new(Resources::<4096>::new());
    let mut res_b = Box::new(Resources::<4096>::new());
    let now = || link.borrow().instant();
    let mut a = TcpIp::new(ra, id(1), &mut res_a, now());
    let mut b = TcpIp::new(rb, id(2), &mut res_b, now());
    body(&mut |f| {
        a.poll(now());
        b.poll(now());
        f(&mut a, &mut b);
    });
}

/// Polls both ends once, then hands them to the closure.
type Step<'s> = dyn FnMut(&mut dyn FnMut(&mut dyn Transport, &mut dyn Transport)) + 's;

fn poll_until(
    step: &mut Step<'_>,
    mut done: impl FnMut(&mut dyn Transport, &mut dyn Transport) -> bool,
) {
    for _ in 0..200_000 {
        let mut finished = false;
        step(&mut |a, b| finished = done(a, b));
        if finished {
            return;
        }
    }
    panic!("condition not reached");
}

#[test]
fn before_the_peer_is_known_operations_say_link_down() {
    let config = LinkConfig::default();
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    // The other end never runs, so no control word ever arrives.
    let (tx, rx) = Port::pair(&link, Side::A);
    let ring = tidenet_core::ringbuffer::AlignedRingbuffer::new(tx, rx);
    let mut res = Box::new(Resources::<1024>::new());
    let start = link.borrow().instant();
    let mut a = TcpIp::new(ring, id(1), &mut res, start);
    let now = link.borrow().instant();
    a.poll(now);
    let somewhere = IpAddr::V4(Ipv4Addr::new(169, 254, 9, 9));
    assert_eq!(a.peer(), None);
    assert_eq!(a.connect(somewhere, 7), Err(Error::LinkDown));
    assert_eq!(a.send_datagram(somewhere, b"x"), Err(Error::LinkDown));
    assert_eq!(a.ping(somewhere, now), Err(Error::LinkDown));
}

#[test]
fn each_end_learns_the_other_address_without_configuration() {
    with_pair(|step| {
        poll_until(step, |a, b| a.peer().is_some() && b.peer().is_some());
        step(&mut |a, b| {
            assert_eq!(a.peer(), Some(b.local_addr()));
            assert_eq!(b.peer(), Some(a.local_addr()));
            assert_eq!(a.local_addr(), IpAddr::V4(id(1).link_local()));
        });
    });
}

#[test]
fn user_errors_are_named() {
    with_pair(|step| {
        poll_until(step, |a, _| a.peer().is_some());
        step(&mut |a, b| {
            let stranger = IpAddr::V4(Ipv4Addr::new(169, 254, 200, 1));
            let peer = a.peer().unwrap();
            assert_eq!(
                a.connect(stranger, 7),
                Err(Error::PeerUnreachable(stranger))
            );
            assert_eq!(a.connect(peer, 0), Err(Error::InvalidPort));
            assert_eq!(b.listen(0), Err(Error::InvalidPort));
            assert_eq!(b.listen(7), Ok(()));
            assert_eq!(b.listen(7), Err(Error::PortInUse(7)));
            assert_eq!(b.accept(8), Err(Error::NotListening(8)));
            assert_eq!(a.send(StreamId(3), b"x"), Err(Error::UnknownStream(3)));
            assert_eq!(
                a.recv(StreamId(200), &mut [0; 4]),
                Err(Error::UnknownStream(200))
            );
            let max = a.max_datagram();
            let big = vec![0u8; max + 1];
            assert_eq!(
                a.send_datagram(peer, &big),
                Err(Error::MessageTooLarge { size: max + 1, max })
            );
            // Every remaining slot taken by connects, one more is refused.
            for _ in 0..tidenet_ringbuffer::MAX_STREAMS {
                let _ = a.connect(peer, 7);
            }
            assert_eq!(
                a.connect(peer, 7),
                Err(Error::TooManyStreams {
                    max: tidenet_ringbuffer::MAX_STREAMS
                })
            );
        });
    });
}

#[test]
fn a_stream_carries_bytes_both_ways_and_closes() {
    with_pair(|step| {
        poll_until(step, |a, _| a.peer().is_some());
        let mut s = None;
        step(&mut |a, b| {
            b.listen(9).unwrap();
            s = Some(a.connect(a.peer().unwrap(), 9).unwrap());
        });
        let s = s.unwrap();
        let mut t = None;
        poll_until(step, |_, b| {
            t = b.accept(9).unwrap();
            t.is_some()
        });
        let t = t.unwrap();
        step(&mut |a, b| {
            assert_eq!(a.state(s), Ok(StreamState::Established));
            assert_eq!(a.send(s, b"ping over tcp"), Ok(13));
            assert_eq!(b.send(t, b"and back"), Ok(8));
        });
        let (mut at_b, mut at_a) = (Vec::new(), Vec::new());
        poll_until(step, |a, b| {
            let mut buf = [0; 64];
            let n = b.recv(t, &mut buf).unwrap();
            at_b.extend_from_slice(&buf[..n]);
            let n = a.recv(s, &mut buf).unwrap();
            at_a.extend_from_slice(&buf[..n]);
            at_b.len() == 13 && at_a.len() == 8
        });
        assert_eq!(at_b, b"ping over tcp");
        assert_eq!(at_a, b"and back");
        step(&mut |a, _| a.close(s).unwrap());
        poll_until(step, |_, b| {
            b.recv(t, &mut [0; 8]) == Err(Error::StreamClosed(t.0))
        });
        step(&mut |a, b| {
            assert_eq!(a.stats().stream_bytes_tx, 13);
            assert_eq!(b.stats().stream_bytes_rx, 13);
        });
    });
}

#[test]
fn pings_are_answered_and_datagrams_arrive() {
    with_pair(|step| {
        poll_until(step, |a, _| a.peer().is_some());
        step(&mut |a, b| {
            let peer = a.peer().unwrap();
            a.ping(peer, Default::default()).unwrap();
            let me = b.peer().unwrap();
            b.send_datagram(me, b"hello control").unwrap();
        });
        let mut got = None;
        poll_until(step, |a, _| {
            let mut buf = [0; 64];
            got = a
                .recv_datagram(&mut buf)
                .unwrap()
                .map(|(from, n)| (from, buf[..n].to_vec()));
            got.is_some()
        });
        let mut rtt = None;
        poll_until(step, |a, _| {
            rtt = a.take_rtt();
            rtt.is_some()
        });
        let (from, _) = rtt.unwrap();
        step(&mut |a, b| {
            assert_eq!(from, b.local_addr());
            assert_eq!(
                got.take().unwrap(),
                (b.local_addr(), b"hello control".to_vec())
            );
            assert_eq!(a.stats().pongs_rx, 1);
            assert_eq!(b.stats().pings_answered, 1);
            assert_eq!(a.stats().datagrams_rx, 1);
            a.reset_stats();
            assert_eq!(a.stats(), Default::default());
        });
    });
}

#[test]
fn only_the_latest_pings_pong_gives_the_rtt() {
    with_pair(|step| {
        poll_until(step, |a, _| a.peer().is_some());
        step(&mut |a, _| {
            let peer = a.peer().unwrap();
            // The first ping is stamped long ago; its pong would report a
            // large round trip. The second is stamped in the future, so its
            // own round trip saturates to zero.
            a.ping(peer, Instant::ZERO).unwrap();
            a.ping(peer, Instant::from_nanos(u64::MAX / 2)).unwrap();
        });
        poll_until(step, |a, _| a.stats().pongs_rx == 1);
        step(&mut |a, _| assert_eq!(a.take_rtt(), None, "the first ping's pong is stale"));
        poll_until(step, |a, _| a.stats().pongs_rx == 2);
        step(&mut |a, b| {
            assert_eq!(a.take_rtt(), Some((b.local_addr(), Duration::ZERO)));
            assert_eq!(a.take_rtt(), None);
        });
    });
}
