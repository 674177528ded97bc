//! The transport under `tidenet_core::asynch` (feature `async`): the link
//! signal its threads give, and a wall clock for a host.
//!
//! The async net task polls the transport when the link signals, when a
//! deadline comes, or when a task used the transport. On a node the signal
//! is the ringbuffer's interrupt; here it is everything that can change
//! what a task sees without a task doing it:
//! - the control and data threads queue a message or a stream, hand a pong
//!   to its ping, or learn the peer;
//! - a socket of the trait's streams and listeners gets bytes, room, a
//!   connection, a FIN or a reset. A watch thread waits on all of them
//!   with `epoll`, edge-triggered, so each arrival wakes the net task once
//!   however long nobody reads.
//!
//! Acknowledgements raise no socket event, so a task waiting for a flush is
//! served by the transport's [`poll_at`](tidenet_core::Transport::poll_at)
//! instead, only while bytes are unacknowledged.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use tidenet_core::asynch::{self, State};
//! use tidenet_thunderbolt::asynch::WallClock;
//! use tidenet_thunderbolt::Thunderbolt;
//!
//! let mut transport = Thunderbolt::builder().build()?;
//! let signal = transport.link_signal()?;
//! let mut state = State::new(transport, WallClock::new());
//! let (net, runner) = asynch::new(&mut state, signal);
//! // Run `runner.run()` and the tasks that use `net` on one executor.
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::future::{poll_fn, Future};
use std::io;
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::{self, JoinHandle};
use std::time::Instant as WallInstant;

use nix::errno::Errno;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use nix::sys::eventfd::{EfdFlags, EventFd};
use tidenet_core::asynch::{Clock, LinkSignal};
use tidenet_core::time::Instant;

use crate::activity::Activity;
use crate::thunderbolt::lock;
use crate::{Config, LogLevel, Thunderbolt, TransportError};

impl Thunderbolt {
    /// The link signal for `tidenet_core::asynch::new`: it completes
    /// whenever something may have changed for the transport's tasks.
    ///
    /// The first call starts the watch thread, which lives as long as the
    /// transport; a transport nobody awaits pays for none of it.
    pub fn link_signal(&mut self) -> Result<Signal, TransportError> {
        if self.streams.watch.is_none() {
            let watch = Watch::start(self.activity.clone(), self.config().clone())
                .map_err(TransportError::Io)?;
            for socket in self.streams.sockets() {
                watch.add(socket).map_err(TransportError::Io)?;
            }
            self.streams.watch = Some(watch);
        }
        Ok(Signal {
            activity: self.activity.clone(),
            seen: self.activity.wakes(),
        })
    }
}

/// The transport's [`LinkSignal`], from [`Thunderbolt::link_signal`].
#[derive(Debug)]
pub struct Signal {
    activity: Arc<Activity>,
    seen: u64,
}

impl LinkSignal for Signal {
    async fn wait(&mut self) {
        let Signal { activity, seen } = self;
        poll_fn(|cx| activity.poll_wake(seen, cx)).await
    }
}

/// The `epoll` data of the event that stops the watch thread.
const STOP: u64 = u64::MAX;

/// A thread that waits on every socket of the trait's streams and
/// listeners and nudges the net task when any of them has news.
#[derive(Debug)]
pub(crate) struct Watch {
    epoll: Arc<Epoll>,
    stop: EventFd,
    thread: Option<JoinHandle<()>>,
}

impl Watch {
    fn start(activity: Arc<Activity>, config: Config) -> io::Result<Watch> {
        let epoll = Arc::new(Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?);
        let stop = EventFd::from_flags(EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK)?;
        epoll.add(stop.as_fd(), EpollEvent::new(EpollFlags::EPOLLIN, STOP))?;
        let thread = {
            let epoll = epoll.clone();
            thread::Builder::new()
                .name("tidenet-tb-watch".into())
                .spawn(move || watch(&epoll, &activity, &config))?
        };
        Ok(Watch {
            epoll,
            stop,
            thread: Some(thread),
        })
    }

