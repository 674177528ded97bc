//! Scripted sessions against the shells of two simulated nodes on a lossy
//! modelled link, the way a person or a script drives a board's UART: typed
//! lines and binary COBS frames, good input and bad.
//!
//! Each test pins down behaviour a user relies on: bytes arrive intact and in
//! order, counters agree with what was sent, every mistake gets exactly one
//! named error, and no input, however broken, stops the shell or loses an
//! open stream's data. Links use fixed seeds so a failure reproduces.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use tidenet_core::proto::{self, Header, Peer, Request, Response, MAX_DATA, MAX_MESSAGE, VERSION};
use tidenet_core::{Error, Stats, StreamState};
use tidenet_model::{Faults, LinkConfig};
use tidenet_shell::client::{Client, Text};
use tidenet_shell::{FRAME_MAX, LINE_MAX};
use tidenet_sim::nodes::{Nodes, Stack};

mod common;
use common::*;

// --- Set-up -----------------------------------------------------------------

/// Link cycles a bus word costs each node's CPU: a VexRiscv's.
const BUS_CYCLES: u64 = 8;

/// A link that loses 5% and corrupts 1% of write bursts, seeded.
fn lossy(seed: u64) -> LinkConfig {
    LinkConfig {
        seed,
        faults: Faults {
            loss: 0.05,
            corrupt: 0.01,
            ..Faults::default()
        },
        ..LinkConfig::default()
    }
}

fn spawn(seed: u64) -> Nodes {
    Nodes::spawn(lossy(seed), BUS_CYCLES, Stack::Tcpip)
        .unwrap_or_else(|e| panic!("nodes did not start: {e}"))
}

fn text(nodes: &Nodes, n: usize) -> Text<UnixStream> {
    Text::new(nodes.uart(n).expect("a UART handle"))
}

/// B listens on `port`, A connects over link 0; waits until both ends are
/// established. Returns A's and B's stream ids.
fn open_stream(a: &mut Text<UnixStream>, b: &mut Text<UnixStream>, port: u16) -> (u8, u8) {
    assert_eq!(ok(b, &format!("listen {port}")), ["ok"]);
    await_link_up(a);
    let opened = ok(a, &format!("connect 0 {port}"));
    assert_eq!(opened.len(), 1, "{opened:?}");
    let sa: u8 = field(&opened[0], "stream")
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("connect printed no stream id: {opened:?}"));
    let row = await_established(a, sa, "opened");
    assert_eq!(field(&row, "port"), Some(&*port.to_string()), "{row}");
    let sb = eventually("B accepts the stream", || {
        ok(b, "status").iter().find_map(|r| {
            let ours = field(r, "origin") == Some("accepted")
                && field(r, "port") == Some(&*port.to_string())
                && field(r, "state") == Some("established");
            ours.then(|| field(r, "stream")?.parse().ok())?
        })
    });
    (sa, sb)
}

/// `recv`s on `stream` until `want` bytes have arrived, and no more.
fn recv_text(t: &mut Text<UnixStream>, stream: u8, want: usize) -> Vec<u8> {
    let mut got = Vec::new();
    eventually(&format!("{want} bytes on stream {stream}"), || {
        let reply = ok(t, &format!("recv {stream}"));
        assert_eq!(reply.len(), 1, "{reply:?}");
        got.extend(recv_data(&reply[0], stream));
        assert!(got.len() <= want, "more bytes arrived than were sent");
        (got.len() == want).then_some(())
    });
    got
}

// --- Raw binary frames ------------------------------------------------------

fn cobs_encode(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; cobs::max_encoding_length(data.len())];
    let len = cobs::encode(data, &mut out);
    out.truncate(len);
    out
}

fn cobs_decode(data: &[u8]) -> Option<Vec<u8>> {
    let mut out = data.to_vec();
    let len = cobs::decode_in_place(&mut out).ok()?;
    out.truncate(len);
    Some(out)
}

