//! Simulated bittide nodes on the ringbuffer model, for the `tidenet` tool
//! and for tests that need two nodes talking over a lossy link.
//!
//! [`transfer`] is the demo's engine: it aligns a modelled link, brings up
//! the chosen stack on both ends, moves a stream of bytes from node A to
//! node B and reports what arrived, how long it took in virtual time, and
//! every counter on the way. It drives the nodes either from one poll loop
//! or as async tasks on [`executor::Executor`], the virtual-time executor.

use std::cell::{Cell, RefCell};
use std::fmt;

use embedded_io_async::Write;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use tidenet_bespoke::Bespoke;
use tidenet_core::addr::HardwareId;
use tidenet_core::asynch::{self, State};
use tidenet_core::time::Duration;
use tidenet_core::{Error, Stats, StreamId, Transport};
use tidenet_ringbuffer::frame::mtu_for_depth;
use tidenet_ringbuffer::model::{self, ConfigError, Injected, Link, LinkConfig, Side, CYCLE_NS};
use tidenet_ringbuffer::{Resources, TcpIp};

pub mod executor;
pub mod nodes;
pub mod virtual_time;

pub use nodes::Stack;

use executor::Executor;
use virtual_time::VirtualTime;

/// The TCP port the demo's receiver listens on.
pub const DEMO_PORT: u16 = 7000;
/// Bytes per stream per direction in the demo's transports.
const STREAM_BUFFER: usize = 16 * 1024;
/// Polls each end gets to align before the link is declared dead.
const ALIGN_POLLS: usize = 100_000;

/// One transfer from node A to node B.
#[derive(Clone, Copy, Debug)]
pub struct TransferConfig {
    /// Bytes to move.
    pub bytes: u64,
    /// The modelled link.
    pub link: LinkConfig,
    /// Virtual time without a new byte arriving after which the transfer
    /// counts as stalled.
    pub stall_cycles: u64,
    /// The stack both nodes run.
    pub stack: Stack,
    /// How the nodes drive it.
    pub driver: Driver,
}

/// How the nodes' code drives their transports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Driver {
    /// One loop polls both transports and tries every operation in turn,
    /// as the node firmware does.
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
            // One virtual second: a hundred times TCP/IP's smallest RTO.
            stall_cycles: 125_000_000,
            stack: Stack::Tcpip,
            driver: Driver::Poll,
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
    /// Cycles alignment took.
    pub align_cycles: u64,
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
    /// Link cycles one bus word costs, for the bus ceiling.
    pub bus_cycles: u64,
    /// How often the nodes' code ran.
    pub polls: Polls,
}

/// How often a transfer's code ran: the measure of busy polling.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Polls {
    /// Polls of the two transports: by the loop, or by the two net tasks.
    pub transport: u64,
    /// Polls of the sender and receiver tasks under [`Driver::Async`]; the
    /// poll loop has no tasks.
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

    /// Goodput as a fraction of what the CPUs' buses can move: each payload
    /// word is written once and read once, at `bus_cycles` each, and the two
    /// CPUs share the model's one clock: 8 bytes per `2 * bus_cycles` cycles.
    pub fn bus_efficiency(&self) -> f64 {
        self.bytes_per_cycle() / (8.0 / (2 * self.bus_cycles.max(1)) as f64)
    }
}

/// Why a transfer did not finish.
#[derive(Debug)]
pub enum TransferError {
    /// The link configuration is invalid.
    Config(ConfigError),
    /// Alignment did not finish.
    AlignmentFailed,
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
    },
}

impl fmt::Display for TransferError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TransferError::Config(e) => write!(f, "bad link configuration: {e}"),
            TransferError::AlignmentFailed => {
                write!(f, "alignment-failed: the link did not align in {ALIGN_POLLS} polls")
            }
            TransferError::Transport(e) => write!(f, "{e}"),
            TransferError::Io(e) => write!(f, "io: {e}"),
            TransferError::Stalled { received, at_cycles } => write!(
                f,
                "stalled: no data arrived for a virtual second; {received} bytes had arrived at cycle {at_cycles} (see the stats)"
            ),
        }
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

