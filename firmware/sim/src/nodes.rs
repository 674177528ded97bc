//! Running nodes, each with its shell on a UART: two simulated nodes on one
//! modelled link, or one node on a host transport such as Thunderbolt.
//!
//! A node here is what the firmware is on hardware: a `tidenet_node::App`,
//! the executor on a transport and the shell on a byte UART. The UART is one end of a Unix
//! socket pair; the other end is handed out, so a person (`tidenet shell`), a
//! test or a script talks to a node exactly as it would to a serial
//! port, with [`tidenet_shell::client`] or anything else.
//!
//! Simulated nodes run on their own thread in virtual time, each on its own
//! CPU: their clocks move as they touch the ringbuffers and, when both
//! nodes are idle, as fast as wall time, while the thread sleeps; so
//! timeouts take as long as they say without burning the host's CPU. A node
//! on a host transport runs on the wall clock.

use std::cell::RefCell;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration as WallDuration, Instant as WallInstant};

use tidenet_bespoke::Bespoke;
use tidenet_core::node::RemotePolicy;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{LinkState, Transport};
use tidenet_model::{Cpu, Link, LinkConfig, Port, Schedule, Side, CYCLE_NS};
use tidenet_node::App;
use tidenet_shell::Shell;
use tidenet_tcpip::{Resources, TcpIp};

use crate::mesh::{self, MeshConfig, MeshError};
use crate::pcap::{Capture, Tap};
use crate::{link_config, sim_id, TransferError, STREAM_BUFFER, WINDOW};

/// How long the nodes get to learn each other's address before start-up
/// fails with `link-down`.
const LINK_UP: Duration = Duration::from_secs(1);
/// How long the thread sleeps when both nodes are idle; `tidenet tun`
/// paces its model by the same rounds.
pub const IDLE_SLEEP: WallDuration = WallDuration::from_micros(100);
/// The most virtual time one idle round lets pass, however long the host
/// took over it: less than a link's heartbeat, so that a host too busy to
/// keep up slows the nodes down instead of jumping every clock past the
/// time after which a link takes its peer for silent.
const IDLE_MAX: WallDuration = WallDuration::from_micros(500);

/// The link cycles an idle round of `slept` lets pass.
pub fn idle_cycles(slept: WallDuration) -> u64 {
    slept.min(IDLE_MAX).as_nanos() as u64 / CYCLE_NS
}
/// The read timeout of the UART ends handed out, so that clients can give up.
const CLIENT_READ_TIMEOUT: WallDuration = WallDuration::from_millis(20);

/// Where the nodes' thread says whether they started.
type Ready = mpsc::Sender<Result<(), TransferError>>;

/// The stack the simulated nodes run: the one line a node changes to swap.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Stack {
    /// TCP/IP over the ringbuffer link layer.
    #[default]
    Tcpip,
    /// The bespoke stack (a stub today: it answers `unsupported`).
    Bespoke,
}

impl Stack {
    /// The stack's name in a sentence.
    pub fn describe(self) -> &'static str {
        match self {
            Stack::Tcpip => "TCP/IP",
            Stack::Bespoke => "the bespoke stack",
        }
    }
}