/// `message` as a frame on the wire: `0x00 <COBS> 0x00`.
fn frame(message: &[u8]) -> Vec<u8> {
    let mut wire = vec![0];
    wire.extend(cobs_encode(message));
    wire.push(0);
    wire
}

/// An encoded request message.
fn message(header: Header, request: &Request<'_>) -> Vec<u8> {
    let mut buf = [0u8; MAX_MESSAGE];
    let len = proto::encode(header, request, &mut buf).expect("the request fits");
    buf[..len].to_vec()
}

/// Splits a UART's output into the text outside frames and the frames, the
/// way the node writes them: a zero opens a frame and the next one closes it.
struct Output {
    stream: UnixStream,
    in_frame: bool,
    current: Vec<u8>,
    /// Whole frames, still COBS-encoded, not yet taken.
    frames: Vec<Vec<u8>>,
    text: Vec<u8>,
}

impl Output {
    fn new(stream: UnixStream) -> Self {
        Output {
            stream,
            in_frame: false,
            current: Vec::new(),
            frames: Vec::new(),
            text: Vec::new(),
        }
    }

    /// Reads what is there; false if nothing came within the read timeout.
    fn read(&mut self) -> bool {
        let mut chunk = [0u8; 1024];
        let n = match self.stream.read(&mut chunk) {
            Ok(0) => panic!("the node's UART closed"),
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(e) => panic!("UART read failed: {e}"),
        };
        for &b in &chunk[..n] {
            match (self.in_frame, b) {
                (false, 0) => self.in_frame = true,
                (false, b) => self.text.push(b),
                (true, 0) => {
                    self.frames.push(std::mem::take(&mut self.current));
                    self.in_frame = false;
                }
                (true, b) => self.current.push(b),
            }
        }
        true
    }

    /// Reads until nothing has come for `quiet`.
    fn drain(&mut self, quiet: Duration) {
        let mut last = Instant::now();
        while last.elapsed() < quiet {
            if self.read() {
                last = Instant::now();
            }
        }
    }

    /// Reads until a whole frame has come.
    fn await_frame(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        while self.frames.is_empty() {
            assert!(Instant::now() < deadline, "no reply frame came");
            self.read();
        }
    }

    /// The next whole frame, COBS-decoded.
    fn next_message(&mut self) -> Vec<u8> {
        self.await_frame();
        let raw = self.frames.remove(0);
        cobs_decode(&raw)
            .unwrap_or_else(|| panic!("the node sent a frame that is not COBS: {raw:02x?}"))
    }

    /// Asserts that the next frame is `want` under `tag`.
    fn expect(&mut self, tag: u16, want: Response<'_>) {
        let message = self.next_message();
        assert_eq!(
            proto::decode_response(&message),
            Ok((Header::new(tag), want)),
            "reply frame {message:02x?}"
        );
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("UART write");
    }
}

/// Sends `request` with `client` and returns its response.
fn call<'c>(client: &'c mut Client<UnixStream>, request: &Request<'_>) -> Response<'c> {
    client
        .call(request)
        .unwrap_or_else(|e| panic!("{request:?}: {e}"))
}

fn call_stats(client: &mut Client<UnixStream>) -> Stats {
    match call(client, &Request::Stats { link: None }) {
        Response::Stats(stats) => stats,
        other => panic!("stats: {other:?}"),
    }
}

/// The state of stream `id` in a binary `status`, if it is listed.
fn call_stream_state(
    client: &mut Client<UnixStream>,
    id: u8,
    accepted: bool,
) -> Option<StreamState> {
    match call(client, &Request::Status) {
        Response::Status(status) => status
            .streams
            .iter()
            .find(|s| s.id == id && s.accepted == accepted)
            .map(|s| s.state),
        other => panic!("status: {other:?}"),
    }
}

// --- The sessions -------------------------------------------------------------

