//! The sending side: frames from the stack into the data ring, and again
//! when the peer asks or stays silent.

use tidenet_core::ringbuffer::TransmitRingbuffer;
use tidenet_core::time::Instant;
use tidenet_core::Stats;

use crate::rtt::Rtt;
use crate::seq::Seq;
use crate::window::Window;
use crate::wire::{self, Binding, Feedback, Header};
use crate::Ring;

/// Words one write burst converts at a time; bounds the stack it needs.
const CHUNK: usize = 16;

/// The sending side of a link.
///
/// Frames go into the ring one after another from where the last one
/// ended, payload first and header last, so that a header in the ring
/// always stands in front of a whole payload. The peer's feedback says how
/// far it has read (the ring may be overwritten up to there, even in the
/// middle of a frame) and which frame it has delivered last (the window
/// may let go of everything up to that one).
///
/// A rewind, asked for by the peer or after a time-out, writes every frame
/// not yet acknowledged again, from the oldest, each to where it was
/// before: the receiver reads on from where it stands and finds the frame
/// it waits for there.
pub struct Sender<'a> {
    window: Window<'a>,
    binding: Binding,
    /// The oldest frame in the window: the one after the last acknowledged.
    oldest: Seq,
    /// The sequence number the next frame from the stack gets.
    next_seq: Seq,
    /// Ring position of the oldest frame's header.
    oldest_pos: u64,
    /// The next frame to write, as its window offset and sequence number.
    cursor: Option<(usize, Seq)>,
    /// Ring position where the cursor frame's header goes.
    write_pos: u64,
    /// Payload words of the cursor frame already in the ring.
    partial: usize,
    /// The furthest any frame reached in the ring.
    high_water: u64,
    /// The highest sequence number written so far: up to it, a write is a
    /// re-send.
    highest: Seq,
    /// Ring position up to which the peer has read.
    consumed: u64,
    /// The last rewind request served.
    answered: u8,
    rtt: Rtt,
    /// The frame being timed for a round-trip sample, and when it went out.
    timed: Option<(Seq, Instant)>,
    /// When to rewind if the peer acknowledges nothing new.
    deadline: Option<Instant>,
    /// A frame was written since the peer's feedback was last read.
    unasked: bool,
}

impl<'a> Sender<'a> {
    /// A sender keeping its frames in `window`, timing re-sends with `rtt`.
    pub fn new(window: &'a mut [u8], rtt: Rtt) -> Self {
        let mut sender = Sender {
            window: Window::new(window),
            binding: Binding::default(),
            oldest: Seq(1),
            next_seq: Seq(1),
            oldest_pos: 0,
            cursor: None,
            write_pos: 0,
            partial: 0,
            high_water: 0,
            highest: Seq(0),
            consumed: 0,
            answered: 0,
            rtt,
            timed: None,
            deadline: None,
            unasked: false,
        };
        sender.reset(Binding::default());
        sender
    }

    /// Starts a session under `binding`: every frame kept is dropped (its
    /// check no longer holds) and the ring starts again at position 0. The
    /// round-trip estimate stays: it is the link's, not the session's.
    pub fn reset(&mut self, binding: Binding) {
        self.window.clear();
        self.binding = binding;
        self.oldest = Seq(1);
        self.next_seq = Seq(1);
        self.oldest_pos = 0;
        self.cursor = None;
        self.write_pos = 0;
        self.partial = 0;
        self.high_water = 0;
        self.highest = Seq(0);
        self.consumed = 0;
        self.answered = 0;
        self.timed = None;
        self.deadline = None;
        self.unasked = false;
    }

    /// Bytes of RAM kept for frames in flight.
    pub fn window_bytes(&self) -> usize {
        self.window.capacity()
    }

    /// The round-trip estimate.
    pub fn rtt(&self) -> &Rtt {
        &self.rtt
    }

    /// Whether a frame of `len` bytes fits in the window now.
    pub fn has_room(&self, len: usize) -> bool {
        self.window.has_room(len)
    }

    /// Takes a frame of `len` bytes, which `f` writes; `f` back, not
    /// called, if the window is full or `len` is over the largest MTU.
    pub fn send<R, F: FnOnce(&mut [u8]) -> R>(&mut self, len: usize, f: F) -> Result<R, F> {
        let seq = self.next_seq;
        let binding = self.binding;
        let Ok(len16) = u16::try_from(len) else {
            return Err(f);
        };
        if len > wire::MAX_MTU {
            return Err(f);
        }
        let (at, result) = self.window.push(len, f, |payload| {
            let mut digest = Header::digest(seq.0, len16, binding);
            digest.update(payload);
            Header {
                seq: seq.0,
                len: len16,
                crc: digest.finalize(),
            }
        })?;
        if self.cursor.is_none() {
            self.cursor = Some((at, seq));
        }
        self.next_seq = seq + 1;
        Ok(result)
    }

    /// What word 1 says of this side: how far the ring is written, and the
    /// last rewind request served.
    pub fn progress(&self) -> (u16, u8) {
        (self.write_pos as u16, self.answered)
    }

    /// Whether the peer's feedback is worth a bus read now: the next frame
    /// waits for room, a frame went out since the last read (a rewind
    /// request may be on its way), or frames wait for their acknowledgement
    /// with nothing else to write.
    pub fn wants_feedback(&self, ring: &Ring) -> bool {
        self.unasked || self.blocked(ring) || (self.deadline.is_some() && self.cursor.is_none())
    }

    /// The feedback was read and said nothing new.
    pub fn feedback_unchanged(&mut self) {
        self.unasked = false;
    }

    /// Whether the next frame waits for the peer to read further.
    pub fn blocked(&self, ring: &Ring) -> bool {
        self.cursor.is_some() && self.write_pos + 1 + self.partial as u64 >= self.limit(ring)
    }

