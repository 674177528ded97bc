//! Torn frames through the hardware model: the receive path never accepts
//! one.
//!
//! Tearing here comes from the model: a sender that never waits for the
//! receiver writes frame after frame (payload in bursts of one to four words,
//! header last) while the hardware streams them, and the receiver's reads
//! land whatever the receive memory holds at each half-word access of its
//! 32-bit CPU. Nothing splices words by hand.

use core::cell::RefCell;
use std::vec;
use std::vec::Vec;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::ringbuffer::TransmitRingbuffer;
use tidenet_core::time::Duration;
use tidenet_core::Stats;
use tidenet_model::{Cpu, Link as Model, LinkConfig, Tx};

use super::Receiver;
use crate::wire::{self, Binding, Header};
use crate::Ring;

const DEPTH: usize = 16;
const LATENCY: usize = 3;
const BINDING: Binding = Binding { own: 7, peer: 9 };

/// A random number below `n`.
fn below(rng: &mut impl Rng, n: u64) -> u64 {
    rng.next_u64() % n
}

/// Frame `seq`'s payload bytes, from its seq and the run's salt.
fn content(salt: u64, seq: u16, mtu: usize) -> Vec<u8> {
    let mut rng = Xoshiro256PlusPlus::seed_from_u64(salt ^ u64::from(seq) << 20);
    let len = 1 + below(&mut rng, mtu as u64) as usize;
    let mut bytes = vec![0; len];
    rng.fill_bytes(&mut bytes);
    bytes
}

/// Frame `seq` as the sender writes it: the header word, then the payload
/// words.
fn image(salt: u64, seq: u16, mtu: usize) -> (u64, Vec<u64>) {
    let bytes = content(salt, seq, mtu);
    let words: Vec<u64> = bytes.chunks(8).map(wire::pack).collect();
    let mut digest = Header::digest(seq, bytes.len() as u16, BINDING);
    for word in &words {
        digest.update(&word.to_le_bytes());
    }
    let header = Header {
        seq,
        len: bytes.len() as u16,
        crc: digest.finalize(),
    };
    (header.to_word(), words)
}

/// What a run saw.
#[derive(Default)]
struct Tally {
    frames: u64,
    accepted: u64,
    failed: u64,
}

/// The sending CPU: writes frame after frame into the ring, payload first
/// in bursts of one to four words, header last, never waiting for the
/// receiver. One [`step`](Sender::step) is one write.
struct Sender<'t, 'l, 'm, 'c> {
    tx: &'t mut Tx<'l, 'm, 'c>,
    ring: Ring,
    mtu: usize,
    salt: u64,
    rng: Xoshiro256PlusPlus,
    seq: u16,
    pos: u64,
    header: u64,
    words: Vec<u64>,
    next: usize,
    /// Where the latest whole frame is, and its seq.
    last_whole: Option<(u64, u16)>,
}

impl Sender<'_, '_, '_, '_> {
    fn step(&mut self) {
        if self.next < self.words.len() {
            let at = self.pos + 1 + self.next as u64;
            let burst = (1 + below(&mut self.rng, 4) as usize)
                .min(self.words.len() - self.next)
                .min(self.ring.until_end(at));
            let burst_words = &self.words[self.next..self.next + burst];
            self.tx.write_slice(burst_words, self.ring.index(at));
            self.next += burst;
        } else {
            self.tx
                .write_slice(&[self.header], self.ring.index(self.pos));
            self.last_whole = Some((self.pos, self.seq));
            self.pos += 1 + self.words.len() as u64;
            self.seq = self.seq.wrapping_add(1);
            (self.header, self.words) = image(self.salt, self.seq, self.mtu);
            self.next = 0;
        }
    }
}

/// One run: a sender on CPU A that writes frames back to back, ignoring
/// the receiver, and the receiver on CPU B aimed each time at the latest
/// whole frame, with the sender writing on between the receiver's polls.
fn tear(bus_cycles: u64, seed: u64, looks: u64) -> Tally {
    let config = LinkConfig {
        depth: DEPTH,
        latency: LATENCY,
        seed,
        ..LinkConfig::default()
    };
    let mut memory = vec![0u64; config.memory_words()];
    let link = RefCell::new(Model::new(&config, &mut memory).unwrap());
    let cpus = [Cpu::new(bus_cycles), Cpu::new(bus_cycles)];
    let (mut a, mut b) =
        tidenet_model::align(&link, [&cpus[0], &cpus[1]], 100_000).expect("the link aligns");
    let ring = Ring::for_depth(DEPTH);
    let mtu = wire::mtu_for_depth(DEPTH);
    let (header, words) = image(seed, 0, mtu);
    let mut sender = Sender {
        tx: &mut a.tx,
        ring,
        mtu,
        salt: seed,
        rng: Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x5e4d),
        seq: 0,
        pos: 0,
        header,
        words,
        next: 0,
        last_whole: None,
    };
    let mut turns = Xoshiro256PlusPlus::seed_from_u64(seed ^ 0x7245);
    let mut receiver = Receiver::new();
    receiver.reset(BINDING);
    let mut stats = Stats::default();
    let mut tally = Tally::default();
    let pass = Duration::from_nanos(DEPTH as u64 * 8);

    for _ in 0..looks {
        for _ in 0..below(&mut turns, 6) {
            sender.step();
        }
        let Some((at, expected)) = sender.last_whole else {
            continue;
        };
        // The sender's progress word would say the frame is written.
        receiver.expect(at, expected, sender.pos);
        // The two CPUs run side by side: B reads from about where A is.
        let lag = below(&mut turns, 2 * (DEPTH + LATENCY) as u64);
        cpus[1].advance_to(cpus[0].cycles() + lag);
        for _ in 0..8 {
            let mut budget = 1 + below(&mut turns, 6) as usize;
            let now = cpus[1].instant();
            let rto = Duration::from_micros(10);
            receiver.poll(
                &mut b.rx,
                &ring,
                mtu,
                &mut budget,
                now,
                pass,
                rto,
                &mut stats,
            );
            if let Some(packet) = receiver.ready() {
                tally.accepted += 1;
                assert_eq!(
                    packet,
                    &content(seed, expected, mtu)[..],
                    "bus {bus_cycles} seed {seed}: accepted frame {expected} torn"
                );
                break;
            }
            for _ in 0..below(&mut turns, 3) {
                sender.step();
            }
        }
        receiver.take();
    }
    tally.frames = u64::from(sender.seq);
    tally.failed = stats.drop_corrupt;
    tally
}

