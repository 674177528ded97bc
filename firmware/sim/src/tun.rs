//! `tidenet tun`: the host kernel's own TCP/IP at one end of a modelled
//! ringbuffer link, through a Linux TUN interface, and a simulated node at
//! the other.
//!
//! The near end runs the link layer alone ([`near`]), with the kernel
//! above it; the TUN interface gets the address the near end's hardware id
//! derives (`tidenet_core::addr`), with the link-local /16, so the kernel
//! routes the far node's address to it. The far end is the simulated
//! node as everywhere else (TCP/IP on the link under the node executor)
//! serving a stream sink and a stream source ([`far`]) that a script
//! checks by their SHA-256.
//!
//! The kernel keeps wall time, so the model runs paced to the wall clock
//! as `tidenet shell` does: what is due up to a target time runs at once,
//! then the thread sleeps a moment and the target moves on by the wall
//! time that passed. Virtual time never runs ahead of wall time; on a host
//! too slow to keep up with a busy link it falls behind, and the kernel
//! sees a slower link.

use std::process::ExitCode;

use clap::Args;

use crate::LinkArgs;

#[cfg(target_os = "linux")]
mod far;
#[cfg(target_os = "linux")]
mod iface;
#[cfg(target_os = "linux")]
mod near;

/// `tidenet tun`'s flags; [`AFTER_HELP`] tells a script what it prints.
#[derive(Args)]
#[command(after_help = AFTER_HELP)]
#[cfg_attr(not(target_os = "linux"), allow(dead_code))]
pub(crate) struct TunArgs {
    /// The TUN interface to create. It gets the near end's link-local
    /// address (printed) with prefix /16 and the link's MTU, comes up, and
    /// goes away when tidenet exits.
    #[arg(long, default_value = "tn0")]
    name: String,
    /// The far node accepts TCP streams from the kernel on this port, reads
    /// each to its end and prints `received: N bytes ... sha256 HEX`.
    #[arg(long, default_value_t = tidenet_sim::DEMO_PORT)]
    listen: u16,
    /// The far node opens a TCP stream to the kernel on this port, once the
    /// link is up, sends --send-bytes bytes of a pattern seeded by --seed
    /// and prints `sent: N bytes ... sha256 HEX` once the kernel has
    /// acknowledged them all. The stream goes to the interface's address,
    /// the only one across the link. Start the kernel's listener first: a
    /// refused stream is an error.
    #[arg(long, value_name = "PORT")]
    connect: Option<u16>,
    /// Bytes the far node sends to --connect's port.
    #[arg(long, default_value_t = 1 << 20, value_name = "N")]
    send_bytes: u64,
    /// Exit once this many streams from the kernel have been read to their
    /// end, and --connect's stream (if any) is sent. Without --streams and
    /// --connect, run until Ctrl-C.
    #[arg(long, value_name = "N")]
    streams: Option<u64>,
    /// Fail with `timeout`, saying what is missing, if not done within this
    /// many wall seconds.
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
    #[command(flatten)]
    link: LinkArgs,
}

/// The end of `tidenet tun --help`: what a script reads and how to drive it.
const AFTER_HELP: &str = "\
Output, one line each on stdout, for scripts:
  far node ADDR: ...     the address the kernel reaches the far node at
  ready: ...             the link is up: connect to ADDR now
  received: N bytes in stream K on port P sha256 HEX in S s wall (R B/s wall); ...
  sent: N bytes to port P sha256 HEX in S s wall (R B/s wall); ...
Throughput is given in wall time and in the model's virtual time. It exits 0
once done (see --streams), 1 with an 'error: NAME: ...' line on stderr.

Example, as root, in a network namespace of its own:
  ip netns add tn; ip -n tn link set lo up
  ip netns exec tn sh -c 'nc -l 9000 | sha256sum' &
  ip netns exec tn tidenet tun --connect 9000 --streams 1 &
  # after 'ready:', send to the far node's address, port 7000:
  head -c 1000000 /dev/urandom | ip netns exec tn nc -N FAR_ADDR 7000";