/// Running nodes: the simulated pair, or one node on a host transport.
/// Dropping this stops them.
pub struct Nodes {
    uarts: Vec<UnixStream>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Nodes {
    /// Two nodes on a link made to `config`, each on a CPU whose bus takes
    /// `bus_cycles` per word: brings the link up and starts their shells.
    /// Returns once both prompts are out and each node knows its peer.
    pub fn spawn(
        config: LinkConfig,
        bus_cycles: u64,
        stack: Stack,
    ) -> Result<Nodes, TransferError> {
        Nodes::start("tidenet-nodes", move |uarts, stop, ready| {
            run(config, bus_cycles, stack, None, uarts, stop, ready)
        })
    }

    /// As [`spawn`](Nodes::spawn), with every IP packet node A sends and
    /// receives (the link's whole IP traffic) written to `capture`; call
    /// [`Capture::finish`] once the nodes are dropped. The bespoke stack
    /// has no IP packets, and writes nothing.
    pub fn spawn_captured(
        config: LinkConfig,
        bus_cycles: u64,
        stack: Stack,
        capture: Arc<Capture>,
    ) -> Result<Nodes, TransferError> {
        Nodes::start("tidenet-nodes", move |uarts, stop, ready| {
            run(
                config,
                bus_cycles,
                stack,
                Some(&capture),
                uarts,
                stop,
                ready,
            )
        })
    }

    /// One node on `transport`, a real network's, timed by the host's clock.
    /// Returns once its prompt is out.
    pub fn host<T: Transport + Send + 'static>(
        transport: T,
        remote: RemotePolicy,
    ) -> Result<Nodes, TransferError> {
        Nodes::start("tidenet-node", move |[uart], stop, ready| {
            run_host(transport, remote, uart, stop, ready)
        })
    }

    /// A rig of nodes in virtual time, paced to the wall clock, with node
    /// `shell`'s shell on the UART; the other nodes run beside it without
    /// one. Returns once its prompt is out.
    pub fn mesh(config: MeshConfig, shell: usize) -> Result<Nodes, TransferError> {
        Nodes::mesh_captured(config, shell, Arc::new([]))
    }

    /// As [`mesh`](Nodes::mesh), with each link's IP packets written to its
    /// capture in `captures`, one per link of the wiring as
    /// [`Capture::per_link`] makes them (or none); call
    /// [`Capture::finish`] on each once the nodes are dropped.
    pub fn mesh_captured(
        config: MeshConfig,
        shell: usize,
        captures: Arc<[Capture]>,
    ) -> Result<Nodes, TransferError> {
        if shell >= config.nodes {
            return Err(TransferError::Mesh(MeshError::Node {
                what: "shell's",
                node: shell,
                nodes: config.nodes,
            }));
        }
        if config.off == Some(shell) {
            return Err(TransferError::Mesh(MeshError::ShellOff(shell)));
        }
        Nodes::start("tidenet-mesh", move |[uart], stop, ready| {
            serve_mesh(&config, shell, &captures, uart, stop, ready)
        })
    }

    /// Makes `N` UARTs and runs `nodes` on a thread called `name` with their
    /// node ends; returns once it says the nodes are ready.
    fn start<const N: usize>(
        name: &str,
        nodes: impl FnOnce([UnixStream; N], &AtomicBool, &Ready) + Send + 'static,
    ) -> Result<Nodes, TransferError> {
        let mut hosts = Vec::with_capacity(N);
        let mut uarts = Vec::with_capacity(N);
        for _ in 0..N {
            let (host, uart) = UnixStream::pair().map_err(TransferError::Io)?;
            host.set_read_timeout(Some(CLIENT_READ_TIMEOUT))
                .map_err(TransferError::Io)?;
            hosts.push(host);
            uarts.push(uart);
        }
        let Ok(uarts) = <[UnixStream; N]>::try_from(uarts) else {
            return Err(TransferError::Io(io::Error::other("a UART went missing")));
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = {
            let stop = stop.clone();
            thread::Builder::new()
                .name(name.into())
                .spawn(move || nodes(uarts, &stop, &ready_tx))
                .map_err(TransferError::Io)?
        };
        let nodes = Nodes {
            uarts: hosts,
            stop,
            thread: Some(thread),
        };
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(nodes),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(TransferError::Io(io::Error::other(
                "the node thread died while starting",
            ))),
        }
    }

    /// How many nodes run: two simulated, or one on a host transport.
    pub fn count(&self) -> usize {
        self.uarts.len()
    }

