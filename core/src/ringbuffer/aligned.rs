//! The link once alignment holds.

use super::{ReceiveRingbuffer, TransmitRingbuffer};

/// An aligned ringbuffer link: what this end writes at transmit index `i`
/// arrives at the peer's receive index `i`, pass after pass.
///
/// That is all the hardware promises. A word read here may come from a pass
/// before or after the peer's latest write, may be torn between two writes,
/// and is delivered again on every pass until the peer overwrites it. Framing
/// that copes with this lives in the link layer above
/// (`tidenet-ringbuffer`), not here.
#[derive(Debug)]
pub struct AlignedRingbuffer<T, R> {
    tx: T,
    rx: R,
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer> AlignedRingbuffer<T, R> {
    /// Takes over an aligned link: clears the transmit memory of alignment
    /// markers and enables both directions.
    ///
    /// Use [`super::Aligner`] to get here; constructing one on a link that is
    /// not aligned gives a link whose frames never check out.
    pub fn new(mut tx: T, mut rx: R) -> Self {
        const ZEROS: [u64; 16] = [0; 16];
        let depth = tx.data_len();
        let mut base = 0;
        while base < depth {
            let len = ZEROS.len().min(depth - base);
            tx.write_slice(&ZEROS[..len], base);
            base += len;
        }
        tx.set_enabled(true);
        rx.set_enabled(true);
        AlignedRingbuffer { tx, rx }
    }

    /// Depth in 64-bit words: the smaller of the two directions.
    pub fn depth(&self) -> usize {
        self.tx.data_len().min(self.rx.data_len())
    }

    /// Writes `src` at transmit index `offset`.
    pub fn write(&mut self, offset: usize, src: &[u64]) {
        self.tx.write_slice(src, offset);
    }

    /// Reads receive index `offset` onwards into `dst`.
    pub fn read(&mut self, offset: usize, dst: &mut [u64]) {
        self.rx.read_slice(dst, offset);
    }

    /// The two hardware halves back.
    pub fn into_parts(self) -> (T, R) {
        (self.tx, self.rx)
    }
}
