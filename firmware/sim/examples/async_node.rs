//! A node that serves two peers at once, written as async tasks.
//!
//! Three simulated nodes in a line, A - B - C, each link a lossy modelled
//! ringbuffer. Node B's program is two tasks: [`echo`] sends back whatever
//! A sends it, and [`feed`] streams a MiB to C, both at the same time. Its
//! two links are two transports, each driven by its own net task. The tasks
//! are generic over `Transport`, so they would run unchanged on any stack.
//!
//! Each node has its own CPU, and every task runs on its node's: the three
//! nodes work side by side in virtual time, while B's four tasks, on both
//! of its links, take turns on B's one CPU.
//!
//! ```text
//! cargo run --release -p tidenet-sim --example async_node
//! ```

use std::cell::{Cell, RefCell};
use std::process::ExitCode;

use embassy_futures::join::join;
use embedded_io_async::{Read, Write};
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use tidenet_core::addr::HardwareId;
use tidenet_core::asynch::{self, Clock, Net, State, Stream};
use tidenet_core::time::Instant;
use tidenet_core::{Error, Transport};
use tidenet_model::{Cpu, Faults, Link, LinkConfig, Port, Side};
use tidenet_sim::executor::Executor;
use tidenet_sim::virtual_time::VirtualTime;
use tidenet_sim::{link_config, sim_id};
use tidenet_tcpip::{Resources, TcpIp};

/// Where B's echo listens.
const ECHO_PORT: u16 = 7;
/// Where C takes B's stream.
const SINK_PORT: u16 = 9000;
/// What A sends to be echoed.
const ECHO_BYTES: usize = 64 * 1024;
/// What B streams to C.
const FEED_BYTES: u64 = 1 << 20;
/// The seed of the bytes B streams to C, so C can check them.
const FEED_SEED: u64 = 0xfeed;
/// Link cycles one bus word costs each node's CPU, as on bittide's VexRiscv.
const BUS_CYCLES: u64 = 8;
/// The nodes' CPUs, by their index in the [`VirtualTime`]: each task runs
/// on the CPU of the node whose transport it uses.
const CPU_A: usize = 0;
const CPU_B: usize = 1;
const CPU_C: usize = 2;
/// The links, by their index in the [`VirtualTime`].
const LINK_AB: usize = 0;
const LINK_BC: usize = 1;

/// Node B, task one: echoes one stream on `port` until the peer closes it;
/// returns how many bytes went back.
async fn echo<T: Transport, C: Clock>(net: Net<'_, T, C>, port: u16) -> Result<u64, Error> {
    net.with(|t| t.listen(port))?;
    let mut stream = net.accept(port).await?;
    let mut buf = [0u8; 1024];
    let mut echoed = 0;
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        stream.write_all(&buf[..n]).await?;
        echoed += n as u64;
    }
    stream.close().await?;
    Ok(echoed)
}

/// Node B, task two: streams `bytes` seeded bytes to the peer's `port`,
/// returning once the peer has acknowledged every one.
async fn feed<T: Transport, C: Clock>(
    net: Net<'_, T, C>,
    port: u16,
    bytes: u64,
) -> Result<(), Error> {
    let peer = net.link_up().await;
    let mut stream = net.connect(peer, port).await?;
    let mut data = Xoshiro256PlusPlus::seed_from_u64(FEED_SEED);
    let mut chunk = [0u8; 4096];
    let mut sent = 0;
    while sent < bytes {
        let len = (bytes - sent).min(chunk.len() as u64) as usize;
        data.fill_bytes(&mut chunk[..len]);
        stream.write_all(&chunk[..len]).await?;
        sent += len as u64;
    }
    stream.close().await
}

/// Node A: sends `data` to the echo and reads it back at the same time, on
/// one stream; returns what came back.
async fn ask_echo<T: Transport, C: Clock>(
    net: Net<'_, T, C>,
    data: &[u8],
) -> Result<Vec<u8>, Error> {
    let peer = net.link_up().await;
    let stream = net.connect(peer, ECHO_PORT).await?;
    let (sent, echoed) = join(send_all(&stream, data), recv_len(&stream, data.len())).await;
    sent?;
    let echoed = echoed?;
    stream.close().await?;
    Ok(echoed)
}

