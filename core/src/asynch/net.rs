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

/// Tasks that can wait on one transport at once. A seventeenth makes the
/// set wake everyone in it (see [`Waiters`]): the tasks then keep waking
/// each other, a busy loop, until one of them can go on.
const WAITERS: usize = 16;

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
    /// Polls of the transport so far.
    polls: Cell<u64>,
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
            polls: Cell::new(0),
        }
    }

    /// How often the net task has polled the transport: the measure of how
    /// busy it is, for tests and benchmarks.
    pub fn polls(&self) -> u64 {
        self.polls.get()
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
        self.polls.set(self.polls.get() + 1);
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
        // Taken out first: a waker runs executor code, which must not find
        // the state borrowed.
        let woken = self.wakers.borrow_mut().waiters.take_all();
        woken.into_iter().flatten().for_each(Waker::wake);
    }

    /// Registers a task that waits for the transport to change. If every
    /// slot is taken, everyone in them is woken to make room, rather than
    /// anyone being forgotten: a spurious wake costs a retry, a lost one a
    /// stuck task.
    fn wait(&self, waker: &Waker) {
        let mut wakers = self.wakers.borrow_mut();
        if wakers.waiters.register(waker) {
            return;
        }
        let woken = wakers.waiters.take_all();
        let _ = wakers.waiters.register(waker);
        drop(wakers);
        woken.into_iter().flatten().for_each(Waker::wake);
    }

    /// Wakes the net task: a task has changed the transport, and the change
    /// should reach the link now rather than at the next deadline.
    fn touch(&self) {
        let runner = {
            let mut wakers = self.wakers.borrow_mut();
            wakers.touched = true;
            wakers.runner.take()
        };
        if let Some(runner) = runner {
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

    /// Tries `op` each time the task is polled, until it gives an answer;
    /// `None` means "not yet", and the task waits for the transport to
    /// change. An answer from an operation that `changes` the transport
    /// (bytes queued or taken, a stream opened) wakes the net task to act on
    /// it at once.
    pub(super) async fn until<R>(
        &self,
        changes: bool,
        mut op: impl FnMut(&mut T) -> Option<R>,
    ) -> R {
        poll_fn(|cx| {
            let answer = op(&mut self.state.transport.borrow_mut());
            match answer {
                Some(answer) => {
                    if changes {
                        self.state.touch();
                    }
                    Poll::Ready(answer)
                }
                None => {
                    self.state.wait(cx.waker());
                    Poll::Pending
                }
            }
        })
        .await
    }

    /// Waits for the link to come up; returns the peer's address.
    pub async fn link_up(&self) -> IpAddr {
        self.until(false, |t| t.peer()).await
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
        let id = self.until(true, |t| t.accept(port).transpose()).await?;
        Ok(Stream::new(*self, id))
    }

    /// Sends one control datagram, waiting while the transmit queue is full.
    pub async fn send_datagram(&self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        self.until(true, |t| match t.send_datagram(peer, data) {
            Err(Error::WouldBlock) => None,
            sent => Some(sent),
        })
        .await
    }

    /// Waits for a control datagram; returns its sender and length.
    pub async fn recv_datagram(&self, buf: &mut [u8]) -> Result<(IpAddr, usize), Error> {
        self.until(true, |t| t.recv_datagram(buf).transpose()).await
    }

    /// Pings `peer` and waits for the round-trip time, or gives
    /// [`Error::Timeout`] after `timeout`. Concurrent pings take turns.
    pub async fn ping(&self, peer: IpAddr, timeout: Duration) -> Result<Duration, Error> {
        self.with_timeout(timeout, async {
            let _turn = self.ping_turn().await;
            let clock = &self.state.clock;
            self.until(true, |t| match t.ping(peer, clock.now()) {
                Err(Error::WouldBlock) => None,
                sent => Some(sent),
            })
            .await?;
            Ok(self
                .until(false, |t| t.take_rtt().map(|(_, rtt)| rtt))
                .await)
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
        self.until(false, |_| (!pinging.replace(true)).then_some(()))
            .await;
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
