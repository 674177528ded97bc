//! The bittide ringbuffer link layer.
//!
//! An aligned ringbuffer pair promises only that what one end writes at
//! transmit index `i` arrives at the peer's receive index `i`, pass after
//! pass. Words tear while they are written or read, writes get lost, and
//! everything left in place is delivered again on every pass. This crate
//! turns a pair into a link a network stack can stand on:
//!
//! - [`Link`] runs the whole life of one link: bittide's alignment protocol
//!   (or a link the hardware aligned), a session handshake, frames both
//!   ways, and the way back up when the peer goes silent, reboots or
//!   aligns again. Its state and every transition are counted.
//! - Frames flow through a sliding window over the ring used as a circular
//!   buffer: the sender writes frame after frame, the receiver reports how
//!   far it has read, and a loss costs a rewind request (a NAK), not a
//!   time-out. Only what could not have been asked for in time waits for
//!   the time-out, which follows the measured round trip.
//! - Every frame and control word carries a CRC-32C bound to both ends'
//!   sessions: a torn or corrupted one is taken with a probability of about
//!   2^-32, and nothing from an earlier session is taken at all.
//! - [`wire`] is the format, word by word.
//!
//! The frame interface ([`Link::receive`], [`Link::transmit`]) has the
//! shape of a smoltcp `Device`, but the link knows nothing of what frames
//! carry: `tidenet-tcpip` puts TCP/IP on it, and the bespoke stack will put
//! its own frames on it.
//!
//! `#![no_std]` and allocation-free: the firmware image runs all of it.
//! The frames in flight live in a window the caller provides.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

mod link;
mod mark;
mod reassert;
mod receiver;
mod rtt;
mod sender;
mod seq;
mod window;
pub mod wire;

pub use link::{Alignment, Config, Link, Received, Transmit};
pub use window::{image_len, Window};

use link::Ring;
