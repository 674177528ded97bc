//! The link model's clock as async code sees it: a [`Clock`] and a
//! [`LinkSignal`] per node, both in virtual time.
//!
//! Time moves two ways. Each CPU access to a link costs its bus cycles, as in
//! the poll loop; and when every task waits, the executor has time jump
//! to the earliest thing a task waits for: a timer, or a write burst landing
//! in a waiting node's receive memory ([`Link::next_landing`]). Several links
//! keep one time, as the nodes of one system do: each is brought up to the
//! latest after every task runs.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tidenet_core::asynch::{Clock, LinkSignal};
use tidenet_core::ringbuffer::CYCLE_NS;
use tidenet_core::time::{earliest, Instant};
use tidenet_ringbuffer::model::{Link, Side};

/// What virtual time needs of a modelled link; erases the link's memory
/// lifetime so that links of several lifetimes share one clock.
trait ModelLink {
    fn cycles(&self) -> u64;
    fn advance_to(&self, cycles: u64);
    fn next_landing(&self, side: Side) -> Option<u64>;
    fn take_landed(&self, side: Side) -> bool;
    fn horizon(&self) -> Option<u64>;
}

impl ModelLink for RefCell<Link<'_>> {
    fn cycles(&self) -> u64 {
        self.borrow().cycles()
    }

    fn advance_to(&self, cycles: u64) {
        self.borrow_mut().advance_to(cycles);
    }

    fn next_landing(&self, side: Side) -> Option<u64> {
        self.borrow().next_landing(side)
    }

    fn take_landed(&self, side: Side) -> bool {
        self.borrow_mut().take_landed(side)
    }

    fn horizon(&self) -> Option<u64> {
        self.borrow().horizon()
    }
}

/// One clock for a set of modelled links, and what tasks wait for on it.
pub struct VirtualTime<'l> {
    links: Vec<&'l dyn ModelLink>,
    /// Sleeping tasks by deadline, then by registration.
    timers: RefCell<BTreeMap<(Instant, u64), Waker>>,
    /// Tasks waiting for a landing: (link, side) by registration.
    signals: RefCell<BTreeMap<u64, (usize, Side, Waker)>>,
    next_key: Cell<u64>,
}

impl<'l> VirtualTime<'l> {
    /// One clock for `links`; a [`signal`](VirtualTime::signal) names a
    /// link by its index here.
    pub fn new<'m: 'l>(links: Vec<&'l RefCell<Link<'m>>>) -> Self {
        VirtualTime {
            links: links.into_iter().map(|l| l as &dyn ModelLink).collect(),
            timers: RefCell::default(),
            signals: RefCell::default(),
            next_key: Cell::new(0),
        }
    }

    /// The time now: the latest of the links' clocks.
    pub fn now(&self) -> Instant {
        instant(self.cycles())
    }

    fn cycles(&self) -> u64 {
        self.links.iter().map(|l| l.cycles()).max().unwrap_or(0)
    }

    /// A clock on this time, for [`tidenet_core::asynch::State`].
    pub fn clock(&self) -> SimClock<'_, 'l> {
        SimClock { time: self }
    }

    /// The link interrupt of `side`'s end of link number `link`.
    pub fn signal(&self, link: usize, side: Side) -> SimSignal<'_, 'l> {
        SimSignal {
            time: self,
            link,
            side,
        }
    }

    /// Brings every link up to the latest one's time.
    pub(crate) fn sync(&self) {
        let now = self.cycles();
        for link in &self.links {
            link.advance_to(now);
        }
    }

