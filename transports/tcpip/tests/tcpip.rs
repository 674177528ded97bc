//! What only the TCP/IP transport promises, beyond the conformance suite
//! (`tests/conformance.rs`), which covers streams, datagrams, ping, counters
//! and the named errors every transport shares: link-down before the peer
//! is known, addresses derived from hardware ids, its stream slots running
//! out, only the latest ping's pong counting, and the send queue holding
//! every written byte, exactly, until it is acknowledged.

use core::cell::RefCell;
use core::net::{IpAddr, Ipv4Addr};

use tidenet_core::addr::HardwareId;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, StreamState, Transport};
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
fn stream_slots_run_out_by_name() {
    with_pair(|step| {
        poll_until(step, |a, _| a.peer().is_some());
        step(&mut |a, _| {
            let peer = a.peer().unwrap();
            for _ in 0..tidenet_ringbuffer::MAX_STREAMS {
                a.connect(peer, 7).expect("a free slot");
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

#[test]
fn send_queue_holds_every_written_byte_until_acknowledged() {
    with_pair(|step| {
        poll_until(step, |a, b| a.peer().is_some() && b.peer().is_some());
        let mut at_a = None;
        step(&mut |a, b| {
            b.listen(7).expect("listen");
            at_a = Some(a.connect(b.local_addr(), 7).expect("connect"));
        });
        let sa = at_a.expect("connected");
        let mut at_b = None;
        poll_until(step, |a, b| {
            at_b = at_b.or(b.accept(7).expect("accept"));
            at_b.is_some() && a.state(sa) == Ok(StreamState::Established)
        });
        let sb = at_b.expect("accepted");
        let data = [0x5a; 3000];
        step(&mut |a, _| {
            assert_eq!(a.send(sa, &data), Ok(data.len()));
            // Nothing has been polled since, so nothing can be acknowledged.
            assert_eq!(a.send_queue(sa), Ok(data.len()));
        });
        let mut got = 0;
        let mut buf = [0; 1024];
        poll_until(step, |_, b| {
            got += b.recv(sb, &mut buf).expect("recv at B");
            got == data.len()
        });
        poll_until(step, |a, _| a.send_queue(sa) == Ok(0));
    });
}
