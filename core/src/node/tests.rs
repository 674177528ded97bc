//! `Node` against a fake transport: what each request answers, how `ping` and
//! `remote` wait, and how the node serves peers' remote requests.

use core::net::{IpAddr, Ipv4Addr};
use std::collections::VecDeque;
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::proto::{decode_response, encode};
use crate::{DownReason, LinkState, Stats};

const A: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 0, 1));
const B: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 0, 2));
const C: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 0, 3));

/// Stream slots of the fake: more than the node lists, so the node's own
/// limit is the one that shows.
const SLOTS: usize = MAX_STREAMS + 2;

/// Just enough of a transport to drive a `Node`: datagrams go to `sent` and
/// come from `incoming`, pings are recorded and answered by setting `rtt`.
struct Fake {
    local: IpAddr,
    peer: Option<IpAddr>,
    /// Datagrams the node sent, oldest first.
    sent: VecDeque<(IpAddr, Vec<u8>)>,
    /// Datagrams waiting for the node, oldest first.
    incoming: VecDeque<(IpAddr, Vec<u8>)>,
    /// Peers pinged, in order.
    pinged: Vec<IpAddr>,
    /// What `take_rtt` hands out next, once.
    rtt: Option<(IpAddr, Duration)>,
    /// Open streams by id, with their state.
    streams: [Option<StreamState>; SLOTS],
    listening: Vec<u16>,
    /// Streams peers opened, waiting for `accept`, by port.
    pending: VecDeque<u16>,
    max_datagram: usize,
    stats: Stats,
    polls: usize,
    /// The board and port it says it belongs to.
    id: Option<HardwareId>,
}

impl Fake {
    /// Like the TCP/IP transport: nothing reaches a peer before the link
    /// has named it.
    fn reach(&self) -> Result<(), Error> {
        self.peer.map(|_| ()).ok_or(Error::LinkDown)
    }

    fn new(local: IpAddr, peer: Option<IpAddr>) -> Self {
        Fake {
            local,
            peer,
            sent: VecDeque::new(),
            incoming: VecDeque::new(),
            pinged: Vec::new(),
            rtt: None,
            streams: [None; SLOTS],
            listening: Vec::new(),
            pending: VecDeque::new(),
            max_datagram: MAX_MESSAGE,
            stats: Stats::default(),
            polls: 0,
            id: None,
        }
    }

    fn slot(&self, stream: StreamId) -> Result<StreamState, Error> {
        self.streams
            .get(usize::from(stream.0))
            .copied()
            .flatten()
            .ok_or(Error::UnknownStream(stream.0))
    }

    fn open(&mut self, state: StreamState) -> Result<StreamId, Error> {
        let free = self
            .streams
            .iter()
            .position(Option::is_none)
            .ok_or(Error::too_many_streams(SLOTS))?;
        self.streams[free] = Some(state);
        Ok(StreamId(free as u8))
    }

    fn open_streams(&self) -> usize {
        self.streams.iter().flatten().count()
    }
}

impl Transport for Fake {
    fn stack(&self) -> &'static str {
        "fake"
    }

    fn poll(&mut self, _now: Instant) -> bool {
        self.polls += 1;
        false
    }

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        None
    }

    fn local_addr(&self) -> IpAddr {
        self.local
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer
    }

    fn local_id(&self) -> Option<HardwareId> {
        self.id
    }

    fn connect(&mut self, _peer: IpAddr, port: u16) -> Result<StreamId, Error> {
        self.reach()?;
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        self.open(StreamState::Connecting)
    }

    fn listen(&mut self, port: u16) -> Result<(), Error> {
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        self.listening.push(port);
        Ok(())
    }

    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        if !self.listening.contains(&port) {
            return Err(Error::NotListening(port));
        }
        let Some(i) = self.pending.iter().position(|&p| p == port) else {
            return Ok(None);
        };
        self.pending.remove(i);
        self.open(StreamState::Established).map(Some)
    }

    fn state(&self, stream: StreamId) -> Result<StreamState, Error> {
        self.slot(stream)
    }

    fn send(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, Error> {
        if self.slot(stream)? == StreamState::Closed {
            return Err(Error::StreamClosed(stream.0));
        }
        self.stats.stream_bytes_tx += data.len() as u64;
        Ok(data.len())
    }

    fn recv(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        // The fake's peer never closes; a stream gone is one it reset.
        if self.slot(stream)? == StreamState::Closed {
            return Err(Error::StreamReset(stream.0));
        }
        let n = buf.len().min(3);
        buf[..n].copy_from_slice(&b"abc"[..n]);
        Ok(n)
    }

    fn send_queue(&self, stream: StreamId) -> Result<usize, Error> {
        self.slot(stream).map(|_| 0)
    }

    fn close(&mut self, stream: StreamId) -> Result<(), Error> {
        self.slot(stream)?;
        self.streams[usize::from(stream.0)] = None;
        Ok(())
    }

    fn max_datagram(&self) -> usize {
        self.max_datagram
    }

    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        self.reach()?;
        if data.len() > self.max_datagram {
            return Err(Error::message_too_large(data.len(), self.max_datagram));
        }
        self.stats.datagrams_tx += 1;
        self.sent.push_back((peer, data.to_vec()));
        Ok(())
    }

    fn recv_datagram(&mut self, buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        let Some((from, data)) = self.incoming.pop_front() else {
            return Ok(None);
        };
        if data.len() > buf.len() {
            return Err(Error::message_too_large(data.len(), buf.len()));
        }
        self.stats.datagrams_rx += 1;
        buf[..data.len()].copy_from_slice(&data);
        Ok(Some((from, data.len())))
    }

    fn ping(&mut self, peer: IpAddr, _now: Instant) -> Result<(), Error> {
        self.reach()?;
        self.stats.pings_tx += 1;
        self.pinged.push(peer);
        Ok(())
    }

    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        self.rtt.take()
    }

    fn stats(&self) -> Stats {
        self.stats
    }

    fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }
}

