//! A node's CPU, as the model sees it: a clock and a bus.

use core::cell::Cell;

use tidenet_core::ringbuffer::CYCLE_NS;
use tidenet_core::time::Instant;

/// One node's management CPU: its own clock, in link cycles, and the cost
/// of its bus.
///
/// Every access the node makes to a ringbuffer through a [`Port`] moves
/// this clock and no other, so nodes work in parallel in virtual time.
/// Nodes emulated on one real processor, as in the firmware image, share
/// one `Cpu` and take turns on it.
///
/// [`Port`]: crate::Port
#[derive(Debug)]
pub struct Cpu {
    now: Cell<u64>,
    /// The clock when the horizon was last set: the start of a step.
    step: Cell<u64>,
    /// Cycles spent on bus accesses.
    busy: Cell<u64>,
    horizon: Cell<u64>,
    bus_cycles: u64,
    /// Where the node's free-running counter stood at cycle 0: nodes boot
    /// at different times, so their counters disagree by this much.
    counter_offset: u64,
}

impl Cpu {
    /// A CPU at cycle 0 whose bus takes `bus_cycles` link cycles per 64-bit
    /// word: two 32-bit accesses. bittide's VexRiscv takes about 8. Zero is
    /// taken as 1.
    pub const fn new(bus_cycles: u64) -> Self {
        Cpu {
            now: Cell::new(0),
            step: Cell::new(0),
            busy: Cell::new(0),
            horizon: Cell::new(u64::MAX),
            bus_cycles: if bus_cycles == 0 { 1 } else { bus_cycles },
            counter_offset: 0,
        }
    }

    /// The same CPU, its node's counter starting at `offset` at cycle 0.
    pub const fn with_counter(mut self, offset: u64) -> Self {
        self.counter_offset = offset;
        self
    }

    /// The node's free-running counter at link cycle `cycle`.
    pub fn counter_at(&self, cycle: u64) -> u64 {
        cycle.wrapping_add(self.counter_offset)
    }

    /// Link cycles one 64-bit word access costs.
    pub fn bus_cycles(&self) -> u64 {
        self.bus_cycles
    }

    /// The CPU's time, in link cycles.
    pub fn cycles(&self) -> u64 {
        self.now.get()
    }

    /// The CPU's time as an [`Instant`], for `Transport::poll`.
    pub fn instant(&self) -> Instant {
        Instant::from_nanos(self.now.get() * CYCLE_NS)
    }

    /// Cycles this CPU has spent on bus accesses: the rest of its time it
    /// computed or slept.
    pub fn busy_cycles(&self) -> u64 {
        self.busy.get()
    }

    /// Lets time pass without bus accesses, as a CPU doing other work or
    /// sleeping does. The clock never goes back.
    pub fn advance_to(&self, cycles: u64) {
        self.now.set(self.now.get().max(cycles));
    }

    /// Sets the cycle up to which this CPU may run before another must
    /// catch up; `u64::MAX` for no limit. A simulator that runs several
    /// CPUs sets it before each step (see the crate docs).
    pub fn set_horizon(&self, cycles: u64) {
        self.horizon.set(cycles);
        self.step.set(self.now.get());
    }

    /// Whether this CPU has used up its step: it may not read before the
    /// others catch up, so a simulated task that would go on should yield.
    pub fn must_yield(&self) -> bool {
        self.reads() == 0
    }

    /// Words this CPU may read before its horizon.
    pub(crate) fn reads(&self) -> usize {
        self.words_until(self.horizon.get())
    }

    /// Words this CPU may write in this step: up to `ahead` cycles past its
    /// start, however far that is past the horizon. Another CPU sees a
    /// write only when it lands, so writes need not wait for the others;
    /// they are bounded only so that the model's words in flight fit.
    pub(crate) fn writes(&self, ahead: u64) -> usize {
        if self.horizon.get() == u64::MAX {
            return usize::MAX;
        }
        self.words_until(self.step.get().saturating_add(ahead))
    }

    /// Words this CPU may access before cycle `until`. At least one at the
    /// start of a step, so that a CPU always makes progress however short
    /// the latency; none once it is past.
    fn words_until(&self, until: u64) -> usize {
        let now = self.now.get();
        let left = until.saturating_sub(now);
        let words = usize::try_from(left / self.bus_cycles).unwrap_or(usize::MAX);
        if now == self.step.get() {
            words.max(1)
        } else {
            words
        }
    }

    /// Spends one word access; returns the cycles at which its low and its
    /// high half complete.
    pub(crate) fn access(&self) -> (u64, u64) {
        let start = self.now.get();
        let end = start + self.bus_cycles;
        self.now.set(end);
        self.busy.set(self.busy.get() + self.bus_cycles);
        (start + self.bus_cycles.div_ceil(2), end)
    }

    /// Spends one register access; returns when it takes effect.
    pub(crate) fn register(&self) -> u64 {
        self.access().1
    }
}
