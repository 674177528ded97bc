//! A node of several links: requests find their link, streams keep theirs,
//! counters add up, and each end learns who is at the other.

use super::*;

const D: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 0, 4));

/// A node with link 0 to `B` and link 1 to `C`, both from this node's
/// address `A` (as on a board, each link has its own, but the fake does not
/// care).
fn two_links() -> Node<Fake, 2> {
    Node::new([Fake::new(A, Some(B)), Fake::new(D, Some(C))])
}

fn id(board: u8, port: u8) -> HardwareId {
    HardwareId {
        dna: [board; 12],
        port,
    }
}

#[test]
fn a_stream_runs_on_the_link_it_was_opened_on() {
    let mut node = two_links();
    let on = |link| Request::Connect {
        peer: Peer::Link(link),
        port: 7000,
    };
    let Response::Opened { stream: first } = response_of(&mut node, &on(1)) else {
        panic!("connect on link 1 failed");
    };
    let Response::Opened { stream: second } = response_of(&mut node, &on(0)) else {
        panic!("connect on link 0 failed");
    };
    assert_ne!(first, second, "stream ids are unique over the node");
    assert_eq!(node.links()[1].open_streams(), 1);
    assert_eq!(node.links()[0].open_streams(), 1);

    let send = Request::Send {
        stream: first,
        data: b"to c",
    };
    assert_eq!(
        response_of(&mut node, &send),
        Response::Sent { len: 4 },
        "send finds the stream's link"
    );
    assert_eq!(node.links()[1].stats.stream_bytes_tx, 4);
    assert_eq!(node.links()[0].stats.stream_bytes_tx, 0);

    let status = status_of(&mut node);
    assert_eq!(status.links, 2);
    let links: Vec<_> = status.streams.iter().map(|s| (s.id, s.link)).collect();
    assert_eq!(links, [(first, 1), (second, 0)]);

    response_of(&mut node, &Request::Close { stream: first });
    assert_eq!(node.links()[1].open_streams(), 0);
    assert_eq!(
        error_of(
            &mut node,
            &Request::Recv {
                stream: first,
                max: 8
            }
        ),
        Error::UnknownStream(first),
        "a closed stream's id is no longer the node's"
    );
}

#[test]
fn an_address_names_its_link_and_a_stranger_is_unreachable() {
    let mut node = two_links();
    node.request(&ping_message(1, Peer::Addr(C)), at_ms(0))
        .unwrap();
    assert_eq!(node.links()[1].pinged, [C]);
    assert!(node.links()[0].pinged.is_empty());
    node.links_mut()[1].rtt = Some((C, Duration::from_micros(5)));
    node.poll(at_ms(1));
    let reply = take(&mut node).unwrap();
    assert_eq!(
        decode(&reply).1,
        Response::Pong {
            peer: C,
            rtt_ns: 5_000
        }
    );

    assert_eq!(
        error_of(
            &mut node,
            &Request::Ping {
                peer: Peer::Addr(A)
            }
        ),
        Error::PeerUnreachable(A),
        "no link leads to this node's own address"
    );
    assert_eq!(
        error_of(
            &mut node,
            &Request::Ping {
                peer: Peer::Link(2)
            }
        ),
        Error::UnknownLink(2)
    );
}

#[test]
fn stats_add_up_over_links_or_give_one() {
    let mut node = two_links();
    node.links_mut()[0].stats.frames_tx = 3;
    node.links_mut()[1].stats.frames_tx = 4;
    let stats = |node: &mut Node<Fake, 2>, link| match response_of(node, &Request::Stats { link }) {
        Response::Stats(s) => s.frames_tx,
        other => panic!("expected stats, got {other:?}"),
    };
    assert_eq!(stats(&mut node, None), 7);
    assert_eq!(stats(&mut node, Some(1)), 4);
    assert_eq!(
        error_of(&mut node, &Request::Stats { link: Some(2) }),
        Error::UnknownLink(2)
    );

    response_of(&mut node, &Request::ResetStats { link: Some(0) });
    assert_eq!(stats(&mut node, None), 4, "only link 0 was reset");
    assert_eq!(
        error_of(&mut node, &Request::ResetStats { link: Some(9) }),
        Error::UnknownLink(9)
    );
}

#[test]
fn every_link_listens_and_accepted_streams_keep_their_link() {
    let mut node = two_links();
    response_of(&mut node, &Request::Listen { port: 7000 });
    assert_eq!(node.links()[0].listening, [7000]);
    assert_eq!(node.links()[1].listening, [7000]);

    node.links_mut()[1].pending.push_back(7000);
    assert!(node.poll(at_ms(0)));
    let status = status_of(&mut node);
    assert_eq!(status.streams.len(), 1);
    assert_eq!(status.streams[0].link, 1);
    assert!(status.streams[0].accepted);
}