    /// Whether a frame waits to be written and the ring has room for its
    /// next word: the next poll should go on.
    pub fn busy(&self, ring: &Ring) -> bool {
        self.cursor.is_some() && !self.blocked(ring)
    }

    /// When [`poll`](Self::poll) must run for a time-out.
    pub fn poll_at(&self) -> Option<Instant> {
        self.deadline
    }

    /// Takes in the peer's feedback: lets go of acknowledged frames, notes
    /// how far the ring may be written, and rewinds on a new request.
    /// Returns whether anything changed.
    pub fn on_feedback(&mut self, feedback: Feedback, now: Instant, stats: &mut Stats) -> bool {
        self.unasked = false;
        let mut changed = false;
        // The acknowledgement counts frames modulo 2^14: the nearest
        // sequence number at or after the last one acknowledged.
        let ahead = feedback.ack.wrapping_sub((self.oldest + u16::MAX).0) & 0x3fff;
        let ack = self.oldest + ahead.wrapping_sub(1);
        // Only acknowledgements of frames written count.
        while !self.window.is_empty() && self.oldest <= ack && self.oldest <= self.highest {
            if let Some(at) = self.window.first() {
                let len = usize::from(self.window.header(at).len);
                self.oldest_pos += wire::frame_words(len) as u64;
            }
            self.window.pop();
            if let Some((seq, at)) = self.timed {
                if seq == self.oldest {
                    self.rtt.sample(now - at);
                    self.timed = None;
                }
            }
            self.oldest = self.oldest + 1;
            changed = true;
        }
        if changed && self.cursor.is_some_and(|(_, seq)| seq < self.oldest) {
            // Acknowledged before it was written again after a rewind.
            self.cursor = self.window.first().map(|at| (at, self.oldest));
            self.write_pos = self.oldest_pos;
            self.partial = 0;
        }
        // `consumed` counts words modulo 2^16: the nearest position at or
        // below the furthest ever written.
        let back = (self.high_water as u16).wrapping_sub(feedback.consumed);
        let consumed = self.high_water.saturating_sub(u64::from(back));
        if consumed != self.consumed {
            self.consumed = consumed;
            changed = true;
        }
        if changed {
            // The peer is reading on: what it has not acknowledged yet is
            // slow, not lost. The time-out counts from here.
            self.deadline = self.awaiting_written().then(|| now + self.rtt.rto());
        }
        if feedback.nak != self.answered {
            self.answered = feedback.nak;
            self.rewind();
            stats.naks_rx += 1;
            changed = true;
        }
        changed
    }

    /// Whether some frame is in the ring and not acknowledged.
    fn awaiting_written(&self) -> bool {
        match self.cursor {
            Some((_, seq)) => seq > self.oldest,
            None => !self.window.is_empty(),
        }
    }

    /// Writes every frame not yet acknowledged again, from the oldest,
    /// unless that is what it is doing already: starting the oldest over
    /// half-way would only delay it.
    fn rewind(&mut self) {
        if self.cursor.is_some_and(|(_, seq)| seq == self.oldest) {
            return;
        }
        self.cursor = self.window.first().map(|at| (at, self.oldest));
        self.write_pos = self.oldest_pos;
        self.partial = 0;
        // Karn: a frame written twice gives no round-trip sample.
        self.timed = None;
        self.deadline = None;
    }

    /// Ring positions below this may be written: the peer has read what
    /// was there.
    fn limit(&self, ring: &Ring) -> u64 {
        self.consumed + ring.words as u64
    }

    /// Rewinds on a time-out, then writes frames as far as the ring's room
    /// and `budget` words allow. Returns whether anything was written.
    pub fn poll<T: TransmitRingbuffer>(
        &mut self,
        tx: &mut T,
        ring: &Ring,
        budget: &mut usize,
        now: Instant,
        stats: &mut Stats,
    ) -> bool {
        if self.deadline.is_some_and(|d| now >= d) {
            stats.link_timeouts += 1;
            self.rtt.back_off();
            self.rewind();
        }
        let mut wrote = false;
        while let Some((at, seq)) = self.cursor {
            let header = self.window.header(at);
            let words = usize::from(header.len).div_ceil(8);
            let limit = self.limit(ring);
            while self.partial < words && *budget > 0 {
                let pos = self.write_pos + 1 + self.partial as u64;
                if pos >= limit {
                    return wrote;
                }
                let n = (words - self.partial)
                    .min(CHUNK)
                    .min(*budget)
                    .min((limit - pos) as usize)
                    .min(ring.until_end(pos));
                let mut chunk = [0u64; CHUNK];
                let bytes = &self.window.payload(at)[self.partial * 8..(self.partial + n) * 8];
                for (word, b) in chunk.iter_mut().zip(bytes.chunks_exact(8)) {
                    *word = wire::pack(b);
                }
                tx.write_slice(&chunk[..n], ring.index(pos));
                self.partial += n;
                *budget -= n;
                wrote = true;
            }
            if self.partial < words || *budget == 0 {
                return wrote;
            }
            tx.write_slice(&[header.to_word()], ring.index(self.write_pos));
            *budget -= 1;
            if seq > self.highest {
                self.highest = seq;
                stats.frames_tx += 1;
                if self.timed.is_none() {
                    self.timed = Some((seq, now));
                }
            } else {
                stats.link_retransmits += 1;
            }
            self.write_pos += 1 + words as u64;
            self.high_water = self.high_water.max(self.write_pos);
            self.partial = 0;
            self.cursor = self.window.next(at).map(|next| (next, seq + 1));
            if self.deadline.is_none() {
                self.deadline = Some(now + self.rtt.rto());
            }
            self.unasked = true;
            wrote = true;
        }
        wrote
    }
}
