//! A node whose link delivers nothing but garbage, and whose UART gets line
//! noise, keeps answering its shell: every command gets exactly one final
//! line, and the counters show the garbage was seen and refused.
//!
//! The ringbuffer here is not the model: its receive memory reads back
//! random words (a fixed seed), and what is written to it goes nowhere.
//! That is a link no alignment or framing can make sense of, which is the
//! point.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

use tidenet_core::addr::HardwareId;
use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::{Duration, Instant};
use tidenet_node::{await_peers, App};
use tidenet_ringbuffer::{Alignment, Config};
use tidenet_tcpip::{Resources, TcpIp};

const DEPTH: usize = 256;

/// A transmit memory whose words go nowhere.
struct Sink;

impl TransmitRingbuffer for Sink {
    fn data_len(&self) -> usize {
        DEPTH
    }
    fn write_slice(&mut self, _: &[u64], _: usize) {}
    fn set_enabled(&mut self, _: bool) {}
}

/// A receive memory that reads back random words: mostly noise, sometimes
/// a run of zeros or a repeated word, as a broken link might deliver.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

impl ReceiveRingbuffer for Noise {
    fn data_len(&self) -> usize {
        DEPTH
    }
    fn read_slice(&mut self, dst: &mut [u64], _: usize) {
        let mode = self.next() % 8;
        let fixed = self.next();
        for word in dst {
            *word = match mode {
                0 => 0,
                1 => fixed,
                _ => self.next(),
            };
        }
    }
    fn set_enabled(&mut self, _: bool) {}
    fn set_clear_at_count(&mut self, _: usize) {}
}

/// A UART whose two ends the test holds: bytes typed, bytes printed.
#[derive(Clone, Default)]
struct Uart {
    input: Rc<RefCell<VecDeque<u8>>>,
    output: Rc<RefCell<Vec<u8>>>,
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.input.borrow().is_empty())
    }
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut input = self.input.borrow_mut();
        let n = buf.len().min(input.len());
        for (slot, byte) in buf.iter_mut().zip(input.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}

/// Drives one node: types, polls with time moving, reads what it printed.
struct Bench<'s> {
    app: App<'s, TcpIp<'s, Sink, Noise>, Uart>,
    uart: Uart,
    now: Instant,
}

impl Bench<'_> {
    /// Polls for `time` of virtual time, in 100 µs steps.
    fn run_for(&mut self, time: Duration) {
        let until = self.now + time;
        while self.now < until {
            let Ok(_) = self.app.poll(self.now);
            self.now = self.now + Duration::from_micros(100);
        }
    }

    /// Types `line` and polls until a final line (`ok..` or `error: ..`)
    /// follows its echo, for at most 3 s of virtual time. Returns every
    /// line printed after the echo.
    fn command(&mut self, line: &str) -> Vec<String> {
        self.uart.output.borrow_mut().clear();
        self.uart
            .input
            .borrow_mut()
            .extend(line.bytes().chain([b'\r']));
        let deadline = self.now + Duration::from_secs(3);
        while self.now < deadline {
            self.run_for(Duration::from_millis(1));
            let lines = self.lines();
            if lines.iter().any(|l| is_final(l)) {
                // Let anything that would wrongly follow arrive too.
                self.run_for(Duration::from_millis(50));
                return self.lines();
            }
        }
        panic!("`{line}` got no final line; printed {:?}", self.lines());
    }

    fn lines(&self) -> Vec<String> {
        String::from_utf8_lossy(&self.uart.output.borrow())
            .split("\r\n")
            .skip(1) // the echo
            .map(|l| l.trim_start_matches("> ").to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    }
}

fn is_final(line: &str) -> bool {
    line.starts_with("ok") || line.starts_with("error: ")
}

fn stat(rows: &[String], name: &str) -> u64 {
    rows.iter()
        .find_map(|r| r.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"))
}

#[test]
fn a_node_on_a_garbage_link_answers_every_command_once() {
    let id = HardwareId {
        dna: *b"garbage-link",
        port: 0,
    };
    let mut resources = Resources::<2048>::new();
    let uart = Uart::default();
    let mut shell = tidenet_shell::Resources::new(uart.clone());
    // A link the hardware says is aligned, so the garbage reaches the link
    // layer's framing straight away.
    let mut link = Config::new(1);
    link.alignment = Alignment::Hardware;
    let mut transport = TcpIp::new(
        Sink,
        Noise(0x9e37_79b9_7f4a_7c15),
        id,
        link,
        &mut resources,
        Instant::ZERO,
    );
    // No peer can be learnt from garbage: waiting for one gives up on time.
    let mut now = Instant::ZERO;
    let mut clock = || {
        now = now + Duration::from_micros(100);
        now
    };
    assert!(!await_peers(
        &mut [&mut transport],
        &mut clock,
        Duration::from_millis(200)
    ));
    assert!(
        now >= Instant::from_micros(200_000),
        "gave up early, at {now}"
    );
    let Ok(app) = App::new([transport], &mut shell);
    let mut bench = Bench { app, uart, now };

    // Line noise on the UART as well. Then a zero, which closes a frame the
    // noise left open or opens one that times out, and an Enter that ends
    // whatever line the noise left half typed.
    let mut noise = Noise(0x0123_4567_89ab_cdef);
    let typed: Vec<u8> = (0..2048).map(|_| noise.next() as u8).collect();
    for tail in [&typed[..], b"\0", b"\r"] {
        bench.uart.input.borrow_mut().extend(tail);
        bench.run_for(Duration::from_millis(300));
    }

    let status = bench.command("status");
    let version = format!("version={}", tidenet_core::proto::VERSION);
    assert_eq!(status[..2], [version.as_str(), "stack=tcpip"], "{status:?}");
    let links = bench.command("links");
    assert!(
        links[0].contains(" state=down reason=handshake-timeout peer_dna=none "),
        "{links:?}"
    );
    for line in [
        "links",
        "connect 0 7000",
        "ping 0",
        "remote 0 status",
        "listen 7000",
        "stats",
        "stats 0",
        "stats 1",
    ] {
        let reply = bench.command(line);
        let finals: Vec<&String> = reply.iter().filter(|l| is_final(l)).collect();
        assert_eq!(finals.len(), 1, "`{line}`: {reply:?}");
    }

    // Whatever the garbage was, none of it became data: no session word in
    // it ever echoed this end's, so the link never came up, and it counted
    // every handshake that timed out waiting.
    let stats = bench.command("stats");
    assert_eq!(stat(&stats, "stream_bytes_rx"), 0, "{stats:?}");
    assert_eq!(stat(&stats, "datagrams_rx"), 0, "{stats:?}");
    assert_eq!(stat(&stats, "frames_rx"), 0, "{stats:?}");
    assert_eq!(stat(&stats, "link_ups"), 0, "{stats:?}");
    assert!(
        stat(&stats, "down_handshake_timeout") > 10,
        "the handshake never gave up: {stats:?}"
    );
    // Zeroed, and counting again only for the 50 ms each command runs on.
    let before = stat(&stats, "down_handshake_timeout");
    bench.command("stats reset 0");
    let after = stat(&bench.command("stats 0"), "down_handshake_timeout");
    assert!(after <= 10 && after < before, "{after} after {before}");
}
