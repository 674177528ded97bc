//! The DCF Thunderbolt plugin's own API, a thin layer over [`Thunderbolt`].
//!
//! A program written against DCF's `thunderbolt_transport` crate compiles
//! against this module with only its `use` lines changed:
//!
//! ```no_run
//! use tidenet_thunderbolt::dcf::{LogLevel, MessageData, MessageType, ThunderboltTransportBuilder};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let transport = ThunderboltTransportBuilder::new()
//!     .interface("thunderbolt0")
//!     .message_handler(|msg_type, data| match (msg_type, data) {
//!         (MessageType::ControlMessage, MessageData::Bytes(bytes)) => println!("{} bytes", bytes.len()),
//!         (_, MessageData::Stream(_stream)) => println!("a data stream"),
//!         _ => {}
//!     })
//!     .logger(|level: LogLevel, msg: &str| println!("[{level:?}] {msg}"))
//!     .build()?;
//! transport.send_message(&[1, 2, 3], "fe80::2%thunderbolt0")?;
//! if let Some(rtt) = transport.measure_rtt("fe80::2%thunderbolt0", std::time::Duration::from_secs(1))? {
//!     println!("RTT {:.3} ms", rtt * 1000.0);
//! }
//! # Ok(()) }
//! ```
//!
//! Where it differs from the original, on purpose:
//! - `open_data_stream` and the handler's `MessageData::Stream` give a
//!   blocking [`DataStream`] (`Read + Write`, counting its bytes), not a
//!   non-blocking `TcpStream`, on which `read_exact` fails with
//!   `WouldBlock`. `get_ref()` is the `TcpStream`.
//! - Only the peer is served by default: the first host heard from. A
//!   stranger's datagrams and streams are refused and counted; the builder's
//!   `strangers(Strangers::Accept)` serves everyone, as DCF does.
//! - Messages go to the peer's control port as it is configured (`peer`) or
//!   learned from its messages, not assumed to be ours.
//! - [`Stats`] has DCF's fields and more: stream bytes, pings, and what was
//!   refused or dropped ([`Drops`]).
//! - Closing or dropping frees the ports, and pings are answered at once,
//!   not after a 10 ms polling sleep.

use std::fmt;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use crate::stats::get;
use crate::{
    Config, DataStream, Drops, Peer, Strangers, Thunderbolt, TransportError as Error,
    DEFAULT_INTERFACE,
};

pub use crate::probe::{PING_MAGIC as RTT_PING_MAGIC, PONG_MAGIC as RTT_PONG_MAGIC};
pub use crate::{LogLevel, DEFAULT_BUFFER_SIZE, DEFAULT_CONTROL_PORT, DEFAULT_DATA_PORT};

/// The largest message the face sends: what a DCF peer receives whole. The
/// original receives into a 65,507-byte buffer (the IPv4 limit) and cuts
/// anything longer short without a word; [`Thunderbolt`] itself sends up to
/// [`MAX_MESSAGE`](crate::MAX_MESSAGE) to peers that take it.
pub const MAX_UDP_PAYLOAD: usize = 65_507;
/// Streams the OS completes on the data port before they are accepted.
pub const CONNECTION_BACKLOG: i32 = crate::socket::BACKLOG;

/// DCF's result type.
pub type Result<T> = std::result::Result<T, TransportError>;

/// What a [`MessageHandlerFn`] is handed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageType {
    /// A UDP control message.
    ControlMessage,
    /// A TCP data stream a peer opened.
    DataStream,
}

/// A control message's bytes, or a data stream.
#[derive(Debug)]
pub enum MessageData {
    /// The message.
    Bytes(Vec<u8>),
    /// The stream, blocking.
    Stream(DataStream),
}

/// Called with every message (on the control thread) and every stream a
/// peer opens (on the data thread). Keep it short: pings wait behind
/// messages, and accepting waits behind streams.
pub type MessageHandlerFn = Box<dyn Fn(MessageType, MessageData) + Send + Sync>;
/// Called with each log line and its level.
pub type LoggerFn = Box<dyn Fn(LogLevel, &str) + Send + Sync>;

