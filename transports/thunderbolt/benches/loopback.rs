//! The transport's figures on loopback (`::1%lo`): how fast a ping is
//! answered, and how many bytes per second a data stream carries.
//!
//! - RTT, as the caller waits it, interleaved ping by ping so that every
//!   kind shares the machine's load: a plain `std::net::UdpSocket`
//!   ping-pong with an echo thread that blocks on its socket and answers at
//!   once; `measure_rtt` to that same echo thread, so that the two differ
//!   only in what their callers do (the goal: at most 1.2 times the plain
//!   round trip at p50 and p99); and `measure_rtt` to another transport,
//!   directly and through the DCF face, whose control thread answers as
//!   the echo thread does. That thread may sit on another CPU than the echo
//!   thread, and on a VM a wake-up across CPUs costs tens of microseconds,
//!   so the end-to-end figures move more from run to run. The original DCF
//!   answered pings from a thread that polled every 10 ms.
//! - Throughput: bytes written in 1 MiB `write_all`s on one thread and read
//!   with `read_exact` on another, through a `DataStream` and through a
//!   plain `std::net::TcpStream` with the same socket buffers and
//!   `TCP_NODELAY`. The two alternate, three runs each, and the medians are
//!   compared. (Integrity is the tests' business; here only the first and
//!   last chunk of each run are checked.)
//!
//! Each transport figure is given as a ratio to its plain-socket reference
//! measured in the same run, since wall-clock figures on loopback mean
//! little on their own: they follow the machine, its load and its kernel.
//!
//! `cargo bench -p tidenet-thunderbolt` runs this. `TIDENET_BENCH_QUICK=1`
//! (or a `--quick` argument) scales the sizes down to a smoke run for CI.
//! With `TIDENET_BENCH_DIR` set, as `cargo xtask bench` sets it, it also
//! writes its section of the bench report there: `thunderbolt.md`, with
//! the same figures as tables, and `thunderbolt.csv`.

use std::env;
use std::error::Error;
use std::io::{self, Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, SockRef, Socket, Type};
use tidenet_thunderbolt::dcf::{ThunderboltTransport, ThunderboltTransportBuilder};
use tidenet_thunderbolt::probe::{self, Datagram};
use tidenet_thunderbolt::{Builder, DataStream, Peer, Thunderbolt};

type Result<T> = std::result::Result<T, Box<dyn Error>>;

/// Socket send and receive buffers asked for, by the transport and the plain
/// sockets alike: 4 MiB, as the tests ask for, instead of the transport's
/// default of 64 MiB, which kernels cap at `net.core.rmem_max`/`wmem_max`
/// anyway. The output says what the kernel granted each kind.
const BUFFER_SIZE: usize = 4 << 20;
/// Bytes per `write_all` and `read_exact`.
const CHUNK: usize = 1 << 20;
/// Runs of each stream kind, alternating, for a median.
const RUNS: usize = 3;
/// How long any one ping or connection may take before the bench gives up.
const PATIENCE: Duration = Duration::from_secs(5);
/// The polling interval the original DCF answered pings at.
const DCF_POLL: Duration = Duration::from_millis(10);
/// What the caller of `measure_rtt` may wait, at p50 and p99, as a multiple
/// of a plain socket's round trip.
const RTT_GOAL: f64 = 1.2;

/// How much to measure.
#[derive(Clone, Copy, Debug)]
struct Sizes {
    warmup: usize,
    pings: usize,
    stream_bytes: usize,
}

const FULL: Sizes = Sizes {
    warmup: 200,
    pings: 5000,
    stream_bytes: 256 << 20,
};

const QUICK: Sizes = Sizes {
    warmup: 20,
    pings: 500,
    stream_bytes: 16 << 20,
};

