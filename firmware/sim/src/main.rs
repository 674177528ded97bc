//! `tidenet`: the host tool. It runs the reliability demo and the benchmarks
//! on the modelled ringbuffer link, and opens an interactive shell on a
//! simulated node, or on a node of this host's Thunderbolt interface.

use std::net::Ipv6Addr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

mod session;
mod tty;
mod tun;

use clap::{Args, Parser, Subcommand, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use tidenet_core::node::RemotePolicy;
use tidenet_model::{Faults, LinkConfig, CYCLE_NS};
use tidenet_ringbuffer::wire::{mtu_for_depth, MAX_MTU};
use tidenet_sim::mesh::{mesh_captured, MeshConfig};
use tidenet_sim::nodes::Stack;
use tidenet_sim::pcap::Capture;
use tidenet_sim::report::{self, BenchConfig};
use tidenet_sim::soak::Case;
use tidenet_sim::topology::Topology;
use tidenet_sim::{hex, link_ram, transfer_captured, Driver, Report, TransferConfig, Window};
use tidenet_thunderbolt::{Config, Peer, TransportError};

#[derive(Parser)]
#[command(
    name = "tidenet",
    version,
    about = "tidenet: reliable streams over bittide ringbuffer links"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Two simulated nodes move data over TCP across a lossy, corrupting
    /// ringbuffer link; the SHA-256 of what was sent and what arrived must
    /// match. Ends with a stats table. Runs in virtual time, so the figures
    /// depend on the flags and the seed, not on this machine.
    Demo(DemoArgs),
    /// Measures goodput and link efficiency for a fixed set of fault rates
    /// and depths, driven by the poll loop and as async tasks, with the
    /// ratio of the two. Virtual time, so the table is the same on every
    /// machine. With --report it also sweeps efficiency against loss,
    /// corruption and outages and ping RTT against latency, measures host
    /// throughput, and writes the report's section, CSVs and SVG plots.
    Bench(BenchArgs),
    /// An interactive shell on simulated node A, whose link runs to simulated
    /// node B. Typed bytes go to the node's UART and its output comes back.
    /// On a terminal, Ctrl-C or Ctrl-D exits; when stdin is not a terminal,
    /// the shell exits once the input has ended and the node has gone quiet.
    /// With --pty, each node gets a pseudo-terminal to attach to instead.
    Shell(ShellArgs),
    /// One node on this machine, its shell on stdin and stdout. With
    /// `--transport thunderbolt` it runs on a real IPv6 link-local interface,
    /// such as the `thunderbolt0` of a Thunderbolt/USB4 cable, DCF
    /// compatible: `ping` is the DCF probe, and streams are TCP to the
    /// peer's ports (its data port is where DCF peers accept). With `sim`,
    /// the default, it is node A of the simulated pair on the default link;
    /// `tidenet shell` takes the link's flags.
    Node(NodeArgs),
    /// A rig in virtual time: NODES simulated nodes wired as TOPOLOGY,
    /// each link TCP/IP on the modelled ringbuffer. Every link must come
    /// up, every node learn who is at each far end, and every node's
    /// report of its links reach the manager, relayed hop by hop by nodes
    /// that are not its neighbours. Prints when each stage finished, and
    /// exits non-zero if any report is missing by the deadline.
    Mesh(MeshArgs),
    /// Transfers and rigs drawn at random (loss up to 50%, corruption up to
    /// 10%, outages, latency, every depth from 12 to 4000 words, bus
    /// speeds, both drivers, every window), each checked end to end, until
    /// the time is up. Every failure prints the one command that reruns it.
    /// Exits non-zero if any case failed.
    Soak(SoakArgs),
    /// Linux only: bridges a simulated link to the TUN interface --name,
    /// so this host's own TCP/IP stack is the near end of a lossy modelled
    /// link and a simulated node the far end, paced to the wall clock. The
    /// far node hashes the streams the kernel opens to it and opens one to
    /// the kernel; each finished stream prints its SHA-256 and throughput.
    /// Needs root (CAP_NET_ADMIN) and iproute2's `ip`.
    Tun(tun::TunArgs),
}

