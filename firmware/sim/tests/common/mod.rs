//! The expect-style harness the scripted sessions share: typed commands
//! with their replies checked, reply parsing, patience, and test data. A
//! session gets a [`Text`] on a node's UART, from the simulator or from the
//! firmware image under QEMU, and drives it with these.
#![allow(dead_code)] // Each test binary uses its own part of it.

use std::os::unix::net::UnixStream;
use std::thread::sleep;
use std::time::{Duration, Instant};

use tidenet_shell::client::Text;

/// How long a test waits for something the link must do (a handshake, data,
/// a close) before it fails, in wall time.
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long to wait between polls of `status` or `recv`.
pub const POLL_GAP: Duration = Duration::from_millis(5);

/// Types `line` and returns the reply rows, the last being `ok..`/`error: ..`.
pub fn cmd(t: &mut Text<UnixStream>, line: &str) -> Vec<String> {
    t.command(line)
        .unwrap_or_else(|e| panic!("`{line}` got no reply: {e}"))
}

/// Types `line`, asserts it succeeded, and returns the rows before `ok`
/// followed by the `ok` line itself.
pub fn ok(t: &mut Text<UnixStream>, line: &str) -> Vec<String> {
    let reply = cmd(t, line);
    let last = reply.last().expect("a reply has a final line");
    assert!(last.starts_with("ok"), "`{line}` failed: {reply:?}");
    assert!(
        reply.iter().all(|r| !r.starts_with("error")),
        "`{line}`: {reply:?}"
    );
    reply
}

/// Types `line` and asserts that the reply is exactly one error line that
/// starts with `error: <kind>: `. Returns that line.
pub fn err(t: &mut Text<UnixStream>, line: &str, kind: &str) -> String {
    let reply = cmd(t, line);
    assert_eq!(
        reply.len(),
        1,
        "`{line}`: expected one error line, got {reply:?}"
    );
    let prefix = format!("error: {kind}: ");
    assert!(
        reply[0].starts_with(&prefix) && reply[0].len() > prefix.len(),
        "`{line}`: expected `{prefix}...`, got {reply:?}"
    );
    reply[0].clone()
}

/// The value of `key=` in a row of space-separated `key=value` pairs.
pub fn field<'a>(row: &'a str, key: &str) -> Option<&'a str> {
    row.split(' ')
        .find_map(|pair| pair.strip_prefix(key)?.strip_prefix('='))
}

/// A counter from the rows of `stats`.
pub fn stat(rows: &[String], name: &str) -> u64 {
    let mut found = rows.iter().filter_map(|r| {
        let (k, v) = r.split_once('=')?;
        (k == name).then(|| v.parse::<u64>().expect("counters are integers"))
    });
    let value = found
        .next()
        .unwrap_or_else(|| panic!("no {name} in {rows:?}"));
    assert!(found.next().is_none(), "{name} listed twice in {rows:?}");
    value
}

/// Retries `f` every [`POLL_GAP`] until it gives a value; fails after
/// [`PATIENCE`] with `what`.
pub fn eventually<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(value) = f() {
            return value;
        }
        assert!(Instant::now() < deadline, "gave up waiting: {what}");
        sleep(POLL_GAP);
    }
}

/// The `stream=` row of `id` in a `status` reply, if listed.
pub fn stream_row(status: &[String], id: u8) -> Option<String> {
    status
        .iter()
        .find(|r| field(r, "stream") == Some(&id.to_string()))
        .cloned()
}

/// Waits until `status` lists `id` as established with this origin.
pub fn await_established(t: &mut Text<UnixStream>, id: u8, origin: &str) -> String {
    let row = eventually(&format!("stream {id} ({origin}) established"), || {
        let row = stream_row(&ok(t, "status"), id)?;
        (field(&row, "state") == Some("established")).then_some(row)
    });
    assert_eq!(field(&row, "origin"), Some(origin), "{row}");
    row
}

/// Waits until `links` shows the peer at the far end of link 0: a node
/// learns its peer from the link some time after it starts, and `connect`,
/// `ping` and `remote` answer `link-down` until then. Returns the peer's
/// address.
pub fn await_link_up(t: &mut Text<UnixStream>) -> String {
    eventually("link 0 up", || {
        let links = ok(t, "links");
        assert_eq!(links.len(), 2, "one link: {links:?}");
        assert_eq!(field(&links[0], "link"), Some("0"), "{links:?}");
        (field(&links[0], "state") == Some("up"))
            .then(|| field(&links[0], "peer").map(String::from))?
    })
}

/// `data=` of a `recv` reply as bytes: `hex:..` decoded, text as it is.
pub fn recv_data(line: &str, stream: u8) -> Vec<u8> {
    let rest = line
        .strip_prefix("ok len=")
        .unwrap_or_else(|| panic!("recv {stream}: {line}"));
    let (len, data) = rest
        .split_once(" data=")
        .unwrap_or_else(|| panic!("recv {stream}: no data= in {line}"));
    let bytes = match data.strip_prefix("hex:") {
        Some(hex) => unhex(hex),
        None => data.as_bytes().to_vec(),
    };
    assert_eq!(len.parse::<usize>().ok(), Some(bytes.len()), "{line}");
    bytes
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn unhex(hex: &str) -> Vec<u8> {
    assert!(hex.len() % 2 == 0, "odd hex: {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex digits"))
        .collect()
}

/// Text that `send` takes between quotes: printable ASCII without `"` or `\`.
pub fn printable(len: usize, salt: u8) -> String {
    (0..len)
        .map(|i| {
            let c = 0x20 + ((i * 7 + usize::from(salt)) % 95) as u8;
            char::from(if c == b'"' || c == b'\\' { b'_' } else { c })
        })
        .collect()
}

/// A fixed-seed xorshift64 byte stream.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}