#[test]
fn text_session_delivers_text_and_hex_intact_and_in_order_over_a_lossy_link() {
    let nodes = spawn(11);
    let (mut a, mut b) = (text(&nodes, 0), text(&nodes, 1));

    let status = ok(&mut a, "status");
    assert_eq!(status[..2], ["version=3", "stack=tcpip"], "{status:?}");
    assert_eq!(status[2], "links=1", "{status:?}");
    assert_eq!(status.len(), 4, "a fresh node lists no streams: {status:?}");

    // Once the link is up, each end learns the board and port at the other:
    // the simulator's made-up DNA `tidenet-sim-` and the node's number.
    for (t, peer) in [(&mut a, "2"), (&mut b, "1")] {
        let dna = eventually("the peer's DNA", || {
            let links = ok(t, "links");
            let dna = field(&links[0], "peer_dna")?;
            (dna != "none").then(|| dna.to_string())
        });
        assert_eq!(dna, format!("{}0{peer}", hex(b"tidenet-sim")));
        assert_eq!(field(&ok(t, "links")[0], "peer_port"), Some("0"));
    }

    let (sa, sb) = open_stream(&mut a, &mut b, 7000);

    let mut sent = Vec::new();
    let mut send = |t: &mut Text<UnixStream>, arg: String, bytes: &[u8]| {
        let reply = ok(t, &format!("send {sa} {arg}"));
        assert_eq!(reply, [format!("ok sent={}", bytes.len())]);
        sent.extend_from_slice(bytes);
    };
    send(&mut a, "\"hello world\"".into(), b"hello world");
    send(&mut a, "single-word".into(), b"single-word");
    let long = printable(200, 3);
    send(&mut a, format!("\"{long}\""), long.as_bytes());
    // Every byte value, in `hex:` parts that fit a line.
    let all: Vec<u8> = (0..=255).collect();
    for part in all.chunks(100) {
        send(&mut a, format!("hex:{}", hex(part)), part);
    }
    // Text that starts like hex, sent as hex, must come back as itself.
    send(&mut a, format!("hex:{}", hex(b"hex:41")), b"hex:41");
    let sent = sent;
    assert!(sent.len() > 400);

    let got = recv_text(&mut b, sb, sent.len());
    assert_eq!(hex(&got), hex(&sent), "B received other bytes than A sent");
    // Nothing more is pending.
    assert_eq!(ok(&mut b, &format!("recv {sb}")), ["ok len=0 data="]);

    let stats_a = ok(&mut a, "stats");
    let stats_b = ok(&mut b, "stats");
    let counters = tidenet_core::Stats::default().fields().len();
    assert_eq!(
        stats_a.len(),
        counters + 1,
        "every counter and ok: {stats_a:?}"
    );
    assert_eq!(stat(&stats_a, "stream_bytes_tx"), sent.len() as u64);
    assert_eq!(stat(&stats_b, "stream_bytes_rx"), sent.len() as u64);
    assert_eq!(stat(&stats_a, "stream_bytes_rx"), 0);
    assert_eq!(stat(&stats_b, "stream_bytes_tx"), 0);
    assert!(stat(&stats_a, "tcp_segments_tx") > 0);
    assert!(stat(&stats_b, "frames_rx") > 0);

    // A closes: A forgets the stream at once; B sees the peer close.
    assert_eq!(ok(&mut a, &format!("close {sa}")), ["ok"]);
    assert_eq!(stream_row(&ok(&mut a, "status"), sa), None);
    err(&mut a, &format!("send {sa} late"), "unknown-stream");
    eventually("B sees A close", || {
        let row = stream_row(&ok(&mut b, "status"), sb)?;
        (field(&row, "state") == Some("closing")).then_some(())
    });
    err(&mut b, &format!("recv {sb}"), "stream-closed");
    assert_eq!(ok(&mut b, &format!("close {sb}")), ["ok"]);
    let status_b = ok(&mut b, "status");
    assert_eq!(stream_row(&status_b, sb), None, "{status_b:?}");
    assert!(
        status_b.contains(&"listening=7000".to_string()),
        "{status_b:?}"
    );

    // `stats reset` zeroes the counters.
    assert_eq!(ok(&mut a, "stats reset"), ["ok"]);
    assert_eq!(stat(&ok(&mut a, "stats"), "stream_bytes_tx"), 0);
}

