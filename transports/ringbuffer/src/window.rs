//! The sender's copies of the frames in flight.
//!
//! The transmit memory cannot be read back, so every frame written and not
//! yet acknowledged is kept in RAM until it is, in case it must be written
//! again. This is that RAM: a circular buffer of frame images, each the
//! frame's words as little-endian bytes (header, then payload padded to a
//! word), oldest first. A frame is never split across the buffer's end, so
//! the stack above can build each packet in place.

use crate::wire::Header;

/// Bytes a frame of `len` payload bytes takes in the window.
pub const fn image_len(len: usize) -> usize {
    8 + len.next_multiple_of(8)
}

/// A circular buffer of frame images over borrowed memory.
pub struct Window<'a> {
    buf: &'a mut [u8],
    /// Offset of the oldest frame.
    head: usize,
    /// Offset where the next frame goes.
    tail: usize,
    /// Where the frames before the wrap end, once the tail has wrapped
    /// behind the head (it may be the buffer's length); the buffer's length
    /// otherwise.
    wrap: usize,
    frames: usize,
}

impl<'a> Window<'a> {
    /// An empty window in `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        let wrap = buf.len();
        Window {
            buf,
            head: 0,
            tail: 0,
            wrap,
            frames: 0,
        }
    }

    /// Bytes of memory the window has.
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Frames held.
    pub fn len(&self) -> usize {
        self.frames
    }

    /// Whether no frame is held.
    pub fn is_empty(&self) -> bool {
        self.frames == 0
    }

    /// Forgets every frame.
    pub fn clear(&mut self) {
        self.head = 0;
        self.tail = 0;
        self.wrap = self.buf.len();
        self.frames = 0;
    }

    /// Where a frame image of `bytes` would go, if there is room.
    fn place(&self, bytes: usize) -> Option<usize> {
        if self.frames == 0 {
            return (bytes <= self.buf.len()).then_some(0);
        }
        // The newest frames went in at the start, behind the oldest.
        let wrapped = self.tail < self.head;
        if !wrapped && self.tail + bytes <= self.buf.len() {
            Some(self.tail)
        } else if !wrapped && bytes < self.head {
            Some(0)
        } else if wrapped && self.tail + bytes < self.head {
            Some(self.tail)
        } else {
            None
        }
    }

    /// Whether a frame of `len` payload bytes fits now.
    pub fn has_room(&self, len: usize) -> bool {
        self.place(image_len(len)).is_some()
    }

    /// Appends a frame of `len` payload bytes: `f` fills the payload, then
    /// `seal` is given the padded payload and returns the header. Returns
    /// the frame's offset and what `f` returned, or `f` back, not called,
    /// if there is no room.
    pub fn push<R, F: FnOnce(&mut [u8]) -> R>(
        &mut self,
        len: usize,
        f: F,
        seal: impl FnOnce(&[u8]) -> Header,
    ) -> Result<(usize, R), F> {
        let bytes = image_len(len);
        let Some(at) = self.place(bytes) else {
            return Err(f);
        };
        if self.frames == 0 {
            self.head = at;
        } else if at == 0 && self.tail != 0 {
            self.wrap = self.tail;
        }
        let image = &mut self.buf[at..at + bytes];
        let (header, payload) = image.split_at_mut(8);
        let result = f(&mut payload[..len]);
        payload[len..].fill(0);
        header.copy_from_slice(&seal(payload).to_word().to_le_bytes());
        self.tail = at + bytes;
        self.frames += 1;
        Ok((at, result))
    }

    /// The oldest frame's offset, if any.
    pub fn first(&self) -> Option<usize> {
        (self.frames > 0).then_some(self.head)
    }

    /// The offset of the frame after the one at `at`, if `at` is not the
    /// newest.
    pub fn next(&self, at: usize) -> Option<usize> {
        let end = at + image_len(usize::from(self.header(at).len));
        if end == self.tail {
            None
        } else if end == self.wrap {
            Some(0)
        } else {
            Some(end)
        }
    }

    /// The header of the frame at `at`.
    pub fn header(&self, at: usize) -> Header {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.buf[at..at + 8]);
        Header::from_word(u64::from_le_bytes(word))
    }

    /// The padded payload of the frame at `at`.
    pub fn payload(&self, at: usize) -> &[u8] {
        let len = usize::from(self.header(at).len);
        &self.buf[at + 8..at + image_len(len)]
    }

    /// Drops the oldest frame, once acknowledged.
    pub fn pop(&mut self) {
        let Some(at) = self.first() else {
            return;
        };
        self.frames -= 1;
        if self.frames == 0 {
            self.clear();
            return;
        }
        self.head = match self.next(at) {
            Some(next) => next,
            None => self.tail,
        };
        if self.head == 0 {
            self.wrap = self.buf.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::vec;

    use super::*;

    fn seal(seq: u16) -> impl FnOnce(&[u8]) -> Header {
        move |payload| Header {
            seq,
            len: payload.iter().filter(|&&b| b != 0).count() as u16,
            crc: 0,
        }
    }

    /// Pushes a frame of `len` bytes of value `seq`, so its header says
    /// how long it is.
    fn push(w: &mut Window<'_>, seq: u16, len: usize) -> bool {
        w.push(len, |p| p.fill(seq as u8), seal(seq)).is_ok()
    }

    #[test]
    fn frames_come_out_oldest_first_across_the_wrap() {
        let mut buf = [0u8; 64];
        let mut w = Window::new(&mut buf);
        assert!(push(&mut w, 1, 20)); // 32 bytes at 0
        assert!(push(&mut w, 2, 10)); // 24 bytes at 32
        assert!(!push(&mut w, 3, 10), "8 bytes left at the end");
        w.pop();
        assert!(
            push(&mut w, 3, 10),
            "wraps to 0: 24 bytes before the head at 32"
        );
        assert!(!push(&mut w, 4, 1), "the tail may not reach the head");
        let mut at = w.first();
        let mut seen = vec![];
        while let Some(a) = at {
            let h = w.header(a);
            assert!(w.payload(a)[..usize::from(h.len)]
                .iter()
                .all(|&b| b == h.seq as u8));
            seen.push(h.seq);
            at = w.next(a);
        }
        assert_eq!(seen, [2, 3]);
        w.pop();
        w.pop();
        assert_eq!(w.len(), 0);
        assert!(push(&mut w, 5, 56), "empty: the whole buffer again");
    }

    #[test]
    fn payload_padding_is_zeroed_and_covered_by_the_seal() {
        let mut buf = [0xffu8; 32];
        let mut w = Window::new(&mut buf);
        let pushed = w.push(
            3,
            |p| p.copy_from_slice(&[1, 2, 3]),
            |payload| {
                assert_eq!(payload, [1, 2, 3, 0, 0, 0, 0, 0]);
                Header {
                    seq: 9,
                    len: 3,
                    crc: 7,
                }
            },
        );
        assert!(pushed.is_ok());
        assert_eq!(
            w.header(0),
            Header {
                seq: 9,
                len: 3,
                crc: 7
            }
        );
    }
}

#[cfg(test)]
mod fuzz {
    use std::vec::Vec;

    use rand_core::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    use super::*;

    #[test]
    fn random_pushes_and_pops_keep_every_frame_whole() {
        let mut buf = [0u8; 8192];
        let mut w = Window::new(&mut buf);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(1);
        let mut model: std::collections::VecDeque<(u16, u16)> = Default::default();
        let mut seq = 0u16;
        for step in 0..100_000 {
            if rng.next_u32() % 3 != 0 {
                let len = 1 + (rng.next_u32() % 1500) as usize;
                seq = seq.wrapping_add(1);
                let s = seq;
                if w.push(
                    len,
                    |p| p.fill(s as u8),
                    |_| Header {
                        seq: s,
                        len: len as u16,
                        crc: 0,
                    },
                )
                .is_ok()
                {
                    model.push_back((s, len as u16));
                } else {
                    seq = seq.wrapping_sub(1);
                }
            } else if !model.is_empty() {
                w.pop();
                model.pop_front();
            }
            let mut at = w.first();
            let mut seen = Vec::new();
            while let Some(a) = at {
                let h = w.header(a);
                assert!(
                    w.payload(a)[..usize::from(h.len)]
                        .iter()
                        .all(|&b| b == h.seq as u8),
                    "step {step}"
                );
                seen.push((h.seq, h.len));
                at = w.next(a);
            }
            assert_eq!(
                seen,
                model.iter().copied().collect::<Vec<_>>(),
                "step {step}"
            );
        }
    }
}