/// Moves `config.bytes` seeded pseudo-random bytes from A to B over a
/// modelled link; `progress` hears the received count as it grows.
pub fn transfer(
    config: &TransferConfig,
    progress: impl FnMut(u64),
) -> Result<Report, TransferError> {
    let mut memory = vec![0u64; config.link.memory_words()];
    let link = RefCell::new(Link::new(&config.link, &mut memory).map_err(TransferError::Config)?);
    let now = || link.borrow().instant();

    let (ring_a, ring_b) =
        model::align(&link, ALIGN_POLLS).ok_or(TransferError::AlignmentFailed)?;
    let align_cycles = link.borrow().cycles();

    let (id_a, id_b) = (sim_id(1), sim_id(2));
    let mtu = mtu_for_depth(config.link.depth);
    let run = Run {
        config,
        link: &link,
        align_cycles,
        mtu,
    };
    match config.stack {
        Stack::Tcpip => {
            let mut res_a = Box::new(Resources::<STREAM_BUFFER>::new());
            let mut res_b = Box::new(Resources::<STREAM_BUFFER>::new());
            let a = TcpIp::new(ring_a, id_a, &mut res_a, now());
            let b = TcpIp::new(ring_b, id_b, &mut res_b, now());
            run.between(a, b, progress)
        }
        Stack::Bespoke => {
            let (a, b) = (Bespoke::new(ring_a, id_a), Bespoke::new(ring_b, id_b));
            run.between(a, b, progress)
        }
    }
}

/// A transfer on an aligned link, whatever the stack.
#[derive(Clone, Copy)]
struct Run<'r, 'm> {
    config: &'r TransferConfig,
    link: &'r RefCell<Link<'m>>,
    align_cycles: u64,
    mtu: usize,
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

