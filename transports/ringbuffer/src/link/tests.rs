//! A link on memories no real peer writes: of any size, full of noise. It
//! must never panic, never come up, and name what is wrong where it can.

use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{DownReason, LinkState};

use super::{Alignment, Config, Link};
use crate::wire::MIN_DEPTH;

/// A transmit memory of so many words that checks every write stays inside.
struct Sink(usize);

impl TransmitRingbuffer for Sink {
    fn data_len(&self) -> usize {
        self.0
    }
    fn write_slice(&mut self, src: &[u64], offset: usize) {
        assert!(offset + src.len() <= self.0, "write past the memory");
    }
    fn set_enabled(&mut self, _: bool) {}
}

/// A receive memory of `depth` words that reads back noise: random words,
/// runs of zeros, one word repeated.
struct Noise {
    depth: usize,
    state: u64,
}

impl Noise {
    fn next(&mut self) -> u64 {
        self.state ^= self.state << 13;
        self.state ^= self.state >> 7;
        self.state ^= self.state << 17;
        self.state
    }
}

impl ReceiveRingbuffer for Noise {
    fn data_len(&self) -> usize {
        self.depth
    }
    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        assert!(offset + dst.len() <= self.depth, "read past the memory");
        let mode = self.next() % 8;
        let fixed = self.next();
        for word in dst {
            *word = match mode {
                0 => 0,
                1 => fixed,
                _ => self.next(),
            };
        }
    }
    fn set_enabled(&mut self, _: bool) {}
    fn set_clear_at_count(&mut self, _: usize) {}
}

#[test]
fn noise_on_memories_of_any_depth_never_panics_nor_comes_up() {
    let mut window = [0u8; 4096];
    for depth in (0..=40).chain([128, 256, 4000]) {
        for alignment in [Alignment::Protocol, Alignment::Hardware] {
            let mut config = Config::new(7);
            config.alignment = alignment;
            let noise = Noise {
                depth,
                state: 0x9e37_79b9_7f4a_7c15 ^ depth as u64,
            };
            let mut link = Link::new(Sink(depth), noise, 1, config, &mut window);
            let mut now = Instant::ZERO;
            for _ in 0..5_000 {
                link.poll(now);
                assert!(link.receive().is_none(), "depth {depth}: noise delivered");
                now = now + Duration::from_micros(7);
            }
            let state = link.state();
            if depth < MIN_DEPTH {
                assert_eq!(state, LinkState::Down(DownReason::RingTooSmall));
                assert_eq!(link.poll_at(now), None, "an unusable link sleeps");
            } else {
                assert!(!state.is_up(), "depth {depth} {alignment:?}: up on noise");
            }
        }
    }
}