fn main() {
    if let Err(e) = run() {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}

fn run() -> Result<()> {
    let quick = quick()?;
    let sizes = if quick { QUICK } else { FULL };
    println!(
        "tidenet-thunderbolt on loopback ({}; set TIDENET_BENCH_QUICK=1 or pass --quick for a smoke run)",
        if quick { "quick sizes" } else { "full sizes" }
    );

    let (a, b) = loopback_pair()?;
    let rtts = rtt(&a, &b, sizes)?;
    let rates = throughput(&a, &b, sizes)?;
    if let Some(dir) = env::var_os("TIDENET_BENCH_DIR") {
        report(Path::new(&dir), sizes, &rtts, rates)?;
    }
    Ok(())
}

/// Writes the report's section, `thunderbolt.md`, and `thunderbolt.csv`
/// into `dir`.
fn report(dir: &Path, sizes: Sizes, rtts: &[(&str, Percentiles)], rates: (f64, f64)) -> Result<()> {
    let reference = rtts
        .iter()
        .find(|(what, _)| *what == PLAIN)
        .map(|(_, p)| (p.p50, p.p99))
        .ok_or("no plain round trips")?;
    let mut md = format!(
        "## Thunderbolt transport on loopback\n\n\
         `cargo bench -p tidenet-thunderbolt` on `::1%lo`: UDP round trips of a 16-byte ping, {} of each kind after {} warm-up, interleaved; \
         TCP throughput of {} MiB per run, median of {RUNS}. Each figure is also a ratio to a plain socket measured in the same run.\n\n\
         | round trip | p50 us | p99 us | max us | p50 / plain | p99 / plain |\n|---|---:|---:|---:|---:|---:|\n",
        sizes.pings,
        sizes.warmup,
        sizes.stream_bytes >> 20
    );
    let mut csv = String::from("what,p50_us,p99_us,max_us\n");
    for (what, p) in rtts {
        md += &format!(
            "| {what} | {:.1} | {:.1} | {:.1} | {:.2} | {:.2} |\n",
            us(p.p50),
            us(p.p99),
            us(p.max),
            ratio(p.p50, reference.0),
            ratio(p.p99, reference.1)
        );
        csv += &format!(
            "\"{what}\",{:.1},{:.1},{:.1}\n",
            us(p.p50),
            us(p.p99),
            us(p.max)
        );
    }
    let (transport, plain) = rates;
    md += &format!(
        "\n| TCP stream | MB/s |\n|---|---:|\n| transport `DataStream` | {transport:.0} |\n| plain `TcpStream` | {plain:.0} |\n| ratio transport/plain | {:.2} |\n",
        transport / plain
    );
    csv += &format!("stream MB/s transport,{transport:.0},,\nstream MB/s plain,{plain:.0},,\n");
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("thunderbolt.md"), md)?;
    std::fs::write(dir.join("thunderbolt.csv"), csv)?;
    println!("wrote {}", dir.join("thunderbolt.md").display());
    Ok(())
}

/// Whether to run the small sizes. Ignores the `--bench` cargo passes.
fn quick() -> Result<bool> {
    let mut quick = env::var("TIDENET_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0");
    for arg in env::args().skip(1) {
        match arg.as_str() {
            "--bench" => {}
            "--quick" => quick = true,
            other => {
                return Err(format!(
                    "unknown argument '{other}': the only one is --quick (or set TIDENET_BENCH_QUICK=1)"
                )
                .into())
            }
        }
    }
    Ok(quick)
}

// --- RTT ---------------------------------------------------------------------

/// The plain socket's row, which the others are ratios to.
const PLAIN: &str = "plain UdpSocket to the echo peer";

