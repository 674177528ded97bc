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

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidenet_core::node::Node;
use tidenet_core::proto::{self, Header, Request, MAX_MESSAGE};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, Stats, StreamId, StreamState, Transport};
use tidenet_shell::{Resources, Shell, PROMPT};

/// Payload bytes of the `send`: as many as a typed line holds in hex.
const DATA: usize = 100;

/// A transport with no link and no streams: every request fails at once.
struct Fake;

impl Transport for Fake {
    fn stack(&self) -> &'static str {
        "bench-fake"
    }
    fn poll(&mut self, _now: Instant) -> bool {
        false
    }
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        None
    }
    fn local_addr(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(169, 254, 0, 1))
    }
    fn peer(&self) -> Option<IpAddr> {
        None
    }
    fn connect(&mut self, _peer: IpAddr, _port: u16) -> Result<StreamId, Error> {
        Err(Error::Unsupported)
    }
    fn listen(&mut self, _port: u16) -> Result<(), Error> {
        Ok(())
    }
    fn accept(&mut self, _port: u16) -> Result<Option<StreamId>, Error> {
        Ok(None)
    }
    fn state(&self, stream: StreamId) -> Result<StreamState, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn send(&mut self, stream: StreamId, _data: &[u8]) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn recv(&mut self, stream: StreamId, _buf: &mut [u8]) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn send_queue(&self, stream: StreamId) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn close(&mut self, stream: StreamId) -> Result<(), Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn max_datagram(&self) -> usize {
        MAX_MESSAGE
    }
    fn send_datagram(&mut self, _peer: IpAddr, _data: &[u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn recv_datagram(&mut self, _buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        Ok(None)
    }
    fn ping(&mut self, _peer: IpAddr, _now: Instant) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        None
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
    fn reset_stats(&mut self) {}
}

/// An in-memory UART; clones share the same wires.
#[derive(Clone, Default)]
struct Uart {
    input: Rc<RefCell<VecDeque<u8>>>,
    output: Rc<RefCell<Vec<u8>>>,
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut input = self.input.borrow_mut();
        let n = buf.len().min(input.len());
        for (slot, byte) in buf.iter_mut().zip(input.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.input.borrow().is_empty())
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Feeds `input` to the shell, polls until it is used up, and returns the
/// bytes written back.
fn round(shell: &mut Shell<'_, Uart>, node: &mut Node<Fake>, uart: &Uart, input: &[u8]) -> usize {
    uart.input.borrow_mut().extend(input);
    uart.output.borrow_mut().clear();
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
    uart.output.borrow_mut().clear();

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