    /// A handle on node `n`'s UART (0 is A, 1 is B), with a short read
    /// timeout. Every handle reads from the same stream.
    pub fn uart(&self, n: usize) -> io::Result<UnixStream> {
        match self.uarts.get(n) {
            Some(uart) => uart.try_clone(),
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("there is no node {n}; there are {}", self.uarts.len()),
            )),
        }
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The node side of a UART: a non-blocking socket end.
struct Uart<'s> {
    stream: UnixStream,
    next: Option<u8>,
    /// Set when the nodes are shutting down: a write stops waiting.
    stop: &'s AtomicBool,
}

impl embedded_io::ErrorType for Uart<'_> {
    type Error = io::Error;
}

impl embedded_io::ReadReady for Uart<'_> {
    fn read_ready(&mut self) -> io::Result<bool> {
        if self.next.is_none() {
            let mut byte = [0u8];
            match self.stream.read(&mut byte) {
                Ok(1) => self.next = Some(byte[0]),
                // The other end hung up; nothing will come.
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.next.is_some())
    }
}

impl embedded_io::Read for Uart<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match (self.next.take(), buf.first_mut()) {
            (Some(byte), Some(slot)) => {
                *slot = byte;
                Ok(1)
            }
            (next, _) => {
                self.next = next;
                Ok(0)
            }
        }
    }
}

impl embedded_io::Write for Uart<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A UART blocks while its FIFO is full; so does this, while the
        // reader lags, until the nodes shut down.
        loop {
            match self.stream.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if self.stop.load(Ordering::Relaxed) {
                        return Err(io::ErrorKind::BrokenPipe.into());
                    }
                    thread::sleep(IDLE_SLEEP);
                }
                result => return result,
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn run(
    config: LinkConfig,
    bus_cycles: u64,
    stack: Stack,
    capture: Option<&Capture>,
    uarts: [UnixStream; 2],
    stop: &AtomicBool,
    ready: &Ready,
) {
    let fail = |e| {
        let _ = ready.send(Err(e));
    };
    let mut memory = vec![0u64; config.memory_words()];
    let link = match Link::new(&config, &mut memory) {
        Ok(link) => RefCell::new(link),
        Err(e) => return fail(TransferError::Config(e)),
    };
    let cpus = [Cpu::new(bus_cycles), Cpu::new(bus_cycles)];
    let (ta, ra) = Port::pair(&link, Side::A, &cpus[0]);
    let (tb, rb) = Port::pair(&link, Side::B, &cpus[1]);
    let (id_a, id_b) = (sim_id(1), sim_id(2));
    let (link_a, link_b) = (link_config(1, config.seed), link_config(2, config.seed));
    let sim = Sim {
        link: &link,
        cpus: [&cpus[0], &cpus[1]],
        latency: config.latency as u64,
    };
    match stack {
        Stack::Tcpip => {
            let mut res_a = Box::new(Resources::<STREAM_BUFFER, WINDOW>::new());
            let mut res_b = Box::new(Resources::<STREAM_BUFFER, WINDOW>::new());
            let tap = capture.map_or(Tap::OFF, Capture::tap);
            let a = TcpIp::with_capture(ta, ra, id_a, link_a, &mut res_a, Instant::ZERO, tap);
            let b = TcpIp::with_capture(tb, rb, id_b, link_b, &mut res_b, Instant::ZERO, Tap::OFF);
            sim.serve(a, b, uarts, stop, ready);
        }
        Stack::Bespoke => {
            let (mut wa, mut wb) = (vec![0u8; WINDOW], vec![0u8; WINDOW]);
            let a = Bespoke::new(ta, ra, id_a, link_a, &mut wa);
            let b = Bespoke::new(tb, rb, id_b, link_b, &mut wb);
            sim.serve(a, b, uarts, stop, ready);
        }
    }
}

/// The node side of a UART on `stream`, non-blocking.
fn uart(
    stream: UnixStream,
    stop: &AtomicBool,
) -> io::Result<Box<tidenet_shell::Resources<Uart<'_>>>> {
    stream.set_nonblocking(true)?;
    Ok(Box::new(tidenet_shell::Resources::new(Uart {
        stream,
        next: None,
        stop,
    })))
}

