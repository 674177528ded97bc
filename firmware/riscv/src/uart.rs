//! The 16550 UART: QEMU virt's serial port, and a common one on FPGA boards.
//!
//! Polled, no interrupts: the main loop asks [`ReadReady`] before it reads,
//! and a write waits for room in the transmitter, as a UART on a slow line
//! makes any writer wait.

use core::convert::Infallible;
use core::ptr;

use embedded_io::{ErrorType, Read, ReadReady, Write};

/// Receive buffer (read) and transmit holding register (write).
const RBR_THR: usize = 0;
/// Interrupt enable.
const IER: usize = 1;
/// FIFO control.
const FCR: usize = 2;
/// IER: interrupt while a received byte waits.
const IER_DATA_READY: u8 = 1 << 0;
/// Line control.
const LCR: usize = 3;
/// Line status.
const LSR: usize = 5;

/// LSR: a received byte is waiting.
const LSR_DATA_READY: u8 = 1 << 0;
/// LSR: the transmitter can take a byte.
const LSR_THR_EMPTY: u8 = 1 << 5;

/// A 16550 at a fixed address, with byte-wide registers one byte apart.
pub struct Uart16550 {
    base: usize,
}

impl Uart16550 {
    /// The UART whose registers start at `base`.
    ///
    /// # Safety
    ///
    /// `base` must be a 16550's register block, mapped and not in use by
    /// anything that expects its state to stay put. (The panic handler makes
    /// a second one to print its last words; nothing runs after it.)
    pub const unsafe fn new(base: usize) -> Self {
        Uart16550 { base }
    }

    /// 8 data bits, no parity, one stop bit; FIFOs on and emptied;
    /// interrupts off. The baud rate is the board's: QEMU ignores it, and
    /// bittide's UART is fixed at 921600.
    pub fn init(&mut self) {
        self.set(IER, 0);
        self.set(LCR, 0x03);
        self.set(FCR, 0x07);
    }

    fn get(&self, reg: usize) -> u8 {
        // SAFETY: `new`'s contract: `base + reg` is a register of this UART.
        unsafe { ptr::read_volatile((self.base + reg) as *const u8) }
    }

    fn set(&mut self, reg: usize, value: u8) {
        // SAFETY: as in `get`.
        unsafe { ptr::write_volatile((self.base + reg) as *mut u8, value) }
    }

    /// Whether a received byte waits to be read.
    pub fn has_byte(&self) -> bool {
        self.get(LSR) & LSR_DATA_READY != 0
    }

    /// Raises the UART's interrupt line while a received byte waits, so
    /// that a sleeping CPU wakes for input (see [`crate::sleep`]). No
    /// handler runs: the CPU only leaves `wfi`.
    pub fn raise_on_input(&mut self) {
        self.set(IER, IER_DATA_READY);
    }
}

impl ErrorType for Uart16550 {
    type Error = Infallible;
}

impl ReadReady for Uart16550 {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(self.has_byte())
    }
}

impl Read for Uart16550 {
    /// Waits for the first byte, then takes what else the FIFO holds.
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut n = 0;
        for slot in buf.iter_mut() {
            if n > 0 && !self.has_byte() {
                break;
            }
            while !self.has_byte() {}
            *slot = self.get(RBR_THR);
            n += 1;
        }
        Ok(n)
    }
}

impl Write for Uart16550 {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        for &byte in buf {
            while self.get(LSR) & LSR_THR_EMPTY == 0 {}
            self.set(RBR_THR, byte);
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
