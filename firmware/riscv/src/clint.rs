//! The CLINT's `mtime`: a free-running 64-bit counter, the node's clock.

use core::ptr;

use tidenet_core::time::Instant;
use tidenet_node::Clock;

/// `mtime`'s offset in the CLINT.
const MTIME: usize = 0xbff8;

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
    /// effects, so any number of these may exist.
    pub const unsafe fn new(base: usize, tick_ns: u64) -> Self {
        Clint { base, tick_ns }
    }

    /// The counter. A 32-bit CPU reads it in two halves; if the high half
    /// moved between them, the low half wrapped, so read again.
    fn ticks(&self) -> u64 {
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
        Instant::from_nanos(self.ticks().saturating_mul(self.tick_ns))
    }
}
