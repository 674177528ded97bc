//! TCP/IP over bittide aligned ringbuffers.
//!
//! The layers, bottom up:
//!
//! - [`model`]: the ringbuffer hardware in virtual time, for tests, the
//!   simulator and the firmware's self-contained demo.
//! - [`frame`]: the link frame format: the control and header words, and
//!   functions that seal and open a payload of 64-bit words.
//! - [`link`]: the link layer over an
//!   [`AlignedRingbuffer`](tidenet_core::ringbuffer::AlignedRingbuffer): one
//!   frame in the mailbox at a time, a CRC-32C on every frame, link-level
//!   acknowledgement and re-sending, duplicate suppression, and a count of
//!   every dropped frame by reason. It is a `smoltcp::phy::Device`.
//! - [`TcpIp`]: the [`Transport`](tidenet_core::Transport) on smoltcp (TCP
//!   streams, UDP control datagrams, ping).
//!
//! `#![no_std]` and allocation-free: the firmware image runs all of it.
#![no_std]
#![deny(missing_docs)]

pub mod frame;
pub mod link;
pub mod model;
pub mod tcp_watch;
mod tcpip;

pub use tcpip::{Resources, TcpIp, CONTROL_PORT, MAX_STREAMS, PING_MAGIC, PONG_MAGIC};
