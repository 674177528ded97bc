//! The CLINT's `mtime`: a free-running 64-bit counter, the node's clock.

use core::ptr;

use tidenet_core::time::Instant;
use tidenet_node::Clock;

/// `mtime`'s offset in the CLINT.
const MTIME: usize = 0xbff8;
/// Hart 0's `mtimecmp`: its timer interrupt is pending while `mtime` is at
/// or past it.
const MTIMECMP: usize = 0x4000;

/// The CLINT's timer, counting at a fixed rate from reset.
pub struct Clint {
    base: usize,
    /// Nanoseconds per count (100 on QEMU virt, which counts at 10 MHz).
    tick_ns: u64,
}

impl Clint {
    /// The CLINT at `base`, counting once every `tick_ns` nanoseconds.
    ///
    /// # Safety
    ///
    /// `base` must be a CLINT's register block. Reading `mtime` has no side
    /// effects, so any number of these may exist; only one may call
    /// [`Clint::wake_at`].
    pub const unsafe fn new(base: usize, tick_ns: u64) -> Self {
        Clint { base, tick_ns }
    }

    /// The time now.
    pub fn now_instant(&self) -> Instant {
        Instant::from_nanos(self.ticks().saturating_mul(self.tick_ns))
    }

    /// The count `mtime` reaches at `at`, rounded up, so that a timer set
    /// to it fires no earlier.
    pub fn ticks_at(&self, at: Instant) -> u64 {
        at.as_nanos().div_ceil(self.tick_ns)
    }

    /// Sets hart 0's timer to fire at count `ticks`; `u64::MAX` never.
    /// The high half goes to all ones first, so that no half-written
    /// compare value fires early.
    pub fn wake_at(&mut self, ticks: u64) {
        let lo = (self.base + MTIMECMP) as *mut u32;
        let hi = (self.base + MTIMECMP + 4) as *mut u32;
        // SAFETY: `new`'s contract: these are `mtimecmp`'s two halves.
        unsafe {
            ptr::write_volatile(hi, u32::MAX);
            ptr::write_volatile(lo, ticks as u32);
            ptr::write_volatile(hi, (ticks >> 32) as u32);
        }
    }

    /// The counter. A 32-bit CPU reads it in two halves; if the high half
    /// moved between them, the low half wrapped, so read again.
    pub fn ticks(&self) -> u64 {
        let lo = (self.base + MTIME) as *const u32;
        let hi = (self.base + MTIME + 4) as *const u32;
        loop {
            // SAFETY: `new`'s contract: these are `mtime`'s two halves.
            let (h, l, h2) = unsafe {
                (
                    ptr::read_volatile(hi),
                    ptr::read_volatile(lo),
                    ptr::read_volatile(hi),
                )
            };
            if h == h2 {
                return u64::from(h) << 32 | u64::from(l);
            }
        }
    }
}

impl Clock for Clint {
    fn now(&mut self) -> Instant {
        self.now_instant()
    }
}
