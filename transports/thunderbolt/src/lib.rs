//! tidenet's host transport for Thunderbolt/USB4 networking, wire compatible
//! with the DCF design.
//!
//! Hosts joined by a Thunderbolt cable see a network interface
//! (`thunderbolt0`) with IPv6 link-local addresses. Over it this crate runs:
//! - a control channel of UDP messages, default port 5000, that also
//!   carries the 16-byte RTT ping and pong ([`probe`]);
//! - reliable data streams over TCP, default port 5001.
//!
//! It has three faces on one transport:
//! - [`Thunderbolt`], the DCF API in tidenet's words (a [`Builder`],
//!   `send_message`, `open_data_stream`, `measure_rtt`, `get_stats`, ...),
//!   taking `Ipv6Addr`s;
//! - [`dcf`], the DCF plugin's own API, so that a program written against
//!   DCF compiles with its `use` lines changed;
//! - tidenet's poll-driven [`Transport`](tidenet_core::Transport), so the
//!   node shell runs over it as over the ringbuffer, and (feature `async`)
//!   a link signal and a wall clock, so it runs under
//!   `tidenet_core::asynch`.
//!
//! Fixed here, against the original DCF implementation: data streams block,
//! pongs reach `measure_rtt` instead of the receiver thread, dropping the
//! transport frees its ports, and pings are answered by a thread blocked on
//! the socket rather than one polling every 10 ms. Added: only the peer is
//! served unless told otherwise ([`Strangers`]), what is refused or dropped
//! is counted ([`Drops`]) and its log lines are rate-limited.
#![deny(missing_docs)]

mod activity;
pub mod addr;
#[cfg(feature = "async")]
pub mod asynch;
mod config;
pub mod dcf;
mod error;
mod log;
pub mod probe;
mod rtt;
mod socket;
mod stats;
mod stream;
mod thunderbolt;
mod transport;

pub use config::{
    Builder, Config, LeveledLogger, Logger, MessageHandler, Peer, Strangers, StreamHandler,
    DEFAULT_BUFFER_SIZE, DEFAULT_CONNECT_TIMEOUT, DEFAULT_CONTROL_PORT, DEFAULT_DATA_PORT,
    DEFAULT_INTERFACE,
};
pub use error::TransportError;
pub use log::{LogLevel, LOG_INTERVAL};
pub use stats::Drops;
pub use stream::DataStream;
pub use thunderbolt::{Message, Thunderbolt, MAX_MESSAGE, MESSAGE_QUEUE, STREAM_QUEUE};
pub use transport::MAX_STREAMS;
