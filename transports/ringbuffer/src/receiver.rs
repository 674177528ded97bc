//! The receiving side: frames out of the data ring, checked, in order.

use crate::wire::Digest;
use tidenet_core::ringbuffer::ReceiveRingbuffer;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::Stats;

use crate::mark::Mark;
use crate::seq::Seq;
use crate::wire::{Binding, Feedback, Header, Progress, MAX_MTU, PROGRESS};
use crate::Ring;

/// Words one read burst takes at a time; bounds the stack it needs.
const CHUNK: usize = 16;
/// A frame longer than this is reported read this many words at a time, so
/// that the sender can fill the ring behind it.
const REPORT_EVERY: usize = 12;

/// What the header word at the read position shows.
enum Look {
    /// Not the frame expected: what was there before.
    Nothing,
    /// The frame expected, claiming more than the MTU: a damaged header.
    Damaged(u64),
    /// The frame expected, to be read.
    Frame(Reading),
}

/// A frame being read, across as many polls as the bus budget takes.
struct Reading {
    header: Header,
    /// Payload words read so far.
    words: usize,
    digest: Digest,
    /// Whether part of it was already reported as read, so that it may be
    /// overwritten and cannot be read again.
    reported: bool,
    /// When its header was read.
    started: Mark,
}

/// What a [`Receiver::poll`] saw, for the link to act on.
#[derive(Clone, Copy, Debug, Default)]
pub struct Events {
    /// A packet became ready, or the feedback word must change.
    pub changed: bool,
    /// The peer's progress word changed: the peer is alive, and wrote on.
    pub peer_moved: bool,
    /// The peer's progress word did not check out: torn, or the peer
    /// started over.
    pub peer_unreadable: bool,
}

/// The receiving side of a link.
///
/// It reads the one header word where the next frame must start, and only
/// reads further when that word is the header of the frame it waits for:
/// what the hardware streams again and again costs one bus word per look.
/// A frame is read into RAM, checked, and handed to the stack; then its
/// words are reported as read, so the sender may write over them. A long
/// frame is reported as it is read, every [`REPORT_EVERY`] words, so that
/// the next one can go in behind it before this one is done.
///
/// What counts as written is what the peer's progress word says: a frame
/// that does not check out before that is a leftover (of an earlier
/// session, or of an earlier pass), not a loss. A written frame that fails
/// its check is read once more two passes later, when whatever was still
/// on its way has landed; if it fails again, the receiver asks for a
/// rewind (a NAK) and waits at the same place. So does a written frame
/// whose header is still not there two passes later: it was lost.
pub struct Receiver {
    binding: Binding,
    /// Ring position of the next frame's header.
    read_pos: u64,
    /// The next frame to deliver.
    expected: Seq,
    reading: Option<Reading>,
    packet: [u8; MAX_MTU],
    /// A checked packet waiting for the stack.
    ready: Option<usize>,
    /// Ring position up to which the words were read and may be
    /// overwritten.
    consumed: u64,
    /// How far the peer says it has written.
    written: u64,
    /// A header at the read position whose frame did not check out, and
    /// until when it is not worth reading again unless the header changes
    /// or the peer says it wrote there: a leftover of an earlier session
    /// (until told otherwise), or a frame asked for again (for two passes
    /// at a time, since the word saying it was written again may be lost).
    stale: Option<(u64, Option<Instant>)>,
    /// Since when the frame at the read position is known to be written.
    due_since: Option<Instant>,
    /// When the frame at the read position failed, to be read again two
    /// passes later.
    retry: Option<Mark>,
    /// A frame that failed before the receiver could ask whether it was
    /// written: its header word, whether reading it again would help not,
    /// and whether it was known to be written.
    undecided: Option<(u64, bool, bool)>,
    /// Rewind requests made, modulo 4, and when the last went out.
    nak: u8,
    nak_at: Option<Instant>,
    /// The peer's last served request.
    answered: u8,
    /// The peer's progress word as last read, to tell when it changes.
    progress: u64,
    /// When to read the progress word again while nothing new arrives.
    progress_at: Option<Instant>,
}

impl Receiver {
    /// A receiver before any session.
    pub const fn new() -> Self {
        Receiver {
            binding: Binding { own: 0, peer: 0 },
            read_pos: 0,
            expected: Seq(1),
            reading: None,
            packet: [0; MAX_MTU],
            ready: None,
            consumed: 0,
            written: 0,
            stale: None,
            due_since: None,
            retry: None,
            undecided: None,
            nak: 0,
            nak_at: None,
            answered: 0,
            progress: 0,
            progress_at: None,
        }
    }

