//! What the fuzz targets share: a byte reader over the fuzzer's input, an
//! in-memory UART, a transport with no link, and a ringbuffer pair in RAM.
//!
//! Each target in `fuzz_targets/` feeds one decoder the bytes a peer, a UART
//! or a ring could deliver, and checks what the decoder promises besides not
//! panicking: a round trip, a bound, or an answer to every request.

pub mod ring;
pub mod shell;
pub mod transport;
pub mod uart;

/// Reads the fuzzer's input as the choices a target makes, one at a time.
/// Past the end it reads zeros, so every input drives a whole run.
pub struct Input<'a> {
    bytes: &'a [u8],
}

impl<'a> Input<'a> {
    /// A reader over `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Input { bytes }
    }

    /// Whether every byte was read.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The next byte.
    pub fn u8(&mut self) -> u8 {
        let (&first, rest) = self.bytes.split_first().unwrap_or((&0, &[]));
        self.bytes = rest;
        first
    }

    /// The next two bytes, little-endian.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.u8(), self.u8()])
    }

    /// The next eight bytes, little-endian.
    pub fn u64(&mut self) -> u64 {
        let mut word = [0u8; 8];
        word.iter_mut().for_each(|b| *b = self.u8());
        u64::from_le_bytes(word)
    }

    /// The next `n` bytes, or as many as are left.
    pub fn bytes(&mut self, n: usize) -> &'a [u8] {
        let (taken, rest) = self.bytes.split_at(n.min(self.bytes.len()));
        self.bytes = rest;
        taken
    }

    /// Everything not yet read.
    pub fn rest(&mut self) -> &'a [u8] {
        self.bytes(self.bytes.len())
    }
}