/// A node at `A` whose link leads to `B`.
fn node() -> Node<Fake> {
    Node::new([Fake::new(A, Some(B))])
}

fn at_ms(ms: u64) -> Instant {
    Instant::from_micros(ms * 1_000)
}

fn message(tag: u16, request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_MESSAGE];
    let len = encode(Header::new(tag), request, &mut buf).unwrap();
    buf[..len].to_vec()
}

/// `connect 0 7000`: a stream over link 0.
const CONNECT: Request<'static> = Request::Connect {
    peer: Peer::Link(0),
    port: 7000,
};

/// A `ping` request message.
fn ping_message(tag: u16, peer: Peer) -> Vec<u8> {
    message(tag, &Request::Ping { peer })
}

/// A request's postcard bytes without a header, as `Remote` carries them.
fn inner(request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_MESSAGE];
    postcard::to_slice(request, &mut buf).unwrap().to_vec()
}

/// The reply, if one is ready, copied out of the node.
fn take<const N: usize>(node: &mut Node<Fake, N>) -> Option<Vec<u8>> {
    node.take_reply().map(<[u8]>::to_vec)
}

fn decode(reply: &[u8]) -> (u16, Response<'_>) {
    let (header, response) = decode_response(reply).expect("the node's reply decodes");
    assert_eq!(header.version, VERSION);
    (header.tag, response)
}

/// Runs a request that finishes at once and returns its decoded reply.
fn call<const N: usize>(node: &mut Node<Fake, N>, tag: u16, request: &Request<'_>) -> Vec<u8> {
    node.request(&message(tag, request), at_ms(0)).unwrap();
    let reply = take(node).expect("the request finishes at once");
    assert!(!node.is_busy(), "taking the reply frees the node");
    reply
}

/// The response of a request that finishes at once, checking its tag. The
/// reply is leaked so the response can outlive the node's buffer.
fn response_of<const N: usize>(
    node: &mut Node<Fake, N>,
    request: &Request<'_>,
) -> Response<'static> {
    let reply: &'static [u8] = std::boxed::Box::leak(call(node, 42, request).into_boxed_slice());
    let (tag, response) = decode(reply);
    assert_eq!(tag, 42);
    response
}

fn error_of<const N: usize>(node: &mut Node<Fake, N>, request: &Request<'_>) -> Error {
    match response_of(node, request) {
        Response::Error(e) => e,
        other => panic!("expected an error, got {other:?}"),
    }
}

fn status_of<const N: usize>(node: &mut Node<Fake, N>) -> Status<'static> {
    match response_of(node, &Request::Status) {
        Response::Status(status) => status,
        other => panic!("expected a status, got {other:?}"),
    }
}

/// Moves every datagram `from` sent to `to`'s incoming queue, as coming from
/// `from_addr`.
fn deliver(from: &mut Node<Fake>, from_addr: IpAddr, to: &mut Node<Fake>) -> usize {
    let sent: Vec<_> = from.links_mut()[0].sent.drain(..).collect();
    let n = sent.len();
    for (_, data) in sent {
        to.links_mut()[0].incoming.push_back((from_addr, data));
    }
    n
}

fn remote_stats() -> Vec<u8> {
    inner(&Request::Stats { link: None })
}

#[test]
fn every_reply_carries_the_request_tag() {
    let mut node = node();
    let data = [1u8, 2, 3];
    let requests = [
        Request::Status,
        Request::Links,
        Request::Stats { link: None },
        Request::ResetStats { link: None },
        Request::Listen { port: 7000 },
        Request::Listen { port: 7000 }, // an error reply, same rule
        Request::Connect {
            peer: Peer::Link(0),
            port: 7000,
        },
        Request::Send {
            stream: 0,
            data: &data,
        },
        Request::Recv {
            stream: 0,
            max: 100,
        },
        Request::Close { stream: 0 },
        Request::Close { stream: 0 },
        Request::Connect {
            peer: Peer::Link(9),
            port: 1,
        },
    ];
    for (i, request) in requests.iter().enumerate() {
        for tag in [0, 1, 0x7f, 0x80, 0x3fff, 0x4000, u16::MAX - i as u16] {
            let reply = call(&mut node, tag, request);
            assert_eq!(decode(&reply).0, tag, "{request:?} under tag {tag}");
        }
    }
}

