//! The shell's input paths, each from bytes on the UART to the reply
//! written back, on a node whose transport answers at once:
//!
//! - a typed `send` line: embedded-cli's line editing and echo, the
//!   parser (a `hex:` payload decoded) and the rendered reply, for a short
//!   line and for one as long as [`DATA`] bytes in hex make it, so that a
//!   per-character cost that grows with the line shows;
//! - the same request as a binary frame: the COBS deframer, postcard
//!   decoding and the encoded, framed reply.
//!
//! Both end in the node's `unknown-stream` error, so what is measured is
//! the shell, not a stack.
//!
//! `cargo bench -p tidenet-shell --bench shell`; `-- --test` runs each once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidenet_core::node::Node;
use tidenet_core::proto::{self, Header, Request, MAX_MESSAGE};
use tidenet_core::time::Instant;
use tidenet_shell::{Resources, Shell, PROMPT};

/// Payload bytes of the `send`: as many as a typed line holds in hex.
const DATA: usize = 100;

#[path = "../tests/support/mod.rs"]
mod support;

use support::{Fake, Uart};

/// Feeds `input` to the shell, polls until it is used up, and returns the
/// bytes written back.
fn round(shell: &mut Shell<'_, Uart>, node: &mut Node<Fake>, uart: &Uart, input: &[u8]) -> usize {
    uart.feed(input);
    uart.take_output();
    while shell.poll(node, Instant::ZERO).unwrap() || !uart.input.borrow().is_empty() {}
    uart.output.borrow().len()
}

fn shell(c: &mut Criterion) {
    let data: Vec<u8> = (0..DATA).map(|i| i as u8).collect();
    let hex: String = data.iter().map(|b| format!("{b:02x}")).collect();
    let line = format!("send 3 hex:{hex}\r");
    let short = "send 3 hex:00010203\r";
    let mut message = [0u8; MAX_MESSAGE];
    let request = Request::Send {
        stream: 3,
        data: &data,
    };
    let len = proto::encode(Header::new(1), &request, &mut message).unwrap();
    let mut frame = vec![0u8; cobs::max_encoding_length(len) + 2];
    let n = cobs::encode(&message[..len], &mut frame[1..]);
    frame.truncate(n + 2);
    frame[n + 1] = 0;

    let uart = Uart::default();
    let mut resources = Resources::new(uart.clone());
    let mut shell = Shell::new(&mut resources).unwrap();
    let mut node = Node::new([Fake]);
    uart.take_output();

    // Each path answers with the node's error, and nothing else.
    round(&mut shell, &mut node, &uart, line.as_bytes());
    let text = String::from_utf8_lossy(&uart.output.borrow()).into_owned();
    assert!(
        text.contains("error: unknown-stream") && text.ends_with(PROMPT),
        "{text:?}"
    );
    round(&mut shell, &mut node, &uart, &frame);
    let reply = uart.output.borrow().clone();
    assert_eq!(
        (reply.first(), reply.last()),
        (Some(&0), Some(&0)),
        "{reply:?}"
    );

    let mut group = c.benchmark_group("shell");
    group.throughput(Throughput::Bytes(short.len() as u64));
    group.bench_function("typed short send line, parse and reply", |b| {
        b.iter(|| round(&mut shell, &mut node, &uart, black_box(short.as_bytes())))
    });
    group.throughput(Throughput::Bytes(line.len() as u64));
    group.bench_function("typed send line, parse and reply", |b| {
        b.iter(|| round(&mut shell, &mut node, &uart, black_box(line.as_bytes())))
    });
    group.throughput(Throughput::Bytes(frame.len() as u64));
    group.bench_function("COBS send frame, deframe and reply", |b| {
        b.iter(|| round(&mut shell, &mut node, &uart, black_box(&frame)))
    });
    group.finish();
}

criterion_group!(benches, shell);
criterion_main!(benches);
