//! One direction of a modelled link: a transmit memory streaming into the
//! peer's receive memory.

use rand_xoshiro::Xoshiro256PlusPlus;

use super::{chance, Faults, Injected};

/// The hardware side of one direction, evaluated lazily: CPU accesses bring
/// it up to the current cycle before they touch a memory.
pub(super) struct Direction<'m> {
    tx: &'m mut [u64],
    rx: &'m mut [u64],
    /// Words in flight, indexed by departure cycle modulo the latency.
    pipe: &'m mut [u64],
    latency: usize,
    tx_count: usize,
    rx_count: usize,
    tx_enabled: bool,
    rx_enabled: bool,
    clear_at: Option<usize>,
    /// The hardware has run every cycle before this one.
    hw_time: u64,
    /// Arrivals before this cycle are lost to an outage.
    outage_until: u64,
    /// When the receive memory holds what was sent again after an outage,
    /// until the link takes note.
    restored: Option<u64>,
}

impl<'m> Direction<'m> {
    pub(super) fn new(
        tx: &'m mut [u64],
        rx: &'m mut [u64],
        pipe: &'m mut [u64],
        latency: usize,
        tx_count: usize,
        rx_count: usize,
    ) -> Self {
        Direction {
            tx,
            rx,
            pipe,
            latency,
            tx_count,
            rx_count,
            tx_enabled: false,
            rx_enabled: false,
            clear_at: None,
            hw_time: 0,
            outage_until: 0,
            restored: None,
        }
    }

    pub(super) fn depth(&self) -> usize {
        self.tx.len()
    }

    pub(super) fn tx_mut(&mut self) -> &mut [u64] {
        self.tx
    }

    pub(super) fn rx(&self) -> &[u64] {
        self.rx
    }

    /// The first cycle at which a read of the peer's receive memory sees a
    /// word written now at transmit `index`: when the counter next reaches
    /// it, plus the latency, plus the cycle that stores it.
    pub(super) fn landing(&self, index: usize) -> u64 {
        let depth = self.depth() as u64;
        let wait = (index as u64 + depth - self.tx_count as u64) % depth;
        self.hw_time + wait + self.latency as u64 + 1
    }

    /// When the receive memory is whole again after the latest outage, once.
    pub(super) fn take_restored(&mut self) -> Option<u64> {
        self.restored.take()
    }

    pub(super) fn set_tx_enabled(&mut self, enabled: bool) {
        self.tx_enabled = enabled;
    }

    pub(super) fn set_rx_enabled(&mut self, enabled: bool) {
        self.rx_enabled = enabled;
    }

    pub(super) fn set_clear_at_count(&mut self, count: usize) {
        // A count the counter never reaches never fires, as in hardware.
        self.clear_at = (count < self.depth()).then_some(count);
    }

    /// Runs the hardware up to (not including) cycle `to`.
    ///
    /// Only the last `depth + latency` cycles before `to` can still show in
    /// the receive memory, so a long idle gap is skipped in O(1) per pass
    /// (the passes still roll for outages) instead of stepped word by word.
    pub(super) fn advance(
        &mut self,
        to: u64,
        faults: &Faults,
        rng: &mut Xoshiro256PlusPlus,
        injected: &mut Injected,
    ) {
        let depth = self.depth() as u64;
        let keep = depth + self.latency as u64;
        while self.hw_time < to {
            let remaining = to - self.hw_time;
            if remaining > keep && self.clear_at.is_none() {
                let skip = remaining - keep;
                let first_boundary = self.hw_time + (depth - self.tx_count as u64) % depth;
                let mut boundary = first_boundary;
                while faults.burst > 0.0 && boundary < self.hw_time + skip {
                    self.roll_outage(boundary, faults, rng, injected);
                    boundary += depth;
                }
                self.tx_count = ((self.tx_count as u64 + skip) % depth) as usize;
                self.rx_count = ((self.rx_count as u64 + skip) % depth) as usize;
                self.hw_time += skip;
            } else {
                self.step(faults, rng, injected);
            }
        }
    }

    fn step(&mut self, faults: &Faults, rng: &mut Xoshiro256PlusPlus, injected: &mut Injected) {
        let depth = self.depth();
        if self.tx_count == 0 && faults.burst > 0.0 {
            self.roll_outage(self.hw_time, faults, rng, injected);
        }
        let sent = if self.tx_enabled {
            self.tx[self.tx_count]
        } else {
            0
        };
        let arrived = if self.latency == 0 {
            sent
        } else {
            let slot = (self.hw_time % self.latency as u64) as usize;
            core::mem::replace(&mut self.pipe[slot], sent)
        };
        let mut index = self.rx_count;
        if self.clear_at == Some(index) {
            index = 0;
            self.clear_at = None;
        }
        if self.rx_enabled {
            self.rx[index] = if self.hw_time < self.outage_until {
                0
            } else {
                arrived
            };
        }
        self.rx_count = (index + 1) % depth;
        self.tx_count = (self.tx_count + 1) % depth;
        self.hw_time += 1;
    }

    fn roll_outage(
        &mut self,
        at: u64,
        faults: &Faults,
        rng: &mut Xoshiro256PlusPlus,
        injected: &mut Injected,
    ) {
        if at >= self.outage_until && chance(rng, faults.burst) {
            injected.outages += 1;
            // Arrivals lag departures by the latency; the outage hits arrivals.
            let start = at + self.latency as u64;
            self.outage_until = start + u64::from(faults.burst_passes) * self.depth() as u64;
            // One pass after arrivals resume, every word has arrived again.
            self.restored = Some(self.outage_until + self.depth() as u64);
        }
    }
}