/// DCF's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThunderboltConfig {
    /// The network interface, `thunderbolt0` by default.
    pub interface: String,
    /// UDP port of the control channel, 5000 by default; 0 lets the OS choose.
    pub control_port: u16,
    /// TCP port of the data streams, 5001 by default; 0 lets the OS choose.
    pub data_port: u16,
    /// Socket buffers, 64 MiB by default.
    pub buffer_size: usize,
    /// `TCP_NODELAY` on data streams, on by default.
    pub tcp_nodelay: bool,
    /// Keepalive on data streams, on by default.
    pub tcp_keepalive: bool,
}

impl Default for ThunderboltConfig {
    fn default() -> Self {
        let config = Config::default();
        ThunderboltConfig {
            interface: DEFAULT_INTERFACE.into(),
            control_port: config.control_port,
            data_port: config.data_port,
            buffer_size: config.buffer_size,
            tcp_nodelay: config.tcp_nodelay,
            tcp_keepalive: config.tcp_keepalive,
        }
    }
}

impl ThunderboltConfig {
    fn into_config(self) -> Config {
        Config {
            interface: self.interface,
            control_port: self.control_port,
            data_port: self.data_port,
            buffer_size: self.buffer_size,
            tcp_nodelay: self.tcp_nodelay,
            tcp_keepalive: self.tcp_keepalive,
            ..Config::default()
        }
    }
}

/// Counters since start or the last reset: DCF's, then tidenet's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Control messages sent (pings not included).
    pub messages_sent: u64,
    /// Control messages received and handed on (pings and pongs not
    /// included, nor messages refused or dropped).
    pub messages_received: u64,
    /// Bytes of the messages sent.
    pub bytes_sent: u64,
    /// Bytes of the messages received.
    pub bytes_received: u64,
    /// Data streams peers opened that were taken.
    pub connections_accepted: u64,
    /// Data streams we opened.
    pub connections_initiated: u64,
    /// Socket operations that failed (timeouts are not errors).
    pub errors: u64,
    /// Seconds since start or the last reset.
    pub uptime_secs: u64,
    /// Bytes written to data streams.
    pub stream_bytes_sent: u64,
    /// Bytes read from data streams.
    pub stream_bytes_received: u64,
    /// Pings sent.
    pub pings_sent: u64,
    /// Pongs that answered our pings.
    pub pongs_received: u64,
    /// The peer's pings we answered.
    pub pings_answered: u64,
    /// What was refused or dropped, each counted apart.
    pub drops: Drops,
}

/// DCF's errors, variant for variant, so that code matching on them
/// compiles. The `Display` text starts with a stable kebab-case kind and
/// says what to do.
#[derive(Debug)]
pub enum TransportError {
    /// A socket operation failed; binding a port too (the text says why).
    Io(io::Error),
    /// The address text: what was given and what is wrong with it.
    InvalidAddress(String),
    /// No network interface has this name or index.
    InterfaceNotFound(String),
    /// A message over [`MAX_UDP_PAYLOAD`].
    MessageTooLarge {
        /// The size asked for.
        size: usize,
        /// The most one message carries.
        max: usize,
    },
    /// A data stream could not be opened; the text says to where and why.
    ConnectionFailed(String),
    /// Kept so that DCF code matching on it compiles. A transport here is
    /// running from `build()` on, so nothing returns it.
    NotInitialized,
    /// The transport has been closed.
    Shutdown,
    /// A message that cannot be sent as it is; the text says why.
    InvalidMessage(String),
    /// Nothing came in time.
    Timeout,
    /// The kernel refused a socket option; the text says which.
    SocketOption(String),
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use TransportError::*;
        match self {
            Io(e) => write!(f, "io: {e}"),
            InvalidAddress(what) => write!(
                f,
                "invalid-address: {what}; write an IPv6 address with its interface, as fe80::1%thunderbolt0 or fe80::1%2"
            ),
            InterfaceNotFound(name) => write!(
                f,
                "interface-not-found: there is no network interface '{name}'; list them with 'ip link'"
            ),
            MessageTooLarge { size, max } => write!(
                f,
                "message-too-large: {size} bytes exceeds the {max}-byte limit of one control message; split it or use a data stream"
            ),
            ConnectionFailed(what) => write!(
                f,
                "connection-failed: {what}; check the peer runs and listens on its data port"
            ),
            NotInitialized => write!(
                f,
                "not-initialized: the transport is not running; build one with ThunderboltTransportBuilder::new()...build()"
            ),
            Shutdown => write!(f, "shutdown: the transport has been closed; build a new one"),
            InvalidMessage(what) => write!(f, "invalid-message: {what}"),
            Timeout => write!(
                f,
                "timeout: nothing came in time; check the peer runs and the link is up"
            ),
            SocketOption(what) => write!(
                f,
                "socket-option: {what}; check that the interface is still there and the option's limits (sysctl net.core)"
            ),
        }
    }
}

