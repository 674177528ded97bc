//! The state tasks share, and the handle they share it through.

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::net::IpAddr;
use core::task::{Poll, Waker};

use embassy_futures::select::{select, Either};

use super::stream::Stream;
use super::waiters::Waiters;
use super::Clock;
use crate::time::{Duration, Instant};
use crate::{Error, Transport};

/// Tasks that can wait on one transport at once without being woken for
/// nothing; more still work, but wake each other spuriously.
const WAITERS: usize = 8;

/// A transport, its clock, and the wakers of the tasks that use it.
///
/// Owned by the caller, so that nothing allocates: put it in a `static` (a
/// `StaticCell`) for `'static` tasks, or in the frame that joins them.
pub struct State<T, C> {
    transport: RefCell<T>,
    clock: C,
    wakers: RefCell<Wakers>,
    /// A ping is waiting for its pong. The transport reports only the latest
    /// ping's round trip, so concurrent pings take turns.
    pinging: Cell<bool>,
}

struct Wakers {
    /// The net task, waiting for a task to use the transport.
    runner: Option<Waker>,
    /// A task changed the transport since the net task last polled it.
    touched: bool,
    /// Tasks waiting for the transport to change.
    waiters: Waiters<WAITERS>,
}

impl<T: Transport, C: Clock> State<T, C> {
    /// Wraps `transport`, with `clock` for its deadlines and timeouts.
    pub fn new(transport: T, clock: C) -> Self {
        State {
            transport: RefCell::new(transport),
            clock,
            wakers: RefCell::new(Wakers {
                runner: None,
                touched: false,
                waiters: Waiters::new(),
            }),
            pinging: Cell::new(false),
        }
    }

    /// The transport back, once every handle is gone: for its counters at
    /// the end of a test, or to drive it by hand again.
    pub fn into_inner(self) -> T {
        self.transport.into_inner()
    }

    /// Polls the transport; returns whether anything happened and when it
    /// must be polled next.
    pub(super) fn poll(&self) -> (bool, Option<Instant>) {
        self.wakers.borrow_mut().touched = false;
        let mut transport = self.transport.borrow_mut();
        let progress = transport.poll(self.clock.now());
        (progress, transport.poll_at(self.clock.now()))
    }

    /// Completes once a task has changed the transport since the last poll.
    pub(super) fn touched(&self) -> impl Future<Output = ()> + '_ {
        poll_fn(|cx| {
            let mut wakers = self.wakers.borrow_mut();
            if wakers.touched {
                return Poll::Ready(());
            }
            match &wakers.runner {
                Some(runner) if runner.will_wake(cx.waker()) => {}
                _ => wakers.runner = Some(cx.waker().clone()),
            }
            Poll::Pending
        })
    }

    /// Wakes every task waiting for the transport to change.
    pub(super) fn wake_waiters(&self) {
        self.wakers.borrow_mut().waiters.wake_all();
    }

    pub(super) fn clock(&self) -> &C {
        &self.clock
    }

    /// Wakes the net task: a task has changed the transport, and the change
    /// should reach the link now rather than at the next deadline.
    fn touch(&self) {
        let mut wakers = self.wakers.borrow_mut();
        wakers.touched = true;
        if let Some(runner) = wakers.runner.take() {
            runner.wake();
        }
    }
}

/// A handle to a [`State`], for tasks to share: copy it into each.
pub struct Net<'a, T, C> {
    state: &'a State<T, C>,
}

impl<T, C> Clone for Net<'_, T, C> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T, C> Copy for Net<'_, T, C> {}

impl<'a, T: Transport, C: Clock> Net<'a, T, C> {
    pub(super) fn new(state: &'a State<T, C>) -> Self {
        Net { state }
    }

