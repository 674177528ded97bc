//! Simulated bittide nodes on the ringbuffer model, for the `tidenet` tool
//! and for tests that need two nodes talking over a lossy link.
//!
//! [`transfer`] is the demo's engine: it puts the chosen stack on both ends
//! of a modelled link, lets the link align and come up, moves a stream of
//! bytes from node A to node B and reports what arrived, how long it took
//! in virtual time, and every counter on the way. Each node has its own
//! CPU, so the two ends work side by side in virtual time. It drives the
//! nodes either as poll loops or as async tasks on [`executor::Executor`],
//! the virtual-time executor.

use std::cell::{Cell, RefCell};
use std::fmt;

use embedded_io_async::Write;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use tidenet_bespoke::Bespoke;
use tidenet_core::addr::HardwareId;
use tidenet_core::asynch::{self, State};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, LinkState, Stats, StreamId, Transport};
use tidenet_model::{ConfigError, Cpu, Injected, Link, LinkConfig, Port, Schedule, Side, CYCLE_NS};
use tidenet_ringbuffer::wire::mtu_for_depth;
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

pub mod executor;
pub mod mesh;
pub mod nodes;
pub mod pcap;
pub mod report;
pub mod soak;
pub mod topology;
pub mod virtual_time;

pub use nodes::Stack;

use executor::Executor;
use pcap::{Capture, Tap};
use virtual_time::VirtualTime;

/// The TCP port the demo's receiver listens on.
pub const DEMO_PORT: u16 = 7000;
/// Bytes per stream per direction in the demo's transports.
const STREAM_BUFFER: usize = 16 * 1024;
/// Bytes of each link's window in the simulated nodes' transports: enough
/// frames in flight for a 4000-word ring at full rate.
const WINDOW: usize = Window::Deep.bytes();

/// Bytes of RAM one end of a link takes in the link layer: its state, with
/// the model's ports standing in for a board's registers, and its window.
/// The stack above adds its own (smoltcp's sockets and buffers).
pub fn link_ram(window: Window) -> usize {
    type Model = tidenet_ringbuffer::Link<
        'static,
        tidenet_model::Tx<'static, 'static, 'static>,
        tidenet_model::Rx<'static, 'static, 'static>,
    >;
    core::mem::size_of::<Model>() + window.bytes()
}

/// One transfer from node A to node B.
#[derive(Clone, Copy, Debug)]
pub struct TransferConfig {
    /// Bytes to move.
    pub bytes: u64,
    /// The modelled link.
    pub link: LinkConfig,
    /// Link cycles one 64-bit bus access costs each node's CPU.
    pub bus_cycles: u64,
    /// Virtual time without a new byte arriving (or, before, without the
    /// link coming up) after which the transfer counts as stalled.
    pub stall_cycles: u64,
    /// The stack both nodes run.
    pub stack: Stack,
    /// How the nodes drive it.
    pub driver: Driver,
    /// Each link's window of frames in flight.
    pub window: Window,
    /// Pings A sends B, one at a time, once the link is up and before the
    /// stream opens: their round trips are [`Report::rtts`]. The transfer's
    /// figures start after them.
    pub pings: u32,
}

/// The RAM each end of a link keeps for its frames in flight, beside the
/// link's own state. A stack takes its size as a type parameter, so the
/// simulator offers the sizes tidenet's builds use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Window {
    /// 4 KiB, the firmware image's: two full 1500-byte frames.
    #[value(name = "4096")]
    Firmware,
    /// 6 KiB, `tidenet_tcpip::DEFAULT_WINDOW`.
    #[value(name = "6144")]
    Tcpip,
    /// 16 KiB: frames in flight to fill a 4000-word ring at full rate.
    #[default]
    #[value(name = "16384")]
    Deep,
}

impl Window {
    /// Every size, smallest first.
    pub const ALL: [Window; 3] = [Window::Firmware, Window::Tcpip, Window::Deep];

    /// The window's size in bytes.
    pub const fn bytes(self) -> usize {
        match self {
            Window::Firmware => 4096,
            Window::Tcpip => tidenet_tcpip::DEFAULT_WINDOW,
            Window::Deep => 16 * 1024,
        }
    }
}

