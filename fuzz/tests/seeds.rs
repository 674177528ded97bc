//! The seed corpus: a few valid inputs per target, made from the real
//! encoders so that they stay valid as formats change.
//!
//! `cargo test` checks that `seeds/` holds exactly these bytes;
//! `TIDENET_WRITE_SEEDS=1 cargo test` writes them. libFuzzer only reads
//! `seeds/`: `cargo xtask fuzz` gives it a scratch corpus to grow.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;

use tidenet_core::addr::HardwareId;
use tidenet_core::node::collect::{Edge, Report};
use tidenet_core::proto::{self, Header, Peer, Request, Response, MAX_MESSAGE};
use tidenet_ringbuffer::wire::{Binding, Feedback, Hello, Progress, Sessions, VERSION};
use tidenet_thunderbolt::probe::{ping, pong};

type Seeds = BTreeMap<(&'static str, &'static str), Vec<u8>>;

fn message<T: serde::Serialize>(tag: u16, body: &T) -> Vec<u8> {
    let mut buf = [0u8; MAX_MESSAGE];
    let len = proto::encode(Header::new(tag), body, &mut buf).expect("a seed fits a message");
    buf[..len].to_vec()
}

fn requests() -> Vec<(&'static str, Vec<u8>)> {
    let peer = Peer::Addr(IpAddr::V4(Ipv4Addr::new(169, 254, 0, 2)));
    let inner = message(1, &Request::Status);
    vec![
        ("status", message(1, &Request::Status)),
        ("links", message(2, &Request::Links)),
        ("connect", message(3, &Request::Connect { peer, port: 7 })),
        (
            "send",
            message(
                4,
                &Request::Send {
                    stream: 0,
                    data: b"hello",
                },
            ),
        ),
        ("recv", message(5, &Request::Recv { stream: 0, max: 64 })),
        ("stats", message(6, &Request::Stats { link: Some(0) })),
        (
            "ping",
            message(
                7,
                &Request::Ping {
                    peer: Peer::Link(0),
                },
            ),
        ),
        (
            "remote",
            message(
                8,
                &Request::Remote {
                    peer,
                    request: &inner,
                },
            ),
        ),
    ]
}

