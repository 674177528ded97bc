//! `tidenet shell` and `tidenet node`: a person's or a script's session on a
//! node's UART, over stdio or one pseudo-terminal per node.

use std::fs::File;
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use tidenet_core::node::RemotePolicy;
use tidenet_core::Transport;
use tidenet_shell::PROMPT;
use tidenet_sim::mesh::MeshConfig;
use tidenet_sim::nodes::Nodes;
use tidenet_sim::pcap::Capture;
use tidenet_thunderbolt::{Config, Thunderbolt, TransportError};

use crate::tty::{block_signals, wait_signal, Pty, RawMode};
use crate::{LinkArgs, NodeName, ShellArgs};

/// After stdin ends, how long the node's output must stay quiet before a
/// piped session exits.
const QUIET: Duration = Duration::from_millis(200);
/// After stdin ends, the longest quiet a piped session waits for the node to
/// print its prompt. `ping` and `remote` give up after one virtual second,
/// which takes about two wall seconds on a link in an outage; this is the
/// client's default timeout.
const QUIET_MAX: Duration = tidenet_shell::client::DEFAULT_TIMEOUT;
/// The key a terminal session exits on: Ctrl-C.
const CTRL_C: u8 = 0x03;
/// The other key a terminal session exits on: Ctrl-D.
const CTRL_D: u8 = 0x04;

/// What ends, or may end, a session.
enum Event {
    /// The user pressed Ctrl-C or Ctrl-D, or the terminal went away.
    Quit,
    /// Piped input ended; its last byte, if there was one.
    Eof(Option<u8>),
    /// A signal came.
    Signal(libc::c_int),
    /// A relay failed; the text says how.
    Failed(String),
}

