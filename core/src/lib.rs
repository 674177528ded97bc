//! The root of tidenet: everything the other crates agree on.
//!
//! tidenet gives bittide nodes a reliable point-to-point channel over
//! ringbuffer links that tear, lose and duplicate data. This crate holds the
//! pieces every layer shares and nothing that belongs to one of them:
//!
//! - [`Transport`]: the poll-driven trait every stack implements (reliable
//!   streams, a control datagram channel, ping and stats). The shell and the
//!   tools speak only this trait, so swapping the stack underneath is one line.
//! - [`ringbuffer`]: the bittide ringbuffer hardware traits, the alignment
//!   protocol as a state machine, and [`ringbuffer::AlignedRingbuffer`].
//! - [`proto`]: the shell protocol's requests and responses (postcard), and
//!   [`node::Node`], the one place they are executed against a transport.
//! - [`Error`], [`Stats`], [`LinkState`], [`addr`] and [`time`].
//! - `asynch` (feature `async`): futures over any transport, and the net
//!   task that drives it.
//!
//! It is `#![no_std]` and allocation-free, and it knows no network stack:
//! smoltcp appears only in `tidenet-tcpip`.
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod addr;
#[cfg(feature = "async")]
pub mod asynch;
mod error;
mod link;
pub mod node;
pub mod proto;
pub mod ringbuffer;
mod stats;
pub mod time;
mod transport;

pub use error::Error;
pub use link::{DownReason, LinkState};
pub use stats::{Stats, StatsField};
pub use transport::{StreamId, StreamState, Transport};
