//! The link model's clocks as async code sees them: a [`Clock`] and a
//! [`LinkSignal`] per node, each on that node's CPU.
//!
//! Every node has its own [`Cpu`], and its tasks run on it: their bus
//! accesses move its clock and no other. A [`Schedule`] decides which CPU
//! runs next (the one furthest behind), so nodes work side by side in
//! virtual time. A CPU with no ready task sleeps until its earliest timer
//! or until a write burst lands in a receive memory one of its tasks waits
//! on ([`Link::next_landing`]); nothing spins.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use tidenet_core::asynch::{Clock, LinkSignal};
use tidenet_core::ringbuffer::CYCLE_NS;
use tidenet_core::time::Instant;
use tidenet_model::{Cpu, Link, Schedule, Side};

/// What virtual time needs of a modelled link; erases the link's memory
/// lifetime so that links of several lifetimes share one time.
trait ModelLink {
    fn latency(&self) -> u64;
    fn next_landing(&self, side: Side) -> Option<u64>;
    fn take_landed(&self, side: Side, now: u64) -> bool;
    fn horizon(&self, side: Side, now: u64) -> Option<u64>;
}

impl ModelLink for RefCell<Link<'_>> {
    fn latency(&self) -> u64 {
        self.borrow().latency()
    }

    fn next_landing(&self, side: Side) -> Option<u64> {
        self.borrow().next_landing(side)
    }

    fn take_landed(&self, side: Side, now: u64) -> bool {
        self.borrow_mut().take_landed(side, now)
    }

    fn horizon(&self, side: Side, now: u64) -> Option<u64> {
        self.borrow_mut().horizon(side, now)
    }
}

/// A task's wait for a landing: the link, the side, the CPU it runs on.
struct Waiting {
    link: usize,
    side: Side,
    cpu: usize,
    waker: Waker,
}

/// The CPUs of a set of nodes, the links between them, and what their
/// tasks wait for.
pub struct VirtualTime<'t> {
    links: Vec<&'t dyn ModelLink>,
    cpus: Vec<&'t Cpu>,
    schedule: RefCell<Schedule<'t>>,
    /// Sleeping tasks by deadline, then by registration: their CPU and
    /// waker.
    timers: RefCell<BTreeMap<(Instant, u64), (usize, Waker)>>,
    /// Tasks waiting for a landing, by registration.
    signals: RefCell<BTreeMap<u64, Waiting>>,
    next_key: Cell<u64>,
    /// Per CPU, the cycle at which a timer was last found due at once.
    due_at: RefCell<Vec<Option<u64>>>,
}

impl<'t> VirtualTime<'t> {
    /// Time for nodes on `cpus` joined by `links`; a
    /// [`clock`](VirtualTime::clock) names a CPU and a
    /// [`signal`](VirtualTime::signal) a link, by their index here.
    pub fn new<'m: 't>(links: Vec<&'t RefCell<Link<'m>>>, cpus: Vec<&'t Cpu>) -> Self {
        let links: Vec<&'t dyn ModelLink> =
            links.into_iter().map(|l| l as &dyn ModelLink).collect();
        let latency = links.iter().map(|l| l.latency()).min().unwrap_or(0);
        VirtualTime {
            schedule: RefCell::new(Schedule::new(&cpus, latency)),
            due_at: RefCell::new(vec![None; cpus.len()]),
            links,
            cpus,
            timers: RefCell::default(),
            signals: RefCell::default(),
            next_key: Cell::new(0),
        }
    }

    /// The latest of the CPUs' clocks.
    pub fn now(&self) -> Instant {
        instant(self.cpus.iter().map(|c| c.cycles()).max().unwrap_or(0))
    }

    /// The clock of CPU `cpu`, for [`tidenet_core::asynch::State`].
    pub fn clock(&self, cpu: usize) -> SimClock<'_, 't> {
        SimClock { time: self, cpu }
    }

    /// The link interrupt of `side`'s end of link number `link`, for a net
    /// task on CPU `cpu`.
    pub fn signal(&self, cpu: usize, link: usize, side: Side) -> SimSignal<'_, 't> {
        SimSignal {
            time: self,
            cpu,
            link,
            side,
        }
    }

    /// Whether CPU `cpu` has run as far ahead of the others as it may in
    /// this step.
    pub(crate) fn must_yield(&self, cpu: usize) -> bool {
        self.cpus[cpu].must_yield()
    }

    /// Marks CPU `cpu` as having work now: a task on it is ready.
    pub(crate) fn has_work(&self, cpu: usize) {
        self.schedule.borrow_mut().wake(cpu);
    }

