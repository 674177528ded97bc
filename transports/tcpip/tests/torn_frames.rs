//! Torn frames through the ringbuffer model: the receive path never accepts
//! one, and the link layer counts every frame it cannot use.
//!
//! Tearing here comes from the model: a sender that never waits for acks
//! rewrites the mailbox while the hardware streams it and between the
//! receiver's reads, and the receiver gets whatever the model's receive memory
//! holds at each read. Nothing splices words by hand.

use std::cell::RefCell;
use std::collections::hash_map::{Entry, HashMap};

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use smoltcp::phy::{Device, RxToken};
use tidenet_core::Stats;
use tidenet_ringbuffer::frame::{self, Drop, Header, HEADER, PAYLOAD, VERSION};
use tidenet_ringbuffer::link::Mailbox;
use tidenet_ringbuffer::model::{align, Aligned as Ring, Link, LinkConfig};

const DEPTH: usize = 16;
const LATENCY: usize = 3;
/// The largest packet a depth-16 mailbox holds: 112 bytes.
const MTU: usize = frame::mtu_for_depth(DEPTH);
const MAX_WORDS: usize = MTU / 8;

fn config(bus_cycles: u64, seed: u64) -> LinkConfig {
    LinkConfig {
        depth: DEPTH,
        latency: LATENCY,
        bus_cycles,
        seed,
        ..LinkConfig::default()
    }
}

