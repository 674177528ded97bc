//! bittide's ringbuffer alignment protocol, as a poll-driven state machine
//! that does not give up.

use super::{ReceiveRingbuffer, TransmitRingbuffer};
use crate::time::{Duration, Instant};

/// Written to transmit word 0 to announce this end.
pub const ANNOUNCE: u64 = 0xBAD_C0FFEE;
/// Written to transmit word 0 once this end has seen the peer at index 0.
pub const ACKNOWLEDGE: u64 = 0xDEAD_ABBA;

/// How long the protocol may go without a step forward before it starts
/// over. Far longer than a healthy alignment takes (a few passes and scans,
/// well under a millisecond on bittide's depths), so that only a protocol
/// that is truly stuck restarts.
pub const RESTART_AFTER: Duration = Duration::from_millis(10);

/// The least polls without a step forward before the protocol starts over,
/// however long they took: a CPU too slow to poll in [`RESTART_AFTER`] (an
/// emulated one, say) still gets the steps it needs.
const RESTART_POLLS: u32 = 64;

/// How many words one bus burst of the clear or the scan moves; bounds the
/// stack they need.
const CHUNK: usize = 16;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Writing zeros over the transmit memory from index `next`, so that
    /// nothing left from before can be taken for a marker.
    Clear {
        next: usize,
    },
    /// Looking for the peer's marker, from receive index `next`. Once
    /// `clear_at_count(n)` is set, the stale copy at `n` may outlive the
    /// clear by up to a pass; it must not set the counter back a second time.
    Scan {
        next: usize,
        cleared: Option<usize>,
    },
    WaitAcknowledge,
    WaitZeros,
    Aligned,
}

impl State {
    /// The state with its position in a memory left out: moving through
    /// the memory is not a step forward.
    fn phase(self) -> State {
        match self {
            State::Clear { .. } => State::Clear { next: 0 },
            State::Scan { cleared, .. } => State::Scan { next: 0, cleared },
            other => other,
        }
    }
}

/// Aligns one end of a ringbuffer link; both ends run one.
///
/// It holds only the protocol's state: each [`poll`](Aligner::poll) borrows
/// the hardware, does a bounded amount of bus work (at most the
/// ringbuffer's [`burst_budget`](ReceiveRingbuffer::burst_budget) of
/// clearing or scanning) and returns whether the link is aligned, so it fits
/// in any main loop next to other links. The steps, from bittide's design:
///
/// 1. Write [`ANNOUNCE`] to transmit word 0, and enable transmit and receive.
/// 2. Scan the receive memory for [`ANNOUNCE`] or [`ACKNOWLEDGE`].
/// 3. Found at `n != 0`: set `clear_at_count(n)`, so it lands at 0 from now on.
/// 4. Found at 0: write [`ACKNOWLEDGE`].
/// 5. Wait for receive word 0 to read [`ACKNOWLEDGE`] or 0, then stop sending.
/// 6. Wait for receive word 0 to read 0, then stop receiving.
///
/// On a real link a write can be lost, and the peer can start late, reboot
/// half-way, or still be streaming a session's frames. So step 1 first
/// clears the whole transmit memory; the marker of steps 1 and 4 is written
/// again on every poll until the next step, so a lost write costs one poll;
/// and if no step is taken for [`RESTART_AFTER`] and a few dozen polls (a
/// peer that left, or two ends that drifted into states that wait for each
/// other), the protocol starts over from step 1.
#[derive(Clone, Debug)]
pub struct Aligner {
    state: State,
    /// When the state last changed, and the polls since.
    since: Option<Instant>,
    polls: u32,
    restart_after: Duration,
    restarts: u32,
}

impl Default for Aligner {
    fn default() -> Self {
        Self::new()
    }
}

impl Aligner {
    /// An aligner at step 1.
    pub const fn new() -> Self {
        Aligner {
            state: State::Clear { next: 0 },
            since: None,
            polls: 0,
            restart_after: RESTART_AFTER,
            restarts: 0,
        }
    }

    /// Changes how long the protocol may stall before it starts over.
    pub fn set_restart_after(&mut self, after: Duration) {
        self.restart_after = after;
    }

    /// Whether the protocol has finished.
    pub fn is_aligned(&self) -> bool {
        self.state == State::Aligned
    }

    /// How often the protocol has started over because it stalled.
    pub fn restarts(&self) -> u32 {
        self.restarts
    }

    /// Whether the protocol is part-way through a memory (clearing it or
    /// scanning it) and wants the next poll at once.
    pub fn busy(&self) -> bool {
        matches!(
            self.state,
            State::Clear { .. } | State::Scan { next: 1.., .. }
        )
    }