    fn polled<T: Transport>(
        self,
        mut a: T,
        mut b: T,
        mut progress: impl FnMut(u64),
    ) -> Result<Report, TransferError> {
        let Run {
            config,
            link,
            align_cycles,
            ..
        } = self;
        let now = || link.borrow().instant();
        b.listen(DEMO_PORT)?;
        let peer = loop {
            a.poll(now());
            b.poll(now());
            if let Some(peer) = a.peer() {
                break peer;
            }
            if link.borrow().cycles() > align_cycles + config.stall_cycles {
                return Err(TransferError::Transport(Error::LinkDown));
            }
        };
        let start = link.borrow().cycles();
        let sender = a.connect(peer, DEMO_PORT)?;
        let mut receiver: Option<StreamId> = None;

        let mut data = Xoshiro256PlusPlus::seed_from_u64(config.link.seed ^ 0x7de5_eed0);
        let mut chunk = [0u8; 4096];
        let mut pending = 0..0;
        let (mut sent, mut received) = (0u64, 0u64);
        let (mut sent_hash, mut received_hash) = (Sha256::new(), Sha256::new());
        let mut buf = [0u8; 4096];
        let mut last_arrival = start;
        let mut polls = Polls::default();

        while received < config.bytes {
            polls.transport += 2;
            a.poll(now());
            if pending.is_empty() && sent < config.bytes {
                let len = (config.bytes - sent).min(chunk.len() as u64) as usize;
                data.fill_bytes(&mut chunk[..len]);
                sent_hash.update(&chunk[..len]);
                sent += len as u64;
                pending = 0..len;
            }
            match a.send(sender, &chunk[pending.clone()]) {
                Ok(n) => pending.start += n,
                Err(Error::NotConnected(_)) => {}
                Err(e) => return Err(e.into()),
            }

            b.poll(now());
            if receiver.is_none() {
                receiver = b.accept(DEMO_PORT)?;
            }
            if let Some(stream) = receiver {
                loop {
                    let n = b.recv(stream, &mut buf)?;
                    if n == 0 {
                        break;
                    }
                    received_hash.update(&buf[..n]);
                    received += n as u64;
                    last_arrival = link.borrow().cycles();
                    progress(received);
                }
            }
            if link.borrow().cycles() - last_arrival > config.stall_cycles {
                return Err(TransferError::Stalled {
                    received,
                    at_cycles: link.borrow().cycles(),
                });
            }
        }
        let transfer_cycles = link.borrow().cycles() - start;
        a.close(sender)?;
        if let Some(stream) = receiver {
            b.close(stream)?;
        }
        for _ in 0..1000 {
            a.poll(now());
            b.poll(now());
        }

        Ok(self.report(Moved {
            sent: sent_hash,
            received: received_hash,
            bytes: received,
            transfer_cycles,
            a: a.stats(),
            b: b.stats(),
            polls,
        }))
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
        let Run { config, link, .. } = self;
        let time = VirtualTime::new(vec![link]);
        let (mut state_a, mut state_b) = (State::new(a, time.clock()), State::new(b, time.clock()));
        let (net_a, runner_a) = asynch::new(&mut state_a, time.signal(0, Side::A));
        let (net_b, runner_b) = asynch::new(&mut state_b, time.signal(0, Side::B));
        net_b.with(|t| t.listen(DEMO_PORT))?;

        // Whatever waits a virtual second without progress has stalled.
        let stall = Duration::from_nanos(config.stall_cycles * CYCLE_NS);
        let stalled = |received: u64| TransferError::Stalled {
            received,
            at_cycles: link.borrow().cycles(),
        };
        let start = Cell::new(0);
        let end = Cell::new(0);
        let failed = RefCell::new(None);
        let sent_hash = RefCell::new(Sha256::new());
        let received_hash = RefCell::new(Sha256::new());
        let received = Cell::new(0u64);

        let sender = async {
            let peer = net_a
                .with_timeout(stall, net_a.link_up())
                .await
                .map_err(|_| Error::LinkDown)?;
            start.set(link.borrow().cycles());
            let mut stream = net_a
                .with_timeout(stall, net_a.connect(peer, DEMO_PORT))
                .await
                .map_err(|_| stalled(0))??;
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
            end.set(link.borrow().cycles());
            Ok::<_, TransferError>(())
        };
        let fail = |e| {
            failed.borrow_mut().get_or_insert(e);
        };

        let mut executor = Executor::new();
        executor.spawn_background("net A", runner_a.run());
        executor.spawn_background("net B", runner_b.run());
        let app_tasks = [
            executor.spawn("sender", async { sender.await.unwrap_or_else(fail) }),
            executor.spawn("receiver", async { receiver.await.unwrap_or_else(fail) }),
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
        run.map_err(|_| stalled(received.get()))?;
        Ok(self.report(Moved {
            sent: sent_hash.into_inner(),
            received: received_hash.into_inner(),
            bytes: received.get(),
            transfer_cycles: end.get() - start.get(),
            a: state_a.into_inner().stats(),
            b: state_b.into_inner().stats(),
            polls,
        }))
    }

    /// The report of a finished transfer, whichever driver ran it.
    fn report(self, moved: Moved) -> Report {
        Report {
            sent_sha256: moved.sent.finalize().into(),
            received_sha256: moved.received.finalize().into(),
            received: moved.bytes,
            align_cycles: self.align_cycles,
            transfer_cycles: moved.transfer_cycles,
            mtu: self.mtu,
            a: moved.a,
            b: moved.b,
            injected: self.link.borrow().injected(),
            bus_cycles: self.config.link.bus_cycles,
            polls: moved.polls,
        }
    }
}

/// What a driver measured of its transfer.
struct Moved {
    sent: Sha256,
    received: Sha256,
    bytes: u64,
    transfer_cycles: u64,
    a: Stats,
    b: Stats,
    polls: Polls,
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