/// How the nodes' code drives their transports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// A loop per node polls its transport and tries every operation in
    /// turn, as the node firmware does, and sleeps while nothing is due.
    #[default]
    Poll,
    /// Async tasks on the virtual-time executor: a net task per node, woken
    /// by link landings, deadlines and socket access, plus a sender and a
    /// receiver task.
    Async,
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            bytes: 4 << 20,
            link: LinkConfig::default(),
            bus_cycles: 8,
            // Twelve virtual seconds: past smoltcp's longest retransmission
            // back-off (10 s), which a link losing half its writes can
            // drive TCP to without being stuck.
            stall_cycles: 12 * 125_000_000,
            stack: Stack::Tcpip,
            driver: Driver::Poll,
            window: Window::Deep,
            pings: 0,
        }
    }
}

/// What a transfer did.
#[derive(Clone, Debug)]
pub struct Report {
    /// SHA-256 of the bytes A sent.
    pub sent_sha256: [u8; 32],
    /// SHA-256 of the bytes B received.
    pub received_sha256: [u8; 32],
    /// Bytes B received.
    pub received: u64,
    /// Cycles until both ends had the link up: alignment and handshake.
    pub up_cycles: u64,
    /// Cycles from `connect` to the last byte arriving.
    pub transfer_cycles: u64,
    /// The link's MTU.
    pub mtu: usize,
    /// Node A's counters.
    pub a: Stats,
    /// Node B's counters.
    pub b: Stats,
    /// What the model injected.
    pub injected: Injected,
    /// Link cycles one bus word costs each CPU, for the bus ceiling.
    pub bus_cycles: u64,
    /// Of the transfer's cycles, the fraction each CPU spent on bus
    /// accesses.
    pub busy: [f64; 2],
    /// Writes the model applied late: zero when the run was exact.
    pub late_writes: u64,
    /// How often the nodes' code ran.
    pub polls: Polls,
    /// The round trips of [`TransferConfig::pings`], in virtual time.
    pub rtts: Vec<Duration>,
}

/// How often a transfer's code ran: the measure of busy polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polls {
    /// Polls of the two transports: by the loops, or by the two net tasks.
    pub transport: u64,
    /// Polls of the sender and receiver tasks under [`Driver::Async`]; the
    /// poll loops have no tasks.
    pub tasks: u64,
}

impl Report {
    /// Whether every byte arrived intact.
    pub fn intact(&self) -> bool {
        self.sent_sha256 == self.received_sha256
    }

    /// Payload bytes per link cycle.
    pub fn bytes_per_cycle(&self) -> f64 {
        self.received as f64 / self.transfer_cycles.max(1) as f64
    }

    /// Goodput in megabytes (10^6) per second of virtual time.
    pub fn goodput_mb_s(&self) -> f64 {
        self.bytes_per_cycle() * 1e3 / CYCLE_NS as f64
    }

    /// Goodput as a fraction of the wire's ceiling: one 8-byte word per cycle.
    pub fn wire_efficiency(&self) -> f64 {
        self.bytes_per_cycle() / 8.0
    }

    /// The most a direction can carry, in bytes per cycle: the slower of
    /// the wire (8 bytes a cycle) and the CPUs, whose buses work at the same
    /// time, each moving 8 bytes per `bus_cycles` (the writer's and the
    /// reader's).
    pub fn ceiling(&self) -> f64 {
        (8.0 / self.bus_cycles.max(1) as f64).min(8.0)
    }

    /// Goodput as a fraction of [`ceiling`](Report::ceiling).
    pub fn efficiency(&self) -> f64 {
        self.bytes_per_cycle() / self.ceiling()
    }
}