    /// Starts a session in which the peer writes under `binding` (its
    /// session first).
    pub fn reset(&mut self, binding: Binding) {
        *self = Receiver {
            binding,
            ..Receiver::new()
        };
    }

    /// Expects frame `seq` at ring position `pos` next, as if everything
    /// before had been delivered and the peer had said it wrote up to
    /// `written`: lets a test aim the receiver anywhere.
    #[cfg(test)]
    fn expect(&mut self, pos: u64, seq: u16, written: u64) {
        let binding = self.binding;
        self.reset(binding);
        self.read_pos = pos;
        self.consumed = pos;
        self.written = written;
        self.expected = Seq(seq);
    }

    /// What word 0 says of this side.
    pub fn feedback(&self) -> Feedback {
        Feedback {
            ack: (self.expected + u16::MAX).0 & 0x3fff,
            nak: self.nak,
            consumed: self.consumed as u16,
        }
    }

    /// The checked packet waiting for the stack.
    pub fn ready(&self) -> Option<&[u8]> {
        self.ready.map(|len| &self.packet[..len])
    }

    /// The stack has taken the waiting packet.
    pub fn take(&mut self) {
        self.ready = None;
    }

    /// Whether a frame is part-way read or judged, and the next poll
    /// should go on.
    pub fn busy(&self) -> bool {
        self.reading.is_some() || self.undecided.is_some()
    }

    /// When [`poll`](Self::poll) must run to read again or to ask again.
    pub fn poll_at(&self, pass: Duration, rto: Duration) -> Option<Instant> {
        if self.ready.is_some() {
            return None;
        }
        let due = self.due_since.map(|t| t + due_wait(pass, rto));
        let retry = self.retry.map(|m| m.at(pass * 2));
        let nak = self.nak_at.map(|t| t + rto);
        [retry, due, nak].into_iter().flatten().min()
    }

