//! What only the TCP/IP transport promises, beyond the conformance suite
//! (`tests/conformance.rs`), which covers streams, datagrams, ping, counters
//! and the named errors every transport shares: link-down before the peer
//! is known, addresses derived from hardware ids, its stream slots running
//! out, only the latest ping's pong counting, and the send queue holding
//! every written byte, exactly, until it is acknowledged.

mod common;

use core::net::{IpAddr, Ipv4Addr};

use common::{id, link_config, step_until, with_nodes};
use tidenet_conformance::Conditions;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{DownReason, Error, LinkState, StreamId, StreamState, Transport};
use tidenet_model::{Port, Side};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::MAX_STREAMS;
use tidenet_tcpip::{Resources, TcpIp};

#[test]
fn before_the_peer_is_known_operations_say_link_down() {
    with_nodes(link_config(Conditions::Clean), |nodes| {
        // The other end never runs, so the link never comes up.
        nodes.set_off(Side::B, true);
        for _ in 0..1000 {
            nodes.step();
        }
        let a = &mut nodes.a;
        let somewhere = IpAddr::V4(Ipv4Addr::new(169, 254, 9, 9));
        assert_eq!(a.peer(), None);
        assert_eq!(a.link_state(), LinkState::Down(DownReason::Starting));
        assert_eq!(a.connect(somewhere, 7), Err(Error::LinkDown));
        assert_eq!(a.send_datagram(somewhere, b"x"), Err(Error::LinkDown));
        assert_eq!(a.ping(somewhere, Instant::ZERO), Err(Error::LinkDown));
    });
}

/// Both ends up, on a clean link.
fn up(nodes: &mut common::Nodes<'_>) {
    step_until(nodes, |n| n.a.peer().is_some() && n.b.peer().is_some());
}

#[test]
fn each_end_learns_the_other_address_without_configuration() {
    with_nodes(link_config(Conditions::Clean), |n| {
        up(n);
        assert_eq!(n.a.peer(), Some(n.b.local_addr()));
        assert_eq!(n.b.peer(), Some(n.a.local_addr()));
        assert_eq!(n.a.local_addr(), IpAddr::V4(id(1).link_local()));
    });
}

#[test]
fn stream_slots_run_out_by_name() {
    with_nodes(link_config(Conditions::Clean), |n| {
        up(n);
        let peer = n.b.local_addr();
        for _ in 0..MAX_STREAMS {
            n.a.connect(peer, 7).expect("a free slot");
        }
        assert_eq!(
            n.a.connect(peer, 7),
            Err(Error::too_many_streams(MAX_STREAMS))
        );
    });
}

#[test]
fn only_the_latest_pings_pong_gives_the_rtt() {
    with_nodes(link_config(Conditions::Clean), |n| {
        up(n);
        let peer = n.b.local_addr();
        // The first ping is stamped long ago; its pong would report a large
        // round trip. The second is stamped in the future, so its own round
        // trip saturates to zero.
        n.a.ping(peer, Instant::ZERO).unwrap();
        n.a.ping(peer, Instant::from_nanos(u64::MAX / 2)).unwrap();
        step_until(n, |n| n.a.stats().pongs_rx >= 1);
        if n.a.stats().pongs_rx == 1 {
            assert_eq!(n.a.take_rtt(), None, "the first ping's pong is stale");
        }
        step_until(n, |n| n.a.stats().pongs_rx == 2);
        assert_eq!(n.a.take_rtt(), Some((peer, Duration::ZERO)));
        assert_eq!(n.a.take_rtt(), None);
    });
}

#[test]
fn send_queue_holds_every_written_byte_until_acknowledged() {
    with_nodes(link_config(Conditions::Clean), |n| {
        up(n);
        n.b.listen(7).expect("listen");
        let sa = n.a.connect(n.b.local_addr(), 7).expect("connect");
        let mut sb = None;
        step_until(n, |n| {
            sb = sb.or(n.b.accept(7).expect("accept"));
            sb.is_some() && n.a.state(sa) == Ok(StreamState::Established)
        });
        let sb = sb.expect("accepted");
        let data = [0x5a; 3000];
        assert_eq!(n.a.send(sa, &data), Ok(data.len()));
        // Nothing has been polled since, so nothing can be acknowledged.
        assert_eq!(n.a.send_queue(sa), Ok(data.len()));
        let mut got = 0;
        let mut buf = [0; 1024];
        step_until(n, |n| {
            got += n.b.recv(sb, &mut buf).expect("recv at B");
            got == data.len()
        });
        step_until(n, |n| n.a.send_queue(sa) == Ok(0));
    });
}

/// A stream from A to B's port 7, established and accepted.
fn stream(n: &mut common::Nodes<'_>) -> (StreamId, StreamId) {
    let sa = n.a.connect(n.b.local_addr(), 7).expect("connect");
    let mut sb = None;
    step_until(n, |n| {
        sb = sb.or(n.b.accept(7).expect("accept"));
        sb.is_some() && n.a.state(sa) == Ok(StreamState::Established)
    });
    (sa, sb.expect("accepted"))
}

/// Sends `data` from `sa` to `sb` and checks it all arrives, in order.
fn carry(n: &mut common::Nodes<'_>, sa: StreamId, sb: StreamId, data: &[u8]) {
    let (mut sent, mut got) = (0, Vec::new());
    let mut buf = [0; 1024];
    step_until(n, |n| {
        sent += n.a.send(sa, &data[sent..]).expect("send at A");
        let len = n.b.recv(sb, &mut buf).expect("recv at B");
        got.extend_from_slice(&buf[..len]);
        got.len() == data.len()
    });
    assert!(got == data, "the stream's bytes differ");
}

#[test]
fn a_peer_that_reboots_mid_stream_resets_the_stream_and_the_next_one_works() {
    with_nodes(link_config(Conditions::Clean), |n| {
        up(n);
        n.b.listen(7).expect("listen");
        let (sa, sb) = stream(n);
        let data: Vec<u8> = (0..20_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        carry(n, sa, sb, &data[..5000]);
        // A has more in flight when B reboots: a new transport on the same
        // hardware, with a new boot value, whose application listens again.
        assert!(n.a.send(sa, &data[5000..]).expect("send") > 0);
        let cpu = n.cpu(Side::B);
        let (tb, rb) = Port::pair(n.link(), Side::B, cpu);
        let resources = Box::leak(Box::new(Resources::<8192>::new()));
        n.b = TcpIp::new(tb, rb, id(2), Config::new(0xb007), resources, cpu.instant());
        n.wake(Side::B);
        n.b.listen(7).expect("listen after the reboot");
        // A's link sees the peer start over; its stream is reset once the
        // link is back and A's next segment reaches a B that never knew it.
        step_until(n, |n| n.a.state(sa) == Ok(StreamState::Closed));
        let s = n.a.stats();
        assert_eq!(s.down_peer_realigning, 1, "{s:?}");
        assert_eq!(s.link_ups, 2, "{s:?}");
        assert_eq!(n.a.link_state(), LinkState::Up);
        assert_eq!(n.a.peer(), Some(n.b.local_addr()));
        // The next stream carries everything.
        n.a.close(sa).expect("close the reset stream");
        let (sa, sb) = stream(n);
        carry(n, sa, sb, &data);
    });
}
