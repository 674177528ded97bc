//! What a transport is built from, and the DCF builder that sets it.

use std::fmt;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;

use crate::addr::{self, ScopedAddr, Zone};
use crate::{DataStream, LogLevel, Thunderbolt, TransportError};

/// The interface DCF peers use unless told otherwise.
pub const DEFAULT_INTERFACE: &str = "thunderbolt0";
/// UDP port of the control channel.
pub const DEFAULT_CONTROL_PORT: u16 = 5000;
/// TCP port data streams are opened to.
pub const DEFAULT_DATA_PORT: u16 = 5001;
/// Socket send and receive buffers: 64 MiB, enough to keep a 40 Gbit/s link
/// busy across a scheduling hiccup of a dozen milliseconds.
pub const DEFAULT_BUFFER_SIZE: usize = 64 << 20;
/// How long opening a data stream may take before it fails.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Called on the control thread with each message and its sender. Keep it
/// short: pings queue behind it.
pub type MessageHandler = Arc<dyn Fn(SocketAddrV6, &[u8]) + Send + Sync>;
/// Called on the data thread with each stream a peer opens to our data
/// port. Keep it short, or hand the stream to a thread of its own: streams
/// wait to be accepted behind it.
pub type StreamHandler = Arc<dyn Fn(DataStream) + Send + Sync>;
/// Called with one line for each thing worth a person's attention: dropped
/// datagrams, capped buffers, refused streams. Repeated events are
/// rate-limited (see [`LOG_INTERVAL`](crate::LOG_INTERVAL)).
pub type Logger = Arc<dyn Fn(&str) + Send + Sync>;
/// A [`Logger`] that is told each line's level too, as DCF's is.
pub type LeveledLogger = Arc<dyn Fn(LogLevel, &str) + Send + Sync>;

/// Whom the transport takes datagrams and streams from.
///
/// A host on a Thunderbolt cable has one peer. Anyone else who reaches its
/// ports (a host on a bridged interface, a misrouted or spoofed packet)
/// should not be able to message the application, run the node's `remote`
/// commands, or fill its queues.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Strangers {
    /// Only the peer is served: the configured peers, or when none is
    /// configured, the first host heard from. A datagram from anyone else
    /// is dropped unanswered, pings included; a stream is closed at once.
    /// Both are counted in [`Drops`](crate::Drops) and logged, rate-limited.
    #[default]
    Refuse,
    /// Everyone on the interface is served, as the original DCF does.
    /// Strangers are still counted apart in [`Drops`](crate::Drops).
    Accept,
}

/// A peer and the ports it listens on, which may differ from ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Peer {
    /// The peer's address on the interface.
    pub ip: Ipv6Addr,
    /// Its control (UDP) port.
    pub control_port: u16,
    /// Its data (TCP) port.
    pub data_port: u16,
}

/// Everything a [`Thunderbolt`] transport is built from.
#[derive(Clone)]
pub struct Config {
    /// The interface to bind: `thunderbolt0`, `lo`, ...
    pub interface: String,
    /// The address to bind; `None` takes the interface's link-local address.
    /// `::` receives on every address of the interface.
    pub address: Option<Ipv6Addr>,
    /// Our control (UDP) port; 0 lets the OS choose.
    pub control_port: u16,
    /// Our data (TCP) port; 0 lets the OS choose.
    pub data_port: u16,
    /// Requested socket send and receive buffer size, in bytes; 0 leaves
    /// them to the kernel. The kernel caps it at `net.core.rmem_max` and
    /// `wmem_max`; where it would, data streams keep TCP's autotuned
    /// buffers instead, and the logger says so.
    pub buffer_size: usize,
    /// Sends small writes at once instead of batching them (Nagle off).
    pub tcp_nodelay: bool,
    /// Probes idle streams so a vanished peer is noticed in seconds.
    pub tcp_keepalive: bool,
    /// How long [`Thunderbolt::open_data_stream`] waits for the peer.
    pub connect_timeout: Duration,
    /// Known peers. The first is the one the `Transport` trait's `peer()`
    /// reports. With none listed, the first host heard from is the peer; its
    /// control port is learned from the messages it sends, and until then,
    /// like its data port, taken to be the same as ours.
    pub peers: Vec<Peer>,
    /// Whether hosts other than the peer are served.
    pub strangers: Strangers,
    /// Receives messages instead of [`Thunderbolt::recv_message`].
    pub message_handler: Option<MessageHandler>,
    /// Receives streams peers open instead of
    /// [`Thunderbolt::accept_data_stream`].
    pub stream_handler: Option<StreamHandler>,
    /// Receives log lines; `None` drops them.
    pub logger: Option<Logger>,
    /// Receives log lines with their level, instead of `logger`.
    pub leveled_logger: Option<LeveledLogger>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            interface: DEFAULT_INTERFACE.into(),
            address: None,
            control_port: DEFAULT_CONTROL_PORT,
            data_port: DEFAULT_DATA_PORT,
            buffer_size: DEFAULT_BUFFER_SIZE,
            tcp_nodelay: true,
            tcp_keepalive: true,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            peers: Vec::new(),
            strangers: Strangers::default(),
            message_handler: None,
            stream_handler: None,
            logger: None,
            leveled_logger: None,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("interface", &self.interface)
            .field("address", &self.address)
            .field("control_port", &self.control_port)
            .field("data_port", &self.data_port)
            .field("buffer_size", &self.buffer_size)
            .field("tcp_nodelay", &self.tcp_nodelay)
            .field("tcp_keepalive", &self.tcp_keepalive)
            .field("connect_timeout", &self.connect_timeout)
            .field("peers", &self.peers)
            .field("strangers", &self.strangers)
            .field("message_handler", &self.message_handler.is_some())
            .field("stream_handler", &self.stream_handler.is_some())
            .field("logger", &self.logger.is_some())
            .field("leveled_logger", &self.leveled_logger.is_some())
            .finish()
    }
}