    /// Reads and checks what the budget allows.
    #[allow(clippy::too_many_arguments)]
    pub fn poll<R: ReceiveRingbuffer>(
        &mut self,
        rx: &mut R,
        ring: &Ring,
        mtu: usize,
        budget: &mut usize,
        now: Instant,
        pass: Duration,
        rto: Duration,
        stats: &mut Stats,
    ) -> Events {
        // `budget` is in words read.
        let mut events = Events::default();
        for mark in [
            self.retry.as_mut(),
            self.reading.as_mut().map(|r| &mut r.started),
        ]
        .into_iter()
        .flatten()
        {
            mark.pin(now);
        }
        let waiting = self.retry.is_some_and(|m| !m.passed(pass * 2, now));
        if self.ready.is_some() || *budget == 0 || waiting {
            return events;
        }
        if let Some((header, last, genuine)) = self.undecided.take() {
            // A frame failed with no read left to ask whether it was
            // written: ask now.
            self.read_progress(rx, budget, now, &mut events);
            let genuine = genuine || self.written > self.read_pos;
            events.changed |= self.failed(header, last, genuine, now, pass, rto, stats);
            return events;
        }
        let mut reading = match self.reading.take() {
            Some(reading) => reading,
            None => match self.look(rx, ring, mtu, budget, now) {
                Look::Frame(reading) => reading,
                Look::Damaged(header) => {
                    self.read_progress(rx, budget, now, &mut events);
                    let genuine = self.written > self.read_pos;
                    events.changed |= self.failed(header, false, genuine, now, pass, rto, stats);
                    return events;
                }
                Look::Nothing => {
                    stats.link_restreams += 1;
                    // Between frames, the peer's progress word tells of a
                    // header that was lost; half a pass apart is often
                    // enough to ask.
                    if self.progress_at.is_none_or(|t| now >= t) {
                        self.progress_at = Some(now + pass / 2);
                        self.read_progress(rx, budget, now, &mut events);
                    }
                    events.changed |= self.check_due(now, pass, rto, stats);
                    return events;
                }
            },
        };
        let words = usize::from(reading.header.len).div_ceil(8);
        let end = self.read_pos + 1 + words as u64;
        if reading.words == 0 && self.written < end {
            // Whether this frame is known to be written decides whether it
            // may be reported as read before it checks out, and what a
            // failure means.
            self.read_progress(rx, budget, now, &mut events);
        }
        let report_every = REPORT_EVERY;
        // Only the peer's word says a frame is here: a stale payload word
        // can look like the header expected (an IPv4 packet's first word,
        // with its don't-fragment flag where the sequence number goes and a
        // zero identification where the length goes, is the header of
        // frame 64 with no payload), even when every word of the ring was
        // written this session.
        let genuine = end <= self.written;
        while reading.words < words && *budget > 0 {
            let pos = self.read_pos + 1 + reading.words as u64;
            let n = (words - reading.words)
                .min(CHUNK)
                .min(*budget)
                .min(ring.until_end(pos));
            let mut chunk = [0u64; CHUNK];
            rx.read_slice(&mut chunk[..n], ring.index(pos));
            *budget -= n;
            for (i, word) in chunk[..n].iter().enumerate() {
                reading.digest.update_word(*word);
                let bytes = word.to_le_bytes();
                let at = (reading.words + i) * 8;
                let len = bytes.len().min(self.packet.len().saturating_sub(at));
                self.packet[at..at + len].copy_from_slice(&bytes[..len]);
            }
            reading.words += n;
            // A long frame known to be written is reported as it is read,
            // so that the sender can fill the ring behind it.
            let done = self.read_pos + 1 + reading.words as u64;
            if words > report_every
                && reading.words < words
                && genuine
                && done >= self.consumed + report_every as u64
                && (reading.reported || *budget > 0)
            {
                if !reading.reported {
                    // The header goes with the first words reported, and
                    // cannot be read again after: read it again now.
                    self.confirm_header(rx, ring, &mut reading.header, budget);
                }
                self.consumed = done;
                reading.reported = true;
                events.changed = true;
            }
        }
        if reading.words < words {
            self.reading = Some(reading);
            return events;
        }
        let mut header = reading.header;
        let crc = reading.digest.finalize();
        if crc != header.crc && !reading.reported && *budget > 0 {
            self.confirm_header(rx, ring, &mut header, budget);
        }
        if crc == header.crc {
            self.ready = Some(usize::from(header.len));
            self.read_pos = end;
            self.consumed = end;
            self.expected = self.expected + 1;
            self.due_since = (self.written > end).then_some(now);
            self.retry = None;
            self.stale = None;
            self.nak_at = None;
            stats.frames_rx += 1;
            events.changed = true;
            return events;
        }
        // Its last words were read a pass or more after its header: all of
        // it had landed by then, so reading it again would read the same.
        let settled = reading.started.passed(pass, now);
        let again = reading.reported || settled;
        let deciding = self.retry.is_some() || again;
        if deciding && !genuine && end > self.written {
            // Deciding now: is it known to be written? Without a read left
            // to ask, ask at the next poll.
            if *budget == 0 {
                self.undecided = Some((header.to_word(), again, genuine));
                return events;
            }
            self.read_progress(rx, budget, now, &mut events);
        }
        let genuine = genuine || end <= self.written;
        events.changed |= self.failed(header.to_word(), again, genuine, now, pass, rto, stats);
        events
    }

    /// Reads the header at the read position.
    fn look<R: ReceiveRingbuffer>(
        &mut self,
        rx: &mut R,
        ring: &Ring,
        mtu: usize,
        budget: &mut usize,
        now: Instant,
    ) -> Look {
        let mut word = [0];
        rx.read_slice(&mut word, ring.index(self.read_pos));
        *budget = budget.saturating_sub(1);
        let header = Header::from_word(word[0]);
        let stale = self
            .stale
            .is_some_and(|(h, until)| h == word[0] && until.is_none_or(|t| now < t));
        if header.seq != self.expected.0 || stale {
            // The hardware streaming what was there before: the normal case
            // between frames.
            Look::Nothing
        } else if usize::from(header.len) > mtu {
            Look::Damaged(word[0])
        } else {
            Look::Frame(Reading {
                header,
                words: 0,
                digest: Header::digest(header.seq, header.len, self.binding),
                reported: false,
                started: Mark::During(now),
            })
        }
    }

    /// Reads the header at the read position again, and takes its check if
    /// it is still the same frame's. A 32-bit CPU reads a word in two
    /// halves; a read that straddled the header's landing holds the new
    /// sequence number and length with the old check, which a frame read
    /// whole would then fail.
    fn confirm_header<R: ReceiveRingbuffer>(
        &mut self,
        rx: &mut R,
        ring: &Ring,
        header: &mut Header,
        budget: &mut usize,
    ) {
        let mut word = [0];
        rx.read_slice(&mut word, ring.index(self.read_pos));
        *budget = budget.saturating_sub(1);
        let again = Header::from_word(word[0]);
        if (again.seq, again.len) == (header.seq, header.len) {
            *header = again;
        }
    }