/// Runs one node on a host transport until `stop`, on the host's clock.
fn run_host<T: Transport>(
    transport: T,
    remote: RemotePolicy,
    stream: UnixStream,
    stop: &AtomicBool,
    ready: &Ready,
) {
    let fail = |e| {
        let _ = ready.send(Err(TransferError::Io(e)));
    };
    let mut shell = match uart(stream, stop) {
        Ok(shell) => shell,
        Err(e) => return fail(e),
    };
    let mut node = match App::new([transport], &mut shell) {
        Ok(node) => node,
        Err(e) => return fail(e),
    };
    node.node().set_remote_policy(remote);
    let _ = ready.send(Ok(()));
    let start = WallInstant::now();
    let now = || Instant::from_nanos(start.elapsed().as_nanos() as u64);
    while !stop.load(Ordering::Relaxed) {
        let now = now();
        // A UART error means the other end hung up: the node runs on.
        if node.poll(now).unwrap_or(false) || node.poll_at(now).is_some_and(|t| t <= now) {
            continue;
        }
        // The OS carries the transport's traffic and answers its pings
        // meanwhile; this wait only delays the shell's next look.
        thread::sleep(IDLE_SLEEP);
    }
}

/// Two simulated nodes' link and CPUs.
struct Sim<'s, 'm> {
    link: &'s RefCell<Link<'m>>,
    cpus: [&'s Cpu; 2],
    latency: u64,
}

impl Sim<'_, '_> {
    /// Runs two nodes and their shells until `stop`: the link comes up
    /// first, as a board's does after boot, so the first `connect` does not
    /// meet `link-down`.
    fn serve<T: Transport>(
        self,
        a: T,
        b: T,
        uarts: [UnixStream; 2],
        stop: &AtomicBool,
        ready: &Ready,
    ) {
        let fail = |e| {
            let _ = ready.send(Err(e));
        };
        let [uart_a, uart_b] = uarts;
        let mut shells = Vec::new();
        for stream in [uart_a, uart_b] {
            match uart(stream, stop) {
                Ok(shell) => shells.push(shell),
                Err(e) => return fail(TransferError::Io(e)),
            }
        }
        let [res_a, res_b] = &mut shells[..] else {
            return fail(TransferError::Io(io::Error::other("two shells expected")));
        };
        let mut nodes = match (App::new([a], res_a), App::new([b], res_b)) {
            (Ok(a), Ok(b)) => [a, b],
            (Err(e), _) | (_, Err(e)) => return fail(TransferError::Io(e)),
        };
        let mut schedule = Schedule::new(&self.cpus, self.latency);
        let up_by = LINK_UP.as_nanos() as u64 / CYCLE_NS;
        while nodes
            .iter_mut()
            .any(|n| n.node().links()[0].peer().is_none())
        {
            let latest = self.cpus.iter().map(|c| c.cycles()).max().unwrap_or(0);
            if latest > up_by || !self.step(&mut schedule, &mut nodes) {
                let states = [0, 1].map(|i| nodes[i].node().links()[0].link_state());
                return fail(TransferError::NotUp {
                    states,
                    at_cycles: latest,
                });
            }
        }
        let _ = ready.send(Ok(()));

        let mut target = self.cpus.iter().map(|c| c.cycles()).max().unwrap_or(0);
        while !stop.load(Ordering::Relaxed) {
            // Everything due up to the target runs at once, each node on its
            // own clock, as CPUs busy with the link would.
            let landing = |i| self.link.borrow().next_landing(side(i));
            while schedule.peek(landing).is_some_and(|(_, at)| at <= target) {
                self.step(&mut schedule, &mut nodes);
            }
            // Idle: let virtual time pass as fast as wall time does, so the
            // shell's timeouts mean what they say to a person at the
            // terminal, then let both nodes look at their UARTs.
            let slept = WallInstant::now();
            thread::sleep(IDLE_SLEEP);
            target += idle_cycles(slept.elapsed());
            for (i, cpu) in self.cpus.iter().enumerate() {
                cpu.advance_to(target);
                schedule.wake(i);
            }
        }
    }