impl Config {
    /// The ports `ip` listens on, if it is a configured peer, or else our
    /// own. (The transport also knows the control port it learned.)
    pub(crate) fn peer(&self, ip: Ipv6Addr) -> Peer {
        self.peers
            .iter()
            .copied()
            .find(|p| p.ip == ip)
            .unwrap_or(Peer {
                ip,
                control_port: self.control_port,
                data_port: self.data_port,
            })
    }

    /// Reads a peer written as `fe80::2%thunderbolt0`, `fe80::2%5` or plain
    /// `fe80::2`, and checks that its interface is the configured one.
    pub fn resolve(&self, text: &str) -> Result<Ipv6Addr, TransportError> {
        self.resolve_on(text, || addr::index(&self.interface))
    }

    /// [`resolve`](Self::resolve), with the configured interface's index
    /// from `index`: a running transport knows it, and asking the kernel
    /// would cost a ping's worth of system calls. The index is only asked
    /// for when the text names another interface, or names it by number.
    pub(crate) fn resolve_on(
        &self,
        text: &str,
        index: impl FnOnce() -> Result<u32, TransportError>,
    ) -> Result<Ipv6Addr, TransportError> {
        let ScopedAddr { ip, zone } = text.parse()?;
        let ours = match zone {
            None => true,
            Some(Zone::Name(name)) if name == self.interface => true,
            Some(zone) => zone.index()? == index()?,
        };
        if !ours {
            return Err(TransportError::InvalidAddress {
                input: text.into(),
                reason: format!("is on another interface than '{}'", self.interface),
            });
        }
        Ok(ip)
    }

    /// Logs `line` if a logger is set.
    pub(crate) fn log(&self, level: LogLevel, line: &str) {
        if let Some(logger) = &self.leveled_logger {
            logger(level, line);
        } else if let Some(logger) = &self.logger {
            logger(line);
        }
    }
}

/// Builds a [`Thunderbolt`] transport the way DCF users know:
///
/// ```no_run
/// # fn main() -> Result<(), tidenet_thunderbolt::TransportError> {
/// let transport = tidenet_thunderbolt::Thunderbolt::builder()
///     .interface("thunderbolt0")
///     .message_handler(|from, bytes| println!("{from}: {} bytes", bytes.len()))
///     .build()?;
/// let rtt = transport.measure_rtt("fe80::2".parse().unwrap(), std::time::Duration::from_secs(1))?;
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
#[must_use]
pub struct Builder {
    pub(crate) config: Config,
}

impl Builder {
    /// The interface to bind (default `thunderbolt0`).
    pub fn interface(mut self, name: impl Into<String>) -> Self {
        self.config.interface = name.into();
        self
    }

    /// The address to bind instead of the interface's link-local address.
    pub fn address(mut self, ip: Ipv6Addr) -> Self {
        self.config.address = Some(ip);
        self
    }

    /// Our UDP control port (default 5000; 0 lets the OS choose).
    pub fn control_port(mut self, port: u16) -> Self {
        self.config.control_port = port;
        self
    }

    /// Our TCP data port (default 5001; 0 lets the OS choose).
    pub fn data_port(mut self, port: u16) -> Self {
        self.config.data_port = port;
        self
    }

    /// Socket buffer size in bytes (default 64 MiB; 0 leaves them to the
    /// kernel).
    pub fn buffer_size(mut self, bytes: usize) -> Self {
        self.config.buffer_size = bytes;
        self
    }

    /// TCP_NODELAY on data streams (default on).
    pub fn tcp_nodelay(mut self, on: bool) -> Self {
        self.config.tcp_nodelay = on;
        self
    }

    /// TCP keepalive on data streams (default on).
    pub fn tcp_keepalive(mut self, on: bool) -> Self {
        self.config.tcp_keepalive = on;
        self
    }

    /// How long opening a data stream may take (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// A peer whose ports differ from ours. The first peer added is the one
    /// the `Transport` trait reports as the link's peer.
    pub fn peer(mut self, peer: Peer) -> Self {
        self.config.peers.retain(|p| p.ip != peer.ip);
        self.config.peers.push(peer);
        self
    }

    /// Whether hosts other than the peer are served (default: refused).
    pub fn strangers(mut self, policy: Strangers) -> Self {
        self.config.strangers = policy;
        self
    }

    /// Hands each message to `handler` on the control thread, instead of
    /// queueing it for [`Thunderbolt::recv_message`].
    pub fn message_handler(
        mut self,
        handler: impl Fn(SocketAddrV6, &[u8]) + Send + Sync + 'static,
    ) -> Self {
        self.config.message_handler = Some(Arc::new(handler));
        self
    }

    /// Hands each stream a peer opens to `handler` on the data thread,
    /// instead of queueing it for [`Thunderbolt::accept_data_stream`].
    pub fn stream_handler(mut self, handler: impl Fn(DataStream) + Send + Sync + 'static) -> Self {
        self.config.stream_handler = Some(Arc::new(handler));
        self
    }

    /// Hands log lines to `logger`.
    pub fn logger(mut self, logger: impl Fn(&str) + Send + Sync + 'static) -> Self {
        self.config.logger = Some(Arc::new(logger));
        self
    }

    /// Binds the ports and starts serving.
    pub fn build(self) -> Result<Thunderbolt, TransportError> {
        Thunderbolt::new(self.config)
    }
}
