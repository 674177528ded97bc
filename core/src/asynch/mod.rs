//! Async tasks over any [`Transport`] (feature `async`).
//!
//! Node code that talks to several peers reads far better as a few async
//! tasks than as one hand-written poll loop. This is embassy-net's shape:
//!
//! - [`State`] owns the transport and the wakers; it lives wherever the
//!   caller puts it (a `static`, or a frame of `main`), since nothing here
//!   allocates.
//! - [`Net`] is a cheap `Copy` handle to it that tasks share. Its futures
//!   ([`Net::connect`], [`Net::accept`], [`Stream::send`], [`Net::ping`], ...)
//!   try the operation each time they are polled and register a waker when
//!   it would block.
//! - [`Runner`] is the one net task. It polls the transport when the link
//!   signals activity ([`LinkSignal`]), when the transport's
//!   [`poll_at`](Transport::poll_at) deadline comes ([`Clock`]), or when a
//!   task has just used the transport, whichever is first; then it wakes the
//!   waiting tasks if anything changed.
//!
//! That last trigger is what a runner that waits only for the link and its
//! timers lacks: written bytes would sit in the stack until the next timer.
//! Here every operation that changes the transport (bytes queued or taken,
//! a stream opened or closed, a datagram or ping sent) wakes the runner, so
//! the change reaches the link in the same turn of the executor. A task that
//! finds nothing to do does not wake it, so idle tasks cost nothing.
//!
//! Executor-agnostic: only `core::task` is used. `State` is not `Sync`, as in
//! embassy-net: all tasks that share it run on one executor on one core.
//!
//! Every future here is cancel-safe. Most take effect only in the poll that
//! returns `Ready`, so one dropped while pending has done nothing; a dropped
//! [`Net::connect`] closes the stream it opened, and a dropped
//! [`Stream::send`] loses no byte it reported sent.
//!
//! ```ignore
//! let mut state = State::new(transport, clock);
//! let (net, runner) = tidenet_core::asynch::new(&mut state, link_signal);
//! // Spawn or join `runner.run()` and the application's tasks:
//! let stream = net.connect(peer, 7000).await?;
//! stream.send(b"hello").await?;
//! stream.close().await?;
//! ```

mod net;
mod runner;
mod stream;
mod waiters;

pub use net::{Net, State};
pub use runner::Runner;
pub use stream::Stream;

use crate::time::Instant;
use crate::Transport;

/// Time, for the net task's deadlines and for timeouts: a hardware timer on
/// a node, the virtual link clock in the model.
// An `async fn` in a public trait cannot promise `Send` futures; these run
// on one executor on one core, so they need not.
#[allow(async_fn_in_trait)]
pub trait Clock {
    /// The time now.
    fn now(&self) -> Instant;

    /// Completes at `deadline`, at once if it has passed. Several tasks may
    /// wait on one clock at the same time.
    async fn at(&self, deadline: Instant);
}

/// The link's activity notification: the ringbuffer "interrupt".
///
/// [`wait`](LinkSignal::wait) completes when the link may hold something new
/// for the transport: a frame landed, an acknowledgement arrived. A
/// completion with nothing new costs one poll; a missed one costs latency,
/// up to the transport's next [`poll_at`](Transport::poll_at) deadline. A
/// platform with no such signal can complete at once and so poll the link
/// as fast as the executor runs.
// As for `Clock`: the futures stay on one core.
#[allow(async_fn_in_trait)]
pub trait LinkSignal {
    /// Waits for the link's next activity after the previous call returned.
    async fn wait(&mut self);
}

/// Splits `state` into the handle tasks share and the net task that drives
/// the transport. Run [`Runner::run`] on the same executor as the tasks.
///
/// It takes `state` mutably, as embassy-net takes its resources, so that a
/// state gets one net task only; the handles share it from then on.
pub fn new<T: Transport, C: Clock, L: LinkSignal>(
    state: &mut State<T, C>,
    link: L,
) -> (Net<'_, T, C>, Runner<'_, T, C, L>) {
    let net = Net::new(state);
    (net, Runner::new(net, link))
}