#[test]
fn a_remote_request_is_answered_on_the_link_it_came_by() {
    let mut node = two_links();
    node.links_mut()[1].stats.frames_rx = 9;
    let mut request = REMOTE_REQUEST.to_vec();
    request.extend(message(5, &Request::Stats { link: Some(1) }));
    node.links_mut()[1].incoming.push_back((C, request));
    node.poll(at_ms(0));
    assert!(node.links()[0].sent.is_empty());
    let (to, reply) = node.links_mut()[1].sent.pop_front().unwrap();
    assert_eq!(to, C);
    let reply = reply.strip_prefix(&REMOTE_REPLY).unwrap();
    match decode(reply) {
        (5, Response::Stats(s)) => assert_eq!(s.frames_rx, 9),
        other => panic!("expected link 1's stats, got {other:?}"),
    }
}

/// Moves link `from_link`'s datagrams of `from` to link `to_link` of `to`.
fn carry<const M: usize, const N: usize>(
    from: &mut Node<Fake, M>,
    from_link: usize,
    to: &mut Node<Fake, N>,
    to_link: usize,
) -> usize {
    let addr = from.links()[from_link].local;
    let sent: Vec<_> = from.links_mut()[from_link].sent.drain(..).collect();
    let n = sent.len();
    for (_, data) in sent {
        to.links_mut()[to_link].incoming.push_back((addr, data));
    }
    n
}

fn peer_id<const N: usize>(node: &mut Node<Fake, N>, link: usize) -> Option<HardwareId> {
    match response_of(node, &Request::Links) {
        Response::Links(links) => links[link].peer_id,
        other => panic!("expected links, got {other:?}"),
    }
}

#[test]
fn each_end_learns_who_is_at_the_other() {
    // Node X's link 1 runs to node Y's only link.
    let mut x = two_links();
    x.links_mut()[1].id = Some(id(1, 1));
    let mut y = Node::new([Fake::new(C, Some(D))]);
    y.links_mut()[0].id = Some(id(2, 5));

    x.poll(at_ms(0));
    y.poll(at_ms(0));
    assert_eq!(carry(&mut x, 1, &mut y, 0), 1, "x tells y who it is");
    assert_eq!(carry(&mut y, 0, &mut x, 1), 1, "and y tells x");
    x.poll(at_ms(0));
    y.poll(at_ms(0));
    assert_eq!(peer_id(&mut x, 1), Some(id(2, 5)));
    assert_eq!(peer_id(&mut y, 0), Some(id(1, 1)));
    assert_eq!(peer_id(&mut x, 0), None, "link 0's peer never said");

    // Each answers the other's first word once and then is quiet.
    assert_eq!(carry(&mut x, 1, &mut y, 0), 1);
    assert_eq!(carry(&mut y, 0, &mut x, 1), 1);
    for ms in 1..2_000 {
        x.poll(at_ms(ms));
        y.poll(at_ms(ms));
    }
    assert!(x.links()[1].sent.is_empty() && y.links()[0].sent.is_empty());

    // A link that goes down forgets its peer; back up, it asks again.
    x.links_mut()[1].peer = None;
    x.poll(at_ms(2_000));
    assert_eq!(peer_id(&mut x, 1), None);
    x.links_mut()[1].peer = Some(C);
    x.poll(at_ms(2_001));
    assert_eq!(x.links()[1].sent.len(), 1);
}

#[test]
fn a_peer_that_never_answers_is_asked_less_and_less_often() {
    let mut node = Node::new([Fake::new(A, Some(B))]);
    node.links_mut()[0].id = Some(id(1, 0));
    let mut asked = Vec::new();
    for ms in 0..10_000 {
        node.poll(at_ms(ms));
        if node.links_mut()[0].sent.drain(..).count() > 0 {
            asked.push(ms);
        }
    }
    // 20 ms, doubling to at most 1.28 s: 0, 20, 60, 140, 300, 620, 1260,
    // then every 1280 ms.
    assert_eq!(&asked[..8], [0, 20, 60, 140, 300, 620, 1260, 2540]);
    assert_eq!(asked.len(), 13);
    assert_eq!(node.poll_at(at_ms(10_000)), Some(at_ms(10_220)));
}

#[test]
fn an_identity_from_a_stranger_or_before_the_link_is_up_is_ignored() {
    let mut node = Node::new([Fake::new(A, Some(B))]);
    let mut word = IDENTITY.to_vec();
    let mut buf = [0u8; 32];
    let body = postcard::to_slice(
        &Identity {
            id: id(3, 3),
            known: true,
        },
        &mut buf,
    )
    .unwrap();
    word.extend_from_slice(body);
    node.links_mut()[0].incoming.push_back((C, word.clone()));
    node.poll(at_ms(0));
    assert_eq!(peer_id(&mut node, 0), None, "C is not this link's peer");
    node.links_mut()[0]
        .incoming
        .push_back((B, word[..6].to_vec()));
    node.poll(at_ms(0));
    assert_eq!(peer_id(&mut node, 0), None, "a cut-off word says nothing");
    node.links_mut()[0].incoming.push_back((B, word));
    node.poll(at_ms(0));
    assert_eq!(peer_id(&mut node, 0), Some(id(3, 3)));
}