    /// Watches `socket` until it is closed; closing removes it by itself.
    pub fn add(&self, socket: BorrowedFd<'_>) -> io::Result<()> {
        let events = EpollFlags::EPOLLIN
            | EpollFlags::EPOLLOUT
            | EpollFlags::EPOLLRDHUP
            | EpollFlags::EPOLLET;
        self.epoll.add(socket, EpollEvent::new(events, 0))?;
        Ok(())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        // The thread may already have stopped on an error of its own.
        let _ = self.stop.write(1);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn watch(epoll: &Epoll, activity: &Activity, config: &Config) {
    let mut events = [EpollEvent::empty(); 64];
    loop {
        match epoll.wait(&mut events, EpollTimeout::NONE) {
            Ok(n) if events[..n].iter().any(|e| e.data() == STOP) => return,
            Ok(0) => {}
            Ok(_) => activity.nudge(),
            Err(Errno::EINTR) => {}
            Err(e) => {
                // Only a broken epoll fails here. The net task then runs on
                // the threads' signals and its deadlines alone.
                config.log(
                    LogLevel::Error,
                    &format!("watch: epoll_wait failed ({e}); async tasks may wait longer for stream events"),
                );
                return;
            }
        }
    }
}

/// Time for `tidenet_core::asynch` on a host: the monotonic clock since the
/// clock was made, and a timer thread (started at the first wait) that
/// wakes each task when its deadline comes. Clones share the one thread;
/// it ends when the last clone is dropped.
#[derive(Clone, Debug)]
pub struct WallClock {
    handle: Arc<Handle>,
}

/// Dropped with the last clone of a clock: stops its timer thread.
#[derive(Debug)]
struct Handle {
    timers: Arc<Timers>,
}

#[derive(Debug)]
struct Timers {
    epoch: WallInstant,
    state: Mutex<TimerState>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct TimerState {
    /// Waiting tasks by deadline; the number keeps equal deadlines apart.
    waiting: BTreeMap<(Instant, u64), Waker>,
    next: u64,
    running: bool,
    stop: bool,
}

impl Default for WallClock {
    fn default() -> Self {
        WallClock::new()
    }
}

impl WallClock {
    /// A clock whose zero is now.
    pub fn new() -> Self {
        WallClock {
            handle: Arc::new(Handle {
                timers: Arc::new(Timers {
                    epoch: WallInstant::now(),
                    state: Mutex::default(),
                    changed: Condvar::new(),
                }),
            }),
        }
    }
}

impl Timers {
    fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        lock(&self.timers.state).stop = true;
        self.timers.changed.notify_one();
    }
}

impl Clock for WallClock {
    fn now(&self) -> Instant {
        self.handle.timers.now()
    }

    async fn at(&self, deadline: Instant) {
        Sleep {
            timers: &self.handle.timers,
            deadline,
            key: None,
        }
        .await
    }
}

/// One task's wait for a deadline; dropping it forgets the wait.
struct Sleep<'a> {
    timers: &'a Arc<Timers>,
    deadline: Instant,
    key: Option<(Instant, u64)>,
}

impl Future for Sleep<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.timers.now() >= this.deadline {
            return Poll::Ready(());
        }
        let mut state = lock(&this.timers.state);
        let key = *this.key.get_or_insert_with(|| {
            state.next += 1;
            (this.deadline, state.next)
        });
        let earliest = state
            .waiting
            .keys()
            .next()
            .is_none_or(|&first| key <= first);
        state.waiting.insert(key, cx.waker().clone());
        if !state.running {
            let timers = this.timers.clone();
            match thread::Builder::new()
                .name("tidenet-tb-timer".into())
                .spawn(move || run_timers(&timers))
            {
                Ok(_) => state.running = true,
                // No thread for timers: look again at once, which spins
                // rather than sleeps past the deadline.
                Err(_) => cx.waker().wake_by_ref(),
            }
        }
        drop(state);
        if earliest {
            this.timers.changed.notify_one();
        }
        Poll::Pending
    }
}

impl Drop for Sleep<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            lock(&self.timers.state).waiting.remove(&key);
        }
    }
}

/// The timer thread: wakes each task whose deadline has come, and sleeps
/// until the next one.
fn run_timers(timers: &Timers) {
    let mut state = lock(&timers.state);
    loop {
        if state.stop {
            return;
        }
        let now = timers.now();
        let later = state.waiting.split_off(&(now, u64::MAX));
        let due = std::mem::replace(&mut state.waiting, later);
        if !due.is_empty() {
            drop(state);
            due.into_values().for_each(Waker::wake);
            state = lock(&timers.state);
            continue;
        }
        state = match state.waiting.keys().next() {
            Some(&(deadline, _)) => {
                let wait = deadline.saturating_since(now);
                timers
                    .changed
                    .wait_timeout(state, wait)
                    .map(|(state, _)| state)
                    .unwrap_or_else(|e| e.into_inner().0)
            }
            None => timers
                .changed
                .wait(state)
                .unwrap_or_else(|e| e.into_inner()),
        };
    }
}