async fn send_all<T: Transport, C: Clock>(
    stream: &Stream<'_, T, C>,
    mut data: &[u8],
) -> Result<(), Error> {
    while !data.is_empty() {
        let n = stream.send(data).await?;
        data = &data[n..];
    }
    Ok(())
}

async fn recv_len<T: Transport, C: Clock>(
    stream: &Stream<'_, T, C>,
    len: usize,
) -> Result<Vec<u8>, Error> {
    let mut got = Vec::with_capacity(len);
    let mut buf = [0u8; 1500];
    while got.len() < len {
        let n = stream.recv(&mut buf).await?;
        got.extend_from_slice(&buf[..n]);
    }
    Ok(got)
}

/// Node C: takes one stream on `port` to its end; returns its SHA-256 and
/// length.
async fn sink<T: Transport, C: Clock>(
    net: Net<'_, T, C>,
    port: u16,
) -> Result<([u8; 32], u64), Error> {
    net.with(|t| t.listen(port))?;
    let mut stream = net.accept(port).await?;
    let (mut hash, mut len) = (Sha256::new(), 0);
    let mut buf = [0u8; 1500];
    loop {
        let n = stream.read(&mut buf).await?;
        if n == 0 {
            return Ok((hash.finalize().into(), len));
        }
        hash.update(&buf[..n]);
        len += n as u64;
    }
}

/// The bytes [`feed`] sends, hashed.
fn feed_sha256(bytes: u64) -> [u8; 32] {
    let mut data = vec![0u8; bytes as usize];
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(FEED_SEED);
    for chunk in data.chunks_mut(4096) {
        rng.fill_bytes(chunk);
    }
    Sha256::digest(&data).into()
}

