use core::net::{IpAddr, Ipv4Addr};

use proptest::prelude::*;

use super::*;
use crate::Stats;

fn roundtrip_request(request: &Request<'_>) {
    let mut buf = [0u8; MAX_MESSAGE];
    let len = encode(Header::new(7), request, &mut buf).unwrap();
    let (header, body) = split(&buf[..len]).unwrap();
    assert_eq!(header, Header::new(7));
    assert_eq!(decode_request(header, body).unwrap(), *request);
}

#[test]
fn every_request_survives_the_wire() {
    let peer = Peer::Addr(IpAddr::V4(Ipv4Addr::new(169, 254, 3, 4)));
    for request in [
        Request::Status,
        Request::Links,
        Request::Connect { peer, port: 7000 },
        Request::Listen { port: 7000 },
        Request::Send {
            stream: 2,
            data: b"hello",
        },
        Request::Recv {
            stream: 2,
            max: 480,
        },
        Request::Close { stream: 2 },
        Request::Ping {
            peer: Peer::Link(0),
        },
        Request::Stats { link: None },
        Request::Stats { link: Some(6) },
        Request::ResetStats { link: None },
        Request::Remote {
            peer,
            request: &[1],
        },
    ] {
        roundtrip_request(&request);
    }
}

#[test]
fn a_newer_version_is_refused_by_name() {
    let mut buf = [0u8; MAX_MESSAGE];
    let header = Header {
        version: VERSION + 1,
        tag: 9,
    };
    let len = encode(header, &Request::Status, &mut buf).unwrap();
    let (header, body) = split(&buf[..len]).unwrap();
    assert_eq!(header.tag, 9, "the tag is readable whatever the version");
    assert_eq!(
        decode_request(header, body),
        Err(Error::UnsupportedVersion {
            got: VERSION + 1,
            supported: VERSION
        })
    );
}

#[test]
fn a_request_too_long_for_the_buffer_says_how_long() {
    let data = [0xa5; 64];
    let mut buf = [0u8; 32];
    let err = encode(
        Header::new(1),
        &Request::Send {
            stream: 0,
            data: &data,
        },
        &mut buf,
    )
    .unwrap_err();
    // header 2 bytes, variant 1, stream 1, length 1, data 64
    assert_eq!(err, Error::message_too_large(69, 32));
}

#[test]
fn a_full_stats_response_fits_a_message() {
    // Every counter at its widest varint: postcard fills the u64s in order.
    let mut bytes = [0u8; 10 * 64];
    let mut n = 0;
    for _ in Stats::default().fields() {
        n += postcard::to_slice(&u64::MAX, &mut bytes[n..])
            .unwrap()
            .len();
    }
    let stats: Stats = postcard::from_bytes(&bytes[..n]).unwrap();
    assert_eq!(stats.fields()[0].value, u64::MAX);
    let mut buf = [0u8; MAX_MESSAGE];
    let len = encode(Header::new(u16::MAX), &Response::Stats(stats), &mut buf).unwrap();
    assert_eq!(
        decode_response(&buf[..len]).unwrap().1,
        Response::Stats(stats)
    );
}

#[test]
fn the_widest_links_and_status_responses_fit_a_message() {
    let v4 = IpAddr::V4(Ipv4Addr::new(169, 254, 254, 255));
    let mut links = heapless::Vec::new();
    for index in 0..MAX_LINKS as u8 {
        let link = Link {
            index,
            local: v4,
            peer: Some(v4),
            state: crate::LinkState::Down(crate::DownReason::HandshakeTimeout),
            peer_id: Some(crate::addr::HardwareId {
                dna: [0xff; 12],
                port: u8::MAX,
            }),
            ugn: Some(i64::MIN),
            frames_tx: u64::MAX,
            frames_rx: u64::MAX,
            link_retransmits: u64::MAX,
        };
        links.push(link).unwrap();
    }
    let mut streams = heapless::Vec::new();
    for id in 0..MAX_STREAMS as u8 {
        let info = StreamInfo {
            id: id + 200,
            link: 6,
            state: crate::StreamState::Established,
            port: u16::MAX,
            accepted: true,
        };
        streams.push(info).unwrap();
    }
    let status = Status {
        version: VERSION,
        stack: "thunderbolt",
        links: MAX_LINKS as u8,
        listening: heapless::Vec::from_slice(&[u16::MAX; MAX_LISTENERS]).unwrap(),
        streams,
    };
    for response in [Response::Links(links), Response::Status(status)] {
        let mut buf = [0u8; MAX_MESSAGE];
        let len = encode(Header::new(u16::MAX), &response, &mut buf).unwrap();
        assert_eq!(decode_response(&buf[..len]).unwrap().1, response);
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoders(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        if let Ok((header, body)) = split(&bytes) {
            let _ = decode_request(header, body);
        }
        let _ = decode_response(&bytes);
    }

    #[test]
    fn send_data_roundtrips(data in proptest::collection::vec(any::<u8>(), 0..MAX_DATA), tag: u16, stream: u8) {
        roundtrip_request(&Request::Send { stream, data: &data });
        let mut buf = [0u8; MAX_MESSAGE];
        let len = encode(Header::new(tag), &Response::Data { data: &data }, &mut buf).unwrap();
        let (header, response) = decode_response(&buf[..len]).unwrap();
        prop_assert_eq!(header.tag, tag);
        prop_assert_eq!(response, Response::Data { data: &data });
    }
}

mod golden;