#[test]
fn a_port_with_nothing_wired_is_down_for_good_and_refuses_by_name() {
    let mut node: Node<Option<Fake>, 2> = Node::new([Some(Fake::new(A, Some(B))), None]);
    let connect = Request::Connect {
        peer: Peer::Link(1),
        port: 7000,
    };
    let mut response = [0u8; MAX_MESSAGE];
    let len = encode(Header::new(1), &connect, &mut response).unwrap();
    node.request(&response[..len], at_ms(0)).unwrap();
    let reply = node.take_reply().unwrap().to_vec();
    assert_eq!(decode(&reply).1, Response::Error(Error::LinkDown));

    let len = encode(
        Header::new(2),
        &Request::Listen { port: 7000 },
        &mut response,
    )
    .unwrap();
    node.request(&response[..len], at_ms(0)).unwrap();
    let reply = node.take_reply().unwrap().to_vec();
    assert_eq!(
        decode(&reply).1,
        Response::Done,
        "listening covers the wired port"
    );

    let len = encode(Header::new(3), &Request::Links, &mut response).unwrap();
    node.request(&response[..len], at_ms(0)).unwrap();
    let reply = node.take_reply().unwrap().to_vec();
    let Response::Links(links) = decode(&reply).1 else {
        panic!("expected links");
    };
    assert_eq!(links[0].state, LinkState::Up);
    assert_eq!(links[1].state, LinkState::Down(DownReason::Unwired));
    assert_eq!(links[1].local, IpAddr::V4(Ipv4Addr::UNSPECIFIED));
}

#[test]
fn a_transports_error_names_the_stream_by_the_nodes_id() {
    let mut node = two_links();
    let on = |link| Request::Connect {
        peer: Peer::Link(link),
        port: 7000,
    };
    response_of(&mut node, &on(0));
    // Node id 1, the transport's stream 0 on link 1.
    let Response::Opened { stream } = response_of(&mut node, &on(1)) else {
        panic!("connect on link 1 failed");
    };
    assert_eq!(stream, 1);
    node.links_mut()[1].streams[0] = Some(StreamState::Closed);
    let send = Request::Send {
        stream,
        data: b"late",
    };
    assert_eq!(error_of(&mut node, &send), Error::StreamClosed(1));
    // A reset is renamed the same way, and stays a reset.
    let recv = Request::Recv { stream, max: 16 };
    assert_eq!(error_of(&mut node, &recv), Error::StreamReset(1));
}

#[test]
fn a_peer_may_run_only_what_the_remote_policy_allows_and_refusals_are_counted() {
    let mut node = two_links();
    let ask = |node: &mut Node<Fake, 2>, request: &Request<'_>| {
        let mut message = REMOTE_REQUEST.to_vec();
        message.extend(super::message(7, request));
        node.links_mut()[1].incoming.push_back((C, message));
        node.poll(at_ms(0));
        let (_, reply) = node.links_mut()[1].sent.pop_back().unwrap();
        let reply = reply.strip_prefix(&REMOTE_REPLY).unwrap().to_vec();
        match decode_response(&reply).unwrap().1 {
            Response::Error(e) => Some(e),
            _ => None,
        }
    };
    let listen = Request::Listen { port: 7000 };
    node.set_remote_policy(RemotePolicy::ReadOnly);
    assert_eq!(
        ask(&mut node, &listen),
        Some(Error::Forbidden(RemotePolicy::ReadOnly))
    );
    assert!(
        !node.links()[1].listening.contains(&7000),
        "nothing was run"
    );
    assert_eq!(ask(&mut node, &Request::Links), None, "reading is allowed");
    node.set_remote_policy(RemotePolicy::Off);
    assert_eq!(
        ask(&mut node, &Request::Links),
        Some(Error::Forbidden(RemotePolicy::Off))
    );
    node.set_remote_policy(RemotePolicy::Full);
    assert_eq!(ask(&mut node, &listen), None);
    // Two refusals, both on link 1, in its counters and in the total.
    let refused = |node: &mut Node<Fake, 2>, link| match response_of(node, &Request::Stats { link })
    {
        Response::Stats(s) => s.remote_refused,
        other => panic!("expected stats, got {other:?}"),
    };
    assert_eq!(refused(&mut node, Some(1)), 2);
    assert_eq!(refused(&mut node, Some(0)), 0);
    assert_eq!(refused(&mut node, None), 2);
}
