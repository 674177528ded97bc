//! The tidenet node application: what runs on a bittide node's management
//! CPU.
//!
//! A node is a [`Transport`] (the stack, on the node's ringbuffer links),
//! the [`Node`] executor that runs requests against it, and the [`Shell`]
//! on the node's UART. This crate puts them together behind the few things a
//! board must supply, so that a board crate is drivers and a main loop, and
//! nothing else:
//!
//! - **Ringbuffers**: [`TransmitRingbuffer`] and [`ReceiveRingbuffer`] from
//!   `tidenet-core`, one pair per link. The stack is built on them once
//!   [`Aligner`] has aligned the pair.
//! - **A UART**: `embedded-io`'s [`Read`], [`ReadReady`] and [`Write`].
//! - **A clock**: [`Clock`], a monotonic time since boot.
//!
//! The stack is a type parameter of [`App`]: swapping `TcpIp` for `Bespoke`
//! is the line in the board crate that builds the transport.
//!
//! `#![no_std]` and allocation-free; `firmware/riscv` runs it on a
//! riscv32imc image and `tidenet-sim` runs it on a host.
//!
//! [`TransmitRingbuffer`]: tidenet_core::ringbuffer::TransmitRingbuffer
//! [`ReceiveRingbuffer`]: tidenet_core::ringbuffer::ReceiveRingbuffer
//! [`Aligner`]: tidenet_core::ringbuffer::Aligner
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use embedded_io::{Read, ReadReady, Write};
use tidenet_core::node::Node;
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::Transport;
use tidenet_shell::{Resources, Shell};

/// A monotonic clock: the node's only source of time.
///
/// Every timer in the stack and the shell is a deadline compared against
/// this, so it must never go backwards. A board reads a free-running
/// hardware counter and converts it; the epoch is usually boot.
pub trait Clock {
    /// The current time.
    fn now(&mut self) -> Instant;
}

/// A closure is a clock too: hosts and tests hand in their own time.
impl<F: FnMut() -> Instant> Clock for F {
    fn now(&mut self) -> Instant {
        self()
    }
}

/// Polls `transports` until each knows the peer at the far end of its link,
/// or until `within` has passed on `clock`. Returns whether all did.
///
/// A board calls this after building its transports, so that it hands its
/// shell links that are up: the first `connect` then does not meet
/// `link-down`. Whether to go on without a peer is the board's choice.
pub fn await_peers<T: Transport + ?Sized>(
    transports: &mut [&mut T],
    clock: &mut impl Clock,
    within: Duration,
) -> bool {
    let deadline = clock.now() + within;
    loop {
        if transports.iter().all(|t| t.peer().is_some()) {
            return true;
        }
        let now = clock.now();
        if now >= deadline {
            return false;
        }
        for transport in transports.iter_mut() {
            transport.poll(now);
        }
    }
}

/// One node: the executor on its `N` links, each a transport `T`, and its
/// shell on UART `U`.
pub struct App<'s, T: Transport, U: Write, const N: usize = 1> {
    node: Node<T, N>,
    shell: Shell<'s, U>,
}

impl<'s, T: Transport, U: Read + ReadReady + Write, const N: usize> App<'s, T, U, N> {
    /// Starts the node on `links` with its shell on the UART inside
    /// `shell`; the prompt goes out at once.
    pub fn new(links: [T; N], shell: &'s mut Resources<U>) -> Result<Self, U::Error> {
        Ok(App {
            node: Node::new(links),
            shell: Shell::new(shell)?,
        })
    }

    /// Does whatever is due at `now`: the stack's timers and frames, the
    /// peer's remote requests, and the UART's input and replies. Returns
    /// whether anything happened, in which case call it again at once.
    ///
    /// A UART error is returned after the node has been polled, so the
    /// node keeps serving its links whatever the serial line does.
    pub fn poll(&mut self, now: Instant) -> Result<bool, U::Error> {
        let active = self.node.poll(now);
        Ok(self.shell.poll(&mut self.node, now)? | active)
    }

    /// When [`poll`](App::poll) must run next at the latest, if nothing
    /// arrives first (a frame, a byte on the UART).
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        earliest(self.node.poll_at(now), self.shell.poll_at())
    }

    /// The executor, for what the board does besides the shell.
    pub fn node(&mut self) -> &mut Node<T, N> {
        &mut self.node
    }
}