#[test]
fn garbage_bytes_get_one_malformed_request_reply() {
    let mut header = [0u8; 8];
    let h = postcard::to_slice(&Header::new(0x1234), &mut header)
        .unwrap()
        .len();
    let with_body = |body: &[u8]| {
        let mut m = header[..h].to_vec();
        m.extend_from_slice(body);
        m
    };
    // (message, the tag the reply must carry)
    let cases: [(Vec<u8>, u16); 8] = [
        (Vec::new(), 0),
        (std::vec![VERSION], 0),       // the tag is missing
        (std::vec![VERSION, 0x80], 0), // the tag's varint stops half way
        (with_body(&[]), 0x1234),      // no body
        (with_body(&[11]), 0x1234),    // no such variant
        (with_body(&[0xff, 0xff, 0xff, 0xff, 0xff]), 0x1234),
        (with_body(&[2, 0]), 0x1234),    // Connect, its peer cut short
        (with_body(&[4, 0, 9]), 0x1234), // Send of 9 bytes that are not there
    ];
    for (m, want_tag) in cases {
        let mut node = node();
        assert_eq!(node.request(&m, at_ms(0)), Ok(()), "{m:02x?}");
        assert!(node.is_busy());
        let reply = take(&mut node).expect("a reply at once");
        assert_eq!(
            decode(&reply),
            (want_tag, Response::Error(Error::MalformedRequest)),
            "{m:02x?}"
        );
        assert_eq!(take(&mut node), None, "exactly one reply for {m:02x?}");
        assert!(!node.is_busy());
        assert!(node.links()[0].sent.is_empty());
    }
}

#[test]
fn a_newer_version_gets_unsupported_version_with_its_tag() {
    let mut node = node();
    let mut buf = [0u8; MAX_MESSAGE];
    let newer = Header {
        version: VERSION + 1,
        tag: 777,
    };
    // A body this version cannot read either: only the header counts.
    for body in [&[0u8][..], &[0xee, 0xee][..], &[][..]] {
        let h = postcard::to_slice(&newer, &mut buf).unwrap().len();
        buf[h..h + body.len()].copy_from_slice(body);
        node.request(&buf[..h + body.len()], at_ms(0)).unwrap();
        let reply = take(&mut node).unwrap();
        assert_eq!(
            decode(&reply),
            (
                777,
                Response::Error(Error::UnsupportedVersion {
                    got: VERSION + 1,
                    supported: VERSION
                })
            )
        );
    }
}

#[test]
fn a_second_request_before_the_reply_is_taken_is_busy() {
    let mut node = node();
    node.request(&message(1, &Request::Links), at_ms(0))
        .unwrap();
    assert!(node.is_busy());
    assert_eq!(
        node.request(&message(2, &Request::Stats { link: None }), at_ms(0)),
        Err(Error::Busy)
    );
    // Even garbage is refused, not answered.
    assert_eq!(node.request(&[], at_ms(0)), Err(Error::Busy));
    let reply = take(&mut node).unwrap();
    let (tag, response) = decode(&reply);
    assert_eq!(tag, 1, "the first request's reply survives");
    assert!(matches!(response, Response::Links(_)));
    assert_eq!(take(&mut node), None, "the busy requests left no reply");

    // A request that waits for the link is busy the same way.
    node.request(&ping_message(3, Peer::Link(0)), at_ms(0))
        .unwrap();
    assert!(node.is_busy());
    assert_eq!(
        node.request(&message(4, &Request::Status), at_ms(0)),
        Err(Error::Busy)
    );
    assert_eq!(node.take_reply(), None);

    // Once the reply is taken, requests run again.
    node.links_mut()[0].rtt = Some((B, Duration::from_micros(5)));
    node.poll(at_ms(1));
    assert_eq!(decode(&take(&mut node).unwrap()).0, 3);
    assert!(!node.is_busy());
    assert_eq!(decode(&call(&mut node, 5, &Request::Status)).0, 5);
}

#[test]
fn ping_replies_pong_when_the_rtt_arrives() {
    let mut node = node();
    let ping = ping_message(9, Peer::Link(0));
    node.request(&ping, at_ms(100)).unwrap();
    assert_eq!(node.links()[0].pinged, [B]);
    assert_eq!(node.take_reply(), None);
    node.poll(at_ms(150));
    assert_eq!(node.take_reply(), None, "no pong yet");
    assert!(node.is_busy());

    node.links_mut()[0].rtt = Some((B, Duration::from_micros(1234)));
    node.poll(at_ms(160));
    let reply = take(&mut node).unwrap();
    assert_eq!(
        decode(&reply),
        (
            9,
            Response::Pong {
                peer: B,
                rtt_ns: 1_234_000
            }
        )
    );
    assert!(!node.is_busy());
    assert_eq!(node.poll_at(at_ms(160)), None, "nothing left to wait for");

    // By address, too.
    let ping = ping_message(10, Peer::Addr(C));
    node.request(&ping, at_ms(200)).unwrap();
    assert_eq!(node.links()[0].pinged, [B, C]);
    node.links_mut()[0].rtt = Some((C, Duration::from_nanos(8)));
    node.poll(at_ms(201));
    assert_eq!(
        decode(&take(&mut node).unwrap()),
        (10, Response::Pong { peer: C, rtt_ns: 8 })
    );
}

#[test]
fn a_pong_from_another_peer_is_not_the_reply() {
    let mut node = node();
    let ping = ping_message(9, Peer::Link(0));
    node.request(&ping, at_ms(0)).unwrap();
    node.links_mut()[0].rtt = Some((C, Duration::from_micros(1)));
    node.poll(at_ms(1));
    assert_eq!(node.take_reply(), None);
    node.links_mut()[0].rtt = Some((B, Duration::from_micros(2)));
    node.poll(at_ms(2));
    assert_eq!(
        decode(&take(&mut node).unwrap()),
        (
            9,
            Response::Pong {
                peer: B,
                rtt_ns: 2_000
            }
        )
    );
}