impl std::error::Error for TransportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TransportError::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for TransportError {
    fn from(e: io::Error) -> Self {
        TransportError::Io(e)
    }
}

impl From<Error> for TransportError {
    /// Each of tidenet's errors as the DCF variant that fits, its text kept.
    fn from(e: Error) -> Self {
        let text = e.to_string();
        match e {
            Error::InvalidAddress { input, reason } => {
                TransportError::InvalidAddress(format!("'{input}' {reason}"))
            }
            Error::InterfaceNotFound(name) => TransportError::InterfaceNotFound(name),
            Error::NoLinkLocalAddress(_) => {
                TransportError::Io(io::Error::new(io::ErrorKind::AddrNotAvailable, text))
            }
            Error::BindFailed { source, .. } => {
                TransportError::Io(io::Error::new(source.kind(), text))
            }
            Error::InterfaceBindFailed {
                interface, source, ..
            } => TransportError::SocketOption(format!(
                "cannot bind the sockets to '{interface}' with SO_BINDTODEVICE ({source}), which needs CAP_NET_RAW on kernels before 5.7"
            )),
            Error::MessageTooLarge { size, max } => TransportError::MessageTooLarge { size, max },
            Error::ReservedMessage => TransportError::InvalidMessage(
                "a 16-byte message starting with an RTT probe magic would be read as a ping or pong; pad it or change its first bytes".into(),
            ),
            Error::ConnectionFailed { peer, source } => TransportError::ConnectionFailed(format!(
                "cannot open a data stream to {peer} ({source})"
            )),
            Error::SocketOption { option, source } => {
                TransportError::SocketOption(format!("the kernel refused {option} ({source})"))
            }
            Error::Timeout => TransportError::Timeout,
            Error::Shutdown => TransportError::Shutdown,
            Error::Io(e) => TransportError::Io(e),
        }
    }
}

/// DCF's transport: UDP control messages, TCP data streams and RTT probes
/// over one interface. Every method takes `&self` and is safe to call from
/// any thread; [`build`](ThunderboltTransportBuilder::build) hands it out in
/// an `Arc`, as DCF does.
pub struct ThunderboltTransport {
    inner: Thunderbolt,
}

impl ThunderboltTransport {
    /// Builds and starts a transport, as DCF's constructor does.
    pub fn new(
        config: ThunderboltConfig,
        message_handler: Option<MessageHandlerFn>,
        logger: Option<LoggerFn>,
    ) -> Result<Arc<Self>> {
        let mut builder = ThunderboltTransportBuilder {
            builder: crate::Builder {
                config: config.into_config(),
            },
        };
        if let Some(handler) = message_handler {
            builder = builder.handler(Arc::from(handler));
        }
        if let Some(logger) = logger {
            builder.builder.config.leveled_logger = Some(Arc::from(logger));
        }
        builder.build()
    }