#[test]
fn binary_session_delivers_every_byte_value_with_matching_counters() {
    let nodes = spawn(12);
    let mut a = Client::new(nodes.uart(0).expect("UART A"));
    let mut b = Client::new(nodes.uart(1).expect("UART B"));
    const PORT: u16 = 7200;

    let peer_b = eventually("link 0 up", || match call(&mut a, &Request::Links) {
        Response::Links(links) => {
            assert_eq!(links.len(), 1, "{links:?}");
            links[0].peer
        }
        other => panic!("links: {other:?}"),
    });
    match call(&mut b, &Request::Links) {
        Response::Links(links) => assert_eq!(links[0].local, peer_b),
        other => panic!("links: {other:?}"),
    }
    assert_eq!(
        call(&mut b, &Request::Listen { port: PORT }),
        Response::Done
    );
    assert_eq!(
        call(&mut b, &Request::Listen { port: PORT }),
        Response::Error(Error::PortInUse(PORT))
    );
    assert_eq!(
        call(&mut a, &Request::Listen { port: 0 }),
        Response::Error(Error::InvalidPort)
    );
    let sa = match call(
        &mut a,
        &Request::Connect {
            peer: Peer::Link(0),
            port: PORT,
        },
    ) {
        Response::Opened { stream } => stream,
        other => panic!("connect: {other:?}"),
    };
    eventually("A's stream established", || {
        (call_stream_state(&mut a, sa, false)? == StreamState::Established).then_some(())
    });
    let sb = eventually("B accepts", || match call(&mut b, &Request::Status) {
        Response::Status(s) => s
            .streams
            .iter()
            .find(|s| s.accepted && s.port == PORT && s.state == StreamState::Established)
            .map(|s| s.id),
        other => panic!("status: {other:?}"),
    });

    // Several KiB with every byte value, in full-size and odd-size sends.
    let blob: Vec<u8> = noise(0x5eed, 3000)
        .into_iter()
        .chain(0..=255)
        .chain([0, 0, 0, 0xff, 0x0d, 0x0a])
        .collect();
    let mut sent = 0;
    for (i, part) in blob.chunks(MAX_DATA).enumerate() {
        let part = &part[..part.len() - i % 3];
        let mut rest = part;
        while !rest.is_empty() {
            match call(
                &mut a,
                &Request::Send {
                    stream: sa,
                    data: rest,
                },
            ) {
                Response::Sent { len } => {
                    assert!(len > 0 && usize::from(len) <= rest.len(), "sent {len}");
                    rest = &rest[usize::from(len)..];
                }
                other => panic!("send: {other:?}"),
            }
        }
        sent += part.len();
    }
    let expected: Vec<u8> = blob
        .chunks(MAX_DATA)
        .enumerate()
        .flat_map(|(i, part)| part[..part.len() - i % 3].to_vec())
        .collect();
    assert_eq!(sent, expected.len());

    let mut got = Vec::new();
    eventually("all bytes at B", || {
        match call(
            &mut b,
            &Request::Recv {
                stream: sb,
                max: MAX_DATA as u16,
            },
        ) {
            Response::Data { data } => {
                assert!(data.len() <= MAX_DATA);
                got.extend_from_slice(data);
            }
            other => panic!("recv: {other:?}"),
        }
        assert!(got.len() <= sent, "more bytes arrived than were sent");
        (got.len() == sent).then_some(())
    });
    assert!(got == expected, "B received other bytes than A sent");

    let (stats_a, stats_b) = (call_stats(&mut a), call_stats(&mut b));
    assert_eq!(stats_a.stream_bytes_tx, sent as u64);
    assert_eq!(stats_b.stream_bytes_rx, sent as u64);
    assert_eq!((stats_a.stream_bytes_rx, stats_b.stream_bytes_tx), (0, 0));
    assert!(stats_a.tcp_segments_tx > 0 && stats_b.frames_rx > 0);

    // A small `max` takes no more than asked for.
    assert_eq!(
        call(
            &mut a,
            &Request::Send {
                stream: sa,
                data: b"abcdef"
            }
        ),
        Response::Sent { len: 6 }
    );
    let mut tail = Vec::new();
    eventually("the tail at B", || {
        match call(&mut b, &Request::Recv { stream: sb, max: 4 }) {
            Response::Data { data } => {
                assert!(data.len() <= 4, "recv max 4 gave {}", data.len());
                tail.extend_from_slice(data);
            }
            other => panic!("recv: {other:?}"),
        }
        (tail.len() == 6).then_some(())
    });
    assert_eq!(tail, b"abcdef");

    assert_eq!(call(&mut a, &Request::Close { stream: sa }), Response::Done);
    assert_eq!(call_stream_state(&mut a, sa, false), None);
    assert_eq!(
        call(&mut a, &Request::Close { stream: sa }),
        Response::Error(Error::UnknownStream(sa))
    );
    eventually("B sees A close", || {
        (call_stream_state(&mut b, sb, true)? == StreamState::Closing).then_some(())
    });
    assert_eq!(
        call(
            &mut b,
            &Request::Recv {
                stream: sb,
                max: 16
            }
        ),
        Response::Error(Error::StreamClosed(sb))
    );
    assert_eq!(call(&mut b, &Request::Close { stream: sb }), Response::Done);
    assert_eq!(call_stream_state(&mut b, sb, true), None);
}

