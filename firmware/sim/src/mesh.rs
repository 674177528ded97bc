//! A rig in virtual time: many nodes, each on its own CPU with up to seven
//! links, wired by a [`Topology`], bringing every link up and collecting
//! every node's report at a manager.
//!
//! Each node is a [`Node`] over its ports, TCP/IP on each wired one and
//! `None` on the rest, as on a board with fewer cables than ports. Its
//! links align, shake hands and learn who is at the far end by themselves;
//! the manager's node gathers the reports relayed hop by hop (see
//! [`tidenet_core::node::collect`]). [`mesh`] reports when each stage
//! finished and compares what the manager has with the wiring.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;
use std::mem::size_of;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::addr::HardwareId;
use tidenet_core::node::collect::Collection;
use tidenet_core::node::Node;
use tidenet_core::proto::MAX_LINKS;
use tidenet_core::time::Instant;
use tidenet_core::{LinkState, Transport};
use tidenet_model::{ConfigError, Cpu, Link, LinkConfig, Port, Rx, Schedule, Side, Tx, CYCLE_NS};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

use crate::pcap::{Capture, Tap};
use crate::sim_id;
use crate::topology::{Edge, Topology, TopologyError};

/// Bytes per stream per direction on each link: a firmware image's.
const STREAM_BUFFER: usize = 2048;
/// Bytes of each link's window of frames in flight: a firmware image's.
const WINDOW: usize = 4096;
/// The most nodes the manager's book holds.
pub const MAX_NODES: usize = tidenet_model::MAX_CPUS;

type Stack<'r> = TcpIp<'r, Tx<'r, 'r, 'r>, Rx<'r, 'r, 'r>, Tap<'r>>;
/// A link's stack as a board builds it, without a capture: what its RAM is.
type BoardStack<'r> = TcpIp<'r, Tx<'r, 'r, 'r>, Rx<'r, 'r, 'r>>;
pub(crate) type MeshNode<'r> = Node<Option<Stack<'r>>, MAX_LINKS>;

/// One rig run.
#[derive(Clone, Copy, Debug)]
pub struct MeshConfig {
    /// How many nodes.
    pub nodes: usize,
    /// How they are wired.
    pub topology: Topology,
    /// The node reports are collected at.
    pub manager: usize,
    /// Every link's depth, latency and faults; each link draws its own
    /// offsets and faults from `seed` and its number.
    pub link: LinkConfig,
    /// Link cycles one 64-bit bus access costs each node's CPU.
    pub bus_cycles: u64,
    /// Virtual time the run may take before what is missing is named.
    pub deadline_cycles: u64,
    /// A node that never powers on: its links stay down, and the manager
    /// must name what it never heard.
    pub off: Option<usize>,
}

/// When each stage of the bring-up finished, in link cycles.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stages {
    /// Every link's ringbuffer pair aligned.
    pub aligned: Option<u64>,
    /// Every link up.
    pub up: Option<u64>,
    /// Every node knows who is at the far end of each of its links.
    pub identified: Option<u64>,
    /// The manager holds a report of every edge from both its ends.
    pub reported: Option<u64>,
}

/// What never reached the manager by the deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Missing {
    /// No report from this node.
    Node(usize),
    /// This node reported, but not its link on this port.
    Link {
        /// The node.
        node: usize,
        /// Its port.
        port: u8,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Node(n) => write!(f, "node {n} never reported"),
            Missing::Link { node, port } => {
                write!(f, "node {node} reported without its link on port {port}")
            }
        }
    }
}

/// A UGN a node reported that is not the link's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WrongUgn {
    /// The reporting node.
    pub node: usize,
    /// Its port.
    pub port: u8,
    /// What it reported.
    pub measured: Option<i64>,
    /// What the model says.
    pub truth: Option<i64>,
}

impl fmt::Display for WrongUgn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = |v: Option<i64>| v.map_or("none".to_string(), |v| v.to_string());
        write!(
            f,
            "node {} port {} reported UGN {}, the link's is {}",
            self.node,
            self.port,
            show(self.measured),
            show(self.truth)
        )
    }
}

