//! The errors a user or a peer can cause, each with a message that says what
//! went wrong and what to do about it.

use core::fmt;
use core::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::node::RemotePolicy;

/// Everything a [`crate::Transport`] operation can fail with.
///
/// The `Display` text is what the shell prints after `error: `; it starts with
/// a stable kebab-case kind so scripts can match on it. Errors also travel in
/// [`crate::proto::Response::Error`], so new variants go at the end: the
/// variant's position is its number on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Error {
    /// The link has not come up yet, so no peer is known.
    LinkDown,
    /// No link leads to this address.
    PeerUnreachable(IpAddr),
    /// Both ends of the link derived the same address from their hardware ids.
    AddressConflict(IpAddr),
    /// Port 0 is not a port.
    InvalidPort,
    /// Something on this node already listens on the port.
    PortInUse(u16),
    /// Nothing listens on the port, so there is nothing to accept.
    NotListening(u16),
    /// Every stream slot is taken.
    TooManyStreams {
        /// How many streams this transport can hold at once.
        max: u32,
    },
    /// No stream has this id (it was never opened, or it was closed).
    UnknownStream(u8),
    /// The stream exists but is not connected yet; poll and try again.
    NotConnected(u8),
    /// The stream ended cleanly: the peer closed it and every byte it sent
    /// has been read (or it refused to open).
    StreamClosed(u8),
    /// A datagram is larger than the control channel carries.
    MessageTooLarge {
        /// The size that was asked for.
        size: u32,
        /// The most this channel carries.
        max: u32,
    },
    /// The transmit queue is full; poll and try again.
    WouldBlock,
    /// The peer did not answer in time.
    Timeout,
    /// This transport does not implement the operation (yet).
    Unsupported,
    /// A request speaks a protocol version this node does not.
    UnsupportedVersion {
        /// The version the request carried.
        got: u8,
        /// The version this node speaks.
        supported: u8,
    },
    /// A frame decoded from COBS but not as a request.
    MalformedRequest,
    /// A peer's reply to a remote request did not decode.
    MalformedReply,
    /// A binary frame is longer than the node's frame buffer.
    FrameTooLong {
        /// The longest frame the node takes.
        max: u32,
    },
    /// A binary frame stopped before its closing zero byte.
    IncompleteFrame,
    /// A request arrived while another was still running.
    Busy,
    /// No link has this index.
    UnknownLink(u8),
    /// Every listening slot of the node is taken.
    TooManyListeners {
        /// How many ports the node listens on at once.
        max: u32,
    },
    /// The request cannot be run on a peer through `remote`.
    NotRemotable,
    /// A datagram the stack would take for one of its own probes: the DCF
    /// control channel reads 16 bytes starting with a probe magic as a ping
    /// or a pong.
    ReservedDatagram,
    /// The node's remote policy does not let a peer run this request.
    Forbidden(RemotePolicy),
    /// The stream was cut off, not closed: the peer reset or aborted it, or
    /// the connection broke, before the peer's close arrived. Unlike
    /// [`Error::StreamClosed`] it says that what arrived may be incomplete.
    StreamReset(u8),
}

/// Sizes and counts travel as `u32` (the protocol has no `usize`); these
/// build the errors that carry them from the `usize`s code has, saturating.
impl Error {
    /// [`Error::TooManyStreams`].
    pub fn too_many_streams(max: usize) -> Self {
        Error::TooManyStreams { max: wire(max) }
    }

    /// [`Error::MessageTooLarge`].
    pub fn message_too_large(size: usize, max: usize) -> Self {
        Error::MessageTooLarge {
            size: wire(size),
            max: wire(max),
        }
    }

    /// [`Error::FrameTooLong`].
    pub fn frame_too_long(max: usize) -> Self {
        Error::FrameTooLong { max: wire(max) }
    }

    /// [`Error::TooManyListeners`].
    pub fn too_many_listeners(max: usize) -> Self {
        Error::TooManyListeners { max: wire(max) }
    }
}

