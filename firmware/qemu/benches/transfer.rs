//! The firmware image's figures under QEMU: boot time, the bytes per second
//! a stream carries between its two nodes, and how deep the stack went.
//!
//! The transfer runs through node A's shell in binary frames, as a test rig
//! would script it: `send` on A, and `remote 0 recv` to drain B. The same
//! script runs against the simulator's two host-native nodes in the same
//! run, and the image's figure is reported as a ratio to theirs, since
//! wall-clock figures mean little on their own (QEMU emulates the CPU; the
//! UART is a socket with no baud rate).
//!
//! `cargo xtask bench` builds the image, installs QEMU and runs this.

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tidenet_core::proto::{Peer, Request, Response, MAX_MESSAGE};
use tidenet_model::{Faults, LinkConfig};
use tidenet_qemu::Qemu;
use tidenet_shell::client::Client;
use tidenet_sim::nodes::{Nodes, Stack};

/// Bytes moved per run.
const BYTES: usize = 64 * 1024;
/// Bytes per `send`.
const CHUNK: usize = 256;
/// Bytes per `recv` on B (the most one reply carries).
const RECV_MAX: u16 = 480;
const PORT: u16 = 7000;
/// Boots measured, for a median.
const BOOTS: usize = 5;
/// How long the link may take to carry the whole transfer.
const PATIENCE: Duration = Duration::from_secs(120);

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut boots = Vec::new();
    for _ in 0..BOOTS {
        let qemu = Qemu::boot_default()?;
        boots.push(qemu.boot_report().clone());
    }
    boots.sort_by_key(|b| b.to_prompt);
    let median = &boots[BOOTS / 2];
    println!(
        "boot (median of {BOOTS}): QEMU start-up {:.1} ms, then machine start to prompt {:.1} ms \
         (alignment and link bring-up included)",
        ms(median.to_start),
        ms(median.to_prompt)
    );

    let mut qemu = Qemu::boot_default()?;
    let image = transfer(qemu.uart()?)?;
    let stack = qemu.stack_used()?;
    let region = qemu.boot_report().stack;

    // The image's link, on the host: same depth, latency and faults.
    let config = LinkConfig {
        seed: 1,
        faults: Faults {
            loss: 0.02,
            corrupt: 0.01,
            ..Faults::default()
        },
        ..LinkConfig::default()
    };
    let nodes = Nodes::spawn(config, 8, Stack::Tcpip)?;
    let host = transfer(nodes.uart(0)?)?;

    let rate = |d: Duration| BYTES as f64 / d.as_secs_f64();
    println!(
        "transfer of {} KiB A->B through the shell ({CHUNK} B sends, {RECV_MAX} B remote recvs):",
        BYTES / 1024
    );
    println!(
        "  image under QEMU: {:.2} s, {:.1} KB/s",
        image.as_secs_f64(),
        rate(image) / 1e3
    );
    println!(
        "  simulator nodes (host-native, same run): {:.2} s, {:.1} KB/s",
        host.as_secs_f64(),
        rate(host) / 1e3
    );
    println!("  ratio image/simulator: {:.2}", rate(image) / rate(host));
    println!(
        "stack: {stack} of {} bytes used after boot and the transfer",
        region.high - region.low
    );
    Ok(())
}

/// Opens a stream from A to B and moves [`BYTES`] through it, checking
/// they arrive intact. Returns how long the data took, from first send to
/// last byte received.
fn transfer(uart: UnixStream) -> Result<Duration, Box<dyn std::error::Error>> {
    let mut client = Client::new(uart);
    let mut inner = [0u8; MAX_MESSAGE];
    let listen = encode(&Request::Listen { port: PORT }, &mut inner)?;
    expect_done(client.call(&Request::Remote {
        peer: Peer::Link(0),
        request: listen,
    })?)?;
    let sa = match client.call(&Request::Connect {
        peer: Peer::Link(0),
        port: PORT,
    })? {
        Response::Opened { stream } => stream,
        other => return Err(format!("connect: {other:?}").into()),
    };
    // B's end is the first stream B accepts: stream 0 on a fresh node.
    let recv = encode(
        &Request::Recv {
            stream: 0,
            max: RECV_MAX,
        },
        &mut inner,
    )?
    .to_vec();

    let data: Vec<u8> = (0..BYTES).map(|i| (i * 31 + i / 251) as u8).collect();
    let mut queued = 0;
    let mut received = Vec::with_capacity(BYTES);
    let started = Instant::now();
    while received.len() < BYTES {
        if started.elapsed() > PATIENCE {
            return Err(format!("only {} of {BYTES} bytes in {PATIENCE:?}", received.len()).into());
        }
        if queued < BYTES {
            let end = (queued + CHUNK).min(BYTES);
            match client.call(&Request::Send {
                stream: sa,
                data: &data[queued..end],
            }) {
                Ok(Response::Sent { len }) => queued += usize::from(len),
                // Connecting still, or a full buffer: drain and retry.
                Ok(Response::Error(_)) => {}
                Ok(other) => return Err(format!("send: {other:?}").into()),
                Err(e) => return Err(e.into()),
            }
        }
        match client.call(&Request::Remote {
            peer: Peer::Link(0),
            request: &recv,
        })? {
            Response::Data { data } => received.extend_from_slice(data),
            // Not accepted yet.
            Response::Error(_) => {}
            other => return Err(format!("remote recv: {other:?}").into()),
        }
    }
    let took = started.elapsed();
    if received != data {
        return Err("node B received other bytes than node A sent".into());
    }
    Ok(took)
}

/// `request` as `remote` carries it: the postcard body, no header.
fn encode<'b>(request: &Request<'_>, buf: &'b mut [u8]) -> Result<&'b [u8], String> {
    postcard::to_slice(request, buf)
        .map(|used| &*used)
        .map_err(|e| format!("{request:?} does not fit: {e}"))
}

fn expect_done(response: Response<'_>) -> Result<(), String> {
    match response {
        Response::Done => Ok(()),
        other => Err(format!("expected done, got {other:?}")),
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}