/// What a rig run did.
#[derive(Clone, Debug)]
pub struct MeshReport {
    /// The cables.
    pub edges: Vec<Edge>,
    /// When each stage finished.
    pub stages: Stages,
    /// What the manager collected.
    pub collected: Collection<MAX_NODES>,
    /// What it lacks, by the wiring; empty when every report arrived.
    pub missing: Vec<Missing>,
    /// UGNs in the manager's reports that differ from the model's.
    pub wrong_ugns: Vec<WrongUgn>,
    /// Link ends whose address another end anywhere shares. A link's own
    /// two ends never do (the link refuses to come up), and addresses are
    /// used only on their link, but the count says how unique a 16-bit
    /// host part is at this size.
    pub shared_addresses: usize,
    /// When the run ended, in link cycles.
    pub cycles: u64,
    /// RAM of one wired link: the stack with its link layer, and its
    /// buffers.
    pub ram_per_link: usize,
    /// RAM of one node besides its links: the request executor, collection
    /// and the message buffers.
    pub ram_per_node: usize,
}

/// Why a rig could not run.
#[derive(Debug)]
pub enum MeshError {
    /// The topology cannot be built.
    Topology(TopologyError),
    /// The link configuration is invalid.
    Link(ConfigError),
    /// A node named is not one of the nodes.
    Node {
        /// What it was to be: `manager` or `off`.
        what: &'static str,
        /// The node asked for.
        node: usize,
        /// The node count.
        nodes: usize,
    },
    /// The manager cannot be the node that is off.
    ManagerOff(usize),
    /// The shell cannot be on the node that is off.
    ShellOff(usize),
}

impl fmt::Display for MeshError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MeshError::Topology(e) => write!(f, "{e}"),
            MeshError::Link(e) => write!(f, "bad link configuration: {e}"),
            MeshError::Node { what, node, nodes } => write!(
                f,
                "bad-node: the {what} node {node} is not one of the {nodes} nodes; pick 0 to {}",
                nodes - 1
            ),
            MeshError::ManagerOff(node) => write!(
                f,
                "bad-node: node {node} cannot be both the manager and off; pick another manager"
            ),
            MeshError::ShellOff(node) => write!(
                f,
                "bad-node: node {node} is off, so it has no shell to attach to; pick another --node"
            ),
        }
    }
}

impl std::error::Error for MeshError {}

/// The hardware id of `node`'s `port`.
pub fn mesh_id(node: usize, port: u8) -> HardwareId {
    HardwareId {
        port,
        ..sim_id(node as u8 + 1)
    }
}

/// A built rig: its wiring, model links, CPUs and nodes, and the schedule
/// that runs the CPUs in virtual-time order.
pub(crate) struct Rig<'r> {
    pub(crate) config: &'r MeshConfig,
    pub(crate) edges: &'r [Edge],
    links: &'r [RefCell<Link<'r>>],
    pub(crate) cpus: &'r [Cpu],
    /// What each node's port is wired to: the edge and the side of it.
    wired: &'r [[Option<(usize, Side)>; MAX_LINKS]],
    pub(crate) nodes: Vec<MeshNode<'r>>,
    pub(crate) schedule: Schedule<'r>,
}

impl Rig<'_> {
    /// When the next step would run, in cycles; `None` if none will.
    pub(crate) fn next_at(&self) -> Option<u64> {
        let (links, wired) = (self.links, self.wired);
        self.schedule
            .peek(|i| landing(links, wired, i))
            .map(|(_, at)| at)
    }

    /// The latest any CPU has got to, in cycles.
    pub(crate) fn latest(&self) -> u64 {
        self.cpus.iter().map(Cpu::cycles).max().unwrap_or(0)
    }

    /// Runs the CPU whose turn it is: its node's landings are taken and
    /// the node polled, then `also` (which says whether it did anything).
    /// Returns the node that ran, or `None` if none will run again.
    pub(crate) fn step(
        &mut self,
        mut also: impl FnMut(usize, &mut MeshNode<'_>, Instant) -> bool,
    ) -> Option<usize> {
        let (links, wired, nodes) = (self.links, self.wired, &mut self.nodes);
        self.schedule.step(
            |i| landing(links, wired, i),
            |i, now| {
                for &(e, side) in wired[i].iter().flatten() {
                    links[e]
                        .borrow_mut()
                        .take_landed(side, now.as_nanos() / CYCLE_NS);
                }
                let node = &mut nodes[i];
                let active = node.poll(now) | also(i, node, now);
                if active {
                    Some(now)
                } else {
                    node.poll_at(now)
                }
            },
        )
    }
}