fn main() -> ExitCode {
    let config = |seed| LinkConfig {
        seed,
        faults: Faults {
            loss: 0.05,
            corrupt: 0.01,
            ..Faults::default()
        },
        ..LinkConfig::default()
    };
    let (ab, bc) = (config(1), config(2));
    let (mut memory_ab, mut memory_bc) = (vec![0; ab.memory_words()], vec![0; bc.memory_words()]);
    let (Ok(link_ab), Ok(link_bc)) = (
        Link::new(&ab, &mut memory_ab),
        Link::new(&bc, &mut memory_bc),
    ) else {
        eprintln!("error: the link configuration is invalid");
        return ExitCode::FAILURE;
    };
    let (link_ab, link_bc) = (RefCell::new(link_ab), RefCell::new(link_bc));
    // One CPU per node: B's two ports share B's, so its two links' work
    // takes turns on one clock, as on a real board.
    let (cpu_a, cpu_b, cpu_c) = (
        Cpu::new(BUS_CYCLES),
        Cpu::new(BUS_CYCLES),
        Cpu::new(BUS_CYCLES),
    );
    let (a_tx, a_rx) = Port::pair(&link_ab, Side::A, &cpu_a);
    let (bl_tx, bl_rx) = Port::pair(&link_ab, Side::B, &cpu_b);
    let (br_tx, br_rx) = Port::pair(&link_bc, Side::A, &cpu_b);
    let (c_tx, c_rx) = Port::pair(&link_bc, Side::B, &cpu_c);

    let resources = || Box::new(Resources::<16384>::new());
    let (mut res_a, mut res_bl, mut res_br, mut res_c) =
        (resources(), resources(), resources(), resources());
    let time = VirtualTime::new(vec![&link_ab, &link_bc], vec![&cpu_a, &cpu_b, &cpu_c]);
    // B has one port per link, so one address per link.
    let b_second_port = HardwareId {
        port: 1,
        ..sim_id(2)
    };
    // Each link aligns and comes up by itself as its net tasks poll.
    let mut a = State::new(
        TcpIp::new(
            a_tx,
            a_rx,
            sim_id(1),
            link_config(1, ab.seed),
            &mut res_a,
            Instant::ZERO,
        ),
        time.clock(CPU_A),
    );
    let mut b_left = State::new(
        TcpIp::new(
            bl_tx,
            bl_rx,
            sim_id(2),
            link_config(2, ab.seed),
            &mut res_bl,
            Instant::ZERO,
        ),
        time.clock(CPU_B),
    );
    let mut b_right = State::new(
        TcpIp::new(
            br_tx,
            br_rx,
            b_second_port,
            link_config(2, bc.seed),
            &mut res_br,
            Instant::ZERO,
        ),
        time.clock(CPU_B),
    );
    let mut c = State::new(
        TcpIp::new(
            c_tx,
            c_rx,
            sim_id(3),
            link_config(3, bc.seed),
            &mut res_c,
            Instant::ZERO,
        ),
        time.clock(CPU_C),
    );
    let (net_a, run_a) = asynch::new(&mut a, time.signal(CPU_A, LINK_AB, Side::A));
    let (net_bl, run_bl) = asynch::new(&mut b_left, time.signal(CPU_B, LINK_AB, Side::B));
    let (net_br, run_br) = asynch::new(&mut b_right, time.signal(CPU_B, LINK_BC, Side::A));
    let (net_c, run_c) = asynch::new(&mut c, time.signal(CPU_C, LINK_BC, Side::B));

    let request: Vec<u8> = (0..ECHO_BYTES).map(|i| (i * 7 % 251) as u8).collect();
    let echoed = RefCell::new(None);
    let echo_count = Cell::new(None);
    let fed = Cell::new(None);
    let sunk = Cell::new(None);
    let mut executor = Executor::new();
    executor.spawn_background(CPU_A, "net A", run_a.run());
    executor.spawn_background(CPU_B, "net B (link to A)", run_bl.run());
    executor.spawn_background(CPU_B, "net B (link to C)", run_br.run());
    executor.spawn_background(CPU_C, "net C", run_c.run());
    let app_tasks = [
        executor.spawn(CPU_B, "B: echo", async {
            echo_count.set(Some(echo(net_bl, ECHO_PORT).await))
        }),
        executor.spawn(CPU_B, "B: feed", async {
            fed.set(Some(feed(net_br, SINK_PORT, FEED_BYTES).await))
        }),
        executor.spawn(CPU_A, "A: ask the echo", async {
            *echoed.borrow_mut() = Some(ask_echo(net_a, &request).await)
        }),
        executor.spawn(CPU_C, "C: sink", async {
            sunk.set(Some(sink(net_c, SINK_PORT).await))
        }),
    ];
    if let Err(e) = executor.run(&time, Instant::from_micros(10_000_000)) {
        eprintln!("error: {e}");
        return ExitCode::FAILURE;
    }
    let app_polls: u64 = app_tasks.iter().map(|&t| executor.polls(t)).sum();
    drop(executor);
    let net_polls: u64 = [&a, &b_left, &b_right, &c].iter().map(|s| s.polls()).sum();

    println!("async_node: node B serves A (echo) and C (a stream) at once, over two lossy links");
    let mut ok = true;
    match (echoed.into_inner(), echo_count.get()) {
        (Some(Ok(back)), Some(Ok(n))) if back == request => {
            println!("  A <-> B  echo: {n} bytes sent back, identical to what A sent")
        }
        (back, n) => {
            ok = false;
            eprintln!("error: echo: A got {back:?}, B reports {n:?}");
        }
    }
    let want = feed_sha256(FEED_BYTES);
    match (fed.get(), sunk.get()) {
        (Some(Ok(())), Some(Ok((sha, len)))) if sha == want && len == FEED_BYTES => {
            println!(
                "  B  -> C  stream: {len} bytes, SHA-256 {}",
                tidenet_sim::hex(&sha)
            )
        }
        (fed, sunk) => {
            ok = false;
            eprintln!("error: stream: B says {fed:?}, C got {sunk:?}");
        }
    }
    println!(
        "  virtual time {}; {net_polls} polls of the four transports, {app_polls} of the four application tasks",
        time.now()
    );
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
