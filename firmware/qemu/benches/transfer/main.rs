//! The firmware image's figures under QEMU: boot time, the bytes per second
//! a stream carries between its two nodes through the shell, how deep the
//! stack went, and what the stack costs the node's CPU.
//!
//! The transfer runs through node A's shell in binary frames, as a test rig
//! would script it: `send` on A, and `remote 0 recv` to drain B. The same
//! script runs against the simulator's two host-native nodes in the same
//! run, and the image's figure is reported as a ratio to theirs, since
//! wall-clock figures mean little on their own (QEMU emulates the CPU; the
//! UART is a socket with no baud rate).
//!
//! The CPU cost is counted by a second image, `tidenet-cpu` (see
//! `tidenet_qemu::cpu`), under `-icount shift=0`, and cross-checked by
//! callgrind over the same transfer on the host (see `callgrind.rs`).
//!
//! `cargo xtask bench` builds the image, installs QEMU and runs this.

mod callgrind;
mod host;
mod idle;
mod report;

use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tidenet_core::proto::{Peer, Request, Response, MAX_MESSAGE};
use tidenet_model::{Faults, LinkConfig};
use tidenet_qemu::{cpu, Qemu};
use tidenet_shell::client::Client;
use tidenet_sim::nodes::{Nodes, Stack};

use report::{one, Section, Table};

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
/// The depth callgrind's cross-check runs at.
const CALLGRIND_DEPTH: usize = 256;