#[derive(Args)]
struct BenchArgs {
    /// Bytes per case of the table.
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    bytes: u64,
    /// Also write `sim.md`, CSVs and SVG plots into DIR, created if
    /// missing [default: $TIDENET_BENCH_DIR, which `cargo xtask bench` sets].
    #[arg(long, value_name = "DIR")]
    report: Option<std::path::PathBuf>,
    /// Bytes per point of the report's sweeps (an eighth where the link is
    /// worst).
    #[arg(long, default_value_t = 512 << 10, value_parser = clap::value_parser!(u64).range(16384..))]
    sweep_bytes: u64,
    /// Bytes the report's host-throughput figures move.
    #[arg(long, default_value_t = 16 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    host_bytes: u64,
}

#[derive(Args)]
struct SoakArgs {
    /// Wall-clock minutes to run cases for.
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    /// The soak's seed; case K of a seed is always the same case. Drawn
    /// from the clock and printed when not given.
    #[arg(long)]
    seed: Option<u64>,
    /// Run only case K of the seed: what a failure says to rerun.
    #[arg(long, value_name = "K")]
    only: Option<u64>,
}

#[derive(Args)]
struct MeshArgs {
    /// How many nodes (2 to 64).
    #[arg(long, default_value_t = 8)]
    nodes: usize,
    /// How they are wired; a bittide node has 7 ports, so a full mesh has
    /// at most 8 nodes and a star at most 8.
    #[arg(long, value_enum, default_value_t = Topology::Full)]
    topology: Topology,
    /// The node the reports are collected at.
    #[arg(long, default_value_t = 0)]
    manager: usize,
    /// Virtual milliseconds the rig may take before what is missing is
    /// named.
    #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..=600_000))]
    deadline_ms: u64,
    /// A node that never powers on, to see what the manager names as
    /// missing.
    #[arg(long)]
    off: Option<usize>,
    /// Instead of collecting the reports and exiting, run the rig on,
    /// paced to the wall clock, with node K's shell on stdin and stdout.
    #[arg(long, value_name = "K")]
    node: Option<usize>,
    /// Write each link's IP packets to DIR/link-A-B.pcap (created, with
    /// DIR if missing), for the link between nodes A < B: pcap with
    /// LINKTYPE_RAW, for Wireshark or tshark. Captured at node A's end of
    /// the link, in both directions, so a file holds all the link's IP
    /// traffic, stamped with A's virtual clock; frames the link's CRC
    /// rejected never became IP packets and are not in it.
    #[arg(long, value_name = "DIR")]
    pcap: Option<PathBuf>,
    #[command(flatten)]
    link: LinkArgs,
}

#[derive(Args)]
struct DemoArgs {
    /// Bytes to transfer.
    #[arg(long, default_value_t = 4 << 20, value_parser = clap::value_parser!(u64).range(1..))]
    bytes: u64,
    /// The stack both nodes run. The bespoke stack is a stub today, so the
    /// demo on it stops at its first `unsupported`.
    #[arg(long, value_enum, default_value_t = Stack::Tcpip)]
    stack: Stack,
    /// How the nodes drive their stacks: one poll loop, as the firmware
    /// does, or async tasks with a net task per node.
    #[arg(long, value_enum, default_value_t = Driver::Poll)]
    driver: Driver,
    /// Bytes of RAM each end keeps its frames in flight in: the firmware
    /// image's 4096, tidenet-tcpip's default 6144, or 16384, enough to fill
    /// a 4000-word ring.
    #[arg(long, value_enum, default_value_t = Window::Deep)]
    window: Window,
    /// Write every IP packet of the pair's link to FILE as pcap with
    /// LINKTYPE_RAW, for Wireshark or tshark. Captured at node A's link
    /// device in both directions (what A sends and what it receives), so
    /// the file holds all the link's IP traffic, stamped with A's virtual
    /// clock; frames the link's CRC rejected never became IP packets and
    /// are not in it. TCP/IP stack only.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    #[command(flatten)]
    link: LinkArgs,
}

