//! bittide's ringbuffers as a board has them: memory-mapped registers.
//!
//! Each ringbuffer is a data memory of 64-bit words, which the 32-bit CPU
//! accesses in two halves (low, then high), and an enable register; the
//! receive side also has the clear-at-count register alignment sets, and
//! the link's UGN capture (bittide's `CaptureUgn`) two 64-bit counters and
//! a flag. Where each sits is the board's memory map, which bittide's
//! generated HAL gives; a board crate passes the addresses in.

use core::ptr::{read_volatile, write_volatile};

use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer, UgnCapture};

/// A transmit ringbuffer at fixed addresses.
pub struct MmioTx {
    data: *mut u32,
    depth: usize,
    enable: *mut u32,
}

impl MmioTx {
    /// The ringbuffer whose `depth` words start at `data`, with its enable
    /// register at `enable`.
    ///
    /// # Safety
    ///
    /// The addresses are the board's ringbuffer registers, and nothing
    /// else accesses them.
    pub const unsafe fn new(data: usize, depth: usize, enable: usize) -> Self {
        MmioTx {
            data: data as *mut u32,
            depth,
            enable: enable as *mut u32,
        }
    }
}

impl TransmitRingbuffer for MmioTx {
    fn data_len(&self) -> usize {
        self.depth
    }

    fn write_slice(&mut self, src: &[u64], offset: usize) {
        // Never past the memory, whatever a caller asks.
        let words = src.len().min(self.depth.saturating_sub(offset));
        for (i, &word) in src[..words].iter().enumerate() {
            // SAFETY: within the ringbuffer's memory (see `new`).
            unsafe {
                let at = self.data.add(2 * (offset + i));
                write_volatile(at, word as u32);
                write_volatile(at.add(1), (word >> 32) as u32);
            }
        }
    }

    fn set_enabled(&mut self, enabled: bool) {
        // SAFETY: the enable register (see `new`).
        unsafe { write_volatile(self.enable, u32::from(enabled)) }
    }
}

/// Where a receive ringbuffer's registers are.
#[derive(Clone, Copy, Debug)]
pub struct RxMap {
    /// The first of the data memory's words.
    pub data: usize,
    /// Words in the memory.
    pub depth: usize,
    /// The enable register.
    pub enable: usize,
    /// The clear-at-count register.
    pub clear_at_count: usize,
    /// The UGN capture: this node's counter (two words, low first), the
    /// peer's, and the flag that says they hold a capture. `None` on a
    /// board without it.
    pub capture: Option<usize>,
}

/// A receive ringbuffer at fixed addresses.
pub struct MmioRx {
    map: RxMap,
}

impl MmioRx {
    /// The ringbuffer whose registers `map` places.
    ///
    /// # Safety
    ///
    /// The addresses are the board's ringbuffer registers, and nothing
    /// else accesses them.
    pub const unsafe fn new(map: RxMap) -> Self {
        MmioRx { map }
    }

    /// Reads the 64-bit register at `at`, low half first.
    ///
    /// # Safety
    ///
    /// `at` is one of this ringbuffer's registers.
    unsafe fn read64(at: usize) -> u64 {
        let at = at as *const u32;
        let low = read_volatile(at);
        let high = read_volatile(at.add(1));
        u64::from(low) | u64::from(high) << 32
    }
}

impl ReceiveRingbuffer for MmioRx {
    fn data_len(&self) -> usize {
        self.map.depth
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        let words = dst.len().min(self.map.depth.saturating_sub(offset));
        for (i, word) in dst[..words].iter_mut().enumerate() {
            // SAFETY: within the ringbuffer's memory (see `new`).
            *word = unsafe { Self::read64(self.map.data + 8 * (offset + i)) };
        }
    }

    fn set_enabled(&mut self, enabled: bool) {
        // SAFETY: the enable register (see `new`).
        unsafe { write_volatile(self.map.enable as *mut u32, u32::from(enabled)) }
    }

    fn set_clear_at_count(&mut self, count: usize) {
        // SAFETY: the clear-at-count register (see `new`).
        unsafe { write_volatile(self.map.clear_at_count as *mut u32, count as u32) }
    }

    fn ugn_capture(&self) -> Option<UgnCapture> {
        let at = self.map.capture?;
        // SAFETY: the capture registers (see `new`): local, remote, flag.
        unsafe {
            let captured = read_volatile((at + 16) as *const u32) != 0;
            captured.then(|| UgnCapture {
                local: Self::read64(at),
                remote: Self::read64(at + 8),
            })
        }
    }
}
