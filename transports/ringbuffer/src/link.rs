//! The link layer: one frame at a time through the ringbuffer mailbox.
//!
//! The hardware re-streams the mailbox on every pass, so the receiver sees
//! each frame many times, and nothing tells the sender when the receiver has
//! read it. [`Mailbox`] turns that into a link TCP can live on:
//!
//! - The sender writes a frame (payload first, header last) and keeps it in
//!   the mailbox until the peer's control word acknowledges its sequence
//!   number. No ack within [`Mailbox::ack_timeout`] means the frame or its
//!   ack was lost or corrupted: the sender rewrites it with a new `attempt`.
//! - The receiver polls the one header word. The same word again is the
//!   hardware re-streaming (counted, not read); a new word is read, checked
//!   and delivered once, and acknowledged in our control word. A frame whose
//!   sequence number was already delivered is a re-send after a lost ack: it
//!   is acknowledged again and dropped as a duplicate, never handed to IP,
//!   where duplicate segments would set off spurious fast retransmits.
//!
//! Because lost and corrupted frames are re-sent here within microseconds,
//! TCP above sees almost no loss, and its retransmission timer (10 ms at best
//! in smoltcp 0.12) rarely decides the throughput.
//!
//! All ringbuffer I/O happens in [`Mailbox::poll`]; the smoltcp
//! [`Device`] side only moves packets between that and the stack.