    /// One step of whichever node's turn it is; false if neither will ever
    /// act again.
    fn step<T: Transport, U: embedded_io::Read + embedded_io::ReadReady + embedded_io::Write>(
        &self,
        schedule: &mut Schedule<'_>,
        nodes: &mut [App<'_, T, U>; 2],
    ) -> bool {
        schedule
            .step(
                |i| self.link.borrow().next_landing(side(i)),
                |i, now| {
                    self.link
                        .borrow_mut()
                        .take_landed(side(i), now.as_nanos() / CYCLE_NS);
                    let node = &mut nodes[i];
                    // A UART error means the other end hung up: the node
                    // runs on, as a board does with nobody at its serial port.
                    if node.poll(now).unwrap_or(false) {
                        Some(now)
                    } else {
                        node.poll_at(now)
                    }
                },
            )
            .is_some()
    }
}

/// The side of the link node `i` is on.
fn side(i: usize) -> Side {
    if i == 0 {
        Side::A
    } else {
        Side::B
    }
}

/// Runs the rig `config` describes with node `k`'s shell on `stream`, and
/// its links' packets written to `captures`, until `stop`.
fn serve_mesh(
    config: &MeshConfig,
    k: usize,
    captures: &[Capture],
    stream: UnixStream,
    stop: &AtomicBool,
    ready: &Ready,
) {
    let fail = |e| {
        let _ = ready.send(Err(e));
    };
    let mut resources = match uart(stream, stop) {
        Ok(resources) => resources,
        Err(e) => return fail(TransferError::Io(e)),
    };
    let built = mesh::build(config, captures, |rig| {
        let mut shell = match Shell::new(&mut resources) {
            Ok(shell) => shell,
            Err(e) => return fail(TransferError::Io(e)),
        };
        // Node k's links come up and learn their peers first, at full
        // speed, as the simulated pair's do, so that the first command
        // meets them ready; a link that is not within the time shows why in
        // `links`.
        let up_by = LINK_UP.as_nanos() as u64 / CYCLE_NS;
        let up = |rig: &mesh::Rig<'_>| {
            let node = &rig.nodes[k];
            let wired = node.links().iter().flatten().count();
            node.links()
                .iter()
                .flatten()
                .all(|t| t.link_state() == LinkState::Up)
                && node.report().edges.len() == wired
        };
        while !up(rig) && rig.latest() < up_by {
            if rig
                .step(|i, node, now| i == k && shell.poll(node, now).unwrap_or(false))
                .is_none()
            {
                break;
            }
        }
        let _ = ready.send(Ok(()));
        let mut target = rig.latest();
        while !stop.load(Ordering::Relaxed) {
            // Everything due up to the target runs at once, each node on
            // its own clock; a UART error means the other end hung up, and
            // the node runs on.
            while rig.next_at().is_some_and(|at| at <= target) {
                rig.step(|i, node, now| {
                    // The manager's records are taken and let go: the rig
                    // runs on for the shell, not to collect.
                    let mut active = false;
                    while node.take_report().is_some() {
                        active = true;
                    }
                    active | (i == k && shell.poll(node, now).unwrap_or(false))
                });
            }
            // Idle: virtual time passes as fast as wall time, so that the
            // shell's time-outs mean what they say; then node k looks at
            // its UART.
            let slept = WallInstant::now();
            thread::sleep(IDLE_SLEEP);
            target += idle_cycles(slept.elapsed());
            for cpu in rig.cpus {
                cpu.advance_to(target);
            }
            rig.schedule.wake(k);
        }
    });
    if let Err(e) = built {
        fail(TransferError::Mesh(e));
    }
}