/// The modelled link between the two simulated nodes.
#[derive(Args)]
struct LinkArgs {
    /// Fraction of CPU write bursts lost on the wire, 0 to 1.
    #[arg(long, default_value_t = 0.05, value_parser = fraction)]
    loss: f64,
    /// Fraction of CPU write bursts arriving with a bit flipped, 0 to 1.
    #[arg(long, default_value_t = 0.01, value_parser = fraction)]
    corrupt: f64,
    /// Chance per pass that an outage of --burst-passes passes starts, 0 to 1.
    #[arg(long, default_value_t = 0.0, value_parser = fraction)]
    burst: f64,
    /// Length of an outage, in passes.
    #[arg(long, default_value_t = 8)]
    burst_passes: u32,
    /// Ringbuffer depth in 64-bit words (bittide uses 16, 128, 200 and 4000).
    /// A frame takes at most a third of the ring, so below 571 words the MTU
    /// shrinks from 1500.
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(12..=32768))]
    depth: u64,
    /// Seed for the link's offsets, its faults and the data.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Link latency per direction, in cycles of 8 ns.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=1_000_000))]
    latency: u64,
    /// Link cycles one CPU bus access to a 64-bit word costs, on each
    /// node's CPU: two 32-bit accesses of a VexRiscv take about 8.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=1000))]
    bus_cycles: u64,
}

impl LinkArgs {
    fn config(&self) -> LinkConfig {
        LinkConfig {
            depth: self.depth as usize,
            latency: self.latency as usize,
            seed: self.seed,
            faults: Faults {
                loss: self.loss,
                corrupt: self.corrupt,
                burst: self.burst,
                burst_passes: self.burst_passes,
            },
            ..LinkConfig::default()
        }
    }

    /// One line on the link, for banners.
    fn describe(&self) -> String {
        format!(
            "{}-word ringbuffer, latency {} cycles, bus {} cycles/word, loss {:.1}%, corruption {:.1}%, outages {:.2}%/pass x {} passes, seed {}",
            self.depth,
            self.latency,
            self.bus_cycles,
            self.loss * 100.0,
            self.corrupt * 100.0,
            self.burst * 100.0,
            self.burst_passes,
            self.seed
        )
    }
}

#[derive(Args)]
struct ShellArgs {
    /// The node to attach to; the other is at the far end of its link 0.
    #[arg(long, value_enum, default_value_t = NodeName::A)]
    node: NodeName,
    /// Instead of stdin and stdout, give each node a pseudo-terminal, print
    /// their paths and relay until Ctrl-C; attach with screen or picocom.
    #[arg(long, conflicts_with = "node")]
    pty: bool,
    /// The stack both nodes run; `status` shows it.
    #[arg(long, value_enum, default_value_t = Stack::Tcpip)]
    stack: Stack,
    /// Write every IP packet of the pair's link to FILE as pcap with
    /// LINKTYPE_RAW, for Wireshark or tshark. Captured at node A's link
    /// device in both directions (what A sends and what it receives), so
    /// the file holds all the link's IP traffic, stamped with A's virtual
    /// clock; frames the link's CRC rejected never became IP packets and
    /// are not in it. TCP/IP stack only.
    #[arg(long, value_name = "FILE")]
    pcap: Option<PathBuf>,
    #[command(flatten)]
    link: LinkArgs,
}

#[derive(Args)]
struct NodeArgs {
    /// What the node runs on.
    #[arg(long, value_enum, default_value_t = TransportKind::Sim)]
    transport: TransportKind,
    /// The interface to bind [thunderbolt; default thunderbolt0].
    #[arg(long)]
    interface: Option<String>,
    /// The address to bind [thunderbolt; default the interface's link-local
    /// address; `::` receives on all of the interface's addresses].
    #[arg(long)]
    address: Option<Ipv6Addr>,
    /// The peer, as fe80::2%thunderbolt0 or fe80::2 [thunderbolt; default
    /// the first to send us anything].
    #[arg(long)]
    peer: Option<String>,
    /// Our UDP control port [thunderbolt; default 5000].
    #[arg(long)]
    control_port: Option<u16>,
    /// Our TCP data port [thunderbolt; default 5001].
    #[arg(long)]
    data_port: Option<u16>,
    /// The peer's control port, if it differs from ours [thunderbolt].
    #[arg(long, requires = "peer")]
    peer_control_port: Option<u16>,
    /// The peer's data port, if it differs from ours [thunderbolt].
    #[arg(long, requires = "peer")]
    peer_data_port: Option<u16>,
    /// Socket send and receive buffers, in bytes; 0 leaves them to the
    /// kernel [thunderbolt; default 64 MiB; where net.core.rmem_max and
    /// wmem_max are lower, streams keep TCP's autotuned buffers].
    #[arg(long)]
    buffer_size: Option<usize>,
    /// What the peer may run here with `remote` [thunderbolt]: nothing,
    /// only what reads (status, links, stats), or everything. Anyone on
    /// the interface who passes for the peer gets this much.
    #[arg(long, value_enum, default_value_t = Remote::ReadOnly)]
    remote: Remote,
}

