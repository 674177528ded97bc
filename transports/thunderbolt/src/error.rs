//! The errors of the DCF API, each saying what was wrong and what to do.

use std::fmt;
use std::io;
use std::net::SocketAddrV6;

/// Everything a [`crate::Thunderbolt`] operation can fail with: the DCF set,
/// with the cause kept where the OS gave one.
///
/// The `Display` text starts with a stable kebab-case kind, as the errors of
/// `tidenet-core` do, so scripts can match on it.
#[derive(Debug)]
#[non_exhaustive]
pub enum TransportError {
    /// Text that should name an IPv6 address did not.
    InvalidAddress {
        /// What was given.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No network interface has this name or index.
    InterfaceNotFound(String),
    /// The interface exists but has no IPv6 link-local address to bind.
    NoLinkLocalAddress(String),
    /// The OS refused to bind one of the transport's ports.
    BindFailed {
        /// The address and port that was asked for.
        addr: SocketAddrV6,
        /// Why.
        source: io::Error,
    },
    /// The OS refused to tie the sockets to the interface (`SO_BINDTODEVICE`).
    InterfaceBindFailed {
        /// The interface.
        interface: String,
        /// Why.
        source: io::Error,
    },
    /// A message is larger than one UDP datagram over IPv6 carries.
    MessageTooLarge {
        /// The size that was asked for.
        size: usize,
        /// The most one datagram carries.
        max: usize,
    },
    /// A 16-byte message starts with an RTT probe's magic, so the peer would
    /// take it for a ping or a pong (see [`crate::probe`]).
    ReservedMessage,
    /// A data stream could not be opened to the peer.
    ConnectionFailed {
        /// The peer's data port.
        peer: SocketAddrV6,
        /// Why.
        source: io::Error,
    },
    /// The kernel refused a socket option the configuration asks for.
    SocketOption {
        /// The option, as the kernel names it: `SO_RCVBUF`, `TCP_NODELAY`, ...
        option: &'static str,
        /// Why.
        source: io::Error,
    },
    /// Nothing came in time.
    Timeout,
    /// The transport has been closed.
    Shutdown,
    /// Another OS error on a socket.
    Io(io::Error),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TransportError::*;
        match self {
            InvalidAddress { input, reason } => write!(
                f,
                "invalid-address: '{input}' {reason}; write an IPv6 address with its interface, as fe80::1%thunderbolt0 or fe80::1%2"
            ),
            InterfaceNotFound(name) => write!(
                f,
                "interface-not-found: there is no network interface '{name}'; list them with 'ip link'"
            ),
            NoLinkLocalAddress(name) => write!(
                f,
                "no-link-local-address: interface '{name}' has no IPv6 link-local address; bring it up with 'ip link set {name} up' and check IPv6 is not disabled on it"
            ),
            BindFailed { addr, source } if source.kind() == io::ErrorKind::AddrInUse => write!(
                f,
                "bind-failed: port {} is in use on {}; stop what holds it or choose another port",
                addr.port(),
                addr.ip()
            ),
            BindFailed { addr, source } if source.kind() == io::ErrorKind::AddrNotAvailable => write!(
                f,
                "bind-failed: {} is not an address of this host's interface; check 'ip addr' (a just-added address may still be in duplicate address detection)",
                addr.ip()
            ),
            BindFailed { addr, source } => write!(f, "bind-failed: cannot bind {addr}: {source}"),
            InterfaceBindFailed { interface, source } => write!(
                f,
                "interface-bind-failed: cannot bind the sockets to '{interface}' ({source}); SO_BINDTODEVICE needs CAP_NET_RAW on kernels before 5.7"
            ),
            MessageTooLarge { size, max } => write!(
                f,
                "message-too-large: {size} bytes exceeds the {max}-byte limit of one UDP datagram over IPv6; split it or use a data stream"
            ),
            ReservedMessage => write!(
                f,
                "reserved-message: a 16-byte message starting with an RTT probe magic would be read as a ping or pong; pad it or change its first bytes"
            ),
            ConnectionFailed { peer, source } => write!(
                f,
                "connection-failed: cannot open a data stream to {peer} ({source}); check the peer runs and listens on that port"
            ),
            SocketOption { option, source } => write!(
                f,
                "socket-option: the kernel refused {option} ({source}); check that the interface is still there and the option's limits (sysctl net.core)"
            ),
            Timeout => write!(f, "timeout: nothing came in time; check the peer runs and the link is up"),
            Shutdown => write!(f, "shutdown: the transport has been closed; build a new one"),
            Io(e) => write!(f, "io: {e}"),
        }
    }
}

impl TransportError {
    /// Whether a socket operation failed, rather than the input being wrong
    /// or nothing coming in time: what [`Drops::errors`](crate::Drops)
    /// counts.
    pub(crate) fn is_socket_failure(&self) -> bool {
        matches!(
            self,
            TransportError::BindFailed { .. }
                | TransportError::InterfaceBindFailed { .. }
                | TransportError::ConnectionFailed { .. }
                | TransportError::SocketOption { .. }
                | TransportError::Io(_)
        )
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::BindFailed { source, .. }
            | TransportError::InterfaceBindFailed { source, .. }
            | TransportError::ConnectionFailed { source, .. }
            | TransportError::SocketOption { source, .. }
            | TransportError::Io(source) => Some(source),
            _ => None,
        }
    }
}