use heapless::{Deque, Vec};
use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use tidenet_core::ringbuffer::{AlignedRingbuffer, ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::Stats;

use crate::frame::{
    self, Control, Drop, Header, CONTROL, HEADER, MAX_MTU, MAX_PAYLOAD_WORDS, PAYLOAD,
};

/// Packets waiting behind the one in the mailbox.
const TX_QUEUE: usize = 2;
/// The control word is rewritten at least this many ack timeouts apart, in
/// case a write of it was lost: that write may have been the one announcing
/// our address, and nothing else would ever repeat it.
const CONTROL_REFRESH: u32 = 16;

type Packet = Vec<u8, MAX_MTU>;

struct InFlight {
    header: Header,
    words: usize,
    deadline: Instant,
}

/// A smoltcp [`Device`] over an aligned ringbuffer: framing, integrity,
/// link-level acknowledgement and re-send, duplicate suppression, and a count
/// of every dropped frame by reason.
pub struct Mailbox<T, R> {
    ring: AlignedRingbuffer<T, R>,
    mtu: usize,
    ack_timeout: Duration,
    host: u16,
    peer_host: Option<u16>,
    control_due: Instant,
    // Transmit side.
    queue: Deque<Packet, TX_QUEUE>,
    tx_words: [u64; MAX_PAYLOAD_WORDS],
    in_flight: Option<InFlight>,
    last_seq: u16,
    // Receive side.
    seen_header: u64,
    delivered_seq: u16,
    rx_words: [u64; MAX_PAYLOAD_WORDS],
    rx_packet: [u8; MAX_MTU],
    rx_len: Option<usize>,
    stats: Stats,
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer> Mailbox<T, R> {
    /// A link layer on `ring`, announcing `host` (the host part of our
    /// link-local address) to the peer.
    ///
    /// The MTU follows from the depth ([`frame::mtu_for_depth`]); the ack
    /// timeout defaults to four passes plus 100 µs, enough for the peer to
    /// read a full frame over a slow bus and answer.
    pub fn new(ring: AlignedRingbuffer<T, R>, host: u16) -> Self {
        let depth = ring.depth();
        let pass = Duration::from_nanos(depth as u64 * tidenet_core::ringbuffer::CYCLE_NS);
        Mailbox {
            ring,
            mtu: frame::mtu_for_depth(depth),
            ack_timeout: pass * 4 + Duration::from_micros(100),
            host,
            peer_host: None,
            control_due: Instant::ZERO,
            queue: Deque::new(),
            tx_words: [0; MAX_PAYLOAD_WORDS],
            in_flight: None,
            last_seq: 0,
            seen_header: 0,
            delivered_seq: 0,
            rx_words: [0; MAX_PAYLOAD_WORDS],
            rx_packet: [0; MAX_MTU],
            rx_len: None,
            stats: Stats::default(),
        }
    }

    /// The largest IP packet this link carries.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// How long the sender waits for an ack before rewriting a frame.
    pub fn ack_timeout(&self) -> Duration {
        self.ack_timeout
    }

    /// Changes the ack timeout.
    pub fn set_ack_timeout(&mut self, timeout: Duration) {
        self.ack_timeout = timeout;
    }

    /// The host part of the peer's address, once its control word arrived.
    pub fn peer_host(&self) -> Option<u16> {
        self.peer_host
    }

    /// Link counters; stack counters stay zero.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sets the link counters back to zero.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// Whether the stack may hand over a packet: not while one already waits
    /// behind the frame in the mailbox. While the link is busy, the stack's
    /// data keeps gathering into full segments instead of leaving in
    /// whatever sizes it was written.
    pub fn can_take(&self) -> bool {
        self.queue.is_empty()
    }

    /// When [`poll`](Self::poll) must run next for a re-send, if a frame is
    /// waiting for its ack.
    pub fn poll_at(&self) -> Option<Instant> {
        let resend = self.in_flight.as_ref().map(|f| f.deadline);
        Some(resend.map_or(self.control_due, |r| r.min(self.control_due)))
    }

    /// Does the ringbuffer I/O: reads the peer's ack, re-sends or sends the
    /// next frame, and takes in a new frame if the stack has room for it.
    /// Returns whether anything changed.
    pub fn poll(&mut self, now: Instant) -> bool {
        if now >= self.control_due {
            self.write_control(now);
        }
        let mut progress = self.poll_control();
        if let Some(flight) = &self.in_flight {
            if now >= flight.deadline {
                self.resend(now);
                progress = true;
            }
        }
        if self.in_flight.is_none() {
            if let Some(packet) = self.queue.pop_front() {
                self.send(&packet, now);
                progress = true;
            }
        }
        if self.rx_len.is_none() {
            progress |= self.poll_receive(now);
        }
        progress
    }

    /// Reads the peer's control word: its address and its ack of our frame.
    fn poll_control(&mut self) -> bool {
        let mut word = [0];
        self.ring.read(CONTROL, &mut word);
        let Some(control) = Control::from_word(word[0]) else {
            return false;
        };
        // Learning the peer is progress: a task may be waiting for the link
        // to come up.
        let learned = self.peer_host.replace(control.host) != Some(control.host);
        match &self.in_flight {
            Some(flight) if flight.header.seq == control.ack => {
                self.in_flight = None;
                true
            }
            _ => learned,
        }
    }

    fn send(&mut self, packet: &[u8], now: Instant) {
        self.last_seq = self.last_seq.checked_add(1).unwrap_or(1);
        let (header, words) = frame::seal(self.last_seq, 0, packet, &mut self.tx_words);
        self.in_flight = Some(InFlight {
            header,
            words,
            deadline: now + self.ack_timeout,
        });
        self.stats.frames_tx += 1;
        self.write_frame(header, words);
    }

    fn resend(&mut self, now: Instant) {
        let Some(flight) = &mut self.in_flight else {
            return;
        };
        // Same payload and sequence number, a new attempt: the header word
        // changes, so the receiver reads it rather than taking it for a
        // re-stream, and acknowledges it again if it already has it.
        let attempt = flight.header.attempt.wrapping_add(1);
        flight.header = frame::sign(flight.header.seq, attempt, &self.tx_words[..flight.words]);
        flight.deadline = now + self.ack_timeout;
        let (header, words) = (flight.header, flight.words);
        self.stats.link_retransmits += 1;
        self.write_frame(header, words);
    }

    fn write_frame(&mut self, header: Header, words: usize) {
        self.ring.write(PAYLOAD, &self.tx_words[..words]);
        self.ring.write(HEADER, &[header.to_word()]);
    }

    fn write_control(&mut self, now: Instant) {
        self.control_due = now + self.ack_timeout * CONTROL_REFRESH;
        let control = Control {
            ack: self.delivered_seq,
            host: self.host,
        };
        self.ring.write(CONTROL, &[control.to_word()]);
    }

    /// Looks at the mailbox header; reads, checks and takes in a new frame.
    fn poll_receive(&mut self, now: Instant) -> bool {
        let mut word = [0];
        self.ring.read(HEADER, &mut word);
        let word = word[0];
        if word == self.seen_header {
            if word != 0 {
                self.stats.link_restreams += 1;
            }
            return false;
        }
        self.seen_header = word;
        let header = Header::from_word(word);
        if header.seq == 0 {
            // An empty mailbox, or zeros from an outage.
            return false;
        }
        match self.receive_frame(&header) {
            Ok(_) if header.seq == self.delivered_seq => {
                self.stats.drop_duplicate += 1;
                self.write_control(now);
            }
            Ok(len) => {
                self.rx_len = Some(len);
                self.delivered_seq = header.seq;
                self.stats.frames_rx += 1;
                self.write_control(now);
            }
            Err(reason) => self.count_drop(reason),
        }
        true
    }

    fn receive_frame(&mut self, header: &Header) -> Result<usize, Drop> {
        if header.version != frame::VERSION {
            return Err(Drop::BadVersion);
        }
        let mut first = [0];
        self.ring.read(PAYLOAD, &mut first);
        let len = frame::packet_len(first[0], self.mtu)?;
        let words = len.div_ceil(8);
        self.rx_words[0] = first[0];
        self.ring.read(PAYLOAD + 1, &mut self.rx_words[1..words]);
        frame::open(header, &self.rx_words[..words], len, &mut self.rx_packet)
    }

    fn count_drop(&mut self, reason: Drop) {
        let counter = match reason {
            Drop::Corrupt => &mut self.stats.drop_corrupt,
            Drop::MalformedLen => &mut self.stats.drop_malformed_len,
            Drop::Oversized => &mut self.stats.drop_oversized,
            Drop::BadVersion => &mut self.stats.drop_bad_version,
        };
        *counter += 1;
    }
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer> Device for Mailbox<T, R> {
    type RxToken<'a>
        = RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a>
    where
        Self: 'a;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(RxToken<'_>, TxToken<'_>)> {
        let len = self.rx_len?;
        let rx = RxToken {
            packet: &self.rx_packet[..len],
            slot: &mut self.rx_len,
        };
        let tx = TxToken {
            queue: &mut self.queue,
            dropped: &mut self.stats.drop_tx_full,
        };
        Some((rx, tx))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TxToken<'_>> {
        // The second queue slot is kept for replies handed out with
        // received packets.
        self.can_take().then_some(TxToken {
            queue: &mut self.queue,
            dropped: &mut self.stats.drop_tx_full,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.mtu;
        caps.max_burst_size = Some(1);
        caps
    }
}

/// Hands the received packet to the stack and frees the slot for the next.
pub struct RxToken<'a> {
    packet: &'a [u8],
    slot: &'a mut Option<usize>,
}

impl phy::RxToken for RxToken<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        *self.slot = None;
        f(self.packet)
    }
}

/// Queues one packet from the stack for the mailbox.
pub struct TxToken<'a> {
    queue: &'a mut Deque<Packet, TX_QUEUE>,
    dropped: &'a mut u64,
}

impl phy::TxToken for TxToken<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut packet = Packet::new();
        if self.queue.is_full() || packet.resize(len, 0).is_err() {
            // Only a reply token handed out with a received packet can find
            // the queue full; the stack retransmits what this loses.
            *self.dropped += 1;
            let mut scratch = [0u8; MAX_MTU];
            return f(&mut scratch[..len.min(MAX_MTU)]);
        }
        let result = f(&mut packet);
        // Cannot fail: the queue had room above.
        let _ = self.queue.push_back(packet);
        result
    }
}
