//! The shell protocol's hot path: postcard encoding and decoding of the
//! largest request and reply (a `send` and a `recv` answer carrying
//! `MAX_DATA` bytes) and of a `stats` reply, the one with the most fields.
//!
//! `cargo bench -p tidenet-core --bench proto`; `-- --test` runs each once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidenet_core::proto::{self, Header, Request, Response, MAX_DATA, MAX_MESSAGE};
use tidenet_core::Stats;

fn requests(c: &mut Criterion) {
    let data = [0xa5u8; MAX_DATA];
    let request = Request::Send {
        stream: 1,
        data: &data,
    };
    let mut buf = [0u8; MAX_MESSAGE];
    let len = proto::encode(Header::new(7), &request, &mut buf).unwrap();
    let message = buf[..len].to_vec();

    let mut group = c.benchmark_group("postcard");
    group.throughput(Throughput::Bytes(len as u64));
    group.bench_function("encode send request", |b| {
        b.iter(|| proto::encode(Header::new(7), black_box(&request), &mut buf).unwrap())
    });
    group.bench_function("decode send request", |b| {
        b.iter(|| {
            let (header, body) = proto::split(black_box(&message)).unwrap();
            match proto::decode_request(header, body).unwrap() {
                Request::Send { data, .. } => data.len(),
                other => panic!("decoded {other:?}"),
            }
        })
    });
    group.finish();
}

fn responses(c: &mut Criterion) {
    let data = [0x5au8; MAX_DATA];
    // Busy counters, so that each takes a multi-byte varint.
    let stats = Stats {
        stream_bytes_tx: 1 << 40,
        stream_bytes_rx: 1 << 40,
        tcp_segments_tx: 1 << 30,
        link_retransmits: 1 << 20,
        naks_tx: 1 << 20,
        ..Stats::default()
    };
    let mut group = c.benchmark_group("postcard");
    for (name, response) in [
        ("recv reply", Response::Data { data: &data }),
        ("stats reply", Response::Stats(stats)),
    ] {
        let mut buf = [0u8; MAX_MESSAGE];
        let len = proto::encode(Header::new(7), &response, &mut buf).unwrap();
        let message = buf[..len].to_vec();
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_function(format!("encode {name}"), |b| {
            b.iter(|| proto::encode(Header::new(7), black_box(&response), &mut buf).unwrap())
        });
        group.bench_function(format!("decode {name}"), |b| {
            b.iter(|| {
                let (header, decoded) = proto::decode_response(black_box(&message)).unwrap();
                assert_eq!(header.tag, 7);
                decoded
            })
        });
    }
    group.finish();
}

criterion_group!(benches, requests, responses);
criterion_main!(benches);