#[test]
fn ping_times_out_after_one_second_when_no_pong_comes() {
    let mut node = node();
    let start = at_ms(5_000);
    let ping = ping_message(0xbeef, Peer::Link(0));
    node.request(&ping, start).unwrap();
    let deadline = start + TIMEOUT;
    assert_eq!(TIMEOUT, Duration::from_secs(1));
    assert_eq!(node.poll_at(start), Some(deadline));

    for now in [
        start,
        at_ms(5_500),
        at_ms(5_999),
        Instant::from_nanos(deadline.as_nanos() - 1),
    ] {
        node.poll(now);
        assert_eq!(node.take_reply(), None, "no reply at {now}");
        assert!(node.is_busy());
        assert_eq!(node.poll_at(now), Some(deadline));
    }
    node.poll(deadline);
    assert_eq!(
        decode(&take(&mut node).unwrap()),
        (0xbeef, Response::Error(Error::Timeout))
    );
    assert!(!node.is_busy());
    assert_eq!(node.poll_at(deadline), None);

    // A pong after the timeout is nobody's reply.
    node.links_mut()[0].rtt = Some((B, Duration::from_secs(2)));
    node.poll(deadline + Duration::from_millis(1));
    assert_eq!(node.take_reply(), None);
    assert!(!node.is_busy());
}

/// Two nodes, A and B, each other's peer on link 0.
fn pair() -> (Node<Fake>, Node<Fake>) {
    let mut b_fake = Fake::new(B, Some(A));
    b_fake.stats.frames_tx = 4242; // so A's relayed stats are recognisably B's
    (Node::new([Fake::new(A, Some(B))]), Node::new([b_fake]))
}

#[test]
fn remote_request_is_sent_as_a_marked_datagram_and_the_reply_is_relayed_under_the_local_tag() {
    let (mut a, mut b) = pair();
    let inner = remote_stats();
    let remote = message(
        0x0bad,
        &Request::Remote {
            peer: Peer::Link(0),
            request: &inner,
        },
    );
    a.request(&remote, at_ms(0)).unwrap();
    assert!(a.is_busy());
    assert_eq!(a.take_reply(), None);
    assert_eq!(a.poll_at(at_ms(0)), Some(at_ms(0) + TIMEOUT));

    // The datagram: marker, a header of the node's own tag, the inner request.
    let sent: Vec<_> = a.links()[0].sent.iter().cloned().collect();
    assert_eq!(sent.len(), 1);
    let (to, datagram) = &sent[0];
    assert_eq!(*to, B);
    let body = datagram
        .strip_prefix(&REMOTE_REQUEST)
        .expect("a remote request datagram starts with its marker");
    let (header, rest) = proto::split(body).unwrap();
    assert_eq!(header.version, VERSION);
    assert_eq!(rest, &inner[..], "the inner request travels unchanged");

    // B serves it in poll, without a local request of its own.
    assert_eq!(deliver(&mut a, A, &mut b), 1);
    assert!(b.poll(at_ms(10)));
    assert!(!b.is_busy(), "serving a peer is no local job");
    assert_eq!(b.take_reply(), None);
    let replies: Vec<_> = b.links()[0].sent.iter().cloned().collect();
    assert_eq!(replies.len(), 1);
    assert_eq!(replies[0].0, A, "the reply goes back to the sender");
    let reply = replies[0]
        .1
        .strip_prefix(&REMOTE_REPLY)
        .expect("a remote reply datagram starts with its marker");
    assert_eq!(
        decode_response(reply).unwrap().0.tag,
        header.tag,
        "B answers under the tag A sent"
    );

    // A relays it under its client's tag.
    assert_eq!(deliver(&mut b, B, &mut a), 1);
    a.poll(at_ms(20));
    let reply = take(&mut a).expect("the relayed reply");
    let (tag, response) = decode(&reply);
    assert_eq!(tag, 0x0bad);
    match response {
        Response::Stats(stats) => {
            assert_eq!(stats.frames_tx, 4242, "B's counters, not A's");
            assert_eq!(stats.datagrams_rx, 1);
        }
        other => panic!("expected stats, got {other:?}"),
    }
    assert!(!a.is_busy());
    assert_eq!(a.poll_at(at_ms(20)), None);
    // And it is not answered twice: the deadline passes quietly.
    a.poll(at_ms(5_000));
    assert_eq!(a.take_reply(), None);
}

#[test]
fn remote_requests_change_the_peer_not_the_requester() {
    let (mut a, mut b) = pair();
    let listen = inner(&Request::Listen { port: 4000 });
    a.request(
        &message(
            1,
            &Request::Remote {
                peer: Peer::Addr(B),
                request: &listen,
            },
        ),
        at_ms(0),
    )
    .unwrap();
    deliver(&mut a, A, &mut b);
    b.poll(at_ms(1));
    deliver(&mut b, B, &mut a);
    a.poll(at_ms(2));
    assert_eq!(decode(&take(&mut a).unwrap()), (1, Response::Done));
    assert_eq!(&status_of(&mut b).listening[..], &[4000]);
    assert!(status_of(&mut a).listening.is_empty());
}

#[test]
fn a_lost_remote_reply_times_out() {
    let (mut a, _) = pair();
    let inner = remote_stats();
    let start = at_ms(300);
    a.request(
        &message(
            5,
            &Request::Remote {
                peer: Peer::Link(0),
                request: &inner,
            },
        ),
        start,
    )
    .unwrap();
    assert_eq!(a.links()[0].sent.len(), 1);
    a.links_mut()[0].sent.clear(); // lost on the link
    let deadline = start + TIMEOUT;
    assert_eq!(a.poll_at(start), Some(deadline));
    a.poll(Instant::from_nanos(deadline.as_nanos() - 1));
    assert_eq!(a.take_reply(), None);
    a.poll(deadline);
    assert_eq!(
        decode(&take(&mut a).unwrap()),
        (5, Response::Error(Error::Timeout))
    );
    assert!(!a.is_busy());
}