/// When the next write burst lands in one of node `i`'s receive memories:
/// the model's link interrupt, for the node as a whole.
fn landing(
    links: &[RefCell<Link<'_>>],
    wired: &[[Option<(usize, Side)>; MAX_LINKS]],
    i: usize,
) -> Option<u64> {
    wired[i]
        .iter()
        .flatten()
        .filter_map(|&(e, side)| links[e].borrow().next_landing(side))
        .min()
}

/// Builds the rig `config` describes and hands it to `run`. `captures` is
/// empty, or holds one capture per link of the wiring, in its order (see
/// [`Capture::per_link`]), written at the link's end on its lower-numbered
/// node.
pub(crate) fn build<R>(
    config: &MeshConfig,
    captures: &[Capture],
    run: impl FnOnce(&mut Rig<'_>) -> R,
) -> Result<R, MeshError> {
    let edges = config
        .topology
        .wire(config.nodes)
        .map_err(MeshError::Topology)?;
    for (what, node) in [("manager", Some(config.manager)), ("off", config.off)] {
        if let Some(node) = node.filter(|&n| n >= config.nodes) {
            return Err(MeshError::Node {
                what,
                node,
                nodes: config.nodes,
            });
        }
    }
    if config.off == Some(config.manager) {
        return Err(MeshError::ManagerOff(config.manager));
    }
    let link_config = |e: usize| LinkConfig {
        seed: config.link.seed ^ (e as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        ..config.link
    };
    let mut memories: Vec<Vec<u64>> = (0..edges.len())
        .map(|e| vec![0u64; link_config(e).memory_words()])
        .collect();
    let links = memories
        .iter_mut()
        .enumerate()
        .map(|(e, memory)| Link::new(&link_config(e), memory).map(RefCell::new))
        .collect::<Result<Vec<_>, _>>()
        .map_err(MeshError::Link)?;
    // Each node's counter started at its own time: up to 2^40 cycles (2.5
    // hours) apart, so that UGNs are far from the latency alone.
    let mut boots = Xoshiro256PlusPlus::seed_from_u64(config.link.seed ^ 0xb007_c0de);
    let cpus: Vec<Cpu> = (0..config.nodes)
        .map(|_| Cpu::new(config.bus_cycles).with_counter(boots.next_u64() >> 24))
        .collect();
    let mut wired = vec![[None; MAX_LINKS]; config.nodes];
    for (e, edge) in edges.iter().enumerate() {
        wired[edge.a.0][usize::from(edge.a.1)] = Some((e, Side::A));
        wired[edge.b.0][usize::from(edge.b.1)] = Some((e, Side::B));
    }
    let mut resources: Vec<Resources<'_, STREAM_BUFFER, WINDOW>> =
        (0..2 * edges.len()).map(|_| Resources::new()).collect();
    let mut resources = resources.iter_mut();
    let boot = |node: usize, port: usize| {
        (config.link.seed as u16)
            .wrapping_mul(0x9e37)
            .wrapping_add((node * MAX_LINKS + port) as u16)
    };
    let nodes: Vec<MeshNode<'_>> = (0..config.nodes)
        .map(|n| {
            let ports = core::array::from_fn(|p| {
                let (e, side) = wired[n][p]?;
                let (tx, rx) = Port::pair(&links[e], side, &cpus[n]);
                let res = resources.next()?;
                let id = mesh_id(n, p as u8);
                let tap = match (side, captures.get(e)) {
                    (Side::A, Some(capture)) => capture.tap(),
                    _ => Tap::OFF,
                };
                Some(TcpIp::with_capture(
                    tx,
                    rx,
                    id,
                    Config::new(boot(n, p)),
                    res,
                    Instant::ZERO,
                    tap,
                ))
            });
            let mut node = Node::new(ports);
            node.set_manager(n == config.manager);
            node
        })
        .collect();
    let cpu_refs: Vec<&Cpu> = cpus.iter().collect();
    let mut schedule = Schedule::new(&cpu_refs, config.link.latency as u64);
    if let Some(off) = config.off {
        schedule.set_off(off, true);
    }
    let mut rig = Rig {
        config,
        edges: &edges,
        links: &links,
        cpus: &cpus,
        wired: &wired,
        nodes,
        schedule,
    };
    Ok(run(&mut rig))
}

/// Runs the rig until the manager holds every report or the deadline
/// passes; `progress` hears the cycles reached and the reports held.
pub fn mesh(
    config: &MeshConfig,
    progress: impl FnMut(u64, usize),
) -> Result<MeshReport, MeshError> {
    mesh_captured(config, &[], progress)
}

/// As [`mesh`], with each link's IP packets written to its capture in
/// `captures`: one per link of the wiring, in its order, as
/// [`Capture::per_link`] makes them.
pub fn mesh_captured(
    config: &MeshConfig,
    captures: &[Capture],
    progress: impl FnMut(u64, usize),
) -> Result<MeshReport, MeshError> {
    build(config, captures, |rig| collect(rig, progress))
}

fn collect(rig: &mut Rig<'_>, mut progress: impl FnMut(u64, usize)) -> MeshReport {
    let config = rig.config;
    let mut collected = Collection::<MAX_NODES>::default();
    let mut stages = Stages::default();
    let mut steps = 0u64;
    while stages.reported.is_none() && rig.latest() < config.deadline_cycles {
        let stepped = rig.step(|_, node, _| {
            let mut active = false;
            while let Some(report) = node.take_report() {
                collected.add(report);
                active = true;
            }
            active
        });
        let Some(i) = stepped else {
            break;
        };
        steps += 1;
        if i == config.manager {
            collected.add(rig.nodes[i].report());
        }
        if steps % 64 == 0 {
            let at = rig.latest();
            check_stages(&mut stages, &rig.nodes, rig.edges, &collected, at);
            progress(at, collected.reports().len());
        }
    }
    let cycles = rig.latest();
    let (edges, links, wired) = (rig.edges, rig.links, rig.wired);
    check_stages(&mut stages, &rig.nodes, edges, &collected, cycles);
    let missing = missing(edges, config.nodes, &collected);
    // Every UGN the manager holds, against the model's truth.
    let mut wrong_ugns = Vec::new();
    for report in collected.reports() {
        let Some(node) = (0..config.nodes).find(|&n| mesh_id(n, 0).dna == report.dna) else {
            continue;
        };
        for edge in &report.edges {
            let Some(&Some((e, side))) = wired[node].get(usize::from(edge.port)) else {
                continue;
            };
            let truth = links[e].borrow().true_ugn(side);
            if edge.ugn != truth {
                wrong_ugns.push(WrongUgn {
                    node,
                    port: edge.port,
                    measured: edge.ugn,
                    truth,
                });
            }
        }
    }
    let mut addresses = HashSet::new();
    let shared = edges
        .iter()
        .flat_map(|e| [e.a, e.b])
        .filter(|&(node, port)| !addresses.insert(mesh_id(node, port).link_local()))
        .count();
    MeshReport {
        edges: edges.to_vec(),
        stages,
        collected,
        missing,
        wrong_ugns,
        shared_addresses: shared,
        cycles,
        ram_per_link: size_of::<BoardStack<'_>>()
            + size_of::<Resources<'_, STREAM_BUFFER, WINDOW>>(),
        // The node holds its ports' stacks inline; those are the links'.
        ram_per_node: size_of::<MeshNode<'_>>() - MAX_LINKS * size_of::<Option<Stack<'_>>>(),
    }
}

/// Marks the stages that have finished by `at`.
fn check_stages(
    stages: &mut Stages,
    nodes: &[MeshNode<'_>],
    edges: &[Edge],
    collected: &Collection<MAX_NODES>,
    at: u64,
) {
    let ports = || nodes.iter().flat_map(|n| n.links().iter().flatten());
    if stages.aligned.is_none() && ports().all(|t| t.link().is_aligned()) {
        stages.aligned = Some(at);
    }
    if stages.up.is_none() && ports().all(|t| t.link_state() == LinkState::Up) {
        stages.up = Some(at);
    }
    if stages.identified.is_none()
        && nodes.iter().all(|n| {
            let wired = n.links().iter().flatten().count();
            n.report().edges.len() == wired
        })
    {
        stages.identified = Some(at);
    }
    if stages.reported.is_none() && missing(edges, nodes.len(), collected).is_empty() {
        stages.reported = Some(at);
    }
}

/// What the manager's book lacks, by the wiring.
fn missing(edges: &[Edge], nodes: usize, collected: &Collection<MAX_NODES>) -> Vec<Missing> {
    let report = |n: usize| collected.get(&mesh_id(n, 0).dna);
    let mut missing: Vec<Missing> = (0..nodes)
        .filter(|&n| report(n).is_none())
        .map(Missing::Node)
        .collect();
    for edge in edges {
        for ((node, port), (peer, peer_port)) in [(edge.a, edge.b), (edge.b, edge.a)] {
            let Some(r) = report(node) else {
                continue;
            };
            let seen = r
                .edges
                .iter()
                .any(|e| e.port == port && e.peer == mesh_id(peer, peer_port));
            if !seen {
                missing.push(Missing::Link { node, port });
            }
        }
    }
    missing
}
