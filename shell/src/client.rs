//! Speaking to a node's shell from a script or a test, over any byte stream: a
//! serial port, a PTY, a socket.
//!
//! [`Client`] sends [`Request`]s as binary frames and reads the replies;
//! [`Text`] types lines and reads the shell's printed replies, expect-style.
//! Both skip whatever else the UART carries (a prompt, echoes, another mode's
//! output), and both give up with [`ClientError::Timeout`] rather than wait
//! forever: give the stream a read timeout so a silent node cannot hang a read.

use std::borrow::ToOwned;
use std::fmt;
use std::io::{self, Read, Write};
use std::string::String;
use std::time::{Duration, Instant};
use std::vec::Vec;

use tidenet_core::proto::{self, Header, Request, Response, MAX_MESSAGE};
use tidenet_core::Error;

use crate::PROMPT;

/// How long a client waits for a reply unless told otherwise: more than the
/// node's own one-second limit on `ping` and `remote`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Why a client call failed.
#[derive(Debug)]
pub enum ClientError {
    /// The stream failed.
    Io(io::Error),
    /// The stream ended.
    Closed,
    /// No reply came in time.
    Timeout(Duration),
    /// The request does not fit a message.
    Encode(Error),
    /// The node's reply did not decode.
    MalformedReply,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Io(e) => write!(f, "io: {e}; check the serial port or socket"),
            ClientError::Closed => write!(f, "closed: the node's stream ended; is the node running?"),
            ClientError::Timeout(t) => write!(
                f,
                "timeout: no reply in {t:?}; check the node is running its shell and the link is up"
            ),
            ClientError::Encode(e) => write!(f, "{e}"),
            ClientError::MalformedReply => write!(
                f,
                "malformed-reply: the node's reply did not decode; check client and firmware versions match"
            ),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Reads what the stream has into `buf`; `Ok(false)` when a read timed out.
fn fill(stream: &mut impl Read, buf: &mut Vec<u8>) -> Result<bool, ClientError> {
    let mut chunk = [0u8; 512];
    match stream.read(&mut chunk) {
        Ok(0) => Err(ClientError::Closed),
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Ok(true)
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Binary requests over a byte stream.
pub struct Client<S> {
    stream: S,
    tag: u16,
    timeout: Duration,
    /// Bytes read and not yet used.
    input: Vec<u8>,
    /// The last reply, decoded from COBS; responses borrow from it.
    reply: Vec<u8>,
}

impl<S: Read + Write> Client<S> {
    /// A client on `stream`, waiting [`DEFAULT_TIMEOUT`] per reply.
    pub fn new(stream: S) -> Self {
        Client {
            stream,
            tag: 0,
            timeout: DEFAULT_TIMEOUT,
            input: Vec::new(),
            reply: Vec::new(),
        }
    }

    /// Waits `timeout` per reply instead.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The stream, for sending anything else.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Sends `request` and waits for its reply. A node error is a reply like
    /// any other: [`Response::Error`].
    pub fn call(&mut self, request: &Request<'_>) -> Result<Response<'_>, ClientError> {
        self.tag = self.tag.wrapping_add(1).max(1);
        let mut message = [0u8; MAX_MESSAGE];
        let len = proto::encode(Header::new(self.tag), request, &mut message)
            .map_err(ClientError::Encode)?;
        let mut frame = std::vec![0u8; cobs::max_encoding_length(len) + 2];
        let n = cobs::encode(&message[..len], &mut frame[1..]);
        frame.truncate(n + 2);
        if let Some(last) = frame.last_mut() {
            *last = 0;
        }
        self.stream.write_all(&frame)?;
        self.stream.flush()?;
        self.read_reply()
    }

    /// Reads frames until the reply to the current tag, or an error the
    /// shell sent under tag 0 for a frame it could not read (which it sends
    /// as a frame only once a request has come as one, and as text before).
    fn read_reply(&mut self) -> Result<Response<'_>, ClientError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(len) = self.next_frame() {
                match proto::decode_response(&self.reply[..len]) {
                    Ok((header, _)) if header.tag == self.tag || header.tag == 0 => {
                        // Decoded again to return it: a borrow returned from
                        // one arm of a loop that goes on to mutate `self` is
                        // beyond today's borrow checker. It is a few bytes.
                        return proto::decode_response(&self.reply[..len])
                            .map(|(_, response)| response)
                            .map_err(|_| ClientError::MalformedReply);
                    }
                    // An earlier request's reply, or noise that was not a frame.
                    _ => continue,
                }
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout(self.timeout));
            }
            fill(&mut self.stream, &mut self.input)?;
        }
    }