pub(crate) fn shell(args: &ShellArgs) -> ExitCode {
    let capture = match crate::open_capture(args.pcap.as_deref(), args.stack) {
        Ok(capture) => capture.map(Arc::new),
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let start = || {
        let (config, bus) = (args.link.config(), args.link.bus_cycles);
        let nodes = match &capture {
            Some(capture) => Nodes::spawn_captured(config, bus, args.stack, capture.clone()),
            None => Nodes::spawn(config, bus, args.stack),
        }
        .map_err(|e| e.to_string())?;
        let node = args.node;
        let banner = vec![
            format!(
                "tidenet shell: node {} (node {} is at the far end of its link 0); link: {}",
                node.upper(),
                node.other().upper(),
                args.link.describe()
            ),
            format!(
                "'status' shows this node's address, 'help' lists the commands, 'remote 0 <command>' runs a command on node {}",
                node.other().upper()
            ),
        ];
        Ok((nodes, banner))
    };
    let code = run(start, |nodes, banner, events, rx| {
        if args.pty {
            pty_session(nodes, &args.link, &events, rx)
        } else {
            stdio_session(nodes, args.node.index(), banner, events, rx)
        }
    });
    // The nodes have stopped: nothing more is written to the capture.
    match capture.map(|c| crate::capture_summary(&c, "node A")) {
        Some(Ok(line)) => eprintln!("{line}"),
        Some(Err(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
        None => {}
    }
    code
}

/// `tidenet mesh --node K`: the shell of node K of a running rig, its
/// links' packets written to `captures` (one per link, or none).
pub(crate) fn mesh(
    config: MeshConfig,
    node: usize,
    rig: String,
    captures: Vec<Capture>,
) -> ExitCode {
    let captures: Arc<[Capture]> = captures.into();
    let start = || {
        let nodes =
            Nodes::mesh_captured(config, node, captures.clone()).map_err(|e| e.to_string())?;
        let banner = vec![
            format!("tidenet mesh: the shell of node {node} of {rig}"),
            "'links' shows its links and who is at each far end, 'remote <link> <command>' runs a command on a neighbour, 'help' lists the commands".into(),
        ];
        Ok((nodes, banner))
    };
    let code = run(start, |nodes, banner, events, rx| {
        stdio_session(nodes, 0, banner, events, rx)
    });
    // The rig has stopped: nothing more is written to the captures.
    for capture in captures.iter() {
        match crate::capture_summary(capture, "the lower-numbered node") {
            Ok(line) => eprintln!("{line}"),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    code
}

/// `tidenet node --transport thunderbolt`: one node on this host's
/// interface, its shell on stdin and stdout.
pub(crate) fn host(config: Config, remote: RemotePolicy) -> ExitCode {
    let start = || {
        let transport = Thunderbolt::new(config).map_err(|e| e.to_string())?;
        let banner = host_banner(&transport).map_err(|e| e.to_string())?;
        let nodes = Nodes::host(transport, remote).map_err(|e| e.to_string())?;
        Ok((nodes, banner))
    };
    run(start, |nodes, banner, events, rx| {
        stdio_session(nodes, 0, banner, events, rx)
    })
}

/// What a person at a Thunderbolt node needs to know first.
fn host_banner(transport: &Thunderbolt) -> Result<Vec<String>, TransportError> {
    let (control, data) = (transport.control_addr()?, transport.data_addr()?);
    let config = transport.config();
    let peer = match config.peers.first() {
        Some(peer) => format!(
            "peer {} (control port {}, data port {})",
            peer.ip, peer.control_port, peer.data_port
        ),
        None => "peer: the first to send us anything".into(),
    };
    Ok(vec![
        format!(
            "tidenet node: thunderbolt on {}: {}, control port {}, data port {}; {peer}",
            config.interface,
            Transport::local_addr(transport),
            control.port(),
            data.port(),
        ),
        "'status' shows this node, 'help' lists the commands; 'ping 0' and 'connect 0 <port>' reach the peer, whose data port is where DCF peers accept streams".into(),
    ])
}

/// Starts the nodes, then runs a session on them until it ends, with
/// SIGINT and SIGTERM turned into an orderly exit.
fn run(
    start: impl FnOnce() -> Result<(Nodes, Vec<String>), String>,
    session: impl FnOnce(&Nodes, &[String], Sender<Event>, &Receiver<Event>) -> ExitCode,
) -> ExitCode {
    // Blocked before any thread starts, so every thread inherits the mask and
    // only `sigwait` sees these signals: each exit runs the destructors.
    let signals = match block_signals() {
        Ok(set) => set,
        Err(e) => {
            eprintln!("error: signals: could not block SIGINT and SIGTERM: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (nodes, banner) = match start() {
        Ok(started) => started,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let (events, rx) = mpsc::channel();
    {
        let events = events.clone();
        let spawned = thread::Builder::new()
            .name("tidenet-signals".into())
            .spawn(move || {
                let _ = events.send(Event::Signal(wait_signal(&signals)));
            });
        if let Err(e) = spawned {
            eprintln!("error: io: could not start a thread: {e}");
            return ExitCode::FAILURE;
        }
    }
    let code = session(&nodes, &banner, events, &rx);
    // Hang up the UARTs before the nodes stop: a node blocks while its UART
    // output is not read, and would then never see the request to stop.
    for n in 0..nodes.count() {
        if let Ok(uart) = nodes.uart(n) {
            let _ = uart.shutdown(Shutdown::Both);
        }
    }
    code
}

/// The shell of node `node` on stdin and stdout, after `banner` on stderr.
fn stdio_session(
    nodes: &Nodes,
    node: usize,
    banner: &[String],
    events: Sender<Event>,
    rx: &Receiver<Event>,
) -> ExitCode {
    let (mut output, input) = match nodes.uart(node).and_then(|u| Ok((u.try_clone()?, u))) {
        Ok(pair) => pair,
        Err(e) => {
            eprintln!("error: io: could not open the node's UART: {e}");
            return ExitCode::FAILURE;
        }
    };
    // SAFETY: isatty only looks at the descriptor.
    let tty = unsafe { libc::isatty(libc::STDIN_FILENO) } == 1;
    for line in banner {
        eprintln!("{line}");
    }
    if tty {
        eprintln!("exit with Ctrl-C or Ctrl-D");
    } else {
        eprintln!("stdin is not a terminal: exiting once it ends and the node has gone quiet");
    }
    let raw = if tty {
        match RawMode::enter(libc::STDIN_FILENO) {
            Ok(raw) => Some(raw),
            Err(e) => {
                eprintln!(
                    "error: terminal: could not put stdin in raw mode: {e}; pipe the commands in instead"
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    let spawned = thread::Builder::new()
        .name("tidenet-stdin".into())
        .spawn(move || copy_stdin(input, tty, &events));
    let outcome = match spawned {
        Ok(_) => copy_output(&mut output, rx),
        Err(e) => Event::Failed(format!("io: could not start a thread: {e}")),
    };
    // Restore the terminal before saying anything more on it.
    drop(raw);
    finish(outcome, false)
}

/// Turns how a session ended into an exit code, saying why if it failed.
fn finish(outcome: Event, interrupt_is_exit: bool) -> ExitCode {
    match outcome {
        Event::Quit | Event::Eof(_) => ExitCode::SUCCESS,
        Event::Signal(libc::SIGINT) if interrupt_is_exit => ExitCode::SUCCESS,
        Event::Signal(signal) => ExitCode::from(128 + signal.clamp(0, 127) as u8),
        Event::Failed(why) => {
            eprintln!("error: {why}");
            ExitCode::FAILURE
        }
    }
}

/// Copies stdin to the node's UART until it ends; on a terminal, until Ctrl-C
/// or Ctrl-D, which are not sent.
fn copy_stdin(mut uart: UnixStream, tty: bool, events: &Sender<Event>) {
    let mut stdin = io::stdin().lock();
    let mut buf = [0u8; 1024];
    let mut last = None;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => {
                let _ = events.send(if tty { Event::Quit } else { Event::Eof(last) });
                return;
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = events.send(Event::Failed(format!("io: reading stdin: {e}")));
                return;
            }
        };
        let quit = if tty {
            buf[..n].iter().position(|&b| b == CTRL_C || b == CTRL_D)
        } else {
            None
        };
        let chunk = &buf[..quit.unwrap_or(n)];
        last = chunk.last().copied().or(last);
        if let Err(e) = uart.write_all(chunk) {
            let _ = events.send(Event::Failed(format!(
                "io: writing to the node's UART: {e}; the simulation stopped"
            )));
            return;
        }
        if quit.is_some() {
            let _ = events.send(Event::Quit);
            return;
        }
    }
}

/// Copies the node's output to stdout until an event ends the session.
fn copy_output(uart: &mut UnixStream, events: &Receiver<Event>) -> Event {
    let mut stdout = io::stdout().lock();
    let mut buf = [0u8; 4096];
    // The last bytes written, to tell a node waiting for input from one still
    // running a request; see `settled`.
    let mut tail = Vec::with_capacity(2 * PROMPT.len());
    let mut last_output = Instant::now();
    // When stdin ended, and its last byte.
    let mut eof = None;
    loop {
        match uart.read(&mut buf) {
            Ok(0) => {
                return Event::Failed("io: the node's UART closed; the simulation stopped".into())
            }
            Ok(n) => {
                match stdout.write_all(&buf[..n]).and_then(|()| stdout.flush()) {
                    Ok(()) => {}
                    // Whoever read stdout has gone: nothing left to do.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => return Event::Quit,
                    Err(e) => return Event::Failed(format!("io: writing stdout: {e}")),
                }
                tail.extend_from_slice(&buf[..n]);
                let excess = tail.len().saturating_sub(PROMPT.len());
                tail.drain(..excess);
                last_output = Instant::now();
            }
            Err(e) if no_data_yet(&e) => {}
            Err(e) => return Event::Failed(format!("io: reading the node's UART: {e}")),
        }
        loop {
            match events.try_recv() {
                Ok(Event::Eof(last)) => eof = Some((Instant::now(), last)),
                Ok(event) => return event,
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        if let Some((at, last)) = eof {
            let quiet = last_output.max(at).elapsed();
            if quiet >= QUIET && (settled(&tail, last) || quiet >= QUIET_MAX) {
                return Event::Eof(last);
            }
        }
    }
}

/// Whether output ending in `tail` shows a node waiting for input, after
/// input that ended with `last`: its prompt, the end of a binary reply, or
/// the echo of a last line left without Enter. A node still running a
/// request has printed none of these last: it echoed the request's Enter.
fn settled(tail: &[u8], last: Option<u8>) -> bool {
    let echoed = last.is_some_and(|b| (0x20..0x7f).contains(&b)) && tail.last() == last.as_ref();
    tail == PROMPT.as_bytes() || tail.last() == Some(&0) || echoed
}

/// Both nodes' shells on pseudo-terminals, until a signal.
fn pty_session(
    nodes: &Nodes,
    link: &LinkArgs,
    events: &Sender<Event>,
    rx: &Receiver<Event>,
) -> ExitCode {
    let mut ptys = Vec::new();
    for node in [NodeName::A, NodeName::B] {
        let pty = match Pty::open() {
            Ok(pty) => pty,
            Err(e) => {
                eprintln!(
                    "error: pty: could not create a pseudo-terminal for node {}: {e}; check that /dev/ptmx and /dev/pts are there (in a container, mount devpts), or run 'tidenet shell' without --pty to use stdin and stdout",
                    node.upper()
                );
                return ExitCode::FAILURE;
            }
        };
        let relays = nodes.uart(node.index()).and_then(|uart| {
            let (to_node, from_node) = (pty.master.try_clone()?, pty.master.try_clone()?);
            let (uart_in, uart_out) = (uart.try_clone()?, uart);
            let events_in = events.clone();
            thread::Builder::new()
                .name(format!("tidenet-pty-{}-in", node.upper()))
                .spawn(move || copy_pty_to_uart(to_node, uart_in, &events_in))?;
            let events_out = events.clone();
            thread::Builder::new()
                .name(format!("tidenet-pty-{}-out", node.upper()))
                .spawn(move || copy_uart_to_pty(uart_out, from_node, &events_out))?;
            Ok(())
        });
        if let Err(e) = relays {
            eprintln!(
                "error: io: could not relay node {}'s UART: {e}",
                node.upper()
            );
            return ExitCode::FAILURE;
        }
        ptys.push((node, pty));
    }
    eprintln!(
        "tidenet shell: two simulated nodes, A and B, on one link: {}",
        link.describe()
    );
    {
        let mut stdout = io::stdout().lock();
        for (node, pty) in &ptys {
            let _ = writeln!(
                stdout,
                "node {}: {}",
                node.upper().to_ascii_lowercase(),
                pty.path
            );
        }
        let _ = stdout.flush();
    }
    let first = &ptys[0].1.path;
    eprintln!("attach with: screen {first}   (or: picocom {first}), one terminal per node");
    eprintln!(
        "in each: 'status' shows the node's address, 'help' lists the commands, 'remote 0 <command>' runs a command on the other node"
    );
    eprintln!("stop with Ctrl-C");
    let outcome = rx
        .recv()
        .unwrap_or_else(|_| Event::Failed("io: every relay stopped".into()));
    finish(outcome, true)
}

/// Copies what is typed on a PTY to a node's UART.
fn copy_pty_to_uart(mut master: File, mut uart: UnixStream, events: &Sender<Event>) {
    let mut buf = [0u8; 1024];
    loop {
        match master.read(&mut buf) {
            Ok(n) if n > 0 => {
                if let Err(e) = uart.write_all(&buf[..n]) {
                    let _ = events.send(Event::Failed(format!(
                        "io: writing to a node's UART: {e}; the simulation stopped"
                    )));
                    return;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // No one has the terminal open (we keep it open, so this is
            // brief): wait for someone to attach.
            Ok(_) => thread::sleep(Duration::from_millis(50)),
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {
                thread::sleep(Duration::from_millis(50))
            }
            Err(e) => {
                let _ = events.send(Event::Failed(format!("pty: reading a terminal: {e}")));
                return;
            }
        }
    }
}

/// Copies a node's output to its PTY.
fn copy_uart_to_pty(mut uart: UnixStream, mut master: File, events: &Sender<Event>) {
    let mut buf = [0u8; 4096];
    loop {
        match uart.read(&mut buf) {
            Ok(0) => {
                let _ = events.send(Event::Failed(
                    "io: a node's UART closed; the simulation stopped".into(),
                ));
                return;
            }
            Ok(n) => {
                if let Err(e) = master.write_all(&buf[..n]) {
                    let _ = events.send(Event::Failed(format!("pty: writing a terminal: {e}")));
                    return;
                }
            }
            Err(e) if no_data_yet(&e) => {}
            Err(e) => {
                let _ = events.send(Event::Failed(format!("io: reading a node's UART: {e}")));
                return;
            }
        }
    }
}

/// Whether a read of a UART handle failed only because nothing came within
/// its timeout.
fn no_data_yet(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}