    /// When the protocol starts over unless it steps forward first; for a
    /// caller that sleeps between polls.
    pub fn poll_at(&self) -> Option<Instant> {
        match self.state {
            State::Aligned => None,
            _ => self.since.map(|t| t + self.restart_after),
        }
    }

    /// Advances the protocol by one step at `now` on the link made of `tx`
    /// and `rx`; returns [`is_aligned`](Self::is_aligned).
    pub fn poll<T: TransmitRingbuffer, R: ReceiveRingbuffer>(
        &mut self,
        tx: &mut T,
        rx: &mut R,
        now: Instant,
    ) -> bool {
        let since = *self.since.get_or_insert(now);
        self.polls = self.polls.saturating_add(1);
        let stalled = now >= since + self.restart_after && self.polls >= RESTART_POLLS;
        if self.state != State::Aligned && stalled {
            self.restarts = self.restarts.saturating_add(1);
            self.state = State::Clear { next: 0 };
        }
        let next = match self.state {
            State::Clear { next } => match clear(tx, next) {
                Some(next) => State::Clear { next },
                None => {
                    tx.write_slice(&[ANNOUNCE], 0);
                    tx.set_enabled(true);
                    rx.set_enabled(true);
                    State::Scan {
                        next: 0,
                        cleared: None,
                    }
                }
            },
            // Reads before writes: a write can use up the step a read needs.
            State::Scan { next, cleared } => match scan(rx, next) {
                Ok(0) => {
                    tx.write_slice(&[ACKNOWLEDGE], 0);
                    State::WaitAcknowledge
                }
                found => {
                    tx.write_slice(&[ANNOUNCE], 0);
                    match found {
                        Ok(n) if cleared != Some(n) => {
                            rx.set_clear_at_count(n);
                            State::Scan {
                                next: 0,
                                cleared: Some(n),
                            }
                        }
                        // The stale copy of a marker already cleared for:
                        // look again from the start.
                        Ok(_) => State::Scan { next: 0, cleared },
                        Err(next) => State::Scan { next, cleared },
                    }
                }
            },
            // A read must wait while the budget has none.
            State::WaitAcknowledge | State::WaitZeros if rx.burst_budget() == 0 => self.state,
            State::WaitAcknowledge => {
                if matches!(read_word0(rx), ACKNOWLEDGE | 0) {
                    tx.set_enabled(false);
                    State::WaitZeros
                } else {
                    tx.write_slice(&[ACKNOWLEDGE], 0);
                    State::WaitAcknowledge
                }
            }
            State::WaitZeros => {
                if read_word0(rx) == 0 {
                    rx.set_enabled(false);
                    State::Aligned
                } else {
                    State::WaitZeros
                }
            }
            State::Aligned => State::Aligned,
        };
        if next.phase() != self.state.phase() || stalled {
            self.since = Some(now);
            self.polls = 0;
        }
        self.state = next;
        self.is_aligned()
    }
}

fn read_word0<R: ReceiveRingbuffer>(rx: &mut R) -> u64 {
    let mut word = [0];
    rx.read_slice(&mut word, 0);
    word[0]
}

/// Writes zeros over the transmit memory from `from`, as far as the bus
/// budget allows (none while it is 0): where to go on next time, or `None`
/// once done.
fn clear<T: TransmitRingbuffer>(tx: &mut T, from: usize) -> Option<usize> {
    const ZEROS: [u64; CHUNK] = [0; CHUNK];
    let depth = tx.data_len();
    let mut budget = tx.burst_budget();
    let mut base = from.min(depth);
    while base < depth && budget > 0 {
        let len = CHUNK.min(depth - base).min(budget);
        tx.write_slice(&ZEROS[..len], base);
        base += len;
        budget -= len;
    }
    (base < depth).then_some(base)
}

/// Scans the receive memory from `from` for a marker, as far as the bus
/// budget allows (none while it is 0): `Ok` with the lowest index holding
/// one, or `Err` with where to go on next time (0 once the whole memory was
/// read).
fn scan<R: ReceiveRingbuffer>(rx: &mut R, from: usize) -> Result<usize, usize> {
    let depth = rx.data_len();
    let mut budget = rx.burst_budget();
    let mut chunk = [0u64; CHUNK];
    let mut base = from.min(depth);
    while base < depth && budget > 0 {
        let len = CHUNK.min(depth - base).min(budget);
        rx.read_slice(&mut chunk[..len], base);
        if let Some(i) = chunk[..len]
            .iter()
            .position(|&w| w == ANNOUNCE || w == ACKNOWLEDGE)
        {
            return Ok(base + i);
        }
        base += len;
        budget -= len;
    }
    Err(if base >= depth { 0 } else { base })
}