fn seeds() -> Seeds {
    let mut seeds = Seeds::new();

    // link_frame: a binding, a sequence number, four control words, a
    // payload, and the bit to flip.
    let binding = Binding {
        own: 0x1234,
        peer: 0x5678,
    };
    let mut frame = Vec::new();
    frame.extend_from_slice(&binding.own.to_le_bytes());
    frame.extend_from_slice(&binding.peer.to_le_bytes());
    frame.extend_from_slice(&1u16.to_le_bytes());
    for word in [
        Feedback {
            ack: 1,
            nak: 0,
            consumed: 6,
        }
        .to_word(binding),
        Progress {
            written: 6,
            answered: 0,
            beat: 3,
        }
        .to_word(binding),
        Hello {
            host: 0x0102,
            version: VERSION,
        }
        .to_word(binding),
        Sessions(binding).to_word(),
    ] {
        frame.extend_from_slice(&word.to_le_bytes());
    }
    frame.extend_from_slice(b"an IP packet would go here");
    seeds.insert(("link_frame", "control_words_and_a_frame"), frame);

    // link_receive: a 16-word ring; the link polls once, the peer shakes hands, frames one
    // packet at ring position 0 as sequence 1, says it wrote it, and time
    // passes.
    let mut script = vec![10, 7, 0];
    script.extend([6, 0, 0]); // a first poll: the link shows its session
    script.extend([1, 0x22, 0x11]); // sessions: the peer's is 0x1122
    script.extend([2, 1, 0x02, 0x01]); // hello from host 0x0102
    script.extend([5, 0, 0, 1, 0, 12, 0]); // frame: position 0, seq 1, 12 bytes
    script.extend_from_slice(b"twelve bytes");
    script.extend([3, 3, 0, 0, 1, 0]); // progress: 3 words written
    script.extend([6, 0xe8, 0x03]); // 1 ms
    script.extend([8, 40, 0]); // the link sends 40 bytes
    script.extend([4, 1, 0, 0, 3, 0]); // feedback: frame 1 taken
    seeds.insert(("link_receive", "handshake_and_a_frame"), script);

    // ip_length: an MTU, then a packet.
    let mut udp = vec![0xdc, 0x05, 0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 17, 0, 0];
    udp.extend([
        169, 254, 0, 1, 169, 254, 0, 2, 0x13, 0x88, 0x13, 0x88, 0, 8, 0, 0,
    ]);
    seeds.insert(("ip_length", "udp_header"), udp);
    let mut options = vec![0xdc, 0x05, 0x46, 0, 0, 24];
    options.resize(26, 0);
    seeds.insert(("ip_length", "header_with_options"), options);

    // proto: requests and responses as a node sees them.
    for (name, bytes) in requests() {
        seeds.insert(("proto", name), bytes);
    }
    seeds.insert(("proto", "response_done"), message(1, &Response::Done));
    seeds.insert(
        ("proto", "response_data"),
        message(5, &Response::Data { data: b"abc" }),
    );
    seeds.insert(
        ("proto", "response_error"),
        message(9, &Response::Error(tidenet_core::Error::MalformedRequest)),
    );

    // cobs_frame: requests as length-prefixed messages, each a frame.
    let mut frames = Vec::new();
    for (_, bytes) in requests().into_iter().take(5) {
        frames.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        frames.extend_from_slice(&bytes);
    }
    seeds.insert(("cobs_frame", "five_requests"), frames);

    // shell_uart: typed lines in pieces of [length][gap ms][bytes].
    let mut typed = Vec::new();
    for line in [
        &b"status\r"[..],
        b"help\r",
        b"links\r",
        b"stats\r",
        b"recv 0\r",
    ] {
        typed.extend([line.len() as u8, 5]);
        typed.extend_from_slice(line);
    }
    seeds.insert(("shell_uart", "commands"), typed);
    let status = message(1, &Request::Status);
    let mut framed = vec![0];
    framed.extend(cobs::encode_vec(&status));
    framed.push(0);
    let mut mixed = vec![framed.len() as u8, 0];
    mixed.extend(framed);
    mixed.extend([8, 0]);
    mixed.extend_from_slice(b"\0\x1b[Alinks\r");
    seeds.insert(("shell_uart", "frame_then_noise"), mixed);

    // tb_datagram: a ping, a pong, a message.
    seeds.insert(("tb_datagram", "ping"), ping(0x0102_0304).to_vec());
    seeds.insert(("tb_datagram", "pong"), pong(7).to_vec());
    seeds.insert(("tb_datagram", "message"), b"TNrq\x03\x01\x00".to_vec());

    // collect: read sizes, then two records.
    let report = |board: u8| Report {
        dna: [board; 12],
        made_ns: 25_000_000,
        edges: [Edge {
            port: 0,
            peer: HardwareId {
                dna: [board ^ 1; 12],
                port: 1,
            },
            ugn: Some(-1_000_003),
        }]
        .into_iter()
        .collect(),
    };
    let mut stream = vec![2, 3, 0];
    for board in [1, 2] {
        let record = postcard::to_allocvec(&report(board)).expect("a report encodes");
        stream.extend_from_slice(&(record.len() as u16).to_le_bytes());
        stream.extend_from_slice(&record);
    }
    seeds.insert(("collect", "two_records"), stream);
    seeds
}

#[test]
fn seeds_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("seeds");
    let write = std::env::var_os("TIDENET_WRITE_SEEDS").is_some();
    for ((target, name), bytes) in seeds() {
        let path = root.join(target).join(name);
        if write {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        } else {
            let on_disk = std::fs::read(&path).unwrap_or_default();
            assert_eq!(
                on_disk,
                bytes,
                "{} is stale: run TIDENET_WRITE_SEEDS=1 cargo test",
                path.display()
            );
        }
    }
}