    /// Runs one step of the CPU whose turn it is: wakes its due timers and
    /// landed signals, then `run(cpu)` polls its ready tasks and says
    /// whether it has more. Returns false if no CPU will ever act again.
    pub(crate) fn step(&self, mut run: impl FnMut(usize) -> bool) -> bool {
        let landing = |cpu: usize| {
            let signals = self.signals.borrow();
            signals
                .values()
                .filter(|w| w.cpu == cpu)
                .filter_map(|w| {
                    let link = self.links[w.link];
                    let now = self.cpus[cpu].cycles();
                    // A horizon too: past it a landing may appear that is
                    // not known yet.
                    [link.next_landing(w.side), link.horizon(w.side, now)]
                        .into_iter()
                        .flatten()
                        .min()
                })
                .min()
        };
        let stepped = self.schedule.borrow_mut().step(landing, |cpu, now| {
            self.wake_due(cpu, now);
            let more = run(cpu);
            if more {
                Some(now)
            } else {
                self.next_timer(cpu)
            }
        });
        stepped.is_some()
    }

    /// Wakes CPU `cpu`'s tasks whose timer is due or whose landing came.
    fn wake_due(&self, cpu: usize, now: Instant) {
        let due: Vec<_> = self
            .timers
            .borrow()
            .range(..=(now, u64::MAX))
            .filter(|(_, (c, _))| *c == cpu)
            .map(|(&k, _)| k)
            .collect();
        for key in due {
            // Out of the map before waking, so the task finds it unborrowed.
            let entry = self.timers.borrow_mut().remove(&key);
            if let Some((_, waker)) = entry {
                waker.wake();
            }
        }
        let cycles = now.as_nanos() / CYCLE_NS;
        let landed: Vec<u64> = self
            .signals
            .borrow()
            .iter()
            .filter(|(_, w)| w.cpu == cpu)
            .filter(|(_, w)| {
                self.links[w.link]
                    .next_landing(w.side)
                    .is_some_and(|at| at <= cycles)
            })
            .map(|(&key, _)| key)
            .collect();
        for key in landed {
            let waiting = self.signals.borrow_mut().remove(&key);
            if let Some(w) = waiting {
                w.waker.wake();
            }
        }
    }

    /// CPU `cpu`'s earliest timer.
    fn next_timer(&self, cpu: usize) -> Option<Instant> {
        let timers = self.timers.borrow();
        timers
            .iter()
            .find(|(_, (c, _))| *c == cpu)
            .map(|(&(at, _), _)| at)
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

/// A [`Clock`] on one CPU of a [`VirtualTime`].
#[derive(Clone, Copy)]
pub struct SimClock<'t, 'l> {
    time: &'t VirtualTime<'l>,
    cpu: usize,
}

impl Clock for SimClock<'_, '_> {
    fn now(&self) -> Instant {
        self.time.cpus[self.cpu].instant()
    }

    async fn at(&self, deadline: Instant) {
        Sleep {
            clock: *self,
            key: (deadline, self.time.key()),
        }
        .await
    }
}

/// A pending [`SimClock::at`]; forgets its timer when dropped, so a
/// deadline the net task moved on from wakes nobody.
struct Sleep<'t, 'l> {
    clock: SimClock<'t, 'l>,
    key: (Instant, u64),
}

impl Future for Sleep<'_, '_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let time = self.clock.time;
        let cpu = time.cpus[self.clock.cpu];
        let due = self.clock.now() >= self.key.0;
        // Due again at the very cycle it was last due, the task did nothing
        // that takes time in between: a real CPU's loop would, so let the
        // others run first, as when the CPU has used its step.
        let stuck = due && time.due_at.borrow()[self.clock.cpu] == Some(cpu.cycles());
        if cpu.must_yield() || stuck {
            // Polled again when this CPU's turn comes.
            time.due_at.borrow_mut()[self.clock.cpu] = None;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        if due {
            time.due_at.borrow_mut()[self.clock.cpu] = Some(cpu.cycles());
            return Poll::Ready(());
        }
        let waker = cx.waker().clone();
        let entry = (self.clock.cpu, waker);
        self.clock.time.timers.borrow_mut().insert(self.key, entry);
        Poll::Pending
    }
}

impl Drop for Sleep<'_, '_> {
    fn drop(&mut self) {
        self.clock.time.timers.borrow_mut().remove(&self.key);
    }
}

/// A [`LinkSignal`] on the model: completes when a write burst of the peer
/// has landed in this end's receive memory, by this end's CPU's clock.
#[derive(Clone, Copy)]
pub struct SimSignal<'t, 'l> {
    time: &'t VirtualTime<'l>,
    cpu: usize,
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
        let SimSignal {
            time,
            cpu,
            link,
            side,
        } = *self.signal;
        if time.links[link].take_landed(side, time.cpus[cpu].cycles()) {
            return Poll::Ready(());
        }
        let key = *self.key.get_or_insert_with(|| time.key());
        let waiting = Waiting {
            link,
            side,
            cpu,
            waker: cx.waker().clone(),
        };
        time.signals.borrow_mut().insert(key, waiting);
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
