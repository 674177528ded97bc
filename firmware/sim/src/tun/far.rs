//! What the far node serves to the kernel across the link, for a script to
//! check: it reads every stream the kernel opens to its port to the end and
//! hashes it, and it opens one stream to the kernel and sends a seeded
//! pattern. Each finished stream becomes one [`Done`] line.

use std::fmt;
use std::time::Instant as WallInstant;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use sha2::{Digest, Sha256};
use tidenet_core::time::Instant;
use tidenet_core::{Error, StreamId, StreamState, Transport};
use tidenet_sim::hex;

/// Bytes moved per `send` or `recv`.
const CHUNK: usize = 4096;

/// Why the far node's services failed.
#[derive(Debug)]
pub(crate) enum FarError {
    /// The kernel refused (or reset) the stream to `--connect`'s port.
    ConnectRefused(u16),
    /// A stream broke before its end.
    Broken { what: String, error: Error },
}

impl fmt::Display for FarError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FarError::ConnectRefused(port) => write!(
                f,
                "connect-refused: the kernel refused the far node's stream to port {port}; start a listener on that port in this network namespace first (nc -l {port} > /dev/null, say)"
            ),
            FarError::Broken { what, error } => write!(f, "stream-broken: {what}: {error}"),
        }
    }
}

/// A stream that ended cleanly, for its report line.
pub(crate) struct Done {
    /// `received` or `sent`.
    pub(crate) verb: &'static str,
    /// Which: "stream 1 on port 7000", "to port 9000".
    pub(crate) what: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: [u8; 32],
    /// Wall seconds from its opening to its end.
    pub(crate) wall: f64,
    /// Virtual seconds, on the far node's clock, from its opening to its end.
    pub(crate) virtual_s: f64,
}

impl fmt::Display for Done {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |s: f64| self.bytes as f64 / s.max(1e-9);
        write!(
            f,
            "{}: {} bytes {} sha256 {} in {:.3} s wall ({:.0} B/s wall); {:.3} ms virtual ({:.2} MB/s virtual)",
            self.verb,
            self.bytes,
            self.what,
            hex(&self.sha256),
            self.wall,
            rate(self.wall),
            self.virtual_s * 1e3,
            rate(self.virtual_s) / 1e6,
        )
    }
}

/// When a stream started, on both clocks.
#[derive(Clone, Copy)]
struct Since {
    wall: WallInstant,
    virtual_at: Instant,
}

impl Since {
    fn now(now: Instant) -> Since {
        Since {
            wall: WallInstant::now(),
            virtual_at: now,
        }
    }

    fn done(
        self,
        verb: &'static str,
        what: String,
        bytes: u64,
        hash: Sha256,
        now: Instant,
    ) -> Done {
        Done {
            verb,
            what,
            bytes,
            sha256: hash.finalize().into(),
            wall: self.wall.elapsed().as_secs_f64(),
            virtual_s: now.saturating_since(self.virtual_at).as_nanos() as f64 * 1e-9,
        }
    }
}

/// A stream from the kernel being read.
struct Incoming {
    stream: StreamId,
    number: u64,
    bytes: u64,
    hash: Sha256,
    since: Since,
}

/// The stream to the kernel being written.
struct Outgoing {
    port: u16,
    total: u64,
    data: Xoshiro256PlusPlus,
    hash: Sha256,
    chunk: [u8; CHUNK],
    pending: core::ops::Range<usize>,
    written: u64,
    /// The stream and when it was opened, once it has been.
    open: Option<(StreamId, Since)>,
    done: bool,
}

/// The far node's two services.
pub(crate) struct Services {
    listen: u16,
    incoming: Vec<Incoming>,
    accepted: u64,
    received: u64,
    outgoing: Option<Outgoing>,
    buf: [u8; CHUNK],
}