fn wire(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::LinkDown => {
                write!(f, "link-down: the link is not up; wait for it to come up, or check its cable and its peer (see 'links' for why it is down)")
            }
            Error::PeerUnreachable(a) => write!(f, "peer-unreachable: no link to {a} (see 'links')"),
            Error::AddressConflict(a) => write!(
                f,
                "address-conflict: both ends of the link derived {a}; give one end another port id"
            ),
            Error::InvalidPort => write!(f, "invalid-port: port 0 is reserved; use 1 to 65535"),
            Error::PortInUse(p) => write!(f, "port-in-use: port {p} is already listening; close it or pick another"),
            Error::NotListening(p) => write!(f, "not-listening: nothing listens on port {p}; run 'listen {p}' first"),
            Error::TooManyStreams { max } => {
                write!(f, "too-many-streams: all {max} stream slots are in use; close one first")
            }
            Error::UnknownStream(id) => write!(f, "unknown-stream: no stream {id}; open one with 'connect' or 'listen'"),
            Error::NotConnected(id) => write!(f, "not-connected: stream {id} is not established yet; poll and retry"),
            Error::StreamClosed(id) => write!(f, "stream-closed: the peer closed stream {id}; close it and reconnect"),
            Error::MessageTooLarge { size, max } => write!(
                f,
                "message-too-large: {size} bytes exceeds the {max}-byte limit; split it or use a stream"
            ),
            Error::WouldBlock => write!(f, "would-block: the transmit queue is full; poll and retry"),
            Error::Timeout => write!(f, "timeout: the peer did not answer in time; check the link with 'stats'"),
            Error::Unsupported => {
                write!(f, "unsupported: this stack does not implement that yet (see 'status' for the stack)")
            }
            Error::UnsupportedVersion { got, supported } => write!(
                f,
                "unsupported-version: the request speaks protocol v{got} but this node speaks v{supported}; use a client of v{supported}"
            ),
            Error::MalformedRequest => write!(
                f,
                "malformed-request: the frame is not a valid request; check the client encodes postcard requests of this protocol version"
            ),
            Error::MalformedReply => write!(
                f,
                "malformed-reply: the peer's reply did not decode; check both nodes run the same firmware"
            ),
            Error::FrameTooLong { max } => {
                write!(f, "frame-too-long: a binary frame exceeded {max} bytes; send shorter requests")
            }
            Error::IncompleteFrame => write!(
                f,
                "incomplete-frame: a binary frame stopped before its closing zero byte; resend it whole"
            ),
            Error::Busy => write!(f, "busy: another request is still running; wait for its reply"),
            Error::UnknownLink(n) => write!(f, "unknown-link: there is no link {n} (see 'links')"),
            Error::TooManyListeners { max } => {
                write!(f, "too-many-listeners: the node listens on {max} ports at most; close one first")
            }
            Error::NotRemotable => write!(
                f,
                "not-remotable: ping and remote cannot run on a peer; run them on the peer's own shell"
            ),
            Error::ReservedDatagram => write!(
                f,
                "reserved-datagram: the stack would read this datagram as one of its own probes; change its first bytes or its length"
            ),
            Error::Forbidden(policy) => write!(
                f,
                "forbidden: this node lets peers run {}; run the command on its own shell, or start it with a wider remote policy",
                match policy {
                    RemotePolicy::Off => "nothing",
                    RemotePolicy::ReadOnly => "only status, links and stats",
                    RemotePolicy::Full => "everything",
                }
            ),
            Error::StreamReset(id) => write!(
                f,
                "stream-reset: stream {id} was reset before the peer closed it, so bytes may be missing; close it, reconnect and send again what the peer did not confirm"
            ),
        }
    }
}

impl core::error::Error for Error {}

/// What an error means to code written against `embedded-io`, such as a
/// stream's `Read` and `Write`. Every variant is listed, so that a new one
/// must be given a kind here.
#[cfg(feature = "async")]
impl embedded_io::Error for Error {
    fn kind(&self) -> embedded_io::ErrorKind {
        use embedded_io::ErrorKind as Kind;
        match self {
            Error::LinkDown | Error::NotConnected(_) => Kind::NotConnected,
            Error::PeerUnreachable(_) | Error::AddressConflict(_) => Kind::AddrNotAvailable,
            Error::PortInUse(_) => Kind::AddrInUse,
            Error::StreamClosed(_) => Kind::BrokenPipe,
            Error::StreamReset(_) => Kind::ConnectionReset,
            Error::Timeout => Kind::TimedOut,
            Error::Unsupported | Error::UnsupportedVersion { .. } | Error::NotRemotable => {
                Kind::Unsupported
            }
            Error::Forbidden(_) => Kind::PermissionDenied,
            Error::TooManyStreams { .. } | Error::TooManyListeners { .. } => Kind::OutOfMemory,
            Error::InvalidPort
            | Error::NotListening(_)
            | Error::UnknownStream(_)
            | Error::UnknownLink(_)
            | Error::MessageTooLarge { .. }
            | Error::FrameTooLong { .. }
            | Error::ReservedDatagram => Kind::InvalidInput,
            Error::MalformedRequest | Error::MalformedReply | Error::IncompleteFrame => {
                Kind::InvalidData
            }
            Error::WouldBlock | Error::Busy => Kind::Other,
        }
    }
}