/// `--remote`, as the command line spells `RemotePolicy`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Remote {
    /// Refuse every remote request.
    Off,
    /// Only status, links and stats.
    ReadOnly,
    /// Every command.
    Full,
}

impl From<Remote> for RemotePolicy {
    fn from(remote: Remote) -> Self {
        match remote {
            Remote::Off => RemotePolicy::Off,
            Remote::ReadOnly => RemotePolicy::ReadOnly,
            Remote::Full => RemotePolicy::Full,
        }
    }
}

/// What `tidenet node` runs on.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum TransportKind {
    /// Node A of two simulated nodes on a modelled ringbuffer link.
    Sim,
    /// A host's IPv6 link-local interface: UDP control and TCP data, DCF
    /// compatible.
    Thunderbolt,
}

impl NodeArgs {
    /// The Thunderbolt transport's configuration, from the flags.
    fn thunderbolt(&self) -> Result<Config, TransportError> {
        let defaults = Config::default();
        let mut config = Config {
            interface: self.interface.clone().unwrap_or(defaults.interface.clone()),
            address: self.address,
            control_port: self.control_port.unwrap_or(defaults.control_port),
            data_port: self.data_port.unwrap_or(defaults.data_port),
            buffer_size: self.buffer_size.unwrap_or(defaults.buffer_size),
            // Raw terminals need the carriage return.
            logger: Some(Arc::new(|line: &str| eprint!("thunderbolt: {line}\r\n"))),
            ..defaults
        };
        if let Some(text) = &self.peer {
            let ip = config.resolve(text)?;
            config.peers.push(Peer {
                ip,
                control_port: self.peer_control_port.unwrap_or(config.control_port),
                data_port: self.peer_data_port.unwrap_or(config.data_port),
            });
        }
        Ok(config)
    }

    /// The first flag given that means something only on Thunderbolt.
    fn thunderbolt_flag(&self) -> Option<&'static str> {
        [
            (self.interface.is_some(), "--interface"),
            (self.address.is_some(), "--address"),
            (self.peer.is_some(), "--peer"),
            (self.control_port.is_some(), "--control-port"),
            (self.data_port.is_some(), "--data-port"),
            (self.buffer_size.is_some(), "--buffer-size"),
        ]
        .into_iter()
        .find_map(|(given, flag)| given.then_some(flag))
    }
}

impl ShellArgs {
    /// `tidenet shell` with every default.
    fn defaults() -> ShellArgs {
        #[derive(Parser)]
        struct Defaults {
            #[command(flatten)]
            shell: ShellArgs,
        }
        Defaults::parse_from(["tidenet"]).shell
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum NodeName {
    A,
    B,
}

impl NodeName {
    /// The index [`Nodes::uart`] takes.
    fn index(self) -> usize {
        match self {
            NodeName::A => 0,
            NodeName::B => 1,
        }
    }

    fn upper(self) -> char {
        match self {
            NodeName::A => 'A',
            NodeName::B => 'B',
        }
    }

    fn other(self) -> NodeName {
        match self {
            NodeName::A => NodeName::B,
            NodeName::B => NodeName::A,
        }
    }
}

fn fraction(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        _ => Err(format!(
            "'{s}' is not a fraction from 0 to 1 (for example 0.05 for 5%)"
        )),
    }
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Demo(args) => {
            die_on_sigpipe();
            demo(&args)
        }
        Command::Bench(args) => {
            die_on_sigpipe();
            bench(args)
        }
        Command::Shell(args) => session::shell(&args),
        Command::Node(args) => node(&args),
        Command::Mesh(args) => {
            die_on_sigpipe();
            run_mesh(&args)
        }
        Command::Tun(args) => tun::run(&args),
        Command::Soak(args) => {
            die_on_sigpipe();
            soak(&args)
        }
    }
}