    pub(super) fn state(&self) -> &'a State<T, C> {
        self.state
    }

    /// The clock the transport runs on.
    pub fn clock(&self) -> &'a C {
        &self.state.clock
    }

    /// Runs `f` on the transport, for what needs no waiting: `listen`,
    /// `stats`, `peer`. Wakes the net task afterwards, since `f` may have
    /// changed something it must push onto the link.
    pub fn with<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let result = f(&mut self.state.transport.borrow_mut());
        self.state.touch();
        result
    }

    /// Tries `op` each time the task is polled, until it gives an answer.
    ///
    /// `None` means "not yet": the task waits for the transport to change.
    /// An answer usually means `op` changed the transport (queued or took
    /// bytes), so the net task is woken to act on it at once.
    pub(super) async fn until<R>(&self, mut op: impl FnMut(&mut T) -> Option<R>) -> R {
        poll_fn(|cx| {
            let answer = op(&mut self.state.transport.borrow_mut());
            match answer {
                Some(answer) => {
                    self.state.touch();
                    Poll::Ready(answer)
                }
                None => {
                    self.state.wakers.borrow_mut().waiters.register(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Waits for the link to come up; returns the peer's address.
    pub async fn link_up(&self) -> IpAddr {
        self.until(|t| t.peer()).await
    }

    /// Opens a stream to `peer` on `port` and waits for the handshake.
    ///
    /// A refused stream gives [`Error::StreamClosed`]. An unanswered one
    /// waits as long as the transport retries; bound it with
    /// [`with_timeout`](Net::with_timeout). A cancelled connect closes its
    /// stream, so it leaves no slot taken.
    pub async fn connect(&self, peer: IpAddr, port: u16) -> Result<Stream<'a, T, C>, Error> {
        let id = self.with(|t| t.connect(peer, port))?;
        let stream = Stream::new(*self, id);
        stream.established().await?;
        Ok(stream)
    }

    /// Waits for a peer to open a stream to `port`, which must be listening
    /// (`net.with(|t| t.listen(port))`).
    pub async fn accept(&self, port: u16) -> Result<Stream<'a, T, C>, Error> {
        let id = self.until(|t| t.accept(port).transpose()).await?;
        Ok(Stream::new(*self, id))
    }

    /// Sends one control datagram, waiting while the transmit queue is full.
    pub async fn send_datagram(&self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        self.until(|t| match t.send_datagram(peer, data) {
            Err(Error::WouldBlock) => None,
            sent => Some(sent),
        })
        .await
    }

    /// Waits for a control datagram; returns its sender and length.
    pub async fn recv_datagram(&self, buf: &mut [u8]) -> Result<(IpAddr, usize), Error> {
        self.until(|t| t.recv_datagram(buf).transpose()).await
    }

    /// Pings `peer` and waits for the round-trip time, or gives
    /// [`Error::Timeout`] after `timeout`. Concurrent pings take turns.
    pub async fn ping(&self, peer: IpAddr, timeout: Duration) -> Result<Duration, Error> {
        self.with_timeout(timeout, async {
            let _turn = self.ping_turn().await;
            let clock = &self.state.clock;
            self.until(|t| match t.ping(peer, clock.now()) {
                Err(Error::WouldBlock) => None,
                sent => Some(sent),
            })
            .await?;
            Ok(self.until(|t| t.take_rtt().map(|(_, rtt)| rtt)).await)
        })
        .await?
    }

    /// Runs `future` for at most `timeout`; [`Error::Timeout`] if it has not
    /// finished by then, in which case it is dropped.
    pub async fn with_timeout<F: Future>(
        &self,
        timeout: Duration,
        future: F,
    ) -> Result<F::Output, Error> {
        let deadline = self.state.clock.now() + timeout;
        match select(future, self.state.clock.at(deadline)).await {
            Either::First(output) => Ok(output),
            Either::Second(()) => Err(Error::Timeout),
        }
    }

    async fn ping_turn(&self) -> PingTurn<'a, T, C> {
        let pinging = &self.state.pinging;
        self.until(|_| (!pinging.replace(true)).then_some(())).await;
        PingTurn { state: self.state }
    }
}

/// This task's turn to ping; ends when dropped, whether the ping finished
/// or was cancelled.
struct PingTurn<'a, T: Transport, C: Clock> {
    state: &'a State<T, C>,
}

impl<T: Transport, C: Clock> Drop for PingTurn<'_, T, C> {
    fn drop(&mut self) {
        self.state.pinging.set(false);
        self.state.wake_waiters();
    }
}
