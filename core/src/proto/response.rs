//! What a node answers.

use core::net::IpAddr;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::addr::HardwareId;
use crate::{Error, LinkState, Stats, StreamState};

/// The most links a node has, and a [`Response::Links`] lists: one per port
/// of a bittide node.
pub const MAX_LINKS: usize = 7;
/// The most streams a [`Status`] lists, and a node keeps, over all its
/// links.
pub const MAX_STREAMS: usize = 16;
/// The most listening ports a [`Status`] lists, and a node keeps.
pub const MAX_LISTENERS: usize = 4;

/// The answer to one [`super::Request`].
///
/// The variants' order is their number on the wire: add new ones at the end.
// `Links` is the largest (some 700 bytes); without an allocator there is
// nothing to box it into, and a response lives only while it is encoded.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response<'a> {
    /// Done; nothing to report.
    Done,
    /// `connect` opened this stream.
    Opened {
        /// The new stream's id.
        stream: u8,
    },
    /// `send` queued this many bytes; fewer than asked when the stream's
    /// buffer is full.
    Sent {
        /// Bytes queued.
        len: u16,
    },
    /// `recv` took these bytes; empty when none had arrived.
    Data {
        /// The bytes.
        data: &'a [u8],
    },
    /// The node's state.
    Status(Status<'a>),
    /// The node's links.
    Links(Vec<Link, MAX_LINKS>),
    /// One link's counters, or all links' added up.
    Stats(Stats),
    /// A ping came back.
    Pong {
        /// Who answered.
        peer: IpAddr,
        /// The round trip in nanoseconds.
        rtt_ns: u64,
    },
    /// The request failed.
    Error(Error),
}

/// What `status` reports.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status<'a> {
    /// The protocol version the node speaks.
    pub version: u8,
    /// The stack behind the transport: `tcpip`, `bespoke`, ...
    pub stack: &'a str,
    /// How many links the node has; `links` lists them.
    pub links: u8,
    /// Ports the node accepts streams on.
    pub listening: Vec<u16, MAX_LISTENERS>,
    /// Open streams.
    pub streams: Vec<StreamInfo, MAX_STREAMS>,
}

/// One open stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The id `send`, `recv` and `close` take: the node's, unique over all
    /// its links.
    pub id: u8,
    /// The link it runs on.
    pub link: u8,
    /// Where it is in its life.
    pub state: StreamState,
    /// The port: the peer's for streams this node opened, ours for accepted ones.
    pub port: u16,
    /// Whether a peer opened it (accepted on a listening port).
    pub accepted: bool,
}

/// One link and the peer at its far end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    /// The index `connect`, `ping` and `remote` take.
    pub index: u8,
    /// This end's address.
    pub local: IpAddr,
    /// The far end's address, once the link has told us; `None` while down.
    pub peer: Option<IpAddr>,
    /// Whether the link is up, and if not, why.
    pub state: LinkState,
    /// The far end's FPGA DNA and port, once the two ends have told each
    /// other; `None` before, and while the link is down.
    pub peer_id: Option<HardwareId>,
    /// The link's UGN in link cycles, once the link has measured it.
    pub ugn: Option<i64>,
    /// Frames sent on the link, as `stats <link>` counts them.
    pub frames_tx: u64,
    /// Frames received and delivered.
    pub frames_rx: u64,
    /// Frames the link layer sent again.
    pub link_retransmits: u64,
}
