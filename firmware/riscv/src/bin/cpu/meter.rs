//! Counting the stack's instructions with `minstret`.
//!
//! Under QEMU with `-icount shift=0`, `minstret` reads the instruction
//! count exactly (each instruction is one virtual nanosecond, and QEMU ends
//! a translation block at every CSR read), so the difference of two reads
//! is the instructions retired between them. [`calibrate`] checks that
//! against a loop of known length before anything is trusted.
//!
//! A [`Meter`] adds up the instructions of the regions it is asked to
//! count: the stack's calls. Work inside them that is not the stack's (the
//! link model behind the ringbuffer traits, the benchmark's own filling
//! and checking of data) runs in a nested, excluded region and is taken
//! off, along with what the nesting itself costs, which is measured too.

use core::cell::Cell;

use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer, UgnCapture};

/// The low half of `minstret`: regions are far shorter than 2^32
/// instructions, so wrapping differences are exact.
#[inline(always)]
fn instret() -> u32 {
    riscv::register::minstret::read() as u32
}

/// Runs `iterations` turns of a two-instruction loop.
#[inline(always)]
fn known_loop(iterations: u32) {
    // SAFETY: only counts a register down.
    unsafe {
        core::arch::asm!(
            "1:",
            "addi {n}, {n}, -1",
            "bnez {n}, 1b",
            n = inout(reg) iterations => _,
            options(nomem, nostack),
        );
    }
}

/// What the counter was checked against.
pub struct Calibration {
    /// Instructions counted around a loop of `iterations` turns of two.
    pub short: u32,
    /// The same for twice as many turns.
    pub long: u32,
    /// Turns of the shorter loop.
    pub iterations: u32,
    /// Instructions counted around nothing: taken off every region.
    pub empty: u32,
}

impl Calibration {
    /// Whether the counter counts exactly: doubling the loop adds exactly
    /// its two instructions a turn.
    pub fn exact(&self) -> bool {
        self.long.wrapping_sub(self.short) == 2 * self.iterations
    }
}

/// Counts a loop of known length, twice, and an empty region.
pub fn calibrate(iterations: u32) -> Calibration {
    let start = instret();
    let end = instret();
    let empty = end.wrapping_sub(start);
    let start = instret();
    known_loop(iterations);
    let short = instret().wrapping_sub(start);
    let start = instret();
    known_loop(2 * iterations);
    let long = instret().wrapping_sub(start);
    Calibration {
        short,
        long,
        iterations,
        empty,
    }
}

/// What a nested region is excluded as.
#[derive(Clone, Copy)]
pub enum Excluded {
    /// The link model: the FPGA's work, done in software here.
    Model = 0,
    /// The benchmark's own work: making and checking the data.
    Bench = 1,
}

/// Instructions counted so far.
#[derive(Default)]
pub struct Meter {
    /// Instructions inside counted regions, less the empty region's.
    gross: Cell<u64>,
    /// Instructions inside excluded regions, by [`Excluded`].
    excluded: [Cell<u64>; 2],
    /// Excluded regions entered.
    nested: Cell<u64>,
    /// Instructions an empty region counts.
    empty: u32,
    /// What entering and leaving an excluded region adds to the region
    /// around it, beyond what the excluded region counts itself.
    nesting: u64,
}

impl Meter {
    /// A meter that takes `empty` off every region.
    pub fn new(empty: u32) -> Self {
        let mut meter = Meter {
            empty,
            ..Meter::default()
        };
        // An excluded region around nothing, inside a counted one: what
        // the counted one gains beyond what the excluded one counts.
        meter.stack(|| meter.exclude(Excluded::Bench, || ()));
        meter.nesting = meter.gross.get() - meter.excluded(Excluded::Bench);
        meter.reset();
        meter
    }

    /// Starts again from zero.
    pub fn reset(&self) {
        self.gross.set(0);
        self.excluded[0].set(0);
        self.excluded[1].set(0);
        self.nested.set(0);
    }

    /// Runs `f`, a call into the stack, and counts its instructions.
    pub fn stack<R>(&self, f: impl FnOnce() -> R) -> R {
        let start = instret();
        let result = f();
        let n = instret().wrapping_sub(start).saturating_sub(self.empty);
        self.gross.set(self.gross.get() + u64::from(n));
        result
    }

    /// Runs `f`, work within a counted region that is not the stack's, and
    /// counts it as `what`.
    pub fn exclude<R>(&self, what: Excluded, f: impl FnOnce() -> R) -> R {
        let start = instret();
        let result = f();
        let n = instret().wrapping_sub(start).saturating_sub(self.empty);
        let cell = &self.excluded[what as usize];
        cell.set(cell.get() + u64::from(n));
        self.nested.set(self.nested.get() + 1);
        result
    }

    /// The stack's own instructions since the last reset: the counted
    /// regions less the excluded ones and their nesting.
    pub fn net(&self) -> u64 {
        let excluded: u64 = self.excluded.iter().map(Cell::get).sum();
        self.gross
            .get()
            .saturating_sub(excluded)
            .saturating_sub(self.nested.get() * self.nesting)
    }

    /// Instructions excluded as `what` since the last reset.
    pub fn excluded(&self, what: Excluded) -> u64 {
        self.excluded[what as usize].get()
    }
}

/// A ringbuffer half whose every access is excluded as the model's.
///
/// On a board each access is a few loads or stores to the FPGA's memory;
/// here it is the model's bookkeeping, which the board does not have.
pub struct Metered<'m, T> {
    inner: T,
    meter: &'m Meter,
}

impl<'m, T> Metered<'m, T> {
    /// `inner`, counted on `meter`.
    pub fn new(inner: T, meter: &'m Meter) -> Self {
        Metered { inner, meter }
    }
}

impl<T: TransmitRingbuffer> TransmitRingbuffer for Metered<'_, T> {
    fn data_len(&self) -> usize {
        self.meter
            .exclude(Excluded::Model, || self.inner.data_len())
    }

    fn write_slice(&mut self, src: &[u64], offset: usize) {
        let inner = &mut self.inner;
        self.meter
            .exclude(Excluded::Model, || inner.write_slice(src, offset));
    }

    fn set_enabled(&mut self, enabled: bool) {
        let inner = &mut self.inner;
        self.meter
            .exclude(Excluded::Model, || inner.set_enabled(enabled));
    }

    fn burst_budget(&self) -> usize {
        self.meter
            .exclude(Excluded::Model, || self.inner.burst_budget())
    }
}

impl<T: ReceiveRingbuffer> ReceiveRingbuffer for Metered<'_, T> {
    fn data_len(&self) -> usize {
        self.meter
            .exclude(Excluded::Model, || self.inner.data_len())
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        let inner = &mut self.inner;
        self.meter
            .exclude(Excluded::Model, || inner.read_slice(dst, offset));
    }

    fn set_enabled(&mut self, enabled: bool) {
        let inner = &mut self.inner;
        self.meter
            .exclude(Excluded::Model, || inner.set_enabled(enabled));
    }

    fn set_clear_at_count(&mut self, count: usize) {
        let inner = &mut self.inner;
        self.meter
            .exclude(Excluded::Model, || inner.set_clear_at_count(count));
    }

    fn burst_budget(&self) -> usize {
        self.meter
            .exclude(Excluded::Model, || self.inner.burst_budget())
    }

    fn ugn_capture(&self) -> Option<UgnCapture> {
        self.meter
            .exclude(Excluded::Model, || self.inner.ugn_capture())
    }
}