fn soak(args: &SoakArgs) -> ExitCode {
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
    });
    let cases: Box<dyn Iterator<Item = u64>> = match args.only {
        Some(k) => Box::new(std::iter::once(k)),
        None => Box::new(0..),
    };
    println!("tidenet soak: seed {seed}, {} minutes", args.minutes);
    let budget = std::time::Duration::from_secs_f64(args.minutes.max(0.0) * 60.0);
    let bar = ProgressBar::new(budget.as_secs().max(1)).with_style(
        ProgressStyle::with_template("{bar:40} {elapsed}/{len}s {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let (mut runs, mut rigs, mut frames, mut bytes) = (0u64, 0u64, 0u64, 0u64);
    let (mut failed, mut notices) = (0u64, 0u64);
    for k in cases {
        if args.only.is_none() && started.elapsed() >= budget {
            break;
        }
        let case = Case::draw(seed, k);
        runs += 1;
        rigs += u64::from(matches!(case, Case::Mesh(_)));
        match case.run() {
            Ok(moved) => {
                frames += moved.frames;
                bytes += moved.bytes;
                if let Some(notice) = moved.notice {
                    notices += 1;
                    bar.suspend(|| {
                        println!("notice case {k}: {notice}");
                        println!("  rerun:       tidenet soak --seed {seed} --only {k}");
                        println!("  look closer: {}", case.flags());
                    });
                }
            }
            Err(e) => {
                failed += 1;
                bar.suspend(|| {
                    println!("FAIL case {k}: {e}");
                    println!("  rerun:       tidenet soak --seed {seed} --only {k}");
                    println!("  look closer: {}", case.flags());
                });
            }
        }
        bar.set_position(started.elapsed().as_secs());
        bar.set_message(format!("{runs} cases, {failed} failed"));
    }
    bar.finish_and_clear();
    println!(
        "{runs} cases ({} transfers, {rigs} rigs) in {:.1} min: {frames} link frames, {bytes} stream bytes, {failed} failed, {notices} notices; seed {seed}",
        runs - rigs,
        started.elapsed().as_secs_f64() / 60.0
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        eprintln!("error: soak-failed: {failed} of {runs} cases failed; each FAIL line says how to rerun it");
        ExitCode::FAILURE
    }
}

fn run_mesh(args: &MeshArgs) -> ExitCode {
    let config = MeshConfig {
        nodes: args.nodes,
        topology: args.topology,
        manager: args.manager,
        link: args.link.config(),
        bus_cycles: args.link.bus_cycles,
        deadline_cycles: args.deadline_ms * 1_000_000 / CYCLE_NS,
        off: args.off,
    };
    let rig = format!(
        "{} nodes wired as {:?}, manager node {}; every link a {}",
        args.nodes,
        args.topology,
        args.manager,
        args.link.describe()
    );
    let captures = match (&args.pcap, config.topology.wire(config.nodes)) {
        (Some(dir), Ok(edges)) => match Capture::per_link(dir, &edges) {
            Ok(captures) => captures,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        },
        // A wiring that cannot be built is named by the run itself.
        _ => Vec::new(),
    };
    if let Some(node) = args.node {
        return session::mesh(config, node, rig, captures);
    }
    println!("tidenet mesh: {rig}");
    let bar = ProgressBar::new(config.deadline_cycles).with_style(
        ProgressStyle::with_template("{bar:40} {msg} ({elapsed} so far)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let started = std::time::Instant::now();
    let result = mesh_captured(&config, &captures, |cycles, reports| {
        bar.set_position(cycles);
        bar.set_message(format!("{reports} of {} reports in", args.nodes));
    });
    bar.finish_and_clear();
    let wall = started.elapsed();
    let report = match result {
        Ok(report) => report,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    for (capture, edge) in captures.iter().zip(&report.edges) {
        match capture_summary(capture, &format!("node {}", edge.a.0)) {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    let wired = 2 * report.edges.len();
    let busiest = (0..args.nodes)
        .map(|n| {
            report
                .edges
                .iter()
                .flat_map(|e| [e.a.0, e.b.0])
                .filter(|&m| m == n)
                .count()
        })
        .max()
        .unwrap_or(0);
    println!(
        "{} links; RAM {} bytes per link (TCP/IP, link layer and buffers), {} per node besides its links, {} for the busiest node, with {busiest} links",
        report.edges.len(),
        report.ram_per_link,
        report.ram_per_node,
        report.ram_per_node + report.ram_per_link * busiest,
    );
    if report.shared_addresses > 0 {
        println!(
            "note: {} of {wired} link ends share their link-local address with an end elsewhere; addresses are used only on their own link",
            report.shared_addresses
        );
    }
    let ms = |cycles: u64| cycles as f64 * CYCLE_NS as f64 / 1e6;
    let stages = report.stages;
    for (name, at) in [
        ("all links aligned", stages.aligned),
        ("all links up", stages.up),
        ("all peers known", stages.identified),
        ("all reports in", stages.reported),
    ] {
        match at {
            Some(at) => println!("{name:<20} {:>9.3} ms virtual", ms(at)),
            None => println!("{name:<20} {:>9} by the deadline", "never"),
        }
    }
    println!(
        "host wall time {:.2} s for {:.3} ms virtual",
        wall.as_secs_f64(),
        ms(report.cycles)
    );
    let ugns: usize = report
        .collected
        .reports()
        .iter()
        .map(|r| r.edges.len())
        .sum();
    for wrong in &report.wrong_ugns {
        println!("wrong: {wrong}");
    }
    if report.wrong_ugns.is_empty() {
        println!("UGN: every one of the {ugns} measured UGNs matches the model's");
    }
    if report.missing.is_empty() && report.wrong_ugns.is_empty() {
        let ends: usize = report
            .collected
            .reports()
            .iter()
            .map(|r| r.edges.len())
            .sum();
        println!(
            "ok: the manager holds {} reports, every one of the {} links from both ends ({ends} edge reports)",
            report.collected.reports().len(),
            report.edges.len()
        );
        ExitCode::SUCCESS
    } else if report.missing.is_empty() {
        eprintln!(
            "error: wrong-ugn: {} reported UGNs differ from the model's",
            report.wrong_ugns.len()
        );
        ExitCode::FAILURE
    } else {
        for missing in &report.missing {
            println!("missing: {missing}");
        }
        let hint = match args.off {
            Some(off) => format!("node {off} is off, as --off asked"),
            None => "raise --deadline-ms or lower the fault rates".into(),
        };
        eprintln!(
            "error: reports-missing: {} things never reached the manager by {} ms; {hint}",
            report.missing.len(),
            args.deadline_ms
        );
        ExitCode::FAILURE
    }
}

fn node(args: &NodeArgs) -> ExitCode {
    match args.transport {
        TransportKind::Sim => match args.thunderbolt_flag() {
            None => session::shell(&ShellArgs::defaults()),
            Some(flag) => {
                eprintln!(
                    "error: {flag} sets up a Thunderbolt node; add --transport thunderbolt (the simulated link's flags are on 'tidenet shell')"
                );
                ExitCode::from(2)
            }
        },
        TransportKind::Thunderbolt => match args.thunderbolt() {
            Ok(config) => session::host(config, args.remote.into()),
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Lets a closed stdout end the process quietly, as it ends `cat`: Rust
/// ignores SIGPIPE, so `tidenet bench | head` would otherwise panic on the
/// next line. Only for the reports: the sessions hold a terminal in raw mode
/// and handle a closed stdout themselves, restoring it.
fn die_on_sigpipe() {
    // SAFETY: sets the disposition of one signal before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

fn bench(args: BenchArgs) -> ExitCode {
    let config = BenchConfig {
        bytes: args.bytes,
        report: args
            .report
            .or_else(|| std::env::var_os("TIDENET_BENCH_DIR").map(Into::into)),
        sweep_bytes: args.sweep_bytes,
        host_bytes: args.host_bytes,
    };
    match report::bench(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn demo(args: &DemoArgs) -> ExitCode {
    let link = &args.link;
    let capture = match open_capture(args.pcap.as_deref(), args.stack) {
        Ok(capture) => capture,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let config = TransferConfig {
        bytes: args.bytes,
        link: link.config(),
        bus_cycles: link.bus_cycles,
        stack: args.stack,
        driver: args.driver,
        window: args.window,
        ..TransferConfig::default()
    };
    println!(
        "tidenet demo: {} bytes A -> B over {} on a {}-word ringbuffer, latency {} cycles, bus {} cycles/word, seed {}",
        args.bytes,
        args.stack.describe(),
        link.depth,
        link.latency,
        link.bus_cycles,
        link.seed
    );
    println!(
        "injected faults: loss {:.1}%, corruption {:.1}%, outages {:.2}%/pass x {} passes; plus what the model's timing causes",
        link.loss * 100.0,
        link.corrupt * 100.0,
        link.burst * 100.0,
        link.burst_passes
    );
    println!(
        "window: {} bytes of frames in flight per end; {} bytes of link-layer RAM per end",
        args.window.bytes(),
        link_ram(args.window)
    );
    let mtu = mtu_for_depth(config.link.depth);
    if mtu < MAX_MTU {
        println!(
            "note: a frame takes at most a third of a {}-word ring, so the MTU shrinks from {MAX_MTU} to {mtu}",
            link.depth
        );
    }

    let bar = ProgressBar::new(args.bytes).with_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} received ({eta} left)")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let result = transfer_captured(&config, capture.as_ref(), |received| {
        bar.set_position(received)
    });
    bar.finish_and_clear();
    if let Some(capture) = &capture {
        match capture_summary(capture, "node A") {
            Ok(line) => println!("{line}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    match result {
        Ok(report) => {
            print_report(&report);
            if report.intact() {
                println!("ok: all {} bytes arrived intact", report.received);
                ExitCode::SUCCESS
            } else {
                println!("error: data-mismatch: what arrived differs from what was sent");
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Creates the capture `--pcap` names, for a run on `stack`; the error to
/// print if it cannot be.
fn open_capture(path: Option<&Path>, stack: Stack) -> Result<Option<Capture>, String> {
    let Some(path) = path else {
        return Ok(None);
    };
    if stack != Stack::Tcpip {
        return Err(
            "pcap-needs-ip: --pcap captures IP packets, and the bespoke stack sends none; use --stack tcpip or drop --pcap"
                .into(),
        );
    }
    Capture::create(path).map(Some).map_err(|e| e.to_string())
}

/// Finishes `capture`, made at the link end `end`: the line that says what
/// it holds, or the error.
fn capture_summary(capture: &Capture, end: &str) -> Result<String, String> {
    let packets = capture.finish().map_err(|e| e.to_string())?;
    Ok(format!(
        "pcap: {packets} IP packets in {} (captured at {end}, both directions)",
        capture.path().display()
    ))
}

fn print_report(r: &Report) {
    println!(
        "link up after {} cycles (alignment and handshake); MTU {} bytes",
        r.up_cycles, r.mtu
    );
    println!("sha256 sent     {}", hex(&r.sent_sha256));
    println!("sha256 received {}", hex(&r.received_sha256));
    println!();
    println!("{:<22} {:>12} {:>12}", "counter", "node A", "node B");
    for (a, b) in r.a.fields().iter().zip(r.b.fields().iter()) {
        println!("{:<22} {:>12} {:>12}", a.name, a.value, b.value);
    }
    println!();
    println!(
        "injected: {} lost writes, {} corrupted writes, {} outages",
        r.injected.lost_writes, r.injected.corrupted_writes, r.injected.outages
    );
    let seconds = r.transfer_cycles as f64 * 8e-9;
    println!(
        "transfer: {} bytes in {} cycles ({:.3} ms virtual)",
        r.received,
        r.transfer_cycles,
        seconds * 1e3
    );
    println!("goodput: {:.2} MB/s virtual", r.goodput_mb_s());
    let mib = r.received as f64 / (1 << 20) as f64;
    println!(
        "polls per MiB: {:.0} of the transports, {:.0} of the sender and receiver tasks",
        r.polls.transport as f64 / mib,
        r.polls.tasks as f64 / mib
    );
    println!(
        "CPU bus use: node A {:.0}%, node B {:.0}% of their time",
        r.busy[0] * 100.0,
        r.busy[1] * 100.0
    );
    println!(
        "link efficiency: {:.3} of the ceiling ({:.2} B/cycle: the slower of the wire, 8 B/cycle, and one CPU's bus, 8 B per {} cycles); {:.4} of the wire",
        r.efficiency(),
        r.ceiling(),
        r.bus_cycles,
        r.wire_efficiency()
    );
    if r.late_writes > 0 {
        println!(
            "note: the model applied {} writes late (the latency is too short for the CPUs to stay in step), so timing is approximate",
            r.late_writes
        );
    }
}
