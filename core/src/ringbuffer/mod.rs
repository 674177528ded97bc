//! The bittide ringbuffer: hardware traits, alignment, and the aligned link.
//!
//! A ringbuffer link pairs this node's transmit memory with the peer's receive
//! memory. Hardware streams the transmit memory word by word, over and over,
//! and writes arriving words into the receive memory at a free-running
//! counter. The two counters start at unrelated offsets; [`Aligner`] runs
//! bittide's alignment protocol so that transmit index `i` lands at receive
//! index `i`. Framing that copes with what an aligned link still does (tear,
//! lose and repeat words) is the link layer's, in `tidenet-ringbuffer`.
//!
//! The traits are shaped like bittide's HAL, with the depth as a value rather
//! than a constant so that one build can drive links of different depths.

/// A link cycle: bittide links run at 125 MHz, one 64-bit word per cycle.
pub const CYCLE_NS: u64 = 8;

mod align;

pub use align::{Aligner, ACKNOWLEDGE, ANNOUNCE, RESTART_AFTER};

/// The transmit half of a ringbuffer: memory the hardware streams out.
pub trait TransmitRingbuffer {
    /// Depth in 64-bit words.
    fn data_len(&self) -> usize;

    /// Writes `src` to the memory starting at word `offset`.
    ///
    /// Callers keep `offset + src.len() <= data_len()`; implementations may
    /// panic otherwise, as a bus error would trap.
    fn write_slice(&mut self, src: &[u64], offset: usize);

    /// Starts or stops streaming. A disabled transmitter sends zeros; its
    /// counter keeps running either way.
    fn set_enabled(&mut self, enabled: bool);

    /// How many words the CPU may move now before it should let other work
    /// run: a hint for the link layer, which splits longer transfers across
    /// polls and moves nothing while it is 0. Hardware has no such limit,
    /// hence the default; the hardware model uses it to keep the CPUs it
    /// simulates in step.
    fn burst_budget(&self) -> usize {
        usize::MAX
    }
}

/// The receive half of a ringbuffer: memory the hardware fills.
pub trait ReceiveRingbuffer {
    /// Depth in 64-bit words.
    fn data_len(&self) -> usize;

    /// Reads the memory starting at word `offset` into `dst`.
    ///
    /// Callers keep `offset + dst.len() <= data_len()`; implementations may
    /// panic otherwise, as a bus error would trap.
    fn read_slice(&mut self, dst: &mut [u64], offset: usize);

    /// Starts or stops storing arriving words. The counter keeps running.
    fn set_enabled(&mut self, enabled: bool);

    /// Makes the write counter restart at 0 the next time it reaches `count`.
    fn set_clear_at_count(&mut self, count: usize);

    /// As [`TransmitRingbuffer::burst_budget`], for reads.
    fn burst_budget(&self) -> usize {
        usize::MAX
    }

    /// The link's UGN capture, on boards that have it (bittide's
    /// `CaptureUgn`): the two free-running counters latched by the first
    /// word to arrive after receiving was enabled, this node's when it
    /// arrived and the peer's when it left (the word carries it). Their
    /// difference is the UGN. `None` before the first capture, or without
    /// the hardware.
    fn ugn_capture(&self) -> Option<UgnCapture> {
        None
    }
}

/// What a link's UGN capture latched: see
/// [`ReceiveRingbuffer::ugn_capture`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UgnCapture {
    /// This node's counter when the word arrived.
    pub local: u64,
    /// The peer's counter when the word left, as the word carried it.
    pub remote: u64,
}

impl UgnCapture {
    /// The UGN in link cycles: the latency plus the difference of the two
    /// counters' offsets. Negative when the peer's counter is far enough
    /// ahead of ours.
    pub fn ugn(self) -> i64 {
        self.local.wrapping_sub(self.remote) as i64
    }
}