#[test]
fn remote_runs_on_the_peer_and_refuses_what_it_cannot_run() {
    let nodes = spawn(13);
    let (mut a, mut b) = (text(&nodes, 0), text(&nodes, 1));

    let addr_b = await_link_up(&mut a);
    let links_b = ok(&mut b, "links");
    assert_eq!(field(&links_b[0], "local"), Some(&*addr_b), "links names B");
    let addr_a = field(&links_b[0], "peer").expect("A's address").to_string();
    // B's own view, not A's: B's address is local there and A's the peer.
    let remote = ok(&mut a, "remote 0 links");
    assert_eq!(field(&remote[0], "local"), Some(&*addr_b), "{remote:?}");
    assert_eq!(field(&remote[0], "peer"), Some(&*addr_a), "{remote:?}");
    assert_eq!(ok(&mut a, "remote 0 status"), ok(&mut b, "status"));

    // The peer is named by link index or by address, the same node either way.
    assert_eq!(
        ok(&mut a, &format!("remote {addr_b} status")),
        ok(&mut b, "status")
    );

    assert_eq!(ok(&mut a, "remote 0 listen 7100"), ["ok"]);
    let status_b = ok(&mut b, "status");
    assert!(
        status_b.contains(&"listening=7100".to_string()),
        "{status_b:?}"
    );
    assert!(!ok(&mut a, "status").contains(&"listening=7100".to_string()));
    // B's own errors come back named.
    err(&mut a, "remote 0 listen 7100", "port-in-use");

    // Counters are B's: B's stream_bytes_rx is what `remote 0 stats` says.
    let remote_stats = ok(&mut a, "remote 0 stats");
    let counters = tidenet_core::Stats::default().fields().len();
    assert_eq!(remote_stats.len(), counters + 1, "{remote_stats:?}");
    assert!(
        stat(&remote_stats, "datagrams_rx") > 0,
        "B took our requests"
    );

    err(&mut a, "remote 0 ping 0", "not-remotable");
    err(&mut a, "remote 0 remote 0 status", "not-remotable");
    let line = err(&mut a, "remote 169.254.9.9 status", "peer-unreachable");
    assert!(line.contains("169.254.9.9"), "{line}");
    err(&mut a, "remote 1 status", "unknown-link");
    err(&mut a, "remote 0 bogus", "unknown-command");
    err(&mut a, "remote 0", "missing-argument");
    err(&mut a, "remote", "missing-argument");

    // The shell still runs remote requests after all of that.
    assert_eq!(
        field(&ok(&mut a, "remote 0 links")[0], "local"),
        Some(&*addr_b)
    );
    let pong = ok(&mut a, "ping 0");
    assert_eq!(field(&pong[0], "peer"), Some(&*addr_b), "{pong:?}");
}