    /// Sends `data` to the peer at `peer_address` (`fe80::1%thunderbolt0`),
    /// unreliably; returns how many bytes went.
    pub fn send_message(&self, data: &[u8], peer_address: &str) -> Result<usize> {
        if data.len() > MAX_UDP_PAYLOAD {
            return Err(TransportError::MessageTooLarge {
                size: data.len(),
                max: MAX_UDP_PAYLOAD,
            });
        }
        let peer = self.inner.resolve(peer_address)?;
        self.inner.send_message(peer, data)?;
        Ok(data.len())
    }

    /// Opens a blocking data stream to the peer's data port.
    pub fn open_data_stream(&self, peer_address: &str) -> Result<DataStream> {
        let peer = self.inner.resolve(peer_address)?;
        Ok(self.inner.open_data_stream(peer)?)
    }

    /// Pings the peer; the round trip in seconds, or `None` if no pong came
    /// within `timeout`.
    pub fn measure_rtt(&self, peer_address: &str, timeout: Duration) -> Result<Option<f64>> {
        let peer = self.inner.resolve(peer_address)?;
        match self.inner.measure_rtt(peer, timeout) {
            Ok(rtt) => Ok(Some(rtt.as_secs_f64())),
            Err(Error::Timeout) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Waits up to `timeout` for a stream a peer opened, when no message
    /// handler takes them. (Not in DCF, which drops streams without one.)
    pub fn accept_data_stream(&self, timeout: Duration) -> Result<DataStream> {
        Ok(self.inner.accept_data_stream(timeout)?)
    }

    /// Counters since start or the last [`reset_stats`](Self::reset_stats).
    pub fn get_stats(&self) -> Stats {
        let counters = self.inner.counters();
        Stats {
            messages_sent: get(&counters.datagrams_tx),
            messages_received: get(&counters.datagrams_rx),
            bytes_sent: get(&counters.message_bytes_tx),
            bytes_received: get(&counters.message_bytes_rx),
            connections_accepted: get(&counters.streams_accepted),
            connections_initiated: get(&counters.streams_opened),
            errors: get(&counters.errors),
            uptime_secs: counters.counting_for().as_secs(),
            stream_bytes_sent: get(&counters.stream_bytes_tx),
            stream_bytes_received: get(&counters.stream_bytes_rx),
            pings_sent: get(&counters.pings_tx),
            pongs_received: get(&counters.pongs_rx),
            pings_answered: get(&counters.pings_answered),
            drops: counters.drops(),
        }
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.inner.reset_stats();
    }

    /// Stops serving and frees both ports; later calls say `Shutdown`.
    /// Dropping the last `Arc` does the same.
    pub fn close(&self) {
        self.inner.close();
    }

    /// Whether the transport serves: built and not closed.
    pub fn is_running(&self) -> bool {
        self.inner.is_running()
    }

    /// The interface.
    pub fn interface(&self) -> &str {
        self.inner.interface()
    }

    /// The control port: the one the OS chose if 0 was asked for.
    pub fn control_port(&self) -> u16 {
        self.inner
            .control_addr()
            .map_or(self.inner.config().control_port, |a| a.port())
    }

    /// The data port: the one the OS chose if 0 was asked for.
    pub fn data_port(&self) -> u16 {
        self.inner
            .data_addr()
            .map_or(self.inner.config().data_port, |a| a.port())
    }

    /// The transport underneath, for what DCF's API has no word for: the
    /// message queue, [`Drops`], the bound addresses.
    pub fn inner(&self) -> &Thunderbolt {
        &self.inner
    }
}

/// Builds a [`ThunderboltTransport`], DCF's way: the transport's own
/// [`Builder`](crate::Builder) under DCF's names, plus DCF's handler and
/// logger.
#[must_use]
pub struct ThunderboltTransportBuilder {
    builder: crate::Builder,
}

impl Default for ThunderboltTransportBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ThunderboltTransportBuilder {
    /// Every default: `thunderbolt0`, UDP 5000, TCP 5001, 64 MiB buffers,
    /// `TCP_NODELAY` and keepalive on.
    pub fn new() -> Self {
        ThunderboltTransportBuilder {
            builder: Thunderbolt::builder(),
        }
    }

    /// Applies one of the transport builder's settings.
    fn with(self, set: impl FnOnce(crate::Builder) -> crate::Builder) -> Self {
        ThunderboltTransportBuilder {
            builder: set(self.builder),
        }
    }

    /// The network interface.
    pub fn interface(self, interface: impl Into<String>) -> Self {
        self.with(|b| b.interface(interface))
    }

    /// Our UDP control port; 0 lets the OS choose.
    pub fn control_port(self, port: u16) -> Self {
        self.with(|b| b.control_port(port))
    }

    /// Our TCP data port; 0 lets the OS choose.
    pub fn data_port(self, port: u16) -> Self {
        self.with(|b| b.data_port(port))
    }

    /// Socket buffer size in bytes; 0 leaves them to the kernel.
    pub fn buffer_size(self, size: usize) -> Self {
        self.with(|b| b.buffer_size(size))
    }

    /// `TCP_NODELAY` on data streams.
    pub fn tcp_nodelay(self, enabled: bool) -> Self {
        self.with(|b| b.tcp_nodelay(enabled))
    }

    /// Keepalive on data streams.
    pub fn tcp_keepalive(self, enabled: bool) -> Self {
        self.with(|b| b.tcp_keepalive(enabled))
    }

    /// Hands every message and every stream a peer opens to `handler`.
    pub fn message_handler<F>(self, handler: F) -> Self
    where
        F: Fn(MessageType, MessageData) + Send + Sync + 'static,
    {
        self.handler(Arc::new(handler))
    }

    fn handler(mut self, handler: Arc<dyn Fn(MessageType, MessageData) + Send + Sync>) -> Self {
        let messages = handler.clone();
        let config = &mut self.builder.config;
        config.message_handler = Some(Arc::new(move |_, bytes: &[u8]| {
            messages(
                MessageType::ControlMessage,
                MessageData::Bytes(bytes.to_vec()),
            )
        }));
        config.stream_handler = Some(Arc::new(move |stream| {
            handler(MessageType::DataStream, MessageData::Stream(stream))
        }));
        self
    }

    /// Hands log lines and their level to `logger`.
    pub fn logger<F>(mut self, logger: F) -> Self
    where
        F: Fn(LogLevel, &str) + Send + Sync + 'static,
    {
        self.builder.config.leveled_logger = Some(Arc::new(logger));
        self
    }

    /// The peer's address and ports, where they differ from ours. (Not in
    /// DCF, which sends to its own port numbers.)
    pub fn peer(self, peer: Peer) -> Self {
        self.with(|b| b.peer(peer))
    }

    /// Whether hosts other than the peer are served; DCF serves everyone,
    /// this face by default only the peer. (Not in DCF.)
    pub fn strangers(self, policy: Strangers) -> Self {
        self.with(|b| b.strangers(policy))
    }

    /// Binds the ports and starts serving.
    pub fn build(self) -> Result<Arc<ThunderboltTransport>> {
        Ok(Arc::new(ThunderboltTransport {
            inner: self.builder.build()?,
        }))
    }
}

/// DCF's shorthand: a transport on `interface` with these ports and every
/// other default.
pub fn make_thunderbolt_transport(
    interface: &str,
    control_port: u16,
    data_port: u16,
    message_handler: Option<MessageHandlerFn>,
    logger: Option<LoggerFn>,
) -> Result<Arc<ThunderboltTransport>> {
    ThunderboltTransport::new(
        ThunderboltConfig {
            interface: interface.into(),
            control_port,
            data_port,
            ..ThunderboltConfig::default()
        },
        message_handler,
        logger,
    )
}
