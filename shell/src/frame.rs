//! Binary mode: COBS frames between zero bytes, mixed into typed text.
//!
//! Text never contains a zero byte, and COBS removes every zero from a frame,
//! so a zero can only be a frame boundary. A client sends
//! `0x00 <COBS bytes> 0x00`: the leading zero ends whatever came before (a
//! prompt, line noise, half a frame) and opens the frame; the trailing one
//! closes it. Bytes outside frames are text for the line editor.
//!
//! postcard's `CobsAccumulator` does the same job for a pure frame stream, but
//! here an empty frame (`0x00 0x00`) must open a frame rather than fail, an
//! over-long frame must give one error and not two, and a frame that stops
//! half way must time out back to text, so the delimiting lives here and the
//! COBS itself stays with the `cobs` crate.

use tidenet_core::time::{Duration, Instant};
use tidenet_core::Error;

/// A frame whose next byte does not come within this is abandoned with
/// [`Error::IncompleteFrame`]. A frame's bytes arrive back to back (a 512-byte
/// frame takes 6 ms at 921600 baud), so a gap this long means the rest is lost.
pub const FRAME_TIMEOUT: Duration = Duration::from_millis(200);

/// What one byte did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Framed {
    /// A byte of text, for the line editor.
    Text(u8),
    /// Part of a frame; nothing to do yet.
    Pending,
    /// A whole frame, decoded: the message is the first `len` bytes of the
    /// buffer.
    Frame(usize),
    /// A frame that cannot be used, and why.
    Bad(Error),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    /// Inside a frame; `len` bytes so far.
    Frame {
        len: usize,
        last: Instant,
    },
    /// Inside a frame too long for the buffer; waiting for its end.
    Overflow {
        last: Instant,
    },
}

/// Splits UART input into text and frames.
pub(crate) struct Framer<'a> {
    buf: &'a mut [u8],
    state: State,
}

impl<'a> Framer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Framer {
            buf,
            state: State::Text,
        }
    }

    /// The decoded message of the last [`Framed::Frame`], and room to encode
    /// the reply in. Only valid until the next byte.
    pub(crate) fn buf(&mut self) -> &mut [u8] {
        self.buf
    }

    pub(crate) fn push(&mut self, byte: u8, now: Instant) -> Framed {
        match (self.state, byte) {
            (State::Text, 0) => {
                self.state = State::Frame { len: 0, last: now };
                Framed::Pending
            }
            (State::Text, b) => Framed::Text(b),
            // An empty frame: the zero also opens the next one.
            (State::Frame { len: 0, .. }, 0) => {
                self.state = State::Frame { len: 0, last: now };
                Framed::Pending
            }
            (State::Frame { len, .. }, 0) => {
                self.state = State::Text;
                match self.buf.get_mut(..len).map(cobs::decode_in_place) {
                    Some(Ok(n)) => Framed::Frame(n),
                    _ => Framed::Bad(Error::MalformedRequest),
                }
            }
            (State::Frame { len, .. }, b) => match self.buf.get_mut(len) {
                Some(slot) => {
                    *slot = b;
                    self.state = State::Frame {
                        len: len + 1,
                        last: now,
                    };
                    Framed::Pending
                }
                None => {
                    self.state = State::Overflow { last: now };
                    Framed::Pending
                }
            },
            (State::Overflow { .. }, 0) => {
                self.state = State::Text;
                Framed::Bad(Error::frame_too_long(self.buf.len()))
            }
            (State::Overflow { .. }, _) => {
                self.state = State::Overflow { last: now };
                Framed::Pending
            }
        }
    }

    /// Gives up on a frame whose bytes stopped coming: an error if it had
    /// begun, nothing if it was only a lone zero.
    pub(crate) fn expire(&mut self, now: Instant) -> Option<Error> {
        let (last, started) = match self.state {
            State::Text => return None,
            State::Frame { len, last } => (last, len > 0),
            State::Overflow { last } => (last, true),
        };
        if now.saturating_since(last) < FRAME_TIMEOUT {
            return None;
        }
        self.state = State::Text;
        started.then_some(Error::IncompleteFrame)
    }

    /// When [`expire`](Framer::expire) may have something to do.
    pub(crate) fn expires_at(&self) -> Option<Instant> {
        match self.state {
            State::Text => None,
            State::Frame { last, .. } | State::Overflow { last } => Some(last + FRAME_TIMEOUT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(framer: &mut Framer<'_>, bytes: &[u8]) -> std::vec::Vec<Framed> {
        bytes
            .iter()
            .map(|&b| framer.push(b, Instant::ZERO))
            .filter(|f| *f != Framed::Pending)
            .collect()
    }

    #[test]
    fn text_passes_and_a_frame_decodes_between_zeros() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        let mut wire = [0u8; 8];
        let n = cobs::encode(&[1, 0, 2], &mut wire);
        let mut input = std::vec![b'a', 0];
        input.extend_from_slice(&wire[..n]);
        input.extend_from_slice(&[0, b'b']);
        assert_eq!(
            feed(&mut framer, &input),
            [Framed::Text(b'a'), Framed::Frame(3), Framed::Text(b'b')]
        );
        assert_eq!(&framer.buf()[..3], &[1, 0, 2]);
    }

    #[test]
    fn back_to_back_frames_share_no_state() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        let out = feed(&mut framer, &[0, 2, 7, 0, 0, 0, 2, 9, 0]);
        assert_eq!(out, [Framed::Frame(1), Framed::Frame(1)]);
        assert_eq!(framer.buf()[0], 9);
    }

    #[test]
    fn an_over_long_frame_is_one_error() {
        let mut buf = [0u8; 4];
        let mut framer = Framer::new(&mut buf);
        let out = feed(&mut framer, &[0, 9, 1, 1, 1, 1, 1, 1, 1, 1, 0, b'x']);
        assert_eq!(
            out,
            [Framed::Bad(Error::frame_too_long(4)), Framed::Text(b'x')]
        );
    }

    #[test]
    fn a_half_frame_times_out_to_one_error_and_text() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        assert_eq!(framer.push(0, Instant::ZERO), Framed::Pending);
        assert_eq!(framer.push(5, Instant::ZERO), Framed::Pending);
        let at = framer.expires_at().unwrap();
        assert_eq!(framer.expire(Instant::from_micros(1)), None);
        assert_eq!(framer.expire(at), Some(Error::IncompleteFrame));
        assert_eq!(framer.push(b's', at), Framed::Text(b's'));
    }

    #[test]
    fn a_lone_zero_times_out_silently() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        framer.push(0, Instant::ZERO);
        assert_eq!(framer.expire(Instant::ZERO + FRAME_TIMEOUT), None);
        assert_eq!(framer.push(b's', Instant::ZERO), Framed::Text(b's'));
    }

    #[test]
    fn a_frame_that_is_not_cobs_is_malformed() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        // A code byte of 9 promises 8 more bytes before the end.
        assert_eq!(
            feed(&mut framer, &[0, 9, 1, 0]),
            [Framed::Bad(Error::MalformedRequest)]
        );
    }
}
