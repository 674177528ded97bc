//! TCP/IP over bittide ringbuffer links: smoltcp on the link layer of
//! `tidenet-ringbuffer`.
//!
//! The layers, bottom up:
//!
//! - `tidenet_ringbuffer::Link`: alignment, the session handshake and
//!   checked frames in a sliding window. It knows no IP.
//! - [`device`]: the smoltcp `Device` over a link. A frame carries one IPv4
//!   packet; the packet's length comes from its IP header and must match
//!   the frame, and what does not is dropped and counted before smoltcp.
//! - [`capture`]: smoltcp's own `PcapWriter` middleware wraps the device,
//!   so a host can capture every IP packet as pcap; on a board its sink
//!   is [`NoCapture`](capture::NoCapture), which writes nothing.
//! - [`tcp_watch`]: middleware between smoltcp and the device that counts
//!   TCP segments and retransmissions. Middleware of this kind wraps the
//!   device without changing it.
//! - [`TcpIp`]: the [`Transport`](tidenet_core::Transport) on smoltcp: TCP
//!   streams, UDP control datagrams, and ping.
//!
//! `#![no_std]` and allocation-free: the firmware image runs all of it.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod capture;
pub mod device;
pub mod tcp_watch;
mod tcpip;

pub use tcpip::{
    Resources, TcpIp, CONTROL_PORT, DEFAULT_WINDOW, MAX_STREAMS, PING_MAGIC, PONG_MAGIC,
};