#[test]
fn a_late_reply_with_the_wrong_tag_is_ignored() {
    let (mut a, mut b) = pair();
    let inner = remote_stats();
    let remote = |tag| {
        message(
            tag,
            &Request::Remote {
                peer: Peer::Link(0),
                request: &inner,
            },
        )
    };

    // The first request's reply comes too late.
    a.request(&remote(1), at_ms(0)).unwrap();
    deliver(&mut a, A, &mut b);
    b.poll(at_ms(1));
    let late: Vec<_> = b.links_mut()[0].sent.drain(..).collect();
    a.poll(at_ms(1_000));
    assert_eq!(
        decode(&take(&mut a).unwrap()),
        (1, Response::Error(Error::Timeout))
    );

    // The second request is running when the first one's reply arrives.
    a.request(&remote(2), at_ms(1_100)).unwrap();
    for (_, data) in &late {
        a.links_mut()[0].incoming.push_back((B, data.clone()));
    }
    a.poll(at_ms(1_200));
    assert_eq!(a.take_reply(), None, "the late reply is not this one's");
    assert!(a.is_busy());

    // The right tag from the wrong peer is not it either.
    deliver(&mut a, A, &mut b);
    b.poll(at_ms(1_300));
    let current: Vec<_> = b.links_mut()[0].sent.drain(..).collect();
    assert_eq!(current.len(), 1);
    a.links_mut()[0]
        .incoming
        .push_back((C, current[0].1.clone()));
    a.poll(at_ms(1_400));
    assert_eq!(a.take_reply(), None, "a reply from C is not B's");

    // The right one is relayed.
    a.links_mut()[0]
        .incoming
        .push_back((B, current[0].1.clone()));
    a.poll(at_ms(1_500));
    let reply = take(&mut a).unwrap();
    let (tag, response) = decode(&reply);
    assert_eq!(tag, 2);
    assert!(matches!(response, Response::Stats(_)));

    // A duplicate after that is dropped: no job waits for it.
    a.links_mut()[0]
        .incoming
        .push_back((B, current[0].1.clone()));
    a.poll(at_ms(1_600));
    assert_eq!(a.take_reply(), None);
    assert!(!a.is_busy());
}

#[test]
fn remote_ping_and_nested_remote_are_not_remotable() {
    let ping = inner(&Request::Ping {
        peer: Peer::Link(0),
    });
    let stats = remote_stats();
    let nested = inner(&Request::Remote {
        peer: Peer::Link(0),
        request: &stats,
    });

    // Refused locally: nothing goes out.
    for refused in [&ping, &nested] {
        let mut a = node();
        let reply = call(
            &mut a,
            3,
            &Request::Remote {
                peer: Peer::Link(0),
                request: refused,
            },
        );
        assert_eq!(decode(&reply), (3, Response::Error(Error::NotRemotable)));
        assert!(a.links()[0].sent.is_empty());
    }

    // Refused by the peer when one sends them anyway.
    for refused in [&ping, &nested] {
        let mut b = Node::new([Fake::new(B, Some(A))]);
        let mut datagram = REMOTE_REQUEST.to_vec();
        let mut header = [0u8; 8];
        datagram.extend_from_slice(postcard::to_slice(&Header::new(0x77), &mut header).unwrap());
        datagram.extend_from_slice(refused);
        b.links_mut()[0].incoming.push_back((A, datagram));
        b.poll(at_ms(0));
        assert!(b.links()[0].pinged.is_empty(), "B pinged nobody");
        let sent: Vec<_> = b.links_mut()[0].sent.drain(..).collect();
        assert_eq!(sent.len(), 1, "one reply, and no datagram onwards");
        assert_eq!(sent[0].0, A);
        let reply = sent[0].1.strip_prefix(&REMOTE_REPLY).unwrap();
        assert_eq!(decode(reply), (0x77, Response::Error(Error::NotRemotable)));
        assert!(!b.is_busy());
    }
}

#[test]
fn a_remote_request_that_does_not_decode_is_refused_before_it_is_sent() {
    let mut a = node();
    for bad in [&[][..], &[11][..], &[4, 0, 200][..]] {
        let reply = call(
            &mut a,
            8,
            &Request::Remote {
                peer: Peer::Link(0),
                request: bad,
            },
        );
        assert_eq!(
            decode(&reply),
            (8, Response::Error(Error::MalformedRequest)),
            "{bad:02x?}"
        );
    }
    assert!(a.links()[0].sent.is_empty());
}

#[test]
fn a_remote_request_too_big_for_a_datagram_says_how_big() {
    let mut a = node();
    a.links_mut()[0].max_datagram = 16;
    let data = [7u8; 20];
    let send = inner(&Request::Send {
        stream: 0,
        data: &data,
    });
    let reply = call(
        &mut a,
        4,
        &Request::Remote {
            peer: Peer::Link(0),
            request: &send,
        },
    );
    // marker 4 + header 2 (version, tag 1) + the inner request
    let size = 4 + 2 + send.len();
    assert_eq!(
        decode(&reply),
        (4, Response::Error(Error::message_too_large(size, 16)))
    );
    assert!(a.links()[0].sent.is_empty());
}

