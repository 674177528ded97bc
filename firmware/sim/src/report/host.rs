//! The simulator on this machine's wall clock: how fast two nodes move
//! bytes through the whole stack and the model, next to a `memcpy` of the
//! same bytes and Linux TCP over loopback measured in the same run, and how
//! much virtual time it simulates per wall second.
//!
//! Wall-clock figures follow the machine and its load, so each is given as
//! a ratio to a reference measured in the same run.

use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;
use std::time::{Duration, Instant};

use tidenet_model::{Faults, LinkConfig, CYCLE_NS};

use super::table::run;
use super::BenchError;
use crate::mesh::{mesh, MeshConfig};
use crate::topology::Topology;
use crate::{Driver, TransferConfig};

/// Bytes per socket write.
const CHUNK: usize = 64 * 1024;
/// The largest rig `tidenet mesh` runs: 64 nodes, 6 links each.
const RIG: (Topology, usize) = (Topology::Hypercube, 64);

/// Host throughput: bytes per wall second of each kind.
pub struct Throughput {
    /// Bytes each moved.
    pub bytes: u64,
    /// Two nodes over the model in fast mode.
    pub model: f64,
    /// One `copy_from_slice` of the bytes.
    pub memcpy: f64,
    /// std `TcpStream` over 127.0.0.1, writer and reader on two threads.
    pub tcp: f64,
}

/// Virtual seconds simulated per wall second.
pub struct Speed {
    /// What ran.
    pub what: String,
    /// Virtual seconds.
    pub virtual_s: f64,
    /// Wall seconds.
    pub wall_s: f64,
}

/// The fast mode: no faults, the CPUs' buses as fast as the wire (one
/// cycle a word), the deepest ring and a short cable, so that the host's
/// time goes to the stack and the model's bookkeeping, not to waiting.
pub fn fast(bytes: u64) -> TransferConfig {
    TransferConfig {
        bytes,
        link: LinkConfig {
            depth: 4000,
            latency: 50,
            seed: 1,
            faults: Faults::default(),
            ..LinkConfig::default()
        },
        bus_cycles: 1,
        driver: Driver::Poll,
        ..TransferConfig::default()
    }
}

/// Measures the three kinds on `bytes` each, and the simulator's speed on
/// that transfer.
pub fn throughput(bytes: u64) -> Result<(Throughput, Speed), BenchError> {
    let started = Instant::now();
    let report = run(&fast(bytes))?;
    let wall = started.elapsed();
    let speed = Speed {
        what: "2 nodes, fast mode transfer".into(),
        virtual_s: cycles_s(report.up_cycles + report.transfer_cycles),
        wall_s: wall.as_secs_f64(),
    };
    let memcpy = memcpy(bytes);
    let tcp = tcp(bytes).map_err(|e| BenchError::Io {
        what: "Linux TCP over 127.0.0.1".into(),
        error: e,
    })?;
    let rate = |d: Duration| bytes as f64 / d.as_secs_f64();
    Ok((
        Throughput {
            bytes,
            model: rate(wall),
            memcpy: rate(memcpy),
            tcp: rate(tcp),
        },
        speed,
    ))
}

/// The simulator's speed on the default bench link (depth 256, latency
/// 200, bus 8, no faults): `bytes` from A to B.
pub fn two_nodes(bytes: u64) -> Result<Speed, BenchError> {
    let config = super::table::case(bytes, 256, Faults::default(), Driver::Poll);
    let started = Instant::now();
    let report = run(&config)?;
    Ok(Speed {
        what: "2 nodes, default link".into(),
        virtual_s: cycles_s(report.up_cycles + report.transfer_cycles),
        wall_s: started.elapsed().as_secs_f64(),
    })
}

/// The simulator's speed on the largest rig: every link up, every report
/// at the manager.
pub fn rig() -> Result<Speed, BenchError> {
    let (topology, nodes) = RIG;
    let config = MeshConfig {
        nodes,
        topology,
        manager: 0,
        link: LinkConfig {
            seed: 1,
            ..LinkConfig::default()
        },
        bus_cycles: TransferConfig::default().bus_cycles,
        deadline_cycles: 1_000_000_000 / CYCLE_NS,
        off: None,
    };
    let started = Instant::now();
    let report = mesh(&config, |_, _| {}).map_err(|e| BenchError::Rig(e.to_string()))?;
    let wall = started.elapsed().as_secs_f64();
    if !report.missing.is_empty() {
        return Err(BenchError::Rig(format!(
            "{} things never reached the manager",
            report.missing.len()
        )));
    }
    Ok(Speed {
        what: format!(
            "{nodes} nodes as a {topology:?}, {} links, until every report is in",
            report.edges.len()
        ),
        virtual_s: cycles_s(report.cycles),
        wall_s: wall,
    })
}

fn cycles_s(cycles: u64) -> f64 {
    (cycles * CYCLE_NS) as f64 / 1e9
}

/// Runs of the two references, for the best of them: a run that the
/// machine's other work slowed down says nothing about the reference.
const RUNS: usize = 3;

/// The time `bytes` take to copy from one buffer to another, both in
/// memory already (the target written once beforehand, so no run pays for
/// page faults): the best of [`RUNS`].
fn memcpy(bytes: u64) -> Duration {
    let source: Vec<u8> = (0..bytes).map(|i| i as u8).collect();
    let mut target = vec![1u8; source.len()];
    (0..RUNS)
        .map(|_| {
            let started = Instant::now();
            black_box(&mut target[..]).copy_from_slice(black_box(&source[..]));
            started.elapsed()
        })
        .min()
        .unwrap_or_default()
}

/// The time `bytes` take through a TCP connection on 127.0.0.1, written
/// in [`CHUNK`]s on one thread and read on another: the best of [`RUNS`].
fn tcp(bytes: u64) -> std::io::Result<Duration> {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        best = best.min(tcp_once(bytes)?);
    }
    Ok(best)
}

/// One run of [`tcp`].
fn tcp_once(bytes: u64) -> std::io::Result<Duration> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let to = listener.local_addr()?;
    let started = Instant::now();
    let writer = thread::spawn(move || -> std::io::Result<()> {
        let mut stream = TcpStream::connect(to)?;
        let chunk = vec![0x5au8; CHUNK];
        let mut left = bytes;
        while left > 0 {
            let n = left.min(CHUNK as u64) as usize;
            stream.write_all(&chunk[..n])?;
            left -= n as u64;
        }
        Ok(())
    });
    let (mut stream, _) = listener.accept()?;
    let mut buf = vec![0u8; CHUNK];
    let mut got = 0u64;
    while got < bytes {
        match stream.read(&mut buf)? {
            0 => break,
            n => got += n as u64,
        }
    }
    let took = started.elapsed();
    writer
        .join()
        .map_err(|_| std::io::Error::other("the writer thread panicked"))??;
    if got != bytes {
        return Err(std::io::Error::other(format!(
            "{got} of {bytes} bytes arrived"
        )));
    }
    Ok(took)
}