#[test]
fn bad_input_gets_one_named_error_each_and_loses_no_stream_data() {
    let nodes = spawn(14);
    let (mut a, mut b) = (text(&nodes, 0), text(&nodes, 1));
    let (sa, sb) = open_stream(&mut a, &mut b, 7000);
    let mut sent = b"before".to_vec();
    assert_eq!(ok(&mut a, &format!("send {sa} before")), ["ok sent=6"]);
    assert_eq!(
        ok(&mut a, &format!("send {sa} hex:00ff0d0a")),
        ["ok sent=4"]
    );
    sent.extend([0x00, 0xff, 0x0d, 0x0a]);

    // Typed mistakes.
    err(&mut a, "bogus 1 2", "unknown-command");
    err(&mut a, "connect nowhere", "bad-argument");
    err(&mut a, "connect 0 70000", "bad-argument");
    err(&mut a, "listen 0", "invalid-port");
    err(&mut a, "listen", "missing-argument");
    err(&mut a, &format!("send {sa} hex:zz"), "bad-argument");
    err(&mut a, &format!("send {sa} hex:abc"), "bad-argument");
    err(
        &mut a,
        &format!("send {sa} two words"),
        "unexpected-argument",
    );
    err(&mut a, "stats bogus", "bad-argument");
    err(&mut a, "recv 9", "unknown-stream");
    err(&mut a, "send 300 x", "bad-argument");
    // Over-long lines, one of them all spaces, each one error.
    for filler in ["x", " "] {
        let line = filler.repeat(LINE_MAX + 50);
        a.stream()
            .write_all(format!("{line}\r").as_bytes())
            .expect("UART write");
        let reply = a
            .wait_for_line(|l| l.starts_with("ok") || l.starts_with("error"))
            .expect("a reply to an over-long line");
        assert!(
            reply.starts_with("error: line-too-long: ") && reply.contains(&LINE_MAX.to_string()),
            "{reply}"
        );
    }
    // Each mistake had one error: the next command's reply is its own.
    assert_eq!(
        ok(&mut a, "status").first().map(String::as_str),
        Some("version=3")
    );

    // Binary mistakes, read frame by frame from a fresh handle.
    let mut out = Output::new(nodes.uart(0).expect("UART A"));
    out.drain(Duration::from_millis(60));
    out.frames.clear();

    // Right after typed lines a person is taken to be at the line: a frame
    // the shell cannot read gets a text error line, and no frame.
    out.text.clear();
    out.send(&[0, 0x09, 0x01, 0x00]);
    let deadline = Instant::now() + PATIENCE;
    while !out.text.ends_with(b"\r\n> ") {
        assert!(Instant::now() < deadline, "no text error came");
        out.read();
    }
    let printed = String::from_utf8_lossy(&out.text).into_owned();
    assert!(
        printed.contains("error: malformed-request: "),
        "{printed:?}"
    );
    assert!(out.frames.is_empty(), "{:?}", out.frames);
    // A request as a frame puts the line in binary use: from then on, such
    // errors are frames under tag 0 and print no text.
    out.send(&frame(&message(Header::new(6), &Request::Status)));
    let status = out.next_message();
    assert!(
        matches!(proto::decode_response(&status), Ok((h, Response::Status(_))) if h.tag == 6),
        "{status:02x?}"
    );
    out.text.clear();

    // Half a frame, then silence: one error under tag 0 once it times out
    // (after `FRAME_TIMEOUT` of the nodes' virtual time).
    out.send(&[0, 0x03, 0x01, 0x02]);
    out.await_frame();
    out.drain(Duration::from_millis(60));
    assert_eq!(out.frames.len(), 1, "one error frame for a half frame");
    out.expect(0, Response::Error(Error::IncompleteFrame));

    // Not COBS at all: a code byte promising more than the frame holds.
    out.send(&[0, 0x09, 0x01, 0x00]);
    out.expect(0, Response::Error(Error::MalformedRequest));
    // COBS, but not even a header.
    out.send(&frame(&[VERSION]));
    out.expect(0, Response::Error(Error::MalformedRequest));
    // A header, then a body that is not a request: answered under its tag.
    out.send(&frame(&[VERSION, 42, 0xff, 0xff, 0xff]));
    out.expect(42, Response::Error(Error::MalformedRequest));
    out.send(&frame(&[VERSION, 43, 200]));
    out.expect(43, Response::Error(Error::MalformedRequest));
    // A request from a newer client: named, under its tag.
    let newer = Header {
        version: VERSION + 1,
        tag: 4242,
    };
    out.send(&frame(&message(newer, &Request::Status)));
    out.expect(
        4242,
        Response::Error(Error::UnsupportedVersion {
            got: VERSION + 1,
            supported: VERSION,
        }),
    );
    // A header, then more than the frame buffer holds: one error, once the
    // frame ends. (Without the header the bytes would be noise: a code byte
    // of 1 is a zero where the version goes.)
    let mut long = vec![0, 0x02, VERSION];
    long.extend(std::iter::repeat_n(0x01, FRAME_MAX + 100));
    long.push(0);
    out.send(&long);
    out.expect(0, Response::Error(Error::frame_too_long(FRAME_MAX)));
    // A good request still works, and gets the stream's data through.
    out.send(&frame(&message(
        Header::new(7),
        &Request::Send {
            stream: sa,
            data: b"-binary",
        },
    )));
    out.expect(7, Response::Sent { len: 7 });
    sent.extend_from_slice(b"-binary");
    out.drain(Duration::from_millis(60));
    assert!(out.frames.is_empty(), "stray frames: {:?}", out.frames);
    assert!(
        !out.text.contains(&b'\n'),
        "binary mistakes printed text: {:?}",
        String::from_utf8_lossy(&out.text)
    );

    // Typed text works again, on a fresh session.
    let mut a = text(&nodes, 0);
    let status = ok(&mut a, "status");
    assert_eq!(status[0], "version=3");
    let row = stream_row(&status, sa).expect("the stream survived");
    assert_eq!(field(&row, "state"), Some("established"), "{row}");
    assert_eq!(
        ok(&mut a, &format!("send {sa} \"after all that\"")),
        ["ok sent=14"]
    );
    sent.extend_from_slice(b"after all that");

    let got = recv_text(&mut b, sb, sent.len());
    assert_eq!(hex(&got), hex(&sent), "B received other bytes than A sent");
    assert_eq!(
        stat(&ok(&mut a, "stats"), "stream_bytes_tx"),
        sent.len() as u64
    );
    assert_eq!(
        stat(&ok(&mut b, "stats"), "stream_bytes_rx"),
        sent.len() as u64
    );
}