#[test]
fn a_peer_request_of_another_version_is_answered_with_its_tag() {
    let mut b = node();
    let mut datagram = REMOTE_REQUEST.to_vec();
    let mut header = [0u8; 8];
    let newer = Header {
        version: VERSION + 1,
        tag: 300,
    };
    datagram.extend_from_slice(postcard::to_slice(&newer, &mut header).unwrap());
    datagram.push(0);
    b.links_mut()[0].incoming.push_back((C, datagram));
    // A marked datagram whose header does not even decode: tag 0.
    let mut broken = REMOTE_REQUEST.to_vec();
    broken.push(VERSION);
    b.links_mut()[0].incoming.push_back((C, broken));
    b.poll(at_ms(0));
    let sent: Vec<_> = b.links_mut()[0].sent.drain(..).collect();
    assert_eq!(sent.len(), 2);
    let first = sent[0].1.strip_prefix(&REMOTE_REPLY).unwrap();
    assert_eq!(
        decode(first),
        (
            300,
            Response::Error(Error::UnsupportedVersion {
                got: VERSION + 1,
                supported: VERSION
            })
        )
    );
    let second = sent[1].1.strip_prefix(&REMOTE_REPLY).unwrap();
    assert_eq!(
        decode(second),
        (0, Response::Error(Error::MalformedRequest))
    );
    assert!(sent.iter().all(|(to, _)| *to == C));
}

#[test]
fn a_malformed_remote_reply_is_reported_under_the_local_tag() {
    let (mut a, _) = pair();
    let inner = remote_stats();
    a.request(
        &message(
            21,
            &Request::Remote {
                peer: Peer::Link(0),
                request: &inner,
            },
        ),
        at_ms(0),
    )
    .unwrap();
    let (_, sent) = a.links_mut()[0].sent.pop_front().unwrap();
    let (header, _) = proto::split(&sent[REMOTE_REQUEST.len()..]).unwrap();
    let mut reply = REMOTE_REPLY.to_vec();
    let mut h = [0u8; 8];
    reply.extend_from_slice(postcard::to_slice(&header, &mut h).unwrap());
    reply.push(200); // no such response
    a.links_mut()[0].incoming.push_back((B, reply));
    a.poll(at_ms(1));
    assert_eq!(
        decode(&take(&mut a).unwrap()),
        (21, Response::Error(Error::MalformedReply))
    );
}

#[test]
fn a_datagram_that_is_not_ours_is_dropped() {
    let mut b = node();
    let strays: [&[u8]; 7] = [
        b"",
        b"TNr",
        b"hello, world",
        b"TNRQ\x01\x01\x00", // the marker is case-sensitive
        b"xTNrq\x01\x01\x00",
        // A reply when no remote request is running.
        b"TNrp\x01\x01\x08",
        b"TNrp",
    ];
    for stray in strays {
        b.links_mut()[0].incoming.push_back((C, stray.to_vec()));
    }
    // Too long for the node's buffer: the transport drops it and says so,
    // and the datagram behind it still gets through.
    b.links_mut()[0]
        .incoming
        .push_back((C, std::vec![0x55; MAX_MESSAGE + 1]));
    b.links_mut()[0].incoming.push_back((C, b"zzz".to_vec()));
    assert!(b.poll(at_ms(0)), "datagrams arrived");
    assert!(b.links()[0].incoming.is_empty(), "all were read");
    assert!(b.links()[0].sent.is_empty(), "nothing replies");
    assert!(!b.is_busy());
    assert_eq!(b.take_reply(), None);
    assert!(!b.poll(at_ms(1)), "an idle node reports nothing");
}

#[test]
fn connect_records_a_stream_that_status_shows() {
    let mut node = node();
    let status = status_of(&mut node);
    assert_eq!(status.version, VERSION);
    assert_eq!(status.stack, "fake");
    assert_eq!(status.links, 1);
    assert!(status.streams.is_empty());

    let opened = response_of(&mut node, &CONNECT);
    let Response::Opened { stream } = opened else {
        panic!("expected opened, got {opened:?}");
    };
    let info = StreamInfo {
        id: stream,
        link: 0,
        state: StreamState::Connecting,
        port: 7000,
        accepted: false,
    };
    assert_eq!(&status_of(&mut node).streams[..], &[info]);

    // Status shows the transport's state as it is now.
    node.links_mut()[0].streams[usize::from(stream)] = Some(StreamState::Established);
    assert_eq!(
        status_of(&mut node).streams[0].state,
        StreamState::Established
    );

    // By address, too.
    let opened = response_of(
        &mut node,
        &Request::Connect {
            peer: Peer::Addr(C),
            port: 9,
        },
    );
    assert!(matches!(opened, Response::Opened { .. }));
    assert_eq!(status_of(&mut node).streams.len(), 2);
}

#[test]
fn close_removes_the_stream_from_status() {
    let mut node = node();
    let Response::Opened { stream } = response_of(&mut node, &CONNECT) else {
        panic!("connect failed");
    };
    assert_eq!(
        response_of(&mut node, &Request::Close { stream }),
        Response::Done
    );
    assert!(status_of(&mut node).streams.is_empty());
    assert_eq!(node.links()[0].open_streams(), 0);
    assert_eq!(
        error_of(&mut node, &Request::Close { stream }),
        Error::UnknownStream(stream)
    );
}

#[test]
fn a_stream_the_transport_forgets_leaves_status_on_the_next_poll() {
    let mut node = node();
    response_of(&mut node, &CONNECT);
    node.links_mut()[0].streams = [None; SLOTS];
    let status = status_of(&mut node);
    assert_eq!(
        status.streams[0].state,
        StreamState::Closed,
        "until the poll"
    );
    node.poll(at_ms(1));
    assert!(status_of(&mut node).streams.is_empty());
}