/// Why a transfer did not finish.
#[derive(Debug)]
pub enum TransferError {
    /// The link configuration is invalid.
    Config(ConfigError),
    /// The rig cannot be built.
    Mesh(mesh::MeshError),
    /// The link did not come up within the stall time.
    NotUp {
        /// Each end's link state when it gave up.
        states: [LinkState; 2],
        /// When it gave up, in cycles.
        at_cycles: u64,
    },
    /// The transport refused an operation.
    Transport(Error),
    /// The host failed to set up a simulated node's UART or thread.
    Io(std::io::Error),
    /// No byte arrived for `stall_cycles`.
    Stalled {
        /// Bytes that had arrived.
        received: u64,
        /// When it gave up, in cycles.
        at_cycles: u64,
        /// Both nodes' counters then (boxed: the error stays small), if the
        /// driver could still read them.
        stats: Option<Box<[Stats; 2]>>,
    },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Config(e) => write!(f, "bad link configuration: {e}"),
            TransferError::Mesh(e) => write!(f, "{e}"),
            TransferError::NotUp { states, at_cycles } => write!(
                f,
                "link-down: the link had not come up by cycle {at_cycles} (A {}, B {}); check the link's flags",
                describe(states[0]),
                describe(states[1])
            ),
            TransferError::Transport(e) => write!(f, "{e}"),
            TransferError::Io(e) => write!(f, "io: {e}"),
            TransferError::Stalled {
                received,
                at_cycles,
                stats,
            } => {
                write!(
                    f,
                    "stalled: no data arrived for the stall time-out; {received} bytes had arrived by cycle {at_cycles}"
                )?;
                if let Some(stats) = stats {
                    write!(f, "; the counters then, node A / node B:")?;
                    for (a, b) in stats[0].fields().iter().zip(stats[1].fields().iter()) {
                        if a.value != 0 || b.value != 0 {
                            write!(f, " {}={}/{}", a.name, a.value, b.value)?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// A link state in words, as the demo prints it.
pub fn describe(state: LinkState) -> String {
    match state {
        LinkState::Up => "up".into(),
        LinkState::Down(reason) => format!("down, {}", reason.name()),
    }
}

impl std::error::Error for TransferError {}

impl From<Error> for TransferError {
    fn from(e: Error) -> Self {
        TransferError::Transport(e)
    }
}

/// A hardware id for simulated node `n`: a made-up DNA, port 0.
pub fn sim_id(n: u8) -> HardwareId {
    let mut dna = *b"tidenet-sim-";
    dna[11] = n;
    HardwareId { dna, port: 0 }
}

/// The link layer's configuration for simulated node `n` on a link seeded
/// `seed`: a boot number of its own, as a board's boot counter gives.
pub fn link_config(n: u8, seed: u64) -> Config {
    Config::new(
        (seed as u16)
            .wrapping_mul(0x9e37)
            .wrapping_add(u16::from(n)),
    )
}

/// Moves `config.bytes` seeded pseudo-random bytes from A to B over a
/// modelled link; `progress` hears the received count as it grows.
pub fn transfer(
    config: &TransferConfig,
    progress: impl FnMut(u64),
) -> Result<Report, TransferError> {
    transfer_captured(config, None, progress)
}

/// As [`transfer`], with every IP packet node A sends and receives written
/// to `capture` (see [`pcap`]): the link's whole IP traffic. The bespoke
/// stack has no IP packets, and writes nothing.
pub fn transfer_captured(
    config: &TransferConfig,
    capture: Option<&Capture>,
    progress: impl FnMut(u64),
) -> Result<Report, TransferError> {
    let tap = capture.map_or(Tap::OFF, Capture::tap);
    let mut memory = vec![0u64; config.link.memory_words()];
    let link = RefCell::new(Link::new(&config.link, &mut memory).map_err(TransferError::Config)?);
    let cpus = [Cpu::new(config.bus_cycles), Cpu::new(config.bus_cycles)];
    let (ta, ra) = Port::pair(&link, Side::A, &cpus[0]);
    let (tb, rb) = Port::pair(&link, Side::B, &cpus[1]);
    let (id_a, id_b) = (sim_id(1), sim_id(2));
    let (link_a, link_b) = (
        link_config(1, config.link.seed),
        link_config(2, config.link.seed),
    );
    let run = Run {
        config,
        link: &link,
        cpus: [&cpus[0], &cpus[1]],
        mtu: mtu_for_depth(config.link.depth),
    };
    match config.stack {
        Stack::Tcpip => {
            // The window is a type parameter of the stack's resources.
            macro_rules! tcpip {
                ($window:expr) => {{
                    let mut res_a =
                        Box::new(Resources::<STREAM_BUFFER, { $window.bytes() }>::new());
                    let mut res_b =
                        Box::new(Resources::<STREAM_BUFFER, { $window.bytes() }>::new());
                    let a =
                        TcpIp::with_capture(ta, ra, id_a, link_a, &mut res_a, Instant::ZERO, tap);
                    let b = TcpIp::with_capture(
                        tb,
                        rb,
                        id_b,
                        link_b,
                        &mut res_b,
                        Instant::ZERO,
                        Tap::OFF,
                    );
                    run.between(a, b, progress)
                }};
            }
            match config.window {
                Window::Firmware => tcpip!(Window::Firmware),
                Window::Tcpip => tcpip!(Window::Tcpip),
                Window::Deep => tcpip!(Window::Deep),
            }
        }
        Stack::Bespoke => {
            let window = config.window.bytes();
            let (mut wa, mut wb) = (vec![0u8; window], vec![0u8; window]);
            let a = Bespoke::new(ta, ra, id_a, link_a, &mut wa);
            let b = Bespoke::new(tb, rb, id_b, link_b, &mut wb);
            run.between(a, b, progress)
        }
    }
}

/// A transfer on a modelled link, whatever the stack.
#[derive(Clone, Copy)]
struct Run<'r, 'm> {
    config: &'r TransferConfig,
    link: &'r RefCell<Link<'m>>,
    cpus: [&'r Cpu; 2],
    mtu: usize,
}

/// The sending node's application under the poll driver.
struct Sending {
    data: Xoshiro256PlusPlus,
    chunk: [u8; 4096],
    pending: core::ops::Range<usize>,
    sent: u64,
    hash: Sha256,
    stream: Option<StreamId>,
    /// A's clock at `connect`.
    start: u64,
}

/// The receiving node's application under the poll driver.
struct Receiving {
    buf: [u8; 4096],
    received: u64,
    hash: Sha256,
    stream: Option<StreamId>,
    /// B's clock when the latest byte arrived.
    last: u64,
}

impl Run<'_, '_> {
    fn between<T: Transport>(
        self,
        a: T,
        b: T,
        progress: impl FnMut(u64),
    ) -> Result<Report, TransferError> {
        match self.config.driver {
            Driver::Poll => self.polled(a, b, progress),
            Driver::Async => self.in_tasks(a, b, progress),
        }
    }

    fn latest(&self) -> u64 {
        self.cpus[0].cycles().max(self.cpus[1].cycles())
    }

    fn polled<T: Transport>(
        self,
        mut a: T,
        mut b: T,
        mut progress: impl FnMut(u64),
    ) -> Result<Report, TransferError> {
        let Run {
            config, link, cpus, ..
        } = self;
        let mut schedule = Schedule::new(&cpus, config.link.latency as u64);
        let landing = |i: usize| {
            link.borrow()
                .next_landing(if i == 0 { Side::A } else { Side::B })
        };
        b.listen(DEMO_PORT)?;
        let mut polls = Polls::default();

        // Bring-up: both ends align and shake hands by themselves.
        while a.peer().is_none() || b.peer().is_none() {
            if self.latest() > config.stall_cycles {
                return Err(TransferError::NotUp {
                    states: [a.link_state(), b.link_state()],
                    at_cycles: self.latest(),
                });
            }
            let stepped = schedule.step(landing, |i, now| {
                let (node, side): (&mut T, _) = if i == 0 {
                    (&mut a, Side::A)
                } else {
                    (&mut b, Side::B)
                };
                link.borrow_mut()
                    .take_landed(side, now.as_nanos() / CYCLE_NS);
                polls.transport += 1;
                if node.poll(now) {
                    Some(now)
                } else {
                    node.poll_at(now)
                }
            });
            if stepped.is_none() {
                break;
            }
        }
        let up_cycles = self.latest();
        let Some(peer) = a.peer() else {
            return Err(TransferError::NotUp {
                states: [a.link_state(), b.link_state()],
                at_cycles: up_cycles,
            });
        };

        let rtts = self.ping_polled(&mut a, &mut b, peer, &mut schedule, &mut polls)?;
        let from = self.marks();
        let mut tx = Sending {
            data: Xoshiro256PlusPlus::seed_from_u64(config.link.seed ^ 0x7de5_eed0),
            chunk: [0; 4096],
            pending: 0..0,
            sent: 0,
            hash: Sha256::new(),
            stream: Some(a.connect(peer, DEMO_PORT)?),
            start: cpus[0].cycles(),
        };
        let mut rx = Receiving {
            buf: [0; 4096],
            received: 0,
            hash: Sha256::new(),
            stream: None,
            last: cpus[1].cycles(),
        };
        let mut failed = None;
        while rx.received < config.bytes {
            let stepped = schedule.step(landing, |i, now| {
                let cycles = now.as_nanos() / CYCLE_NS;
                polls.transport += 1;
                let side = if i == 0 { Side::A } else { Side::B };
                link.borrow_mut().take_landed(side, cycles);
                let result = if i == 0 {
                    let busy = a.poll(now);
                    send_some(&mut a, &mut tx, config.bytes)
                        .map(|sent| (busy | sent, a.poll_at(now)))
                } else {
                    let busy = b.poll(now);
                    recv_some(&mut b, &mut rx, cycles, &mut progress)
                        .map(|got| (busy | got, b.poll_at(now)))
                };
                match result {
                    Ok((true, _)) => Some(now),
                    Ok((false, at)) => at,
                    Err(e) => {
                        failed.get_or_insert(e);
                        None
                    }
                }
            });
            if let Some(e) = failed {
                return Err(e.into());
            }
            let quiet = cpus[1].cycles().saturating_sub(rx.last);
            if stepped.is_none() || quiet > config.stall_cycles {
                return Err(TransferError::Stalled {
                    received: rx.received,
                    at_cycles: self.latest(),
                    stats: Some(Box::new([a.stats(), b.stats()])),
                });
            }
        }
        let transfer_cycles = rx.last - tx.start;
        if let Some(stream) = tx.stream {
            a.close(stream)?;
        }
        if let Some(stream) = rx.stream {
            b.close(stream)?;
        }
        Ok(self.report(Moved {
            sent: tx.hash,
            received: rx.hash,
            bytes: rx.received,
            up_cycles,
            from,
            transfer_cycles,
            a: a.stats(),
            b: b.stats(),
            polls,
            rtts,
        }))
    }

    /// Sends [`TransferConfig::pings`] pings from A to B under the poll
    /// driver, one at a time, and returns their round trips.
    fn ping_polled<T: Transport>(
        &self,
        a: &mut T,
        b: &mut T,
        peer: core::net::IpAddr,
        schedule: &mut Schedule<'_>,
        polls: &mut Polls,
    ) -> Result<Vec<Duration>, TransferError> {
        let (config, link) = (self.config, self.link);
        let mut rtts = Vec::new();
        let mut pinging = false;
        let mut failed = None;
        while rtts.len() < config.pings as usize {
            let stepped = schedule.step(
                |i| {
                    link.borrow()
                        .next_landing(if i == 0 { Side::A } else { Side::B })
                },
                |i, now| {
                    let (node, side): (&mut T, _) = if i == 0 {
                        (&mut *a, Side::A)
                    } else {
                        (&mut *b, Side::B)
                    };
                    link.borrow_mut()
                        .take_landed(side, now.as_nanos() / CYCLE_NS);
                    polls.transport += 1;
                    let mut busy = node.poll(now);
                    if i == 0 && !pinging {
                        match node.ping(peer, now) {
                            Ok(()) => pinging = true,
                            Err(Error::WouldBlock) => {}
                            Err(e) => {
                                failed.get_or_insert(e);
                                return None;
                            }
                        }
                        busy = true;
                    }
                    if i == 0 {
                        if let Some((_, rtt)) = node.take_rtt() {
                            rtts.push(rtt);
                            pinging = false;
                            busy = true;
                        }
                    }
                    if busy {
                        Some(now)
                    } else {
                        node.poll_at(now)
                    }
                },
            );
            if let Some(e) = failed {
                return Err(e.into());
            }
            if stepped.is_none() || self.latest() > config.stall_cycles {
                return Err(TransferError::Stalled {
                    received: 0,
                    at_cycles: self.latest(),
                    stats: Some(Box::new([a.stats(), b.stats()])),
                });
            }
        }
        Ok(rtts)
    }

    /// The same transfer as [`Run::polled`], written as async tasks: what
    /// an application on [`tidenet_core::asynch`] looks like, and the
    /// async path of the benchmark.
    fn in_tasks<T: Transport>(
        self,
        a: T,
        b: T,
        mut progress: impl FnMut(u64),
    ) -> Result<Report, TransferError> {
        let Run {
            config, link, cpus, ..
        } = self;
        let time = VirtualTime::new(vec![link], cpus.to_vec());
        let (mut state_a, mut state_b) =
            (State::new(a, time.clock(0)), State::new(b, time.clock(1)));
        let (net_a, runner_a) = asynch::new(&mut state_a, time.signal(0, 0, Side::A));
        let (net_b, runner_b) = asynch::new(&mut state_b, time.signal(1, 0, Side::B));
        net_b.with(|t| t.listen(DEMO_PORT))?;

        // Whatever waits the stall time-out without progress has stalled.
        let stall = Duration::from_nanos(config.stall_cycles * CYCLE_NS);
        let stalled = |received: u64| TransferError::Stalled {
            received,
            at_cycles: self.latest(),
            stats: Some(Box::new([
                net_a.with(|t| t.stats()),
                net_b.with(|t| t.stats()),
            ])),
        };
        let up = Cell::new(0);
        let from = Cell::new([(0, 0); 2]);
        let start = Cell::new(0);
        let end = Cell::new(0);
        let failed = RefCell::new(None);
        let sent_hash = RefCell::new(Sha256::new());
        let received_hash = RefCell::new(Sha256::new());
        let received = Cell::new(0u64);
        let rtts = RefCell::new(Vec::new());

        let sender = async {
            // A's link may go down while B's comes up (at heavy loss, B
            // timing out its handshake starts a new session): then wait for
            // it again, as an application would.
            let mut stream = loop {
                let peer = net_a
                    .with_timeout(stall, net_a.link_up())
                    .await
                    .map_err(|_| TransferError::NotUp {
                        states: [
                            net_a.with(|t| t.link_state()),
                            net_b.with(|t| t.link_state()),
                        ],
                        at_cycles: self.latest(),
                    })?;
                // B may still be shaking hands: it is up once it knows A.
                net_b
                    .with_timeout(stall, net_b.link_up())
                    .await
                    .map_err(|_| stalled(0))?;
                up.set(self.latest());
                let mut down = false;
                while rtts.borrow().len() < config.pings as usize {
                    match net_a.ping(peer, stall).await {
                        Err(Error::LinkDown) => {
                            down = true;
                            break;
                        }
                        rtt => rtts.borrow_mut().push(rtt?),
                    }
                }
                if down {
                    continue;
                }
                from.set(self.marks());
                start.set(cpus[0].cycles());
                match net_a
                    .with_timeout(stall, net_a.connect(peer, DEMO_PORT))
                    .await
                    .map_err(|_| stalled(0))?
                {
                    Err(Error::LinkDown) => continue,
                    stream => break stream?,
                }
            };
            let mut data = Xoshiro256PlusPlus::seed_from_u64(config.link.seed ^ 0x7de5_eed0);
            let mut chunk = [0u8; 4096];
            let mut sent = 0;
            while sent < config.bytes {
                let len = (config.bytes - sent).min(chunk.len() as u64) as usize;
                data.fill_bytes(&mut chunk[..len]);
                sent_hash.borrow_mut().update(&chunk[..len]);
                net_a
                    .with_timeout(stall, stream.write_all(&chunk[..len]))
                    .await
                    .map_err(|_| stalled(received.get()))??;
                sent += len as u64;
            }
            net_a
                .with_timeout(stall, stream.close())
                .await
                .map_err(|_| stalled(received.get()))??;
            Ok::<_, TransferError>(())
        };
        let receiver = async {
            let stream = net_b
                .with_timeout(stall, net_b.accept(DEMO_PORT))
                .await
                .map_err(|_| stalled(0))??;
            let mut buf = [0u8; 4096];
            while received.get() < config.bytes {
                let n = net_b
                    .with_timeout(stall, stream.recv(&mut buf))
                    .await
                    .map_err(|_| stalled(received.get()))??;
                received_hash.borrow_mut().update(&buf[..n]);
                received.set(received.get() + n as u64);
                progress(received.get());
            }
            end.set(cpus[1].cycles());
            Ok::<_, TransferError>(())
        };
        let fail = |e| {
            failed.borrow_mut().get_or_insert(e);
        };

        let mut executor = Executor::new();
        executor.spawn_background(0, "net A", runner_a.run());
        executor.spawn_background(1, "net B", runner_b.run());
        let app_tasks = [
            executor.spawn(0, "sender", async { sender.await.unwrap_or_else(fail) }),
            executor.spawn(1, "receiver", async { receiver.await.unwrap_or_else(fail) }),
        ];
        // Every wait above gives up after `stall`, which ends a stuck
        // transfer; this limit only bounds virtual time in case one doesn't.
        let limit = time.now() + Duration::from_secs(3600);
        let run = executor.run(&time, limit);
        let tasks = app_tasks.iter().map(|&t| executor.polls(t)).sum();
        drop(executor);
        let polls = Polls {
            transport: state_a.polls() + state_b.polls(),
            tasks,
        };
        if let Some(e) = failed.into_inner() {
            return Err(e);
        }
        let (a, b) = (state_a.into_inner().stats(), state_b.into_inner().stats());
        if run.is_err() {
            return Err(TransferError::Stalled {
                received: received.get(),
                at_cycles: self.latest(),
                stats: Some(Box::new([a, b])),
            });
        }
        Ok(self.report(Moved {
            sent: sent_hash.into_inner(),
            received: received_hash.into_inner(),
            bytes: received.get(),
            up_cycles: up.get(),
            from: from.get(),
            transfer_cycles: end.get() - start.get(),
            a,
            b,
            polls,
            rtts: rtts.into_inner(),
        }))
    }

    /// Each CPU's clock and busy cycles, to measure the transfer from.
    fn marks(&self) -> [(u64, u64); 2] {
        self.cpus.map(|c| (c.cycles(), c.busy_cycles()))
    }

    /// The report of a finished transfer, whichever driver ran it.
    fn report(self, moved: Moved) -> Report {
        let busy = [0, 1].map(|i| {
            let (clock, busy) = moved.from[i];
            let cpu = self.cpus[i];
            (cpu.busy_cycles() - busy) as f64 / (cpu.cycles() - clock).max(1) as f64
        });
        let link = self.link.borrow();
        Report {
            sent_sha256: moved.sent.finalize().into(),
            received_sha256: moved.received.finalize().into(),
            received: moved.bytes,
            up_cycles: moved.up_cycles,
            transfer_cycles: moved.transfer_cycles,
            mtu: self.mtu,
            a: moved.a,
            b: moved.b,
            injected: link.injected(),
            bus_cycles: self.config.bus_cycles,
            busy,
            late_writes: link.late_writes(),
            polls: moved.polls,
            rtts: moved.rtts,
        }
    }
}

/// Sends what the stream takes; whether anything was sent.
fn send_some<T: Transport>(a: &mut T, tx: &mut Sending, total: u64) -> Result<bool, Error> {
    let Some(stream) = tx.stream else {
        return Ok(false);
    };
    let mut sent = false;
    loop {
        if tx.pending.is_empty() && tx.sent < total {
            let len = (total - tx.sent).min(tx.chunk.len() as u64) as usize;
            tx.data.fill_bytes(&mut tx.chunk[..len]);
            tx.hash.update(&tx.chunk[..len]);
            tx.sent += len as u64;
            tx.pending = 0..len;
        }
        if tx.pending.is_empty() {
            return Ok(sent);
        }
        match a.send(stream, &tx.chunk[tx.pending.clone()]) {
            Ok(0) | Err(Error::NotConnected(_)) => return Ok(sent),
            Ok(n) => {
                tx.pending.start += n;
                sent = true;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Takes what arrived; whether anything did.
fn recv_some<T: Transport>(
    b: &mut T,
    rx: &mut Receiving,
    now: u64,
    progress: &mut impl FnMut(u64),
) -> Result<bool, Error> {
    if rx.stream.is_none() {
        rx.stream = b.accept(DEMO_PORT)?;
    }
    let Some(stream) = rx.stream else {
        return Ok(false);
    };
    let mut got = false;
    loop {
        let n = b.recv(stream, &mut rx.buf)?;
        if n == 0 {
            return Ok(got);
        }
        rx.hash.update(&rx.buf[..n]);
        rx.received += n as u64;
        rx.last = now;
        progress(rx.received);
        got = true;
    }
}

/// What a driver measured of its transfer.
struct Moved {
    sent: Sha256,
    received: Sha256,
    bytes: u64,
    up_cycles: u64,
    /// Each CPU's clock and busy cycles when the transfer started.
    from: [(u64, u64); 2],
    transfer_cycles: u64,
    a: Stats,
    b: Stats,
    polls: Polls,
    rtts: Vec<Duration>,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
