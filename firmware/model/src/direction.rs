//! One direction of a modelled link: a transmit memory streaming into the
//! peer's receive memory.

use core::ops::Range;

use heapless::Vec;
use rand_core::SeedableRng;
use rand_xoshiro::Xoshiro256PlusPlus;

use super::{chance, Faults, Injected, WriteFate};

/// Words a direction keeps in flight: every word departed and not yet
/// landed. The latency's worth twice over, for the reads a scheduled
/// simulation lets one CPU run ahead of another, and `write_ahead` for its
/// writes.
pub(super) const fn pipe_words(latency: usize, write_ahead: usize) -> usize {
    2 * (latency + 1) + 64 + write_ahead
}

/// A write to a receive register, which takes effect at the landing of its
/// cycle.
#[derive(Clone, Copy, Debug)]
pub(super) enum RxChange {
    /// Start or stop storing arriving words.
    Enable(bool),
    /// Restart the write counter at 0 when it next reaches this count.
    ClearAt(usize),
}

/// Receive register writes a direction holds until the landings reach them.
const RX_CHANGES: usize = 4;

/// The hardware of one direction, evaluated lazily in two stages.
///
/// A word *departs* the transmit memory at the cycle the counter reaches
/// it, into a pipe; it *lands* in the receive memory `latency` cycles later,
/// visible from the next cycle. The writer's accesses bring departures up to
/// their cycle before they change the transmit memory; the reader's bring
/// landings up to theirs before they look. So each side is simulated as far
/// as its own clock, and the two clocks may differ.
pub(super) struct Direction<'m> {
    tx: &'m mut [u64],
    rx: &'m mut [u64],
    /// Departed words, indexed by departure cycle modulo its length.
    pipe: &'m mut [u64],
    latency: u64,
    /// The transmit counter at cycle 0; it never stops or resets.
    tx_offset: u64,
    /// The receive counter at cycle `land`.
    rx_count: usize,
    tx_enabled: bool,
    rx_enabled: bool,
    clear_at: Option<usize>,
    /// Departures are known for every cycle before this.
    depart: u64,
    /// Landings are applied for every cycle before this.
    land: u64,
    /// Landing cycles that store zeros: the latest outage.
    outage: Range<u64>,
    /// The departure cycle of the next pass whose outage is not rolled yet.
    /// Outages are rolled pass by pass in order, apart from the traffic, so
    /// the same seed gives the same outages whoever runs the hardware.
    rolled: u64,
    /// When the receive memory holds what was sent again after an outage,
    /// until the link takes note.
    restored: Option<u64>,
    write_rng: Xoshiro256PlusPlus,
    outage_rng: Xoshiro256PlusPlus,
    /// The transmit index the last write burst would go on at, and its
    /// fate.
    burst: Option<(usize, WriteFate)>,
    /// Receive register writes not yet reached by the landings, with their
    /// cycles, oldest first.
    rx_changes: Vec<(u64, RxChange), RX_CHANGES>,
}

impl<'m> Direction<'m> {
    /// A direction whose counters start at `offsets` (transmit, receive);
    /// `seed` seeds its faults.
    pub(super) fn new(
        tx: &'m mut [u64],
        rx: &'m mut [u64],
        pipe: &'m mut [u64],
        latency: usize,
        offsets: (u64, u64),
        seed: u64,
    ) -> Self {
        let depth = tx.len() as u64;
        Direction {
            tx,
            rx,
            pipe,
            latency: latency as u64,
            tx_offset: offsets.0,
            rx_count: offsets.1 as usize,
            tx_enabled: false,
            rx_enabled: false,
            clear_at: None,
            depart: 0,
            land: 0,
            outage: 0..0,
            // The first pass boundary: where the transmit counter is 0.
            rolled: (depth - offsets.0 % depth) % depth,
            restored: None,
            write_rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            outage_rng: Xoshiro256PlusPlus::seed_from_u64(!seed),
            burst: None,
            rx_changes: Vec::new(),
        }
    }

    pub(super) fn depth(&self) -> usize {
        self.tx.len()
    }

    pub(super) fn latency(&self) -> u64 {
        self.latency
    }

    /// Departures are known for every cycle before this one.
    pub(super) fn departed(&self) -> u64 {
        self.depart
    }

    /// Landings are applied for every cycle before this one.
    /// How many cycles past the start of its step a writer may write: as
    /// far as its words in flight fit in the pipe beside the reads' skew.
    pub(super) fn write_ahead(&self) -> u64 {
        (self.pipe.len() as u64).saturating_sub(2 * (self.latency + 1) + 64)
    }

    pub(super) fn write_rng(&mut self) -> &mut Xoshiro256PlusPlus {
        &mut self.write_rng
    }

    /// The fate of the burst a write of `len` words at `offset` goes on
    /// with, if it does go on with the last one.
    pub(super) fn continue_burst(&mut self, offset: usize, len: usize) -> Option<WriteFate> {
        let (next, fate) = self.burst?;
        if next != offset {
            return None;
        }
        self.burst = Some((offset + len, fate));
        Some(fate)
    }

    /// A new burst begins, to go on at `next`.
    pub(super) fn start_burst(&mut self, next: usize, fate: WriteFate) {
        self.burst = Some((next, fate));
    }

    /// Changes the `mask` bits of transmit word `index` to `word`'s, for
    /// every departure from now on.
    pub(super) fn write_half(&mut self, index: usize, word: u64, mask: u64) {
        let slot = &mut self.tx[index];
        *slot = (*slot & !mask) | (word & mask);
    }

    /// Receive word `index` as the landings so far left it.
    pub(super) fn rx_word(&self, index: usize) -> u64 {
        self.rx[index]
    }