/// embedded-cli's derive does not check the arguments of a command that takes
/// none, so `status now` runs `status` instead of saying what is wrong.
#[test]
fn commands_without_arguments_refuse_extra_ones() {
    let nodes = spawn(16);
    let mut a = text(&nodes, 0);
    for line in ["status now", "links 0", "peers all", "stats reset 0 now"] {
        err(&mut a, line, "unexpected-argument");
    }
    assert_eq!(ok(&mut a, "status")[0], "version=3");
}

#[test]
fn random_bytes_on_the_uart_leave_the_shell_answering() {
    let nodes = spawn(15);
    let mut out = Output::new(nodes.uart(0).expect("UART A"));
    for chunk in noise(0xdead_beef_cafe_f00d, 4096).chunks(512) {
        out.send(chunk);
        while out.read() {}
    }
    // A zero closes whatever frame the noise left open, or opens one that the
    // next frame's own leading zero turns into an empty frame; either way the
    // status request after it is read whole, and the shell is back in text.
    out.send(&[0]);
    out.send(&frame(&message(Header::new(0x5a5a), &Request::Status)));
    let deadline = Instant::now() + PATIENCE;
    loop {
        let message = out.next_message();
        let decoded = proto::decode_response(&message);
        match decoded {
            Ok((header, Response::Status(status))) if header.tag == 0x5a5a => {
                assert_eq!(status.version, VERSION);
                break;
            }
            // The reply to a random frame that began with a header.
            Ok(_) => {}
            Err(e) => panic!("the node sent a frame that is not a response ({e}): {message:02x?}"),
        }
        assert!(Instant::now() < deadline, "no reply to the status frame");
    }
    // Random bytes seldom begin a request header, so most of their zeros
    // are noise, dropped, and their bytes text; errors about the frames that
    // began with one are text too until a request has come as a frame. So
    // few or no answer frames come, but the line editor had the bytes.
    assert!(
        out.text.len() > 100,
        "the noise did not reach the line editor: {:?}",
        String::from_utf8_lossy(&out.text)
    );
    // End whatever line the noise left half typed.
    out.send(b"\r");
    out.drain(Duration::from_millis(60));
    assert!(out.frames.is_empty(), "stray frames: {:?}", out.frames);
    assert!(!out.in_frame, "the node left a frame open");
    let mut a = text(&nodes, 0);
    let status = ok(&mut a, "status");
    assert_eq!(status[..2], ["version=3", "stack=tcpip"], "{status:?}");
    let peer = await_link_up(&mut a);
    let pong = ok(&mut a, "ping 0");
    assert_eq!(field(&pong[0], "peer"), Some(&*peer), "{pong:?}");
    let mut b = text(&nodes, 1);
    assert_eq!(ok(&mut b, "status")[0], "version=3");
}