impl Services {
    /// Accepts on `listen`; if `connect` is given, sends `bytes` bytes of
    /// the pattern seeded by `seed` to the kernel's `connect` port.
    pub(crate) fn new(listen: u16, connect: Option<u16>, bytes: u64, seed: u64) -> Services {
        Services {
            listen,
            incoming: Vec::new(),
            accepted: 0,
            received: 0,
            outgoing: connect.map(|port| Outgoing {
                port,
                total: bytes,
                data: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7de5_eed0),
                hash: Sha256::new(),
                chunk: [0; CHUNK],
                pending: 0..0,
                written: 0,
                open: None,
                done: false,
            }),
            buf: [0; CHUNK],
        }
    }

    /// Starts listening, before the link is up.
    pub(crate) fn start(&self, t: &mut impl Transport) -> Result<(), Error> {
        t.listen(self.listen)
    }

    /// Streams from the kernel read to their end so far.
    pub(crate) fn received(&self) -> u64 {
        self.received
    }

    /// Whether the stream to the kernel, if there is one, is sent and
    /// acknowledged.
    pub(crate) fn sent(&self) -> bool {
        self.outgoing.as_ref().is_none_or(|o| o.done)
    }

    /// Moves what can be moved at `now`; finished streams go to `done`.
    /// Returns whether anything happened.
    pub(crate) fn poll(
        &mut self,
        t: &mut impl Transport,
        now: Instant,
        done: &mut Vec<Done>,
    ) -> Result<bool, FarError> {
        let mut active = false;
        while let Ok(Some(stream)) = t.accept(self.listen) {
            self.accepted += 1;
            self.incoming.push(Incoming {
                stream,
                number: self.accepted,
                bytes: 0,
                hash: Sha256::new(),
                since: Since::now(now),
            });
            active = true;
        }
        let mut i = 0;
        while i < self.incoming.len() {
            match self.read(t, i, now, done)? {
                Some(moved) => {
                    active |= moved;
                    i += 1;
                }
                None => {
                    self.incoming.swap_remove(i);
                    active = true;
                }
            }
        }
        if let Some(out) = &mut self.outgoing {
            active |= out.poll(t, now, done)?;
        }
        Ok(active)
    }

    /// Reads incoming stream `i`; `None` once it has ended and is reported.
    fn read(
        &mut self,
        t: &mut impl Transport,
        i: usize,
        now: Instant,
        done: &mut Vec<Done>,
    ) -> Result<Option<bool>, FarError> {
        let s = &mut self.incoming[i];
        let mut moved = false;
        loop {
            match t.recv(s.stream, &mut self.buf) {
                Ok(0) => return Ok(Some(moved)),
                Ok(n) => {
                    s.hash.update(&self.buf[..n]);
                    s.bytes += n as u64;
                    moved = true;
                }
                Err(Error::StreamClosed(_)) => {
                    let _ = t.close(s.stream);
                    let what = format!("in stream {} on port {}", s.number, self.listen);
                    let hash = core::mem::take(&mut s.hash);
                    done.push(s.since.done("received", what, s.bytes, hash, now));
                    self.received += 1;
                    return Ok(None);
                }
                Err(error) => {
                    return Err(FarError::Broken {
                        what: format!("stream {} from the kernel", s.number),
                        error,
                    })
                }
            }
        }
    }
}

impl Outgoing {
    fn poll(
        &mut self,
        t: &mut impl Transport,
        now: Instant,
        done: &mut Vec<Done>,
    ) -> Result<bool, FarError> {
        if self.done {
            return Ok(false);
        }
        let Some((stream, since)) = self.open else {
            let Some(kernel) = t.peer() else {
                return Ok(false);
            };
            return match t.connect(kernel, self.port) {
                Ok(stream) => {
                    self.open = Some((stream, Since::now(now)));
                    Ok(true)
                }
                // The link went down meanwhile: try again once it is up.
                Err(Error::LinkDown) => Ok(false),
                Err(error) => Err(self.broken(error)),
            };
        };
        match t.state(stream).map_err(|e| self.broken(e))? {
            StreamState::Connecting => return Ok(false),
            StreamState::Closed if self.written == 0 => {
                return Err(FarError::ConnectRefused(self.port))
            }
            // Closed before all was acknowledged: the acknowledgement will
            // never come.
            StreamState::Closed => return Err(self.broken(Error::StreamClosed(stream.0))),
            _ => {}
        }
        let mut active = false;
        while self.written < self.total || !self.pending.is_empty() {
            if self.pending.is_empty() {
                let len = (self.total - self.written).min(CHUNK as u64) as usize;
                self.data.fill_bytes(&mut self.chunk[..len]);
                self.hash.update(&self.chunk[..len]);
                self.written += len as u64;
                self.pending = 0..len;
            }
            match t.send(stream, &self.chunk[self.pending.clone()]) {
                Ok(0) => return Ok(active),
                Ok(n) => {
                    self.pending.start += n;
                    active = true;
                }
                Err(error) => return Err(self.broken(error)),
            }
        }
        // Everything is queued: done once the kernel has acknowledged it.
        if t.send_queue(stream).map_err(|e| self.broken(e))? > 0 {
            return Ok(active);
        }
        let _ = t.close(stream);
        let what = format!("to port {}", self.port);
        let hash = core::mem::take(&mut self.hash);
        done.push(since.done("sent", what, self.total, hash, now));
        self.done = true;
        Ok(true)
    }

    fn broken(&self, error: Error) -> FarError {
        FarError::Broken {
            what: format!("the stream to the kernel's port {}", self.port),
            error,
        }
    }
}
