//! bittide's ringbuffer alignment protocol, as a poll-driven state machine.

use super::{AlignedRingbuffer, ReceiveRingbuffer, TransmitRingbuffer};

/// Written to transmit word 0 to announce this end.
pub const ANNOUNCE: u64 = 0xBAD_C0FFEE;
/// Written to transmit word 0 once this end has seen the peer at index 0.
pub const ACKNOWLEDGE: u64 = 0xDEAD_ABBA;

/// How many words a scan reads per bus burst; bounds the stack it needs.
const SCAN_CHUNK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Start,
    /// Looking for the peer's marker. Once `clear_at_count(n)` is set, the
    /// stale copy at `n` may outlive the clear by up to a pass; it must not
    /// set the counter back a second time.
    Scan {
        cleared: Option<usize>,
    },
    WaitAcknowledge,
    WaitZeros,
    Aligned,
}

/// Aligns one end of a ringbuffer link; both ends run one.
///
/// Each [`poll`](Aligner::poll) does a bounded amount of bus work and returns
/// whether the link is aligned, so it fits in any main loop next to other
/// links. The steps, from bittide's design:
///
/// 1. Write [`ANNOUNCE`] to transmit word 0; enable transmit and receive.
/// 2. Scan the receive memory for [`ANNOUNCE`] or [`ACKNOWLEDGE`].
/// 3. Found at `n != 0`: set `clear_at_count(n)`, so it lands at 0 from now on.
/// 4. Found at 0: write [`ACKNOWLEDGE`].
/// 5. Wait for receive word 0 to read [`ACKNOWLEDGE`] or 0, then stop sending.
/// 6. Wait for receive word 0 to read 0, then stop receiving.
#[derive(Debug)]
pub struct Aligner<T, R> {
    tx: T,
    rx: R,
    state: State,
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer> Aligner<T, R> {
    /// Prepares to align the link made of `tx` and `rx`.
    pub fn new(tx: T, rx: R) -> Self {
        Aligner {
            tx,
            rx,
            state: State::Start,
        }
    }

    /// Whether the protocol has finished.
    pub fn is_aligned(&self) -> bool {
        self.state == State::Aligned
    }

    /// Advances the protocol by one step; returns [`is_aligned`](Self::is_aligned).
    pub fn poll(&mut self) -> bool {
        match self.state {
            State::Start => {
                self.tx.write_slice(&[ANNOUNCE], 0);
                self.tx.set_enabled(true);
                self.rx.set_enabled(true);
                self.state = State::Scan { cleared: None };
            }
            State::Scan { cleared } => match self.find_marker() {
                Some(0) => {
                    self.tx.write_slice(&[ACKNOWLEDGE], 0);
                    self.state = State::WaitAcknowledge;
                }
                Some(n) if cleared != Some(n) => {
                    self.rx.set_clear_at_count(n);
                    self.state = State::Scan { cleared: Some(n) };
                }
                _ => {}
            },
            State::WaitAcknowledge => {
                if matches!(self.read_word0(), ACKNOWLEDGE | 0) {
                    self.tx.set_enabled(false);
                    self.state = State::WaitZeros;
                }
            }
            State::WaitZeros => {
                if self.read_word0() == 0 {
                    self.rx.set_enabled(false);
                    self.state = State::Aligned;
                }
            }
            State::Aligned => {}
        }
        self.is_aligned()
    }

    /// The aligned link, or the aligner back if it has not finished.
    pub fn finish(self) -> Result<AlignedRingbuffer<T, R>, Self> {
        if self.is_aligned() {
            Ok(AlignedRingbuffer::new(self.tx, self.rx))
        } else {
            Err(self)
        }
    }

    fn read_word0(&mut self) -> u64 {
        let mut word = [0];
        self.rx.read_slice(&mut word, 0);
        word[0]
    }

    /// The lowest receive index holding a marker, if any.
    fn find_marker(&mut self) -> Option<usize> {
        let depth = self.rx.data_len();
        let mut chunk = [0u64; SCAN_CHUNK];
        let mut base = 0;
        while base < depth {
            let len = SCAN_CHUNK.min(depth - base);
            self.rx.read_slice(&mut chunk[..len], base);
            if let Some(i) = chunk[..len]
                .iter()
                .position(|&w| w == ANNOUNCE || w == ACKNOWLEDGE)
            {
                return Some(base + i);
            }
            base += len;
        }
        None
    }
}