    /// The first cycle at which a read of the peer's receive memory sees
    /// transmit word `index` as it is after a write completing at cycle
    /// `written`: when the counter next reaches it, plus the latency, plus
    /// the cycle that stores it.
    pub(super) fn landing(&self, index: usize, written: u64) -> u64 {
        let depth = self.depth() as u64;
        let from = written.max(self.depart);
        let counter = (self.tx_offset + from) % depth;
        let wait = (index as u64 + depth - counter) % depth;
        from + wait + self.latency + 1
    }

    /// When the receive memory is whole again after the latest outage, once.
    pub(super) fn take_restored(&mut self) -> Option<u64> {
        self.restored.take()
    }

    pub(super) fn set_tx_enabled(&mut self, enabled: bool) {
        self.tx_enabled = enabled;
    }

    /// Notes a receive register write at cycle `at`, for the landings to
    /// apply when they reach it.
    pub(super) fn change_rx(
        &mut self,
        at: u64,
        change: RxChange,
        faults: &Faults,
        injected: &mut Injected,
    ) {
        if self.land >= at {
            self.apply(change);
        } else if let Err(pending) = self.rx_changes.push((at, change)) {
            // Full: bring the landings up to it and apply it now.
            self.land_until(pending.0, faults, injected);
            self.apply(pending.1);
        }
    }

    fn apply(&mut self, change: RxChange) {
        match change {
            RxChange::Enable(enabled) => self.rx_enabled = enabled,
            // A count the counter never reaches never fires, as in hardware.
            RxChange::ClearAt(count) => self.clear_at = (count < self.depth()).then_some(count),
        }
    }

    /// Computes every departure before cycle `to`.
    pub(super) fn depart_until(&mut self, to: u64, faults: &Faults, injected: &mut Injected) {
        let depth = self.depth() as u64;
        let pipe = self.pipe.len() as u64;
        if to > self.depart + pipe + 2 * depth {
            // A long gap: only the last pipe's worth stays in flight, so
            // land the rest now; that skips idle passes in O(1) each.
            self.land_until(to - pipe + self.latency, faults, injected);
        }
        while self.depart < to {
            let d = self.depart;
            // The pipe holds departures [land - latency, depart): make room.
            let oldest = self.land.saturating_sub(self.latency);
            if d >= oldest + pipe {
                self.land_until(d - pipe + self.latency + 1, faults, injected);
            }
            let counter = ((self.tx_offset + d) % depth) as usize;
            self.pipe[(d % pipe) as usize] = if self.tx_enabled { self.tx[counter] } else { 0 };
            self.depart += 1;
        }
    }

    /// Applies every landing before cycle `to`.
    ///
    /// Once nothing is in flight, the transmit memory cannot change until
    /// the next write (every write computes the departures before it), so
    /// only the last pass before `to` shapes the receive memory: a long
    /// gap is skipped in O(1) per pass, and the passes still roll for
    /// outages.
    pub(super) fn land_until(&mut self, to: u64, faults: &Faults, injected: &mut Injected) {
        let depth = self.depth() as u64;
        let pipe = self.pipe.len() as u64;
        while self.land < to {
            let a = self.land;
            while let Some(&(at, change)) = self.rx_changes.first() {
                if at > a {
                    break;
                }
                self.apply(change);
                self.rx_changes.remove(0);
            }
            let idle = self.depart <= a.saturating_sub(self.latency);
            let settled = self.clear_at.is_none() && self.rx_changes.is_empty();
            if idle && settled && to - a > depth + 1 {
                let skip = to - a - depth - 1;
                let departed = (a + skip).saturating_sub(self.latency);
                self.depart = self.depart.max(departed);
                self.land += skip;
                self.rx_count = ((self.rx_count as u64 + skip) % depth) as usize;
                continue;
            }
            let value = match a.checked_sub(self.latency) {
                Some(d) => {
                    if d >= self.depart {
                        self.depart_until(d + 1, faults, injected);
                    }
                    self.pipe[(d % pipe) as usize]
                }
                // Nothing departed before cycle 0.
                None => 0,
            };
            self.roll_until(a.saturating_sub(self.latency) + 1, faults, injected);
            let mut index = self.rx_count;
            if self.clear_at == Some(index) {
                index = 0;
                self.clear_at = None;
            }
            if self.rx_enabled {
                self.rx[index] = if self.outage.contains(&a) { 0 } else { value };
            }
            self.rx_count = (index + 1) % self.depth();
            self.land += 1;
        }
    }

    /// Rolls the outages of every pass departing before cycle `to`.
    pub(super) fn roll_until(&mut self, to: u64, faults: &Faults, injected: &mut Injected) {
        let depth = self.depth() as u64;
        if faults.burst == 0.0 {
            return;
        }
        while self.rolled < to {
            self.roll_outage(self.rolled, faults, injected);
            self.rolled += depth;
        }
    }

    /// Stores zeros for every arrival in `cycles`: an outage on demand.
    pub(super) fn cut(&mut self, cycles: Range<u64>) {
        self.restored = Some(cycles.end + self.depth() as u64);
        self.outage = cycles;
    }

    /// At the pass that departs at cycle `at`, perhaps starts an outage.
    fn roll_outage(&mut self, at: u64, faults: &Faults, injected: &mut Injected) {
        // Arrivals lag departures by the latency; the outage hits arrivals.
        let start = at + self.latency;
        if start >= self.outage.end && chance(&mut self.outage_rng, faults.burst) {
            injected.outages += 1;
            let depth = self.depth() as u64;
            let end = start + u64::from(faults.burst_passes) * depth;
            self.outage = start..end;
            // One pass after arrivals resume, every word has arrived again.
            self.restored = Some(end + depth);
        }
    }
}
