//! Packet captures of simulated links, as pcap files that Wireshark and
//! tshark read.
//!
//! A node's TCP/IP transport layers smoltcp's `PcapWriter` over its link
//! device (see [`tidenet_tcpip::capture`]); this module is the host's side
//! of it: a file to write into, [`Capture`], and the sink a transport is
//! given, [`Tap`]. The on-node crates stay `no_std`: only this glue knows
//! about files.
//!
//! One end of a link captures: every IP packet on a link passes that end's
//! device, either sent or received, so its file holds the link's whole IP
//! traffic in both directions, as `LINKTYPE_RAW` (bare IPv4 packets),
//! stamped with that node's virtual clock. Frames the link's CRC rejects
//! never become packets, so they are not in the file; the link's counters
//! tell of them.

use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use smoltcp::time::Instant;
use tidenet_tcpip::capture::PcapSink;

use crate::topology::Edge;

/// A pcap file being written. It is shared with the nodes' thread, hence
/// the lock; only one node writes to it.
pub struct Capture {
    path: PathBuf,
    out: Mutex<Out>,
}

struct Out {
    file: BufWriter<File>,
    packets: u64,
    /// The first write that failed; later writes are skipped, and
    /// [`Capture::finish`] reports it.
    error: Option<io::Error>,
}

impl Out {
    fn write(&mut self, data: &[u8]) {
        if self.error.is_none() {
            if let Err(e) = self.file.write_all(data) {
                self.error = Some(e);
            }
        }
    }
}

/// A capture file that could not be created or written.
#[derive(Debug)]
pub struct CaptureError {
    /// The file, or for a directory of captures, the directory.
    pub path: PathBuf,
    /// What failed: `create` or `write`.
    pub what: &'static str,
    /// Why.
    pub error: io::Error,
}

impl fmt::Display for CaptureError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "pcap: could not {} {}: {}; check that the directory exists and is writable and the disk has room",
            self.what,
            self.path.display(),
            self.error
        )
    }
}

impl std::error::Error for CaptureError {}

impl Capture {
    /// Creates (or truncates) the file at `path`. The pcap header is
    /// written by the transport that captures into it.
    pub fn create(path: &Path) -> Result<Capture, CaptureError> {
        let file = File::create(path).map_err(|error| CaptureError {
            path: path.into(),
            what: "create",
            error,
        })?;
        Ok(Capture {
            path: path.into(),
            out: Mutex::new(Out {
                file: BufWriter::new(file),
                packets: 0,
                error: None,
            }),
        })
    }

    /// One capture per link of `edges`, in `dir` (created if missing):
    /// `link-A-B.pcap` for the link between nodes A and B, captured at
    /// node A, the lower-numbered.
    pub fn per_link(dir: &Path, edges: &[Edge]) -> Result<Vec<Capture>, CaptureError> {
        fs::create_dir_all(dir).map_err(|error| CaptureError {
            path: dir.into(),
            what: "create",
            error,
        })?;
        edges
            .iter()
            .map(|e| Capture::create(&dir.join(link_file(e))))
            .collect()
    }

    /// Where the capture goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The sink that writes here, for the transport at the capturing end.
    pub fn tap(&self) -> Tap<'_> {
        Tap(Some(self))
    }

    /// Flushes the file; the packets written, or the first error.
    pub fn finish(&self) -> Result<u64, CaptureError> {
        let mut out = self.lock();
        let flushed = out.file.flush();
        let error = match out.error.take() {
            Some(e) => Err(e),
            None => flushed,
        };
        error.map_err(|error| CaptureError {
            path: self.path.clone(),
            what: "write",
            error,
        })?;
        Ok(out.packets)
    }

    fn lock(&self) -> MutexGuard<'_, Out> {
        // A writer that panicked left whole packets or none: the file is
        // still worth finishing.
        self.out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The name of the capture of `edge`'s link in a directory of captures.
pub fn link_file(edge: &Edge) -> String {
    format!("link-{}-{}.pcap", edge.a.0, edge.b.0)
}

/// What a transport writes its packets to: a [`Capture`], or nothing at
/// the end of a link that does not capture.
#[derive(Clone, Copy, Default)]
pub struct Tap<'c>(Option<&'c Capture>);

impl Tap<'_> {
    /// Captures nothing.
    pub const OFF: Tap<'static> = Tap(None);
}

impl PcapSink for Tap<'_> {
    fn write(&mut self, data: &[u8]) {
        if let Some(capture) = self.0 {
            capture.lock().write(data);
        }
    }

    fn packet(&mut self, timestamp: Instant, packet: &[u8]) {
        let Some(capture) = self.0 else { return };
        let mut out = capture.lock();
        // The record header of the classic pcap format, in the same native
        // byte order as smoltcp's file header. A packet is at most the
        // link's MTU, so its length fits.
        let len = packet.len() as u32;
        for field in [timestamp.secs() as u32, timestamp.micros() as u32, len, len] {
            out.write(&field.to_ne_bytes());
        }
        out.write(packet);
        out.packets += 1;
    }
}
