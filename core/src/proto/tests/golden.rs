//! The wire encoding of every request and response, byte for byte.
//!
//! postcard numbers enum variants by position, so reordering a variant or a
//! field changes these bytes without any other test noticing; a change here
//! is a protocol change and bumps [`VERSION`]. Integers are varints of fixed
//! width types (`u8` to `u64`, `i64` zigzag), never `usize`.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use heapless::Vec;

use super::*;
use crate::{DownReason, LinkState, Stats, StreamState};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::new(169, 254, 3, 4));

/// `value`'s postcard bytes, as lowercase hex.
fn hex<T: Serialize>(value: &T) -> std::string::String {
    let mut buf = [0u8; MAX_MESSAGE];
    let bytes = postcard::to_slice(value, &mut buf).unwrap();
    bytes.iter().map(|b| std::format!("{b:02x}")).collect()
}

#[test]
fn the_header_is_the_version_then_the_tag() {
    assert_eq!(hex(&Header::new(0x1234)), "03b424");
}

#[test]
fn every_request_has_pinned_bytes() {
    let cases: [(Request<'_>, &str); 13] = [
        (Request::Status, "00"),
        (Request::Links, "01"),
        (
            Request::Connect {
                peer: Peer::Link(6),
                port: 7000,
            },
            "020006d836",
        ),
        (
            Request::Connect {
                peer: Peer::Addr(V4),
                port: 1,
            },
            "020100a9fe030401",
        ),
        (Request::Listen { port: 7000 }, "03d836"),
        (
            Request::Send {
                stream: 2,
                data: b"hi",
            },
            "0402026869",
        ),
        (
            Request::Recv {
                stream: 2,
                max: 480,
            },
            "0502e003",
        ),
        (Request::Close { stream: 17 }, "0611"),
        (
            Request::Ping {
                peer: Peer::Link(1),
            },
            "070001",
        ),
        (Request::Stats { link: None }, "0800"),
        (Request::Stats { link: Some(3) }, "080103"),
        (Request::ResetStats { link: Some(0) }, "090100"),
        (
            Request::Remote {
                peer: Peer::Link(0),
                request: &[8, 0],
            },
            "0a0000020800",
        ),
    ];
    for (request, bytes) in cases {
        assert_eq!(hex(&request), bytes, "{request:?}");
    }
}

#[test]
fn every_response_has_pinned_bytes() {
    let mut listening = Vec::new();
    listening.push(7000).unwrap();
    let mut streams = Vec::new();
    streams
        .push(StreamInfo {
            id: 1,
            link: 2,
            state: StreamState::Established,
            port: 7000,
            accepted: true,
        })
        .unwrap();
    let mut links = Vec::new();
    links
        .push(Link {
            index: 1,
            local: V4,
            peer: None,
            state: LinkState::Down(DownReason::PeerSilent),
            peer_id: Some(HardwareId {
                dna: [0xaa; 12],
                port: 4,
            }),
            ugn: Some(-2),
            frames_tx: 300,
            frames_rx: 1,
            link_retransmits: 0,
        })
        .unwrap();
    let stats = Stats {
        frames_tx: 1,
        pongs_rx: 2,
        ..Stats::default()
    };
    let cases: [(Response<'_>, &str); 10] = [
        (Response::Done, "00"),
        (Response::Opened { stream: 5 }, "0105"),
        (Response::Sent { len: 300 }, "02ac02"),
        (Response::Data { data: b"ok" }, "03026f6b"),
        (
            Response::Status(Status {
                version: VERSION,
                stack: "tcpip",
                links: 7,
                listening,
                streams,
            }),
            "04030574637069700701d83601010201d83601",
        ),
        (
            Response::Links(links),
            "05010100a9fe030400000101aaaaaaaaaaaaaaaaaaaaaaaa040103ac020100",
        ),
        (
            Response::Stats(stats),
            "060100000000000000000000000000000000000000000000000000000200",
        ),
        (
            Response::Pong {
                peer: IpAddr::V6(Ipv6Addr::LOCALHOST),
                rtt_ns: 1_000,
            },
            "070100000000000000000000000000000001e807",
        ),
        (Response::Error(Error::UnknownLink(9)), "081409"),
        (Response::Links(Vec::new()), "0500"),
    ];
    for (response, bytes) in cases {
        assert_eq!(hex(&response), bytes, "{response:?}");
    }
}

#[test]
fn every_error_has_pinned_bytes() {
    let cases: [(Error, &str); 26] = [
        (Error::LinkDown, "00"),
        (Error::PeerUnreachable(V4), "0100a9fe0304"),
        (Error::AddressConflict(V4), "0200a9fe0304"),
        (Error::InvalidPort, "03"),
        (Error::PortInUse(7000), "04d836"),
        (Error::NotListening(7000), "05d836"),
        (Error::too_many_streams(16), "0610"),
        (Error::UnknownStream(3), "0703"),
        (Error::NotConnected(3), "0803"),
        (Error::StreamClosed(3), "0903"),
        (Error::message_too_large(600, 512), "0ad8048004"),
        (Error::WouldBlock, "0b"),
        (Error::Timeout, "0c"),
        (Error::Unsupported, "0d"),
        (
            Error::UnsupportedVersion {
                got: 4,
                supported: 3,
            },
            "0e0403",
        ),
        (Error::MalformedRequest, "0f"),
        (Error::MalformedReply, "10"),
        (Error::frame_too_long(512), "118004"),
        (Error::IncompleteFrame, "12"),
        (Error::Busy, "13"),
        (Error::UnknownLink(7), "1407"),
        (Error::too_many_listeners(4), "1504"),
        (Error::NotRemotable, "16"),
        (Error::ReservedDatagram, "17"),
        (
            Error::Forbidden(crate::node::RemotePolicy::ReadOnly),
            "1801",
        ),
        (Error::StreamReset(3), "1903"),
    ];
    for (error, bytes) in cases {
        assert_eq!(hex(&error), bytes, "{error}");
    }
}

#[test]
fn an_identity_has_pinned_bytes() {
    let identity = Identity {
        id: HardwareId {
            dna: *b"tidenet-dna!",
            port: 6,
        },
        known: true,
    };
    assert_eq!(hex(&identity), "746964656e65742d646e61210601");
}
