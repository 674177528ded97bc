//! The link's receive path fed raw ringbuffer words: a real
//! `tidenet_ringbuffer::Link`, aligned by the hardware, polled against a
//! receive memory whose every word the fuzzer writes.
//!
//! The fuzzer plays the peer, as badly as it likes: it writes raw words
//! anywhere, control words sealed for the session the link shows (so that
//! the handshake and the window can be reached), and frames with good
//! checks at any ring position and sequence number; it lets time pass and
//! limits the bus budget. The link must not panic, must keep every access
//! inside the ringbuffer, and may deliver only packets of at most its MTU
//! that the peer framed whole.
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use tidenet_core::time::{Duration, Instant};
use tidenet_fuzz::ring::Memory;
use tidenet_fuzz::Input;
use tidenet_ringbuffer::wire::{
    self, pack, Binding, Feedback, Header, Hello, Progress, Sessions, FEEDBACK, HELLO, MIN_DEPTH,
    PROGRESS, RING, SESSIONS,
};
use tidenet_ringbuffer::{image_len, Alignment, Config, Link};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let depth = MIN_DEPTH + usize::from(input.u8() % 64);
    let (tx, rx) = (Memory::new(depth), Memory::new(depth));
    let config = Config {
        alignment: Alignment::Hardware,
        ..Config::new(input.u16())
    };
    let mut window = vec![0u8; 4 * image_len(wire::MAX_MTU)];
    let mut link = Link::new(tx.clone(), rx.clone(), 0x0101, config, &mut window);
    let mtu = link.mtu();
    let ring = (depth - RING) as u64;
    let mut now = Instant::ZERO;
    let mut peer_session = 1u16;
    let mut framed: HashSet<Vec<u8>> = HashSet::new();
    while !input.is_empty() {
        // The peer's binding: its session, then the one the link shows.
        let shown = Sessions::from_word(tx.word(SESSIONS)).map_or(0, |s| s.0.own);
        let binding = Binding {
            own: peer_session,
            peer: shown,
        };
        match input.u8() % 9 {
            0 => rx.set(usize::from(input.u8()) % depth, input.u64()),
            1 => {
                peer_session = input.u16();
                rx.set(
                    SESSIONS,
                    Sessions(Binding {
                        own: peer_session,
                        peer: shown,
                    })
                    .to_word(),
                );
            }
            2 => {
                let version = match input.u8() {
                    0 => input.u8(),
                    _ => wire::VERSION,
                };
                let hello = Hello {
                    host: input.u16(),
                    version,
                };
                rx.set(HELLO, hello.to_word(binding));
            }
            3 => {
                let progress = Progress {
                    written: input.u16(),
                    answered: input.u8() & 3,
                    beat: input.u16() & 0x3fff,
                };
                rx.set(PROGRESS, progress.to_word(binding));
            }
            4 => {
                let feedback = Feedback {
                    ack: input.u16() & 0x3fff,
                    nak: input.u8() & 3,
                    consumed: input.u16(),
                };
                rx.set(FEEDBACK, feedback.to_word(binding));
            }
            5 => {
                // A frame with a good check at a ring position; its
                // length may claim more than the MTU.
                let pos = u64::from(input.u16());
                let seq = input.u16();
                let len = usize::from(input.u16()) % (wire::MAX_MTU + 64);
                let payload = input.bytes(len);
                let mut words: Vec<u64> = payload.chunks(8).map(pack).collect();
                words.resize(len.div_ceil(8), 0);
                let mut digest = Header::digest(seq, len as u16, binding);
                words.iter().for_each(|w| digest.update(&w.to_le_bytes()));
                let header = Header {
                    seq,
                    len: len as u16,
                    crc: digest.finalize(),
                };
                let mut packet = payload.to_vec();
                packet.resize(len, 0);
                framed.insert(packet);
                for (i, word) in std::iter::once(header.to_word()).chain(words).enumerate() {
                    rx.set(RING + ((pos + i as u64) % ring) as usize, word);
                }
            }
            6 => now = now + Duration::from_micros(u64::from(input.u16())),
            7 => {
                let words = input.u8();
                tx.set_budget(if words == 0 {
                    usize::MAX
                } else {
                    usize::from(words)
                });
                rx.set_budget(if words == 0 {
                    usize::MAX
                } else {
                    usize::from(words)
                });
            }
            _ => {
                let len = usize::from(input.u16()) % (wire::MAX_MTU + 64);
                if let Some(transmit) = link.transmit() {
                    transmit.consume(len, |buf| buf.fill(0x5a));
                }
            }
        }
        link.poll(now);
        let _ = link.poll_at(now);
        while let Some((received, _)) = link.receive() {
            let packet = received.consume(|p| p.to_vec());
            assert!(
                packet.len() <= mtu,
                "{} bytes over an MTU of {mtu}",
                packet.len()
            );
            assert!(framed.contains(&packet), "a packet nobody framed");
        }
    }
});
