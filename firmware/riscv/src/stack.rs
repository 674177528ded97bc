//! Stack depth, measured rather than guessed: at boot the free stack is
//! painted with a pattern, so the lowest word no longer holding it shows how
//! deep the stack has ever gone. The QEMU harness reads the region back
//! through the monitor; on a board, a debugger can.

use core::fmt;
use core::ptr::{addr_of, write_volatile};

/// The pattern. Not zero, and not a plausible address or small integer.
pub const PAINT: u32 = 0x5afe_57ac;

/// The stack region: from `low` up to `high`, where the stack starts.
pub struct Region {
    low: usize,
    high: usize,
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:#010x}..{:#010x} ({} bytes), painted {PAINT:#010x}",
            self.low,
            self.high,
            self.high - self.low
        )
    }
}

/// Paints the stack below the caller's frame and returns the region.
#[inline(always)]
pub fn paint() -> Region {
    // riscv-rt's bounds of the stack region: __estack is its low end.
    extern "C" {
        static __estack: u8;
        static __sstack: u8;
    }
    let low = addr_of!(__estack) as usize;
    let high = addr_of!(__sstack) as usize;
    let sp: usize;
    // SAFETY: reads the stack pointer; touches nothing.
    unsafe { core::arch::asm!("mv {}, sp", out(reg) sp) };
    // Leave a margin below sp for this loop's own spills.
    let mut word = low;
    while word + 4 <= sp.saturating_sub(64) {
        // SAFETY: [low, sp - 64) is stack that nothing uses yet.
        unsafe { write_volatile(word as *mut u32, PAINT) };
        word += 4;
    }
    Region { low, high }
}