/// Measures the round trips and prints them; returns them by kind.
fn rtt(a: &Thunderbolt, b: &Thunderbolt, sizes: Sizes) -> Result<Vec<(&'static str, Percentiles)>> {
    let Sizes { warmup, pings, .. } = sizes;
    let mut plain = PlainPing::start()?;
    let to_echo = on_loopback(free_ports()?, "C")
        .peer(Peer {
            ip: Ipv6Addr::LOCALHOST,
            control_port: plain.port(),
            data_port: b.data_addr()?.port(),
        })
        .build()
        .map_err(|e| format!("transport C on ::1%lo: {e}"))?;
    let face = dcf_face(b)?;
    let peer = Ipv6Addr::LOCALHOST;
    // Each round pings once each way, in a rotating order, so that all
    // see the same load on the machine and none always goes first.
    let mut caller = Samples::new(pings);
    let mut reported = Samples::new(pings);
    let mut end_to_end = Samples::new(pings);
    let mut face_waited = Samples::new(pings);
    let mut reference = Samples::new(pings);
    for i in 0..warmup + pings {
        let measured = i >= warmup;
        for kind in 0..KINDS {
            match (i + kind) % KINDS {
                0 => {
                    let start = Instant::now();
                    let rtt = to_echo
                        .measure_rtt(peer, PATIENCE)
                        .map_err(|e| format!("ping {i} to the echo peer: {e}"))?;
                    caller.push(measured, start.elapsed());
                    reported.push(measured, rtt);
                }
                1 => {
                    let start = Instant::now();
                    a.measure_rtt(peer, PATIENCE)
                        .map_err(|e| format!("ping {i} from A to B: {e}"))?;
                    end_to_end.push(measured, start.elapsed());
                }
                2 => {
                    let start = Instant::now();
                    face.measure_rtt("::1%lo", PATIENCE)
                        .map_err(|e| format!("ping {i} through the DCF face: {e}"))?
                        .ok_or_else(|| format!("ping {i} through the DCF face: no pong"))?;
                    face_waited.push(measured, start.elapsed());
                }
                _ => reference.push(measured, plain.ping(i)?),
            }
        }
    }
    plain.stop()?;

    let caller = Percentiles::of(caller.0);
    let reported = Percentiles::of(reported.0);
    let end_to_end = Percentiles::of(end_to_end.0);
    let face_waited = Percentiles::of(face_waited.0);
    let reference = Percentiles::of(reference.0);
    println!();
    println!(
        "UDP RTT on [::1], 16-byte ping and pong, {pings} round trips of each kind after {warmup} warm-up, interleaved:"
    );
    for (what, figures) in [
        ("measure_rtt to the echo peer, as the caller waits", &caller),
        ("measure_rtt to the echo peer, as it reports", &reported),
        (PLAIN, &reference),
        (
            "measure_rtt to a transport, as the caller waits",
            &end_to_end,
        ),
        (
            "dcf face measure_rtt(\"::1%lo\") to a transport",
            &face_waited,
        ),
    ] {
        println!("  {:<51} {figures}", format!("{what}:"));
    }
    println!(
        "  ratio measure_rtt/plain, same echo peer:  p50 {:.2}, p99 {:.2} (the goal: at most {RTT_GOAL})",
        ratio(caller.p50, reference.p50),
        ratio(caller.p99, reference.p99)
    );
    println!(
        "  ratio to plain, a transport answering:    p50 {:.2}, p99 {:.2}; through the dcf face: p50 {:.2}, p99 {:.2}",
        ratio(end_to_end.p50, reference.p50),
        ratio(end_to_end.p99, reference.p99),
        ratio(face_waited.p50, reference.p50),
        ratio(face_waited.p99, reference.p99)
    );
    println!(
        "  round trips over {} ms (the original DCF's polling interval): {} of {pings}",
        DCF_POLL.as_millis(),
        end_to_end.over(DCF_POLL)
    );
    Ok(vec![
        ("measure_rtt to the echo peer, as the caller waits", caller),
        ("measure_rtt to the echo peer, as it reports", reported),
        (PLAIN, reference),
        (
            "measure_rtt to a transport, as the caller waits",
            end_to_end,
        ),
        ("dcf face measure_rtt to a transport", face_waited),
    ])
}

/// Kinds of round trip the RTT figure interleaves.
const KINDS: usize = 4;

/// Round trips of one kind, the warm-up's left out.
struct Samples(Vec<Duration>);

impl Samples {
    fn new(capacity: usize) -> Self {
        Samples(Vec::with_capacity(capacity))
    }

    fn push(&mut self, measured: bool, took: Duration) {
        if measured {
            self.0.push(took);
        }
    }
}

/// A DCF-face transport on loopback whose peer is `b`.
fn dcf_face(b: &Thunderbolt) -> Result<Arc<ThunderboltTransport>> {
    let (control, data) = free_ports()?;
    let b_control = b.control_addr()?.port();
    let b_data = b.data_addr()?.port();
    Ok(ThunderboltTransportBuilder::new()
        .interface("lo")
        .control_port(control)
        .data_port(data)
        .buffer_size(BUFFER_SIZE)
        .peer(Peer {
            ip: Ipv6Addr::LOCALHOST,
            control_port: b_control,
            data_port: b_data,
        })
        .logger(|level, line| eprintln!("dcf face: [{level:?}] {line}"))
        .build()
        .map_err(|e| format!("the DCF face on ::1%lo: {e}"))?)
}