    /// Takes the first whole frame from the input into `reply`, decoded.
    fn next_frame(&mut self) -> Option<usize> {
        loop {
            let open = self.input.iter().position(|&b| b == 0)?;
            let close = open + 1 + self.input[open + 1..].iter().position(|&b| b == 0)?;
            self.reply.clear();
            self.reply.extend_from_slice(&self.input[open + 1..close]);
            // The closing zero may open the next frame: keep it.
            self.input.drain(..close);
            if self.reply.is_empty() {
                continue;
            }
            if let Ok(len) = cobs::decode_in_place(&mut self.reply) {
                return Some(len);
            }
        }
    }
}

/// The shell's text side, expect-style: type a line, wait for a line.
pub struct Text<S> {
    stream: S,
    timeout: Duration,
    input: Vec<u8>,
}

impl<S: Read + Write> Text<S> {
    /// A session on `stream`, waiting [`DEFAULT_TIMEOUT`] per line.
    pub fn new(stream: S) -> Self {
        Text {
            stream,
            timeout: DEFAULT_TIMEOUT,
            input: Vec::new(),
        }
    }

    /// Waits `timeout` per line instead.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The stream, for sending raw bytes.
    pub fn stream(&mut self) -> &mut S {
        &mut self.stream
    }

    /// Types `line` and Enter.
    pub fn send_line(&mut self, line: &str) -> Result<(), ClientError> {
        self.stream.write_all(line.as_bytes())?;
        self.stream.write_all(b"\r")?;
        self.stream.flush()?;
        Ok(())
    }

    /// The next complete line the shell prints, without the prompt, terminal
    /// escapes or line ending.
    pub fn next_line(&mut self) -> Result<String, ClientError> {
        let deadline = Instant::now() + self.timeout;
        loop {
            if let Some(end) = self.input.iter().position(|&b| b == b'\n') {
                let raw: Vec<u8> = self.input.drain(..=end).collect();
                return Ok(clean(&raw));
            }
            if Instant::now() >= deadline {
                return Err(ClientError::Timeout(self.timeout));
            }
            fill(&mut self.stream, &mut self.input)?;
        }
    }

    /// Skips lines until one for which `matches` holds, and returns it.
    pub fn wait_for_line(&mut self, matches: impl Fn(&str) -> bool) -> Result<String, ClientError> {
        loop {
            let line = self.next_line()?;
            if matches(&line) {
                return Ok(line);
            }
        }
    }

    /// Types `line` and returns the shell's reply: the rows, then the final
    /// `ok ...` or `error: ...` line. The echo of `line` is skipped.
    pub fn command(&mut self, line: &str) -> Result<Vec<String>, ClientError> {
        self.send_line(line)?;
        let mut reply = Vec::new();
        loop {
            let row = self.next_line()?;
            if reply.is_empty() && row == line {
                continue;
            }
            let done = row.starts_with("ok") || row.starts_with("error: ");
            reply.push(row);
            if done {
                return Ok(reply);
            }
        }
    }
}

/// A printed line without prompts, escape sequences or `\r`.
fn clean(raw: &[u8]) -> String {
    let mut out = String::new();
    let mut bytes = raw.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            0x1b => {
                // ESC [ params final
                if bytes.peek() == Some(&b'[') {
                    bytes.next();
                    for c in bytes.by_ref() {
                        if (0x40..=0x7e).contains(&c) {
                            break;
                        }
                    }
                }
            }
            // A carriage return starts the line over, as on a terminal.
            b'\r' => {
                if bytes.peek().is_some_and(|&n| n != b'\n') {
                    out.clear();
                }
            }
            b'\n' => {}
            b => out.push(char::from(b)),
        }
    }
    let mut line = out.as_str();
    while let Some(rest) = line.strip_prefix(PROMPT) {
        line = rest;
    }
    line.to_owned()
}

#[cfg(test)]
mod tests {
    use super::clean;

    #[test]
    fn prompts_and_escapes_are_cleaned_from_lines() {
        assert_eq!(clean(b"> status\r\n"), "status");
        assert_eq!(clean(b"> \r\x1b[2Kok rtt_ns=5\r\n"), "ok rtt_ns=5");
        assert_eq!(clean(b"stack=tcpip\r\n"), "stack=tcpip");
    }
}
