//! Torn frames through the ringbuffer model: the receive path never accepts
//! one, and the link layer counts every frame it cannot use.
//!
//! Tearing here comes from the model's timing alone: a sender that never
//! waits for acks rewrites the mailbox while the hardware streams it and while
//! the receiver reads it. Nothing splices words by hand.

use std::cell::RefCell;
use std::collections::HashMap;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use smoltcp::phy::{Device, RxToken};
use tidenet_core::ringbuffer::{AlignedRingbuffer, Aligner};
use tidenet_core::Stats;
use tidenet_ringbuffer::frame::{self, Drop, Header, HEADER, PAYLOAD, VERSION};
use tidenet_ringbuffer::link::Mailbox;
use tidenet_ringbuffer::model::{Link, LinkConfig, Port, Rx, Side, Tx};

type Ring<'l, 'm> = AlignedRingbuffer<Tx<'l, 'm>, Rx<'l, 'm>>;

const DEPTH: usize = 16;
const LATENCY: usize = 3;
/// The largest packet a depth-16 mailbox holds: 112 bytes.
const MTU: usize = frame::mtu_for_depth(DEPTH);
const MAX_WORDS: usize = MTU / 8;

/// Aligns both ends of `link`; returns side A's and side B's aligned ends.
fn align<'l, 'm>(link: &'l RefCell<Link<'m>>) -> (Ring<'l, 'm>, Ring<'l, 'm>) {
    let (ta, ra) = Port::pair(link, Side::A);
    let (tb, rb) = Port::pair(link, Side::B);
    let mut a = Aligner::new(ta, ra);
    let mut b = Aligner::new(tb, rb);
    for _ in 0..10_000 {
        let done_a = a.poll();
        let done_b = b.poll();
        if done_a && done_b {
            let (Ok(a), Ok(b)) = (a.finish(), b.finish()) else {
                unreachable!("both ends reported aligned")
            };
            return (a, b);
        }
    }
    panic!("the link did not align");
}

fn config(bus_cycles: u64, seed: u64) -> LinkConfig {
    LinkConfig {
        depth: DEPTH,
        latency: LATENCY,
        bus_cycles,
        seed,
        ..LinkConfig::default()
    }
}

/// A uniformly random number below `n`.
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

/// The receive path of `Mailbox::receive_frame`, word for word: the header,
/// the first payload word, the length it claims, the rest, then `open`. Unlike
/// the mailbox it reads again even when the header has not changed, so every
/// call is one more chance to catch the mailbox mid-write. `None` is an empty
/// mailbox (sequence number 0).
fn receive(ring: &mut Ring<'_, '_>) -> Option<Received> {
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
    ring.read(PAYLOAD, &mut got.raw[1..2]);
    got.n = 2;
    got.result = frame::packet_len(got.raw[1], MTU).and_then(|len| {
        let words = len.div_ceil(8);
        ring.read(PAYLOAD + 1, &mut got.raw[2..1 + words]);
        got.n = 1 + words;
        frame::open(&header, &got.raw[1..1 + words], len, &mut got.packet)
    });
    Some(got)
}

#[derive(Default)]
struct Tally {
    reads: u64,
    empty: u64,
    torn: u64,
    accepted: u64,
    frames: u64,
}

/// Writes frames as fast as it can into a link with `bus_cycles` per word,
/// reading them back on the far side in between; checks every read.
fn tear(bus_cycles: u64, seed: u64, frames: u64, tally: &mut Tally) {
    let config = config(bus_cycles, seed);
    let mut memory = vec![0u64; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
    let (mut sender, mut receiver) = align(&link);
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5eed);
    // Header word of every frame written, to the seed that rebuilds it.
    let mut written: HashMap<u64, u64> = HashMap::new();

    let check = |receiver: &mut Ring<'_, '_>, written: &HashMap<u64, u64>, tally: &mut Tally| {
        let Some(got) = receive(receiver) else {
            tally.empty += 1;
            return;
        };
        tally.reads += 1;
        let raw = &got.raw[..got.n];
        let Some(&frame_seed) = written.get(&raw[0]) else {
            panic!("read header word {:#018x}, which was never written", raw[0]);
        };
        let frame = Frame::from_seed(frame_seed);
        let torn = !frame.is_image(raw);
        tally.torn += u64::from(torn);
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
    };

    for _ in 0..frames {
        let frame = loop {
            let frame_seed = rng.next_u64();
            let frame = Frame::from_seed(frame_seed);
            // Header words must name one frame; redraw the rare repeat.
            if let std::collections::hash_map::Entry::Vacant(slot) = written.entry(frame.header) {
                slot.insert(frame_seed);
                break frame;
            }
        };
        tally.frames += 1;
        // Payload first, in bursts of random size, with the receiver looking
        // in between; then the header; then the receiver again.
        let mut start = 0;
        for end in 1..=frame.used {
            if end == frame.used || below(&mut rng, 3) == 0 {
                sender.write(PAYLOAD + start, &frame.words[start..end]);
                start = end;
                for _ in 0..below(&mut rng, 3) {
                    check(&mut receiver, &written, tally);
                }
            }
        }
        sender.write(HEADER, &[frame.header]);
        for _ in 0..below(&mut rng, 3) {
            check(&mut receiver, &written, tally);
        }
        // Now and then the sender pauses, so that some frames land whole.
        if below(&mut rng, 8) == 0 {
            let pause = below(&mut rng, 2 * (DEPTH + LATENCY) as u64);
            let t = link.borrow().cycles() + pause;
            link.borrow_mut().advance_to(t);
        }
    }
}

#[test]
fn torn_frames_are_never_accepted() {
    const FRAMES_PER_LINK: u64 = 400_000;
    let mut total = Tally::default();
    for bus_cycles in 1..=8 {
        let mut tally = Tally::default();
        tear(
            bus_cycles,
            0x7043_0000 + bus_cycles,
            FRAMES_PER_LINK,
            &mut tally,
        );
        println!(
            "bus_cycles {bus_cycles}: {} frames written, {} reads, {} torn, {} accepted, {} empty",
            tally.frames, tally.reads, tally.torn, tally.accepted, tally.empty
        );
        assert!(tally.torn > 0, "bus_cycles {bus_cycles}: nothing tore");
        assert!(
            tally.accepted > 0,
            "bus_cycles {bus_cycles}: nothing got through"
        );
        total.frames += tally.frames;
        total.reads += tally.reads;
        total.torn += tally.torn;
        total.accepted += tally.accepted;
        total.empty += tally.empty;
    }
    println!(
        "torn frames: {} of {} reads ({} frames written, {} accepted intact, 0 torn accepted)",
        total.torn, total.reads, total.frames, total.accepted
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
    let (mut peer, ring) = align(&link);
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
        // for byte, or acknowledged as a duplicate.
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
