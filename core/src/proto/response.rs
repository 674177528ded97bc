//! What a node answers.

use core::net::IpAddr;

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::{Error, LinkState, Stats, StreamState};

/// The most links a [`Response::Links`] lists.
pub const MAX_LINKS: usize = 8;
/// The most streams a [`Status`] lists.
pub const MAX_STREAMS: usize = 8;
/// The most listening ports a [`Status`] lists, and a node keeps.
pub const MAX_LISTENERS: usize = 4;

/// The answer to one [`super::Request`].
///
/// The variants' order is their number on the wire: add new ones at the end.
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
    /// The transport's counters.
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
    /// This node's address.
    pub addr: IpAddr,
    /// Ports the node accepts streams on.
    pub listening: Vec<u16, MAX_LISTENERS>,
    /// Open streams.
    pub streams: Vec<StreamInfo, MAX_STREAMS>,
}

/// One open stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// The id `send`, `recv` and `close` take.
    pub id: u8,
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
}