    /// Lets time pass to the earliest timer or awaited landing, at most to
    /// `limit`, and wakes whoever waited for it. Returns false if nobody
    /// waits for anything.
    pub(crate) fn advance(&self, limit: Instant) -> bool {
        let timer = self.timers.borrow().keys().next().map(|&(at, _)| at);
        // A waited-for link's horizon too: past it a landing may appear that
        // is not known yet.
        let landing = self
            .signals
            .borrow()
            .values()
            .filter_map(|&(link, side, _)| {
                let link = self.links[link];
                earliest(
                    link.next_landing(side).map(instant),
                    link.horizon().map(instant),
                )
            })
            .min();
        let Some(next) = earliest(timer, landing) else {
            return false;
        };
        let to = next.min(limit).as_nanos().div_ceil(CYCLE_NS);
        for link in &self.links {
            link.advance_to(to);
        }
        let now = self.now();
        let due: Vec<_> = self
            .timers
            .borrow()
            .range(..=(now, u64::MAX))
            .map(|(&k, _)| k)
            .collect();
        for key in due {
            // Out of the map before waking, so the task finds it unborrowed.
            let waker = self.timers.borrow_mut().remove(&key);
            if let Some(waker) = waker {
                waker.wake();
            }
        }
        let landed: Vec<u64> = self
            .signals
            .borrow()
            .iter()
            .filter(|(_, &(link, side, _))| {
                self.links[link]
                    .next_landing(side)
                    .is_some_and(|at| at <= self.cycles())
            })
            .map(|(&key, _)| key)
            .collect();
        for key in landed {
            let waiting = self.signals.borrow_mut().remove(&key);
            if let Some((_, _, waker)) = waiting {
                waker.wake();
            }
        }
        true
    }

    fn key(&self) -> u64 {
        let key = self.next_key.get();
        self.next_key.set(key + 1);
        key
    }
}

/// Link cycles as an instant.
fn instant(cycles: u64) -> Instant {
    Instant::from_nanos(cycles * CYCLE_NS)
}

/// A [`Clock`] on [`VirtualTime`].
#[derive(Clone, Copy)]
pub struct SimClock<'t, 'l> {
    time: &'t VirtualTime<'l>,
}

impl Clock for SimClock<'_, '_> {
    fn now(&self) -> Instant {
        self.time.now()
    }

    async fn at(&self, deadline: Instant) {
        Sleep {
            time: self.time,
            key: (deadline, self.time.key()),
        }
        .await
    }
}

/// A pending [`SimClock::at`]; forgets its timer when dropped, so a
/// deadline the net task moved on from wakes nobody.
struct Sleep<'t, 'l> {
    time: &'t VirtualTime<'l>,
    key: (Instant, u64),
}

impl Future for Sleep<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.time.now() >= self.key.0 {
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        self.time.timers.borrow_mut().insert(self.key, waker);
        Poll::Pending
    }
}

impl Drop for Sleep<'_, '_> {
    fn drop(&mut self) {
        self.time.timers.borrow_mut().remove(&self.key);
    }
}

/// A [`LinkSignal`] on the model: completes when a write burst of the peer
/// has landed in this end's receive memory.
#[derive(Clone, Copy)]
pub struct SimSignal<'t, 'l> {
    time: &'t VirtualTime<'l>,
    link: usize,
    side: Side,
}

impl LinkSignal for SimSignal<'_, '_> {
    async fn wait(&mut self) {
        Landing {
            signal: self,
            key: None,
        }
        .await
    }
}

/// A pending [`SimSignal::wait`]; forgets its registration when dropped.
struct Landing<'s, 't, 'l> {
    signal: &'s SimSignal<'t, 'l>,
    key: Option<u64>,
}

impl Future for Landing<'_, '_, '_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let SimSignal { time, link, side } = *self.signal;
        if time.links[link].take_landed(side) {
            return Poll::Ready(());
        }
        let key = *self.key.get_or_insert_with(|| time.key());
        let waker = cx.waker().clone();
        time.signals.borrow_mut().insert(key, (link, side, waker));
        Poll::Pending
    }
}

impl Drop for Landing<'_, '_, '_> {
    fn drop(&mut self) {
        if let Some(key) = self.key {
            self.signal.time.signals.borrow_mut().remove(&key);
        }
    }
}