/// The reference: a plain socket pinging a thread that answers each
/// datagram at once from a socket it blocks on: a ping with its pong, as a
/// DCF peer does, anything else with the same bytes. Transport C pings the
/// same thread, so that the two differ only in what their callers do.
struct PlainPing {
    socket: UdpSocket,
    to: SocketAddr,
    echoer: thread::JoinHandle<io::Result<()>>,
}

impl PlainPing {
    fn start() -> Result<PlainPing> {
        let echo_socket =
            UdpSocket::bind("[::1]:0").map_err(|e| format!("bind the echo socket: {e}"))?;
        let to = echo_socket.local_addr()?;
        let echoer = thread::Builder::new()
            .name("udp-echo".into())
            .spawn(move || echo(&echo_socket))?;
        let socket =
            UdpSocket::bind("[::1]:0").map_err(|e| format!("bind the ping socket: {e}"))?;
        socket.set_read_timeout(Some(PATIENCE))?;
        Ok(PlainPing { socket, to, echoer })
    }

    /// One round trip of a 16-byte datagram, as the caller waits it.
    fn ping(&mut self, i: usize) -> Result<Duration> {
        let mut ping = [0u8; 16];
        let mut pong = [0u8; 16];
        ping[8..].copy_from_slice(&(i as u64).to_be_bytes());
        let start = Instant::now();
        self.socket.send_to(&ping, self.to)?;
        let len = self
            .socket
            .recv(&mut pong)
            .map_err(|e| format!("plain UDP ping {i}: no echo: {e}"))?;
        let took = start.elapsed();
        if pong[..len] != ping {
            return Err(format!("plain UDP ping {i}: the echo differs").into());
        }
        Ok(took)
    }

    /// The echo thread's port.
    fn port(&self) -> u16 {
        self.to.port()
    }

    fn stop(self) -> Result<()> {
        self.socket.send_to(&[], self.to)?;
        self.echoer
            .join()
            .map_err(|_| "the echo thread panicked")?
            .map_err(|e| format!("the echo thread: {e}"))?;
        Ok(())
    }
}

/// Answers every datagram at once, until an empty one: a ping with its
/// pong, anything else with the same bytes.
fn echo(socket: &UdpSocket) -> io::Result<()> {
    let mut buf = [0u8; 64];
    loop {
        let (len, from) = socket.recv_from(&mut buf)?;
        match Datagram::classify(&buf[..len]) {
            _ if len == 0 => return Ok(()),
            Datagram::Ping(stamp) => socket.send_to(&probe::pong(stamp), from)?,
            _ => socket.send_to(&buf[..len], from)?,
        };
    }
}

/// The median, 99th percentile and maximum of a set of durations.
struct Percentiles {
    sorted: Vec<Duration>,
    p50: Duration,
    p99: Duration,
    max: Duration,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Percentiles {
        assert!(!samples.is_empty(), "no samples");
        samples.sort_unstable();
        // Nearest rank: the smallest sample at least p% of them do not exceed.
        let rank = |p: usize| samples[(samples.len() * p).div_ceil(100).max(1) - 1];
        Percentiles {
            p50: rank(50),
            p99: rank(99),
            max: rank(100),
            sorted: samples,
        }
    }

    fn over(&self, limit: Duration) -> usize {
        self.sorted.len() - self.sorted.partition_point(|&d| d <= limit)
    }
}

impl std::fmt::Display for Percentiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "p50 {:7.1} us, p99 {:7.1} us, max {:8.1} us",
            us(self.p50),
            us(self.p99),
            us(self.max)
        )
    }
}

// --- Throughput --------------------------------------------------------------