#[test]
fn a_reused_stream_id_is_listed_once() {
    let mut node = node();
    let connect = Request::Connect {
        peer: Peer::Link(0),
        port: 7000,
    };
    assert_eq!(
        response_of(&mut node, &connect),
        Response::Opened { stream: 0 }
    );
    // The peer closes it and the transport frees the slot, with no poll in
    // between; the next stream gets the same id.
    node.links_mut()[0].streams[0] = None;
    assert_eq!(
        response_of(&mut node, &connect),
        Response::Opened { stream: 0 }
    );
    let streams = status_of(&mut node).streams;
    assert_eq!(streams.len(), 1, "{streams:?}");

    // The same for a stream accepted on a freed id.
    response_of(&mut node, &Request::Listen { port: 5000 });
    node.links_mut()[0].streams[0] = None;
    node.links_mut()[0].pending.push_back(5000);
    node.poll(at_ms(1));
    let streams = status_of(&mut node).streams;
    assert_eq!(streams.len(), 1, "{streams:?}");
    assert!(streams[0].accepted);
}

#[test]
fn accepted_streams_appear_in_status() {
    let mut node = node();
    assert_eq!(
        response_of(&mut node, &Request::Listen { port: 5000 }),
        Response::Done
    );
    node.links_mut()[0].pending.push_back(5000);
    node.links_mut()[0].pending.push_back(5000);
    assert!(node.poll(at_ms(0)));
    let status = status_of(&mut node);
    assert_eq!(&status.listening[..], &[5000]);
    assert_eq!(status.streams.len(), 2);
    assert!(status
        .streams
        .iter()
        .all(|s| s.accepted && s.port == 5000 && s.state == StreamState::Established));
}

#[test]
fn more_streams_than_status_lists_are_refused_and_closed() {
    let mut node = node();
    for _ in 0..MAX_STREAMS {
        let opened = response_of(
            &mut node,
            &Request::Connect {
                peer: Peer::Link(0),
                port: 1,
            },
        );
        assert!(matches!(opened, Response::Opened { .. }));
    }
    assert_eq!(
        error_of(
            &mut node,
            &Request::Connect {
                peer: Peer::Link(0),
                port: 1
            }
        ),
        Error::too_many_streams(MAX_STREAMS)
    );
    assert_eq!(
        node.links()[0].open_streams(),
        MAX_STREAMS,
        "the extra one closed"
    );

    // An accepted one over the limit is closed too.
    response_of(&mut node, &Request::Listen { port: 2 });
    node.links_mut()[0].pending.push_back(2);
    node.poll(at_ms(0));
    assert_eq!(node.links()[0].open_streams(), MAX_STREAMS);
    assert_eq!(status_of(&mut node).streams.len(), MAX_STREAMS);
}

#[test]
fn listen_twice_on_a_port_is_port_in_use() {
    let mut node = node();
    assert_eq!(
        response_of(&mut node, &Request::Listen { port: 7000 }),
        Response::Done
    );
    assert_eq!(
        error_of(&mut node, &Request::Listen { port: 7000 }),
        Error::PortInUse(7000)
    );
    assert_eq!(node.links()[0].listening, [7000], "asked once");
    assert_eq!(&status_of(&mut node).listening[..], &[7000]);
}

#[test]
fn more_than_max_listeners_is_too_many_listeners() {
    let mut node = node();
    for port in 1..=MAX_LISTENERS as u16 {
        assert_eq!(
            response_of(&mut node, &Request::Listen { port }),
            Response::Done
        );
    }
    let over = MAX_LISTENERS as u16 + 1;
    assert_eq!(
        error_of(&mut node, &Request::Listen { port: over }),
        Error::too_many_listeners(MAX_LISTENERS)
    );
    // A port already listening is named as such even when full.
    assert_eq!(
        error_of(&mut node, &Request::Listen { port: 1 }),
        Error::PortInUse(1)
    );
    assert_eq!(status_of(&mut node).listening.len(), MAX_LISTENERS);
    assert_eq!(node.links()[0].listening.len(), MAX_LISTENERS);
}

#[test]
fn a_listen_the_transport_refuses_is_not_recorded() {
    let mut node = node();
    assert_eq!(
        error_of(&mut node, &Request::Listen { port: 0 }),
        Error::InvalidPort
    );
    assert!(status_of(&mut node).listening.is_empty());
}

/// The requests that name a peer: `connect`, `ping` and `remote` (of `inner`).
fn peer_requests(peer: Peer, inner: &[u8]) -> [Request<'_>; 3] {
    [
        Request::Connect { peer, port: 7000 },
        Request::Ping { peer },
        Request::Remote {
            peer,
            request: inner,
        },
    ]
}

#[test]
fn a_link_other_than_zero_is_unknown_link() {
    let mut node = node();
    let stats = remote_stats();
    for request in peer_requests(Peer::Link(1), &stats) {
        assert_eq!(
            error_of(&mut node, &request),
            Error::UnknownLink(1),
            "{request:?}"
        );
    }
    assert_eq!(
        error_of(
            &mut node,
            &Request::Connect {
                peer: Peer::Link(255),
                port: 1
            }
        ),
        Error::UnknownLink(255)
    );
    assert!(node.links()[0].pinged.is_empty());
    assert!(node.links()[0].sent.is_empty());
    assert_eq!(node.links()[0].open_streams(), 0);
}