/// Swapping the stack changes nothing in the shell: the same commands reach
/// the bespoke stub, `status` names it, and what it cannot do yet is refused
/// by name rather than done wrong.
#[test]
fn the_bespoke_stack_is_named_and_refuses_by_name() {
    let nodes = Nodes::spawn(lossy(17), BUS_CYCLES, Stack::Bespoke)
        .unwrap_or_else(|e| panic!("nodes did not start: {e}"));
    let mut a = text(&nodes, 0);
    let status = ok(&mut a, "status");
    assert!(status.iter().any(|r| r == "stack=bespoke"), "{status:?}");
    for line in ["connect 0", "listen 7000", "ping 0", "remote 0 status"] {
        err(&mut a, line, "unsupported");
    }
    // No stream could be opened, so none can be used.
    err(&mut a, "send 0 hello", "unknown-stream");
    // Its link runs (it came up, and watches the ring); nothing above it
    // moved, so nothing above it is counted.
    let stats = ok(&mut a, "stats");
    assert_eq!(stat(&stats, "link_ups"), 1, "{stats:?}");
    for name in [
        "frames_tx",
        "tcp_segments_tx",
        "stream_bytes_tx",
        "datagrams_tx",
        "pings_tx",
    ] {
        assert_eq!(stat(&stats, name), 0, "{name}: {stats:?}");
    }
}
