//! Sleeping between polls: the CPU waits in `wfi` until the next deadline
//! (the CLINT's timer), input on the UART (through the PLIC), or whatever
//! else the caller's deadline covers, such as the link model's next
//! landing.
//!
//! No interrupt handler runs. Interrupts stay off globally (`mstatus.MIE`
//! clear); only their sources are enabled in `mie`, which is enough for
//! `wfi` to return when one is pending. The loop then polls, which does
//! whatever the interrupt was for.
//!
//! [`IdleCounters`] says how the CPU spent its time. Under QEMU with
//! `-icount shift=0`, `minstret` counts instructions and, while the CPU
//! sleeps, the nanoseconds slept, so the instructions run are the counter
//! less the time spent in `wfi`.

use core::ptr::{addr_of_mut, write_volatile};

use tidenet_core::time::{Duration, Instant};

use crate::clint::Clint;
use crate::uart::Uart16550;

/// QEMU virt's PLIC.
pub const PLIC_BASE: usize = 0x0c00_0000;
/// The UART's interrupt line on QEMU virt.
pub const UART_IRQ: u32 = 10;
/// Per-source priorities: 4 bytes a source.
const PLIC_PRIORITY: usize = 0;
/// Enable bits of context 0, hart 0's machine mode.
const PLIC_ENABLE: usize = 0x2000;
/// Context 0's threshold, then its claim/complete register.
const PLIC_THRESHOLD: usize = 0x20_0000;
const PLIC_CLAIM: usize = 0x20_0004;
/// The longest one sleep lasts, whatever the deadline: a link's heartbeat
/// period. A backstop: should a wake-up the link layer needs ever be
/// missing from `poll_at` and the model's landings, the harm is one
/// heartbeat's delay, not a link gone down as `peer-silent`. It costs at
/// most a thousand wake-ups a second, which the heartbeats cause anyway.
const MAX_SLEEP: Duration = Duration::from_millis(1);

/// How the CPU spent its time, for the host to read through QEMU's
/// monitor; the banner gives its address. Written at every sleep.
#[repr(C)]
pub struct IdleCounters {
    /// Instructions run outside `wfi` up to the last sleep.
    pub busy: u64,
    /// `minstret` at the last sleep: with `-icount shift=0`, nanoseconds
    /// of virtual time since reset.
    pub at: u64,
    /// Sleeps taken.
    pub sleeps: u64,
    /// Turns of the main loop.
    pub loops: u64,
}

static mut IDLE: IdleCounters = IdleCounters {
    busy: 0,
    at: 0,
    sleeps: 0,
    loops: 0,
};

/// The main loop's way to wait.
pub struct Sleep {
    clint: Clint,
    /// `minstret` when the CPU last woke.
    woke: u64,
}

impl Sleep {
    /// Makes UART input and the CLINT's timer wake `wfi`.
    ///
    /// # Safety
    ///
    /// Call once, on hart 0, with `clint` the machine's CLINT and `uart`
    /// its UART at [`UART_IRQ`] on the PLIC at [`PLIC_BASE`].
    pub unsafe fn new(clint: Clint, uart: &mut Uart16550) -> Self {
        let word = |offset: usize| (PLIC_BASE + offset) as *mut u32;
        // SAFETY: the caller's contract: the PLIC's registers.
        unsafe {
            write_volatile(word(PLIC_PRIORITY + 4 * UART_IRQ as usize), 1);
            write_volatile(word(PLIC_ENABLE), 1 << UART_IRQ);
            write_volatile(word(PLIC_THRESHOLD), 0);
        }
        uart.raise_on_input();
        let mut clint = clint;
        clint.wake_at(u64::MAX);
        // SAFETY: enabling sources in `mie` with `mstatus.MIE` clear runs
        // no handler; it only lets them end `wfi`.
        unsafe {
            riscv::register::mie::set_mtimer();
            riscv::register::mie::set_mext();
        }
        Sleep {
            clint,
            woke: instret(),
        }
    }

    /// Where [`IdleCounters`] are, for the banner.
    pub fn counters(&self) -> usize {
        addr_of_mut!(IDLE) as usize
    }

    /// One turn of the main loop, which did nothing that asks for another
    /// at once: sleeps until `deadline` (at most [`MAX_SLEEP`]) or until
    /// input waits on `uart`, whichever is first. Returns at once if either
    /// has already come.
    pub fn until(&mut self, deadline: Option<Instant>, uart: &Uart16550) {
        let now = self.clint.now_instant();
        let deadline = deadline.map_or(now + MAX_SLEEP, |d| d.min(now + MAX_SLEEP));
        let wake = self.clint.ticks_at(deadline);
        // Input that raised the line since the last sleep is served by the
        // poll that follows; take it off the PLIC so it does not end the
        // next sleep at once.
        complete_pending();
        if uart.has_byte() || self.clint.ticks() >= wake {
            return;
        }
        self.clint.wake_at(wake);
        let before = instret();
        riscv::asm::wfi();
        let after = instret();
        self.clint.wake_at(u64::MAX);
        // SAFETY: one hart, and `Sleep` is made once: nothing else writes
        // these; the host only reads them.
        unsafe {
            let idle = &mut *addr_of_mut!(IDLE);
            write_volatile(&mut idle.busy, idle.busy + before.saturating_sub(self.woke));
            write_volatile(&mut idle.at, before);
            write_volatile(&mut idle.sleeps, idle.sleeps + 1);
        }
        self.woke = after;
    }

    /// Counts a turn of the main loop.
    pub fn turn(&mut self) {
        // SAFETY: as in `until`.
        unsafe {
            let idle = &mut *addr_of_mut!(IDLE);
            write_volatile(&mut idle.loops, idle.loops + 1);
        }
    }
}

/// Claims and completes whatever the PLIC has pending for hart 0.
fn complete_pending() {
    let claim = (PLIC_BASE + PLIC_CLAIM) as *mut u32;
    // SAFETY: `Sleep::new`'s contract: the PLIC's claim register.
    unsafe {
        let source = core::ptr::read_volatile(claim);
        if source != 0 {
            write_volatile(claim, source);
        }
    }
}

/// The full 64-bit `minstret`.
fn instret() -> u64 {
    loop {
        let hi = riscv::register::minstreth::read();
        let lo = riscv::register::minstret::read();
        if hi == riscv::register::minstreth::read() {
            return (hi as u64) << 32 | lo as u64;
        }
    }
}