/// Elsewhere than Linux there is no TUN driver to bridge to.
#[cfg(not(target_os = "linux"))]
pub(crate) fn run(_: &TunArgs) -> ExitCode {
    eprintln!(
        "error: tun-unsupported: 'tidenet tun' needs Linux's TUN driver (/dev/net/tun), and this is not Linux; 'tidenet demo' and 'tidenet shell' run the simulated pair here"
    );
    ExitCode::from(2)
}

/// Runs the bridge until done, Ctrl-C, or a failure, which it names.
#[cfg(target_os = "linux")]
pub(crate) fn run(args: &TunArgs) -> ExitCode {
    match linux::serve(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(target_os = "linux")]
mod linux {
    use std::cell::RefCell;
    use std::fmt;
    use std::io::{self, Write};
    use std::thread;
    use std::time::{Duration as WallDuration, Instant as WallInstant};

    use indicatif::{ProgressBar, ProgressStyle};
    use tidenet_core::addr::host_part;
    use tidenet_core::node::Node;
    use tidenet_core::time::Instant;
    use tidenet_core::{Error, LinkState, Transport};
    use tidenet_model::{ConfigError, Cpu, Link, Port, Schedule, Side, CYCLE_NS};
    use tidenet_sim::nodes::{idle_cycles, IDLE_SLEEP};
    use tidenet_sim::{describe, link_config, sim_id, Window};
    use tidenet_tcpip::{Resources, TcpIp};

    use super::far::{Done, FarError, Services};
    use super::iface::{IfaceError, Tun};
    use super::near::Near;
    use super::TunArgs;

    /// The prefix of RFC 3927 link-local addresses: every far address a
    /// link can derive is on the interface's subnet.
    const PREFIX: u8 = 16;
    /// Bytes per stream per direction in the far node, as in the demo.
    const STREAM_BUFFER: usize = 16 * 1024;
    /// Each end's window of frames in flight, the demo's default.
    const WINDOW: usize = Window::Deep.bytes();
    /// Wall time the link gets to come up before start-up fails.
    const LINK_UP: WallDuration = WallDuration::from_secs(5);
    /// Once done, how long no packet may cross the bridge before tidenet
    /// exits: the streams' closes (FIN and acknowledgement, both ways) must
    /// reach the kernel first, and the transport does not say when they
    /// have.
    const QUIET: WallDuration = WallDuration::from_millis(300);
    /// Once done, the longest tidenet lingers for [`QUIET`]: a kernel
    /// application that never closes its end keeps its packets coming.
    const LINGER: WallDuration = WallDuration::from_secs(3);
    /// How often the progress line is redrawn.
    const REDRAW: WallDuration = WallDuration::from_millis(200);

    /// Why `tidenet tun` stopped.
    #[derive(Debug)]
    pub(super) enum TunError {
        Iface(IfaceError),
        Config(ConfigError),
        /// Reading or writing the TUN device failed while running.
        Device(io::Error),
        /// The far node could not listen.
        Listen(u16, Error),
        Far(FarError),
        /// The link did not come up in [`LINK_UP`].
        LinkDown {
            near: LinkState,
            far: LinkState,
        },
        /// Not done within `--timeout`; what is missing.
        Timeout {
            seconds: f64,
            missing: String,
        },
    }

    impl fmt::Display for TunError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                TunError::Iface(e) => e.fmt(f),
                TunError::Config(e) => write!(f, "{e}"),
                TunError::Device(e) => write!(
                    f,
                    "tun-io: the TUN device failed: {e}; was the interface removed?"
                ),
                TunError::Listen(port, e) => {
                    write!(f, "the far node cannot listen on port {port}: {e}")
                }
                TunError::Far(e) => e.fmt(f),
                TunError::LinkDown { near, far } => write!(
                    f,
                    "link-down: the link did not come up within {} s (near end {}, far end {}); lower the fault rates",
                    LINK_UP.as_secs(),
                    describe(*near),
                    describe(*far)
                ),
                TunError::Timeout { seconds, missing } => write!(
                    f,
                    "timeout: not done after {seconds} s: {missing}; raise --timeout, or check that the kernel's end opened and closed its streams"
                ),
            }
        }
    }

    /// The side of the link CPU `i` is on: 0 the near end, 1 the far node.
    fn side(i: usize) -> Side {
        if i == 0 {
            Side::A
        } else {
            Side::B
        }
    }

    /// Prints `line` on stdout at once, past the progress line.
    fn say(bar: &ProgressBar, line: &str) {
        bar.suspend(|| {
            let mut out = io::stdout().lock();
            let _ = writeln!(out, "{line}");
            let _ = out.flush();
        });
    }

    pub(super) fn serve(args: &TunArgs) -> Result<(), TunError> {
        let config = args.link.config();
        let seed = config.seed;
        let (near_id, far_id) = (sim_id(1), sim_id(2));
        let (near_ip, far_ip) = (near_id.link_local(), far_id.link_local());
        let mut memory = vec![0u64; config.memory_words()];
        let wire = RefCell::new(Link::new(&config, &mut memory).map_err(TunError::Config)?);
        let cpus = [
            Cpu::new(args.link.bus_cycles),
            Cpu::new(args.link.bus_cycles),
        ];
        let (ta, ra) = Port::pair(&wire, Side::A, &cpus[0]);
        let (tb, rb) = Port::pair(&wire, Side::B, &cpus[1]);
        let mut window = vec![0u8; WINDOW];
        let link = tidenet_ringbuffer::Link::new(
            ta,
            ra,
            host_part(near_ip),
            link_config(1, seed),
            &mut window,
        );
        let mtu = link.mtu();
        let tun = Tun::open(&args.name, near_ip, PREFIX, mtu).map_err(TunError::Iface)?;
        let name = tun.name().to_string();
        let mut near = Near::new(link, tun);
        let mut resources = Box::new(Resources::<STREAM_BUFFER, WINDOW>::new());
        let far = TcpIp::new(
            tb,
            rb,
            far_id,
            link_config(2, seed),
            &mut resources,
            Instant::ZERO,
        );
        let mut node = Box::new(Node::new([far]));
        let mut services = Services::new(args.listen, args.connect, args.send_bytes, seed);
        services
            .start(&mut node.links_mut()[0])
            .map_err(|e| TunError::Listen(args.listen, e))?;

        println!(
            "tidenet tun: {name} is {near_ip}/{PREFIX}, MTU {mtu}: the kernel is the near end of a {}",
            args.link.describe()
        );
        let sends = match args.connect {
            Some(port) => format!(
                "; it sends {} bytes to {near_ip} port {port}",
                args.send_bytes
            ),
            None => String::new(),
        };
        println!(
            "far node {far_ip}: accepts streams on port {}{sends}",
            args.listen
        );
        let bar = ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let finite = args.streams.is_some() || args.connect.is_some();
        let started = WallInstant::now();
        let mut redrawn = started;
        let mut schedule = Schedule::new(&[&cpus[0], &cpus[1]], config.latency as u64);
        let latest = || cpus.iter().map(|c| c.cycles()).max().unwrap_or(0);
        let mut target = 0;
        let mut up = false;
        let mut done: Vec<Done> = Vec::new();
        let mut finished: Option<WallInstant> = None;
        // The bridge's packet count and when it last changed.
        let mut traffic = (0, started);
        loop {
            // Everything due up to the target runs at once, each end on its
            // own CPU's clock.
            let landing = |i| wire.borrow().next_landing(side(i));
            while schedule.peek(landing).is_some_and(|(_, at)| at <= target) {
                let mut failed = None;
                schedule.step(landing, |i, now| {
                    wire.borrow_mut()
                        .take_landed(side(i), now.as_nanos() / CYCLE_NS);
                    if i == 0 {
                        match near.poll(now) {
                            Ok(true) => Some(now),
                            Ok(false) => near.link().poll_at(now),
                            Err(e) => {
                                failed = Some(TunError::Device(e));
                                None
                            }
                        }
                    } else {
                        let active = node.poll(now);
                        match services.poll(&mut node.links_mut()[0], now, &mut done) {
                            Ok(served) if active || served => Some(now),
                            Ok(_) => node.poll_at(now),
                            Err(e) => {
                                failed = Some(TunError::Far(e));
                                None
                            }
                        }
                    }
                });
                if let Some(e) = failed {
                    bar.finish_and_clear();
                    return Err(e);
                }
            }
            for line in done.drain(..) {
                say(&bar, &line.to_string());
            }
            let states = [near.link().state(), node.links()[0].link_state()];
            if !up {
                if states == [LinkState::Up, LinkState::Up] && node.links()[0].peer().is_some() {
                    up = true;
                    say(
                        &bar,
                        &format!(
                            "ready: link up after {:.3} ms virtual, {:.3} s wall; the kernel reaches the far node at {far_ip} through {name}",
                            latest() as f64 * CYCLE_NS as f64 / 1e6,
                            started.elapsed().as_secs_f64()
                        ),
                    );
                } else if started.elapsed() > LINK_UP {
                    bar.finish_and_clear();
                    let [near, far] = states;
                    return Err(TunError::LinkDown { near, far });
                }
            }
            let streams = args.streams.unwrap_or(0);
            if finite && services.received() >= streams && services.sent() {
                // Linger until the closes have crossed, or the kernel
                // would wait for a FIN that never comes.
                let since = *finished.get_or_insert_with(WallInstant::now);
                let c = near.counters();
                if c.to_link + c.to_kernel != traffic.0 {
                    traffic = (c.to_link + c.to_kernel, WallInstant::now());
                }
                if traffic.1.elapsed() > QUIET || since.elapsed() > LINGER {
                    break;
                }
            }
            if let Some(seconds) = args.timeout {
                if started.elapsed().as_secs_f64() > seconds {
                    bar.finish_and_clear();
                    let mut missing = Vec::new();
                    if services.received() < streams {
                        missing.push(format!(
                            "{} of {streams} streams from the kernel received",
                            services.received()
                        ));
                    }
                    if !services.sent() {
                        missing.push("the stream to the kernel is not all acknowledged".into());
                    }
                    let missing = missing.join(", ");
                    return Err(TunError::Timeout { seconds, missing });
                }
            }
            if redrawn.elapsed() >= REDRAW {
                redrawn = WallInstant::now();
                let c = near.counters();
                bar.set_message(format!(
                    "{:.1} s wall, {:.1} ms virtual; packets: {} kernel to link, {} link to kernel; {} streams received",
                    started.elapsed().as_secs_f64(),
                    latest() as f64 * CYCLE_NS as f64 / 1e6,
                    c.to_link,
                    c.to_kernel,
                    services.received()
                ));
                bar.tick();
            }
            // Idle: let virtual time pass as fast as wall time does, then
            // let both ends look again (the kernel may have sent packets).
            let slept = WallInstant::now();
            thread::sleep(IDLE_SLEEP);
            target += idle_cycles(slept.elapsed());
            for (i, cpu) in cpus.iter().enumerate() {
                cpu.advance_to(target);
                schedule.wake(i);
            }
        }
        bar.finish_and_clear();
        let c = near.counters();
        println!(
            "bridge: {} packets kernel to link, {} link to kernel; dropped: {} from the kernel (not IPv4 within the MTU), {} from the link",
            c.to_link, c.to_kernel, c.dropped_from_kernel, c.dropped_from_link
        );
        println!("{:<22} {:>12} {:>12}", "counter", "near end", "far node");
        let (near_stats, far_stats) = (near.link().stats(), node.links()[0].stats());
        for (n, f) in near_stats.fields().iter().zip(far_stats.fields().iter()) {
            println!("{:<22} {:>12} {:>12}", n.name, n.value, f.value);
        }
        let injected = wire.borrow().injected();
        println!(
            "injected: {} lost writes, {} corrupted writes, {} outages; {:.3} ms virtual in {:.3} s wall",
            injected.lost_writes,
            injected.corrupted_writes,
            injected.outages,
            latest() as f64 * CYCLE_NS as f64 / 1e6,
            started.elapsed().as_secs_f64()
        );
        Ok(())
    }
}