/// Measures stream throughput and prints it; returns the medians in MB/s,
/// the transport's and the plain socket's.
fn throughput(a: &Thunderbolt, b: &Thunderbolt, sizes: Sizes) -> Result<(f64, f64)> {
    let total = sizes.stream_bytes;
    let data: Vec<u8> = (0..CHUNK).map(|i| (i * 31 + i / 251) as u8).collect();
    let plain = PlainListener::bind()?;

    // One untimed run of each kind first, so neither pays for cold caches,
    // page faults or a CPU still clocked down.
    let warmup = (total / 4).max(CHUNK);
    let (to_b, at_b) = streams(a, b)?;
    transfer(to_b, at_b, &data, warmup).map_err(|e| format!("transport warm-up: {e}"))?;
    let (from, to) = plain.pair()?;
    transfer(from, to, &data, warmup).map_err(|e| format!("plain warm-up: {e}"))?;

    let mut transport_rates = Vec::with_capacity(RUNS);
    let mut plain_rates = Vec::with_capacity(RUNS);
    let mut buffers = (String::new(), String::new());
    for run in 0..RUNS {
        let (to_b, at_b) = streams(a, b)?;
        buffers.0 = granted(to_b.get_ref(), at_b.get_ref())?;
        let took = transfer(to_b, at_b, &data, total)
            .map_err(|e| format!("transport run {}: {e}", run + 1))?;
        transport_rates.push(mb_per_s(total, took));

        let (from, to) = plain.pair()?;
        buffers.1 = granted(&from, &to)?;
        let took =
            transfer(from, to, &data, total).map_err(|e| format!("plain run {}: {e}", run + 1))?;
        plain_rates.push(mb_per_s(total, took));
    }

    let list = |rates: &[f64]| {
        rates
            .iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    println!();
    println!(
        "TCP throughput on [::1], {} MiB per run in {} KiB write_all/read_exact, \
         {RUNS} runs each alternating after a {} MiB warm-up, median (MB/s = 10^6 bytes/s):",
        total >> 20,
        CHUNK >> 10,
        warmup >> 20
    );
    println!(
        "  socket buffers asked for: {} MiB send and receive, TCP_NODELAY on, both kinds",
        BUFFER_SIZE >> 20
    );
    println!(
        "  transport DataStream: {:8.0} MB/s  (runs: {}; kernel granted {})",
        median(&transport_rates),
        list(&transport_rates),
        buffers.0
    );
    println!(
        "  plain TcpStream:      {:8.0} MB/s  (runs: {}; kernel granted {})",
        median(&plain_rates),
        list(&plain_rates),
        buffers.1
    );
    println!(
        "  ratio transport/plain: {:.2}",
        median(&transport_rates) / median(&plain_rates)
    );
    Ok((median(&transport_rates), median(&plain_rates)))
}

/// A data stream from A to B: A's end and B's.
fn streams(a: &Thunderbolt, b: &Thunderbolt) -> Result<(DataStream, DataStream)> {
    let to_b = a
        .open_data_stream(Ipv6Addr::LOCALHOST)
        .map_err(|e| format!("open a data stream from A to B: {e}"))?;
    let at_b = b
        .accept_data_stream(PATIENCE)
        .map_err(|e| format!("accept A's data stream at B: {e}"))?;
    Ok((to_b, at_b))
}

/// Writes `total` bytes, `data` over and over, into `from` on a thread of
/// its own and reads them from `to`. Returns the time from the first write
/// to the last byte read.
fn transfer<W, R>(mut from: W, mut to: R, data: &[u8], total: usize) -> Result<Duration>
where
    W: Write + Send + 'static,
    R: Read,
{
    let source = data.to_vec();
    let start = Instant::now();
    let writer = thread::Builder::new()
        .name("bench-writer".into())
        .spawn(move || write_repeated(&mut from, &source, total))?;
    let mut buf = vec![0u8; data.len()];
    let mut left = total;
    let mut first = true;
    while left > 0 {
        let n = buf.len().min(left);
        to.read_exact(&mut buf[..n])
            .map_err(|e| format!("read_exact with {left} bytes to go: {e}"))?;
        left -= n;
        if (first || left == 0) && buf[..n] != data[..n] {
            return Err("a chunk arrived changed".into());
        }
        first = false;
    }
    let took = start.elapsed();
    writer
        .join()
        .map_err(|_| "the writer thread panicked")?
        .map_err(|e| format!("the writer: {e}"))?;
    Ok(took)
}

/// Writes `total` bytes into `to`, `source` over and over.
fn write_repeated(to: &mut impl Write, source: &[u8], total: usize) -> io::Result<()> {
    let mut left = total;
    while left > 0 {
        let n = source.len().min(left);
        to.write_all(&source[..n])?;
        left -= n;
    }
    to.flush()
}

/// A plain TCP listener on `[::1]`, its sockets set up as the transport's
/// are: same buffers, `TCP_NODELAY`.
struct PlainListener {
    listener: TcpListener,
    addr: SocketAddr,
}

impl PlainListener {
    fn bind() -> Result<PlainListener> {
        let socket = plain_socket()?;
        socket.set_reuse_address(true)?;
        let any = SocketAddrV6::new(Ipv6Addr::LOCALHOST, 0, 0, 0);
        socket
            .bind(&SockAddr::from(any))
            .map_err(|e| format!("bind a plain listener on [::1]: {e}"))?;
        socket.listen(16)?;
        let listener: TcpListener = socket.into();
        let addr = listener.local_addr()?;
        Ok(PlainListener { listener, addr })
    }

    /// A connected pair: the connecting end and the accepted one.
    fn pair(&self) -> Result<(TcpStream, TcpStream)> {
        let socket = plain_socket()?;
        socket
            .connect_timeout(&SockAddr::from(self.addr), PATIENCE)
            .map_err(|e| format!("connect to the plain listener: {e}"))?;
        let (accepted, _) = self.listener.accept()?;
        accepted.set_nodelay(true)?;
        Ok((socket.into(), accepted))
    }
}

fn plain_socket() -> Result<Socket> {
    let socket = Socket::new(Domain::IPV6, Type::STREAM, Some(Protocol::TCP))?;
    socket.set_recv_buffer_size(BUFFER_SIZE)?;
    socket.set_send_buffer_size(BUFFER_SIZE)?;
    socket.set_tcp_nodelay(true)?;
    Ok(socket)
}

/// The buffers the kernel granted a stream's two ends: the writer's send
/// buffer and the reader's receive buffer. (Linux reports twice what it
/// grants, for its bookkeeping.)
fn granted(writer: &TcpStream, reader: &TcpStream) -> Result<String> {
    let send = SockRef::from(writer).send_buffer_size()? / 2;
    let recv = SockRef::from(reader).recv_buffer_size()? / 2;
    Ok(format!(
        "send {:.1} MiB, receive {:.1} MiB",
        mib(send),
        mib(recv)
    ))
}

// --- Setup and arithmetic ----------------------------------------------------

/// Two ports nothing on loopback holds right now: one for control, one for
/// data. (The OS may hand them out again before they are bound; it picks
/// ephemeral ports in sequence, so that takes thousands of binds.)
fn free_ports() -> Result<(u16, u16)> {
    let a = TcpListener::bind("[::1]:0").map_err(|e| format!("bind an ephemeral port: {e}"))?;
    let b = TcpListener::bind("[::1]:0").map_err(|e| format!("bind an ephemeral port: {e}"))?;
    Ok((a.local_addr()?.port(), b.local_addr()?.port()))
}

/// A builder on `::1%lo` with the given ports and the bench's buffers, that
/// prints its log lines (a capped buffer, say) tagged with `name`.
fn on_loopback((control, data): (u16, u16), name: &'static str) -> Builder {
    Thunderbolt::builder()
        .interface("lo")
        .address(Ipv6Addr::LOCALHOST)
        .control_port(control)
        .data_port(data)
        .buffer_size(BUFFER_SIZE)
        .logger(move |line| eprintln!("transport {name}: {line}"))
}

/// Two transports on loopback, each configured with the other's ports. Both
/// are at `::1`, so each knows `::1` as its one peer.
fn loopback_pair() -> Result<(Thunderbolt, Thunderbolt)> {
    let (pa, pb) = (free_ports()?, free_ports()?);
    let peer = |(control_port, data_port)| Peer {
        ip: Ipv6Addr::LOCALHOST,
        control_port,
        data_port,
    };
    let a = on_loopback(pa, "A")
        .peer(peer(pb))
        .build()
        .map_err(|e| format!("transport A on ::1%lo: {e}"))?;
    let b = on_loopback(pb, "B")
        .peer(peer(pa))
        .build()
        .map_err(|e| format!("transport B on ::1%lo: {e}"))?;
    Ok((a, b))
}

fn median(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn mb_per_s(bytes: usize, took: Duration) -> f64 {
    bytes as f64 / took.as_secs_f64() / 1e6
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64()
}

fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / f64::from(1u32 << 20)
}