/// A random number below `n` (the modulo bias is far too small to matter).
fn below(rng: &mut impl Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// One frame as the sender wrote it, rebuilt on demand from its seed so that
/// millions of them need not be kept.
struct Frame {
    header: u64,
    packet: [u8; MTU],
    len: usize,
    words: [u64; MAX_WORDS],
    used: usize,
}

impl Frame {
    /// A random IPv4-looking packet of 20 to 112 bytes, sealed with a random
    /// sequence number (never 0) and attempt.
    fn from_seed(seed: u64) -> Self {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let len =
            frame::MIN_PACKET + below(&mut rng, (MTU - frame::MIN_PACKET + 1) as u64) as usize;
        let mut packet = [0u8; MTU];
        rng.fill_bytes(&mut packet[..len]);
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        let seq = 1 + below(&mut rng, u64::from(u16::MAX)) as u16;
        let attempt = rng.next_u32() as u8;
        let mut words = [0u64; MAX_WORDS];
        let (header, used) = frame::seal(seq, attempt, &packet[..len], &mut words);
        Frame {
            header: header.to_word(),
            packet,
            len,
            words,
            used,
        }
    }

    /// Whether `raw` (a header word, then payload words) is exactly this
    /// frame's word image.
    fn is_image(&self, raw: &[u64]) -> bool {
        raw.len() == 1 + self.used && raw[0] == self.header && raw[1..] == self.words[..self.used]
    }
}

/// What the receiver got from one look at the mailbox.
struct Received {
    /// The raw words read: the header word, then the payload words.
    raw: [u64; 1 + MAX_WORDS],
    n: usize,
    result: Result<usize, Drop>,
    packet: [u8; MTU],
}

/// The receive path of `Mailbox::receive_frame`, call for call: the header,
/// the first payload word, the length it claims, the rest in one read, then
/// `open`. The sending CPU gets turns between these reads (`between`), as it
/// would running beside us. Unlike the mailbox this reads again even when the
/// header has not changed, so every call is one more chance to catch the
/// mailbox mid-write. `None` is an empty mailbox (sequence number 0).
fn receive(ring: &mut Ring<'_, '_>, mut between: impl FnMut()) -> Option<Received> {
    let mut got = Received {
        raw: [0; 1 + MAX_WORDS],
        n: 1,
        result: Err(Drop::BadVersion),
        packet: [0; MTU],
    };
    ring.read(HEADER, &mut got.raw[..1]);
    let header = Header::from_word(got.raw[0]);
    if header.seq == 0 {
        return None;
    }
    if header.version != VERSION {
        return Some(got);
    }
    between();
    ring.read(PAYLOAD, &mut got.raw[1..2]);
    got.n = 2;
    got.result = frame::packet_len(got.raw[1], MTU).and_then(|len| {
        let words = len.div_ceil(8);
        between();
        ring.read(PAYLOAD + 1, &mut got.raw[2..1 + words]);
        got.n = 1 + words;
        frame::open(&header, &got.raw[1..1 + words], len, &mut got.packet)
    });
    Some(got)
}

/// The sending CPU: writes fresh frames back to back, payload first in
/// bursts of one to four words, header last, never waiting for an ack. One
/// [`step`](Sender::step) is one write call.
struct Sender<'l, 'm> {
    ring: Ring<'l, 'm>,
    rng: Xoshiro256PlusPlus,
    /// The header word of every frame written, to the seed that rebuilds it.
    written: HashMap<u64, u64>,
    frame: Frame,
    /// Payload words of `frame` written so far.
    next: usize,
    frames: u64,
}

impl<'l, 'm> Sender<'l, 'm> {
    fn new(ring: Ring<'l, 'm>, seed: u64) -> Self {
        let mut sender = Sender {
            ring,
            rng: Xoshiro256PlusPlus::seed_from_u64(seed),
            written: HashMap::new(),
            frame: Frame::from_seed(0),
            next: 0,
            frames: 0,
        };
        sender.frame = sender.fresh();
        sender
    }

    /// A new frame whose header word no frame before had.
    fn fresh(&mut self) -> Frame {
        loop {
            let seed = self.rng.next_u64();
            let frame = Frame::from_seed(seed);
            if let Entry::Vacant(slot) = self.written.entry(frame.header) {
                slot.insert(seed);
                return frame;
            }
        }
    }

    fn step(&mut self) {
        if self.next < self.frame.used {
            let burst = 1 + below(&mut self.rng, 4) as usize;
            let end = (self.next + burst).min(self.frame.used);
            self.ring
                .write(PAYLOAD + self.next, &self.frame.words[self.next..end]);
            self.next = end;
        } else {
            self.ring.write(HEADER, &[self.frame.header]);
            self.frames += 1;
            self.frame = self.fresh();
            self.next = 0;
        }
    }
}

#[derive(Default)]
struct Tally {
    frames: u64,
    reads: u64,
    empty: u64,
    torn: u64,
    /// Torn reads during which the sender wrote, between the receiver's
    /// header, first-word and rest reads.
    torn_mid_read: u64,
    accepted: u64,
}

impl Tally {
    fn add(&mut self, other: &Tally) {
        self.frames += other.frames;
        self.reads += other.reads;
        self.empty += other.empty;
        self.torn += other.torn;
        self.torn_mid_read += other.torn_mid_read;
        self.accepted += other.accepted;
    }
}

/// Two CPUs taking turns at random on a link with `bus_cycles` per word: one
/// writes frames as fast as it can, the other looks at the mailbox `looks`
/// times. Checks every look.
fn tear(bus_cycles: u64, seed: u64, looks: u64) -> Tally {
    let config = config(bus_cycles, seed);
    let mut memory = vec![0u64; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (sender, mut receiver) = align(&link, 10_000).expect("the link did not align");
    let mut sender = Sender::new(sender, seed ^ 0x5e4d);
    let mut turns = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7245);
    let mut tally = Tally::default();

    for _ in 0..looks {
        for _ in 0..below(&mut turns, 4) {
            sender.step();
        }
        // Now and then the sender pauses, so that some frames land whole.
        if below(&mut turns, 16) == 0 {
            let pause = below(&mut turns, 2 * (DEPTH + LATENCY) as u64);
            let t = link.borrow().cycles() + pause;
            link.borrow_mut().advance_to(t);
        }
        let mut writes_mid_read = 0;
        let got = receive(&mut receiver, || {
            for _ in 0..below(&mut turns, 3) {
                sender.step();
                writes_mid_read += 1;
            }
        });
        let Some(got) = got else {
            tally.empty += 1;
            continue;
        };
        tally.reads += 1;
        let raw = &got.raw[..got.n];
        let Some(&frame_seed) = sender.written.get(&raw[0]) else {
            panic!("read header word {:#018x}, which was never written", raw[0]);
        };
        let frame = Frame::from_seed(frame_seed);
        let torn = !frame.is_image(raw);
        tally.torn += u64::from(torn);
        tally.torn_mid_read += u64::from(torn && writes_mid_read > 0);
        match got.result {
            Ok(len) => {
                tally.accepted += 1;
                assert!(
                    !torn,
                    "accepted a torn frame: header {:#018x}, words {raw:x?}",
                    raw[0]
                );
                assert_eq!(
                    &got.packet[..len],
                    &frame.packet[..frame.len],
                    "accepted bytes differ from frame {:#018x}",
                    raw[0]
                );
            }
            Err(reason) => assert!(
                torn,
                "rejected an intact frame ({reason:?}): header {:#018x}",
                raw[0]
            ),
        }
    }
    tally.frames = sender.frames;
    tally
}

#[test]
fn torn_frames_are_never_accepted() {
    const LOOKS_PER_LINK: u64 = 300_000;
    let mut total = Tally::default();
    for bus_cycles in 1..=8 {
        let tally = tear(bus_cycles, 0x7043_0000 + bus_cycles, LOOKS_PER_LINK);
        println!(
            "bus_cycles {bus_cycles}: {} frames written, {} reads, {} torn ({} with the sender \
             writing mid-read), {} accepted, {} empty",
            tally.frames, tally.reads, tally.torn, tally.torn_mid_read, tally.accepted, tally.empty
        );
        // Both ways of tearing occur: the sender writing between the
        // receiver's reads, and words of earlier writes still landing.
        assert!(
            tally.torn_mid_read > 0,
            "bus_cycles {bus_cycles}: no read tore while the sender wrote"
        );
        assert!(
            tally.torn > tally.torn_mid_read,
            "bus_cycles {bus_cycles}: no read tore without the sender writing mid-read"
        );
        assert!(
            tally.accepted > 0,
            "bus_cycles {bus_cycles}: no frame got through whole"
        );
        total.add(&tally);
    }
    println!(
        "torn frames: {} torn of {} reads, 0 torn accepted ({} with the sender writing mid-read; \
         {} frames written, {} accepted intact)",
        total.torn, total.reads, total.torn_mid_read, total.frames, total.accepted
    );
    assert!(
        total.torn >= 1_000_000,
        "only {} torn reads; the test must tear at least a million",
        total.torn
    );
}

/// The six counters a frame with a new, non-empty header lands in.
fn outcomes(stats: &Stats) -> [u64; 6] {
    [
        stats.drop_corrupt,
        stats.drop_malformed_len,
        stats.drop_oversized,
        stats.drop_bad_version,
        stats.frames_rx,
        stats.drop_duplicate,
    ]
}

#[test]
fn a_mailbox_fed_random_words_never_panics_and_counts_every_new_header_once() {
    const FRAMES: usize = 10_000;
    let config = config(8, 0xfeed);
    let mut memory = vec![0u64; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (mut peer, ring) = align(&link, 10_000).expect("the link did not align");
    let mut mailbox = Mailbox::new(ring, 0x0b0b);
    assert_eq!(mailbox.mtu(), MTU);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(0xfeed);

    let mut previous_header = 0u64;
    let mut delivered_seq = 0u16;
    let (mut new_headers, mut restreams, mut valid_new) = (0u64, 0u64, 0u64);
    for i in 0..FRAMES {
        // The payload: the whole mailbox after the header.
        let mut payload = [0u64; DEPTH - PAYLOAD];
        let mut sealed = None;
        match below(&mut rng, 4) {
            0 => {} // all zeros
            1 => payload.iter_mut().for_each(|w| *w = rng.next_u64()),
            2 => {
                // An IPv4 start whose length and header length may lie.
                payload.iter_mut().for_each(|w| *w = rng.next_u64());
                let mut first = payload[0].to_le_bytes();
                first[0] = 0x40 | (rng.next_u32() as u8 & 0x0f);
                let len = match below(&mut rng, 3) {
                    0 => below(&mut rng, 2 * MTU as u64) as u16,
                    1 => rng.next_u32() as u16,
                    _ => (frame::MIN_PACKET as u64 + below(&mut rng, 8)) as u16,
                };
                first[2..4].copy_from_slice(&len.to_be_bytes());
                payload[0] = u64::from_le_bytes(first);
            }
            _ => {
                // A well-formed frame, new or a repeat of the last delivered.
                let frame = Frame::from_seed(rng.next_u64());
                payload.iter_mut().for_each(|w| *w = rng.next_u64());
                payload[..frame.used].copy_from_slice(&frame.words[..frame.used]);
                let seq = if delivered_seq != 0 && below(&mut rng, 4) == 0 {
                    delivered_seq
                } else {
                    1 + below(&mut rng, u64::from(u16::MAX)) as u16
                };
                let header = frame::sign(seq, rng.next_u32() as u8, &frame.words[..frame.used]);
                sealed = Some((header, frame));
            }
        }
        let header = match below(&mut rng, 6) {
            0 => 0,
            1 => previous_header,
            2 => {
                // Our frame version, the rest random.
                let mut h = Header::from_word(rng.next_u64());
                h.version = VERSION;
                h.to_word()
            }
            3 => rng.next_u64(),
            _ => match &sealed {
                Some((h, _)) => h.to_word(),
                None => rng.next_u64(),
            },
        };
        peer.write(PAYLOAD, &payload);
        peer.write(HEADER, &[header]);
        // Let the frame land whole before the mailbox looks.
        let t = link.borrow().cycles() + 2 * (DEPTH + LATENCY) as u64;
        link.borrow_mut().advance_to(t);

        let before = *mailbox.stats();
        let now = link.borrow().instant();
        mailbox.poll(now);
        let after = *mailbox.stats();
        let delivered = mailbox
            .receive(smoltcp::time::Instant::ZERO)
            .map(|(rx, _tx)| rx.consume(|bytes| bytes.to_vec()));

        let counted: u64 = outcomes(&after)
            .iter()
            .zip(outcomes(&before))
            .map(|(a, b)| a - b)
            .sum();
        let is_new = header != previous_header && Header::from_word(header).seq != 0;
        let restream = header == previous_header && header != 0;
        assert_eq!(
            counted,
            u64::from(is_new),
            "frame {i}: header {header:#018x} after {previous_header:#018x} moved the counters \
             from {before:?} to {after:?}"
        );
        assert_eq!(
            after.link_restreams - before.link_restreams,
            u64::from(restream),
            "frame {i}: restreams"
        );
        new_headers += u64::from(is_new);
        restreams += u64::from(restream);
        // A well-formed frame under its own header is delivered once, byte
        // for byte, or dropped as a duplicate.
        if let Some((h, frame)) = sealed.filter(|(h, _)| is_new && h.to_word() == header) {
            if h.seq == delivered_seq {
                assert_eq!(after.drop_duplicate, before.drop_duplicate + 1, "frame {i}");
                assert_eq!(delivered, None, "frame {i}: a duplicate reached the stack");
            } else {
                assert_eq!(after.frames_rx, before.frames_rx + 1, "frame {i}");
                assert_eq!(
                    delivered.as_deref(),
                    Some(&frame.packet[..frame.len]),
                    "frame {i}"
                );
                valid_new += 1;
            }
        }
        if let Some(bytes) = &delivered {
            // Only a frame that checks out reaches the stack.
            assert_eq!(after.frames_rx, before.frames_rx + 1, "frame {i}");
            assert!(bytes.len() >= frame::MIN_PACKET && bytes.len() <= MTU);
            delivered_seq = Header::from_word(header).seq;
        }
        previous_header = header;
    }

    let stats = mailbox.stats();
    println!("{new_headers} new headers, {restreams} re-streamed, {valid_new} valid: {stats:?}");
    assert_eq!(outcomes(stats).iter().sum::<u64>(), new_headers);
    assert_eq!(stats.link_restreams, restreams);
    assert_eq!(
        (stats.frames_tx, stats.link_retransmits, stats.drop_tx_full),
        (0, 0, 0)
    );
    // Every kind of outcome came up.
    for (name, count) in [
        "corrupt",
        "malformed_len",
        "oversized",
        "bad_version",
        "rx",
        "duplicate",
    ]
    .iter()
    .zip(outcomes(stats))
    {
        assert!(count > 0, "no frame counted as {name}");
    }
}