    /// Reads the peer's progress word: how far it has written, and which
    /// rewind request it has served.
    fn read_progress<R: ReceiveRingbuffer>(
        &mut self,
        rx: &mut R,
        budget: &mut usize,
        now: Instant,
        events: &mut Events,
    ) {
        if *budget == 0 {
            // No read left in this step: the next look asks.
            return;
        }
        let mut word = [0];
        rx.read_slice(&mut word, PROGRESS);
        *budget -= 1;
        let Some(progress) = Progress::from_word(word[0], self.binding) else {
            events.peer_unreadable = true;
            return;
        };
        if word[0] == self.progress {
            return;
        }
        self.progress = word[0];
        events.peer_moved = true;
        if progress.answered != self.answered {
            self.answered = progress.answered;
            if self.answered == self.nak {
                // The rewind is under way.
                self.nak_at = None;
                self.retry = None;
            }
        }
        if self.answered != self.nak {
            // A rewind request is on its way: until the peer has served
            // it, how far it says it wrote is about frames it will write
            // again.
            return;
        }
        // The peer's position is within a ring of ours either way; behind
        // (after a rewind) counts as nothing written past us.
        let ahead = progress.written.wrapping_sub(self.read_pos as u16);
        self.written = if ahead <= u16::MAX / 2 {
            self.read_pos + u64::from(ahead)
        } else {
            self.read_pos
        };
        if self.written > self.read_pos {
            // Whatever failed here before is now known to be written.
            self.stale = None;
            self.due_since.get_or_insert(now);
        } else {
            self.due_since = None;
        }
    }

    /// A frame at the read position did not check out. `last`: reading it
    /// again would not help (part of it was reported read and may be
    /// overwritten, or it had all landed when it was read). `genuine`: it is
    /// known to be written this session.
    /// Returns whether the feedback changed.
    #[allow(clippy::too_many_arguments)]
    fn failed(
        &mut self,
        header: u64,
        last: bool,
        genuine: bool,
        now: Instant,
        pass: Duration,
        rto: Duration,
        stats: &mut Stats,
    ) -> bool {
        if !last && self.retry.is_none() {
            // Part of it may still have been on its way: read it again once
            // everything written before it has surely landed.
            self.retry = Some(Mark::During(now));
            return false;
        }
        self.retry = None;
        if !genuine {
            // A leftover of an earlier session, not a drop: look again
            // when the header changes or the peer says it wrote here.
            self.stale = Some((header, None));
            return false;
        }
        // The same words read the same until they are written again: look
        // when the peer says it did, or two passes on, whichever is first.
        self.stale = Some((header, Some(now + pass * 2)));
        if self.nak_at.is_some_and(|t| now < t + rto) {
            // Already asked for, and perhaps not written again yet.
            return false;
        }
        stats.drop_corrupt += 1;
        self.request_rewind(now, stats);
        true
    }

    /// Nothing to read at the read position: if the peer said a while ago
    /// that it wrote there, the header was lost. Returns whether the
    /// feedback changed.
    fn check_due(
        &mut self,
        now: Instant,
        pass: Duration,
        rto: Duration,
        stats: &mut Stats,
    ) -> bool {
        let overdue = self
            .due_since
            .is_some_and(|t| now >= t + due_wait(pass, rto));
        let asked = self.nak_at.is_some_and(|t| now < t + rto);
        if overdue && !asked && self.written > self.read_pos {
            stats.drop_lost += 1;
            self.request_rewind(now, stats);
            return true;
        }
        false
    }

    /// Asks the peer to write everything from the read position again, and
    /// reports that nothing from there on was read.
    fn request_rewind(&mut self, now: Instant, stats: &mut Stats) {
        self.nak = self.nak.wrapping_add(1) & 3;
        self.nak_at = Some(now);
        self.consumed = self.read_pos;
        self.written = self.read_pos;
        self.due_since = None;
        stats.naks_tx += 1;
    }
}

/// How long after the peer said it wrote a frame its header may still be
/// on its way: two passes, for it to land after the progress word that
/// told of it, and a quarter of the round trip for the poll that read the
/// word, whose `now` lags its reads by as long as its bus work takes (see
/// [`Mark`]). Asking for a frame that was only late costs a rewind; on a
/// slow CPU, asking a poll later than needed costs only a poll, since the
/// sender's time-out is a whole round trip and more.
fn due_wait(pass: Duration, rto: Duration) -> Duration {
    pass * 2 + rto / 4
}

#[cfg(test)]
mod tests;
