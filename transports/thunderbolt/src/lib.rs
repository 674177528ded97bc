//! tidenet's host transport for Thunderbolt/USB4 networking, wire compatible
//! with the DCF design.
//!
//! Hosts joined by a Thunderbolt cable see a network interface
//! (`thunderbolt0`) with IPv6 link-local addresses. Over it this crate runs:
//! - a control channel of UDP messages, default port 5000, that also
//!   carries the 16-byte RTT ping and pong ([`probe`]);
//! - reliable data streams over TCP, default port 5001.
//!
//! [`Thunderbolt`] offers the DCF API (a [`Builder`], `send_message`,
//! `open_data_stream`, `measure_rtt`, `get_stats`, ...) and implements
//! tidenet's poll-driven [`Transport`](tidenet_core::Transport) too, so the
//! node shell runs over it as over the ringbuffer.
//!
//! Fixed here, against the original DCF implementation: data streams block,
//! pongs reach `measure_rtt` instead of the receiver thread, dropping the
//! transport frees its ports, and pings are answered by a thread blocked on
//! the socket rather than one polling every 10 ms.
#![deny(missing_docs)]

pub mod addr;
mod config;
mod error;
pub mod probe;
mod rtt;
mod socket;
mod stats;
mod stream;
mod thunderbolt;
mod transport;

pub use config::{
    Builder, Config, Logger, MessageHandler, Peer, DEFAULT_BUFFER_SIZE, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_CONTROL_PORT, DEFAULT_DATA_PORT, DEFAULT_INTERFACE,
};
pub use error::TransportError;
pub use stream::DataStream;
pub use thunderbolt::{Message, Thunderbolt, MAX_MESSAGE};
pub use transport::MAX_STREAMS;
