//! What a client asks a node to do.

use core::fmt;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

/// Where a request is aimed: a link by its index, as `links` lists them, or
/// a peer by its address, which names the link whose far end it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Peer {
    /// The peer at the far end of link `n`.
    Link(u8),
    /// The peer with this address.
    Addr(IpAddr),
}

impl fmt::Display for Peer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Peer::Link(n) => write!(f, "{n}"),
            Peer::Addr(a) => write!(f, "{a}"),
        }
    }
}

/// One command for a node. Each shell command builds exactly one of these.
///
/// The variants' order is their number on the wire: add new ones at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// This node's version, stack, link count, listeners and streams.
    Status,
    /// The node's links and who is at the other end.
    Links,
    /// Open a stream to `peer` on `port`.
    Connect {
        /// Whom to connect to.
        peer: Peer,
        /// The peer's listening port.
        port: u16,
    },
    /// Accept streams on `port`; the node takes them as they come.
    Listen {
        /// The port to listen on.
        port: u16,
    },
    /// Queue bytes on a stream.
    Send {
        /// The stream, as `connect` or `status` named it.
        stream: u8,
        /// The bytes.
        data: &'a [u8],
    },
    /// Take up to `max` received bytes from a stream, without waiting.
    Recv {
        /// The stream.
        stream: u8,
        /// The most bytes to return.
        max: u16,
    },
    /// Close a stream.
    Close {
        /// The stream.
        stream: u8,
    },
    /// Measure the round trip to a peer.
    Ping {
        /// Whom to ping.
        peer: Peer,
    },
    /// Link `link`'s counters, or every link's added up.
    Stats {
        /// The link, as `links` lists them; `None` for the total.
        link: Option<u8>,
    },
    /// Set link `link`'s counters to zero, or every link's.
    ResetStats {
        /// The link; `None` for every one.
        link: Option<u8>,
    },
    /// Run a request on a peer node and relay its reply.
    Remote {
        /// The node that runs the request.
        peer: Peer,
        /// The postcard-encoded [`Request`] it runs.
        request: &'a [u8],
    },
}