#[test]
fn torn_frames_are_never_accepted() {
    const LOOKS: u64 = 50_000;
    let mut accepted = 0;
    let mut failed = 0;
    for bus_cycles in 1..=8 {
        for seed in 0..3 {
            let tally = tear(bus_cycles, 0x7043_0000 + bus_cycles * 16 + seed, LOOKS);
            accepted += tally.accepted;
            failed += tally.failed;
            assert!(tally.frames < 60_000, "sequence numbers would repeat");
        }
        assert!(accepted > 0, "bus {bus_cycles}: no frame got through whole");
    }
    std::println!(
        "torn frames: {accepted} accepted whole and checked, {failed} failed their check"
    );
    // Some 9% of the frames looked at: reads that straddled a write.
    assert!(
        failed > 50_000,
        "only {failed} reads failed; the test must tear many"
    );
}

/// A receive memory that reads back random words: noise, or a link no
/// alignment could make sense of.
struct Noise(Xoshiro256PlusPlus);

impl tidenet_core::ringbuffer::ReceiveRingbuffer for Noise {
    fn data_len(&self) -> usize {
        256
    }

    fn read_slice(&mut self, dst: &mut [u64], _offset: usize) {
        for word in dst {
            // Now and then a header the receiver waits for, so that it
            // reads on and checks what follows.
            *word = match self.0.next_u32() % 4 {
                0 => Header {
                    seq: 1,
                    len: (self.0.next_u32() % 2000) as u16,
                    crc: self.0.next_u32(),
                }
                .to_word(),
                _ => self.0.next_u64(),
            };
        }
    }

    fn set_enabled(&mut self, _: bool) {}

    fn set_clear_at_count(&mut self, _: usize) {}
}

#[test]
fn random_words_are_never_delivered_and_never_panic() {
    let mut rx = Noise(Xoshiro256PlusPlus::seed_from_u64(0x4e01));
    let ring = Ring::for_depth(256);
    let mtu = wire::mtu_for_depth(256);
    let mut receiver = Receiver::new();
    receiver.reset(BINDING);
    let mut stats = Stats::default();
    let pass = Duration::from_nanos(256 * 8);
    let mut now = tidenet_core::time::Instant::ZERO;
    for _ in 0..200_000 {
        now = now + Duration::from_nanos(500);
        let mut budget = 64;
        receiver.poll(
            &mut rx,
            &ring,
            mtu,
            &mut budget,
            now,
            pass,
            Duration::from_micros(10),
            &mut stats,
        );
        assert_eq!(receiver.ready(), None, "noise was delivered");
    }
    assert_eq!(stats.frames_rx, 0);
    assert!(stats.link_restreams > 0);
}

/// A receive memory that reads back what a test put in it.
struct Memory(Vec<u64>);

impl tidenet_core::ringbuffer::ReceiveRingbuffer for Memory {
    fn data_len(&self) -> usize {
        self.0.len()
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        dst.copy_from_slice(&self.0[offset..offset + dst.len()]);
    }

    fn set_enabled(&mut self, _: bool) {}

    fn set_clear_at_count(&mut self, _: usize) {}
}

#[test]
fn a_stale_payload_word_like_the_header_expected_is_no_loss() {
    // The first word of an IPv4 packet with the don't-fragment flag and a
    // zero identification reads as the header of frame 64 with no payload.
    let ipv4 = u64::from_le_bytes([0x45, 0, 0, 0x28, 0, 0, 0x40, 0]);
    assert_eq!(
        (Header::from_word(ipv4).seq, Header::from_word(ipv4).len),
        (64, 0)
    );
    let ring = Ring::for_depth(256);
    let mtu = wire::mtu_for_depth(256);
    // A ring and more into the session, frame 64 is next, and the peer's
    // progress word says it has not written it yet: what is at the read
    // position is left over from the last time round.
    let at = 300;
    let mut memory = Memory(vec![0; 256]);
    memory.0[ring.index(at)] = ipv4;
    let progress = wire::Progress {
        written: at as u16,
        answered: 0,
        beat: 1,
    };
    memory.0[wire::PROGRESS] = progress.to_word(BINDING);
    let mut receiver = Receiver::new();
    receiver.reset(BINDING);
    receiver.expect(at, 64, at);
    let mut stats = Stats::default();
    let pass = Duration::from_nanos(256 * 8);
    let mut now = tidenet_core::time::Instant::ZERO;
    for _ in 0..1000 {
        now = now + pass / 4;
        let mut budget = 64;
        receiver.poll(
            &mut memory,
            &ring,
            mtu,
            &mut budget,
            now,
            pass,
            Duration::from_micros(10),
            &mut stats,
        );
        assert_eq!(receiver.ready(), None, "a leftover was delivered");
    }
    assert_eq!(
        (stats.drop_corrupt, stats.drop_lost, stats.naks_tx),
        (0, 0, 0),
        "a leftover counted as a loss, and the peer asked to rewind"
    );
}