fn main() {
    let mut args = std::env::args()
        .skip_while(|a| a != callgrind::CHILD_ARG)
        .skip(1);
    if let Some(depth) = args.next() {
        // The child callgrind runs: the host transfer, nothing else.
        let result = depth
            .parse()
            .map_err(|e| format!("{depth}: {e}"))
            .and_then(host::transfer);
        if let Err(e) = result {
            eprintln!("error: host transfer: {e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut tables = Vec::new();
    eprintln!("firmware bench: building and running the CPU-cost image under QEMU -icount shift=0");
    let cpu_image = cpu::build()?;
    let counted = cpu::run(&cpu_image)?;
    tables.extend(cpu_tables(&counted)?);

    eprintln!(
        "firmware bench: the same transfer on the host under callgrind (depth {CALLGRIND_DEPTH})"
    );
    let scratch = tempfile::tempdir()?;
    let split = callgrind::run(CALLGRIND_DEPTH, scratch.path())?;
    tables.push(callgrind_table(&split, &counted));

    eprintln!("firmware bench: the two-node image's idle loop and shell round trip");
    tables.push(idle::measure(&counted)?.table());

    eprintln!("firmware bench: boots and a transfer through the shell");
    let mut boots = Vec::new();
    for _ in 0..BOOTS {
        let qemu = Qemu::boot_default()?;
        boots.push(qemu.boot_report().clone());
    }
    boots.sort_by_key(|b| b.to_prompt);
    let median = &boots[BOOTS / 2];

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
    let rate = |d: Duration| BYTES as f64 / d.as_secs_f64() / 1e3;
    tables.push(Table {
        name: "image",
        caption: format!(
            "The two-node image under QEMU (TCG, no -icount): boot (median of {BOOTS}), a \
             {} KiB transfer A to B through the shell ({CHUNK} B sends, {RECV_MAX} B remote \
             recvs) beside the simulator's host-native nodes in the same run, and the stack \
             used after it.",
            BYTES / 1024
        ),
        header: vec!["figure", "value"],
        rows: vec![
            vec!["QEMU start-up (ms)".into(), one(ms(median.to_start))],
            vec![
                "machine start to prompt (ms)".into(),
                one(ms(median.to_prompt)),
            ],
            vec!["image transfer (KB/s)".into(), one(rate(image))],
            vec!["simulator transfer (KB/s)".into(), one(rate(host))],
            vec![
                "ratio image/simulator".into(),
                format!("{:.3}", rate(image) / rate(host)),
            ],
            vec![
                "stack used (bytes)".into(),
                format!("{stack} of {}", region.high - region.low),
            ],
        ],
    });
    Section {
        tables,
        notes: NOTES.into(),
    }
    .emit()?;
    Ok(())
}

/// How to reproduce the section, and what its figures are.
const NOTES: &str = "\
Instructions are counted by `minstret` in the `tidenet-cpu` image under \
`qemu-system-riscv32 -icount shift=0`, around the stack's calls only: the \
link model behind the ringbuffer traits, and the benchmark's making and \
checking of data, are counted apart and left out. The counter is checked \
first: doubling a loop of two instructions a turn must add exactly two a \
turn. Per side: the sender's figures are node A's calls (`send`, `poll`), \
the receiver's node B's (`poll`, `recv`). Link layer = the link-only run \
less the CRC (and, receiving, the copy) counted alone; IP/TCP = the TCP run \
less the link-only run. Reproduce with `cargo xtask bench`, or \
`cargo bench -p tidenet-qemu` once `cargo xtask firmware` has built the \
image; see docs/src/firmware.md.
";

/// Per payload byte, `n` instructions over `bytes`.
fn per_byte(n: u64, bytes: u64) -> f64 {
    n as f64 / bytes.max(1) as f64
}

fn cpu_tables(r: &cpu::Report) -> Result<Vec<Table>, String> {
    let c = &r.calibration;
    if !c.exact() {
        return Err(format!("minstret failed its check: {c:?}"));
    }
    let calibration = Table {
        name: "calibration",
        caption: "The counter's check: a loop of two instructions a turn.".into(),
        header: vec![
            "turns",
            "counted",
            "turns x2",
            "counted",
            "difference",
            "expected",
        ],
        rows: vec![vec![
            c.turns.to_string(),
            c.short.to_string(),
            (2 * c.turns).to_string(),
            c.long.to_string(),
            (c.long - c.short).to_string(),
            (2 * c.turns).to_string(),
        ]],
    };
    let mut cost = Table {
        name: "cpu",
        caption: "Instructions per payload byte on riscv32imc, bulk TCP, no loss, by node and \
                  part of the stack (the link model excluded)."
            .into(),
        header: vec![
            "depth (words)",
            "MTU",
            "node",
            "total",
            "link layer",
            "IP/TCP (smoltcp)",
            "copy + CRC",
        ],
        rows: Vec::new(),
    };
    let mut idle = Table {
        name: "idle-poll",
        caption: "Instructions per poll of an idle, up link (the stack's, model excluded).".into(),
        header: vec!["depth (words)", "instructions per poll per link"],
        rows: Vec::new(),
    };
    for d in &r.depths {
        let bytes = d.tcpip.bytes;
        let link_bytes = d.link.bytes;
        let crc = per_byte(d.crc, d.crc_bytes);
        let copy = per_byte(d.copy, d.crc_bytes);
        for (node, total, link, own) in [
            ("sender", d.tcpip.sender, d.link.sender, crc),
            ("receiver", d.tcpip.receiver, d.link.receiver, crc + copy),
        ] {
            let total = per_byte(total, bytes);
            let link = per_byte(link, link_bytes);
            cost.rows.push(vec![
                d.depth.to_string(),
                d.mtu.to_string(),
                node.into(),
                one(total),
                one(link - own),
                one(total - link),
                one(own),
            ]);
        }
        idle.rows.push(vec![
            d.depth.to_string(),
            format!(
                "{:.0}",
                d.idle_instructions as f64 / d.idle_polls.max(1) as f64
            ),
        ]);
    }
    Ok(vec![calibration, cost, idle])
}

fn callgrind_table(split: &callgrind::Split, counted: &cpu::Report) -> Table {
    let stack = split.stack();
    let mut rows: Vec<Vec<String>> = split
        .groups
        .iter()
        .map(|(group, n)| {
            vec![
                (*group).into(),
                n.to_string(),
                one(per_byte(*n, host::BYTES as u64)),
                if group.starts_with("link model") || group.starts_with("benchmark") {
                    "-".into()
                } else {
                    format!("{:.0}%", 100.0 * *n as f64 / stack.max(1) as f64)
                },
            ]
        })
        .collect();
    rows.push(vec![
        "the stack (all but model and benchmark)".into(),
        stack.to_string(),
        one(per_byte(stack, host::BYTES as u64)),
        "100%".into(),
    ]);
    let image = counted
        .depths
        .iter()
        .find(|d| d.depth == CALLGRIND_DEPTH as u64)
        .map(|d| per_byte(d.tcpip.sender + d.tcpip.receiver, d.tcpip.bytes));
    Table {
        name: "callgrind",
        caption: format!(
            "The same transfer on the host (x86_64) under callgrind, depth {CALLGRIND_DEPTH}, \
             both nodes, by function group (self cost). The image counted {} riscv32imc \
             instructions per byte for both nodes there; x86_64 counts differ, the shares \
             are what is compared.",
            image.map_or("no".into(), one)
        ),
        header: vec![
            "group",
            "instructions",
            "per payload byte",
            "share of the stack",
        ],
        rows,
    }
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