#[test]
fn link_zero_with_no_peer_is_link_down() {
    let mut node = Node::new([Fake::new(A, None)]);
    let stats = remote_stats();
    for request in peer_requests(Peer::Link(0), &stats) {
        assert_eq!(
            error_of(&mut node, &request),
            Error::LinkDown,
            "{request:?}"
        );
    }
    match response_of(&mut node, &Request::Links) {
        Response::Links(links) => {
            assert_eq!(
                &links[..],
                &[Link {
                    index: 0,
                    local: A,
                    peer: None,
                    state: LinkState::Down(DownReason::Starting),
                    peer_id: None,
                    ugn: None,
                    frames_tx: 0,
                    frames_rx: 0,
                    link_retransmits: 0,
                }]
            );
        }
        other => panic!("expected links, got {other:?}"),
    }
}

#[test]
fn send_recv_stats_and_reset_reach_the_transport() {
    let mut node = node();
    response_of(&mut node, &CONNECT);
    assert_eq!(
        response_of(
            &mut node,
            &Request::Send {
                stream: 0,
                data: b"hello"
            }
        ),
        Response::Sent { len: 5 }
    );
    assert_eq!(
        response_of(&mut node, &Request::Recv { stream: 0, max: 2 }),
        Response::Data { data: &b"ab"[..] }
    );
    assert_eq!(
        error_of(&mut node, &Request::Recv { stream: 7, max: 2 }),
        Error::UnknownStream(7)
    );
    match response_of(&mut node, &Request::Stats { link: None }) {
        Response::Stats(stats) => assert_eq!(stats.stream_bytes_tx, 5),
        other => panic!("expected stats, got {other:?}"),
    }
    assert_eq!(
        response_of(&mut node, &Request::ResetStats { link: None }),
        Response::Done
    );
    assert_eq!(node.links()[0].stats, Stats::default());
}

/// Bytes the decoders have to work through: raw noise; a valid header and a
/// real variant number followed by noise; or a well-formed `remote` whose
/// inner request is noise of the same kinds, for the peer to choke on.
fn noise() -> impl Strategy<Value = Vec<u8>> {
    let raw = proptest::collection::vec(any::<u8>(), 0..600);
    let tail = proptest::collection::vec(any::<u8>(), 0..48);
    let plausible = (any::<u16>(), 0u8..11, tail.clone()).prop_map(|(tag, variant, rest)| {
        let mut m = message(tag, &Request::Status);
        m.pop();
        m.push(variant);
        m.extend_from_slice(&rest);
        m
    });
    let remote = (any::<u16>(), 0u8..11, tail).prop_map(|(tag, variant, rest)| {
        let mut request = std::vec![variant];
        request.extend_from_slice(&rest);
        message(
            tag,
            &Request::Remote {
                peer: Peer::Link(0),
                request: &request,
            },
        )
    });
    prop_oneof![raw, plausible, remote]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_requests_and_datagrams_never_panic_and_get_one_reply_each(
        requests in proptest::collection::vec(noise(), 1..8),
        datagrams in proptest::collection::vec((any::<bool>(), any::<bool>(), noise()), 0..8),
    ) {
        let mut node = node();
        let mut now = at_ms(0);
        for (i, request) in requests.iter().enumerate() {
            // Half the datagrams carry a marker, so they reach the decoders.
            if let Some((marked, reply, body)) = datagrams.get(i) {
                let mut datagram = match (marked, reply) {
                    (false, _) => Vec::new(),
                    (true, false) => REMOTE_REQUEST.to_vec(),
                    (true, true) => REMOTE_REPLY.to_vec(),
                };
                datagram.extend_from_slice(body);
                node.links_mut()[0].incoming.push_back((B, datagram));
            }
            prop_assert_eq!(node.request(request, now), Ok(()));
            let mut replies = 0;
            // Everything ends within the timeout.
            for step in 0..=3 {
                if node.take_reply().is_some() {
                    replies += 1;
                }
                prop_assert!(node.take_reply().is_none(), "a reply is handed over once");
                if !node.is_busy() {
                    break;
                }
                // A pong, sometimes, for a ping that went out.
                if step == 0 && i % 2 == 0 {
                    node.links_mut()[0].rtt = Some((B, Duration::from_micros(3)));
                }
                now = now + Duration::from_millis(600);
                node.poll(now);
            }
            prop_assert_eq!(replies, 1, "request {:02x?}", request);
            prop_assert!(!node.is_busy());
            node.poll(now);
            // Whatever was served to the peer went out as a marked reply.
            for (_, data) in node.links_mut()[0].sent.drain(..) {
                prop_assert!(
                    data.starts_with(&REMOTE_REPLY) || data.starts_with(&REMOTE_REQUEST),
                    "{:02x?}", data
                );
            }
        }
    }

    #[test]
    fn every_served_remote_request_gets_one_marked_reply(
        body in noise(),
    ) {
        let mut b = node();
        let mut datagram = REMOTE_REQUEST.to_vec();
        // Only what fits the node's datagram buffer arrives at all.
        datagram.extend_from_slice(&body[..body.len().min(MAX_MESSAGE - REMOTE_REQUEST.len())]);
        b.links_mut()[0].incoming.push_back((C, datagram));
        b.poll(at_ms(0));
        prop_assert!(!b.is_busy());
        let sent: Vec<_> = b.links_mut()[0].sent.drain(..).collect();
        prop_assert_eq!(sent.len(), 1);
        prop_assert_eq!(sent[0].0, C);
        let reply = sent[0].1.strip_prefix(&REMOTE_REPLY);
        prop_assert!(reply.is_some());
        prop_assert!(decode_response(reply.unwrap()).is_ok());
    }
}

mod links;
