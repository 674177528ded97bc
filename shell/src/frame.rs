//! Binary mode: COBS frames between zero bytes, mixed into typed text.
//!
//! Text never contains a zero byte, and COBS removes every zero from a frame,
//! so a zero can only be a frame boundary, or noise (below). A client sends
//! `0x00 <COBS bytes> 0x00`: the leading zero ends whatever came before (a
//! prompt, line noise, half a frame) and opens the frame; the trailing one
//! closes it. Bytes outside frames are text for the line editor.
//!
//! A zero can also be line noise, or the break a UART reads when a cable is
//! plugged in. So until the frame's header has been read, each byte is
//! checked: once the bytes after the zero cannot begin a COBS-encoded request
//! header (see [`probe`]), the zero was noise. It is dropped and the bytes
//! after it are text again ([`Framed::Noise`]), as though it had never come,
//! so a person who types right after a burst of noise loses nothing. Past the
//! header, nothing is checked: a frame with a readable header is a client's,
//! and is answered under its tag.
//!
//! postcard's `CobsAccumulator` does the same job for a pure frame stream, but
//! here an empty frame (`0x00 0x00`) must open a frame rather than fail, an
//! over-long frame must give one error and not two, a frame that stops half
//! way must time out back to text, and noise must turn back into text, so the
//! delimiting lives here and the COBS itself stays with the `cobs` crate.

use tidenet_core::proto::{Header, VERSION};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::Error;

/// A frame whose next byte does not come within this is abandoned with
/// [`Error::IncompleteFrame`]. A frame's bytes arrive back to back (a 512-byte
/// frame takes 6 ms at 921600 baud), so a gap this long means the rest is lost.
pub const FRAME_TIMEOUT: Duration = Duration::from_millis(200);

/// The highest protocol version a frame may carry and still be taken for a
/// request. Every key a terminal sends is above it: Backspace (8), Tab (9),
/// Enter (10 or 13), Escape (27) and text (32 and up). So text typed after a
/// stray zero shows itself as noise by its second byte, which a frame would
/// hold its version in.
pub(crate) const HIGHEST_VERSION: u8 = 7;

// A protocol version past this would be taken for noise: raise the bound only
// as far as no key a terminal sends can reach.
const _: () = assert!(VERSION >= 1 && VERSION <= HIGHEST_VERSION);

/// The most bytes after its zero that a frame may hold before [`probe`] knows
/// whether it begins with a header: one COBS code byte, then the header's at
/// most four (a version byte and a varint `u16` tag of up to three). A zero
/// inside the header ends the tag, so it cannot need more.
pub(crate) const PROBE_MAX: usize = 5;

/// The bytes of a frame found to be noise, to be read again as text.
pub(crate) type Replay = heapless::Vec<u8, PROBE_MAX>;

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
    /// The zero that opened the frame was noise and is dropped; these bytes,
    /// the last one included, are text, in order.
    Noise(Replay),
}

/// What the first bytes of a frame say about it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Probe {
    /// They can begin a header, but do not hold all of it yet.
    Maybe,
    /// They begin with a whole header a node can read.
    Header,
    /// They cannot begin a request header.
    Noise,
}

/// Whether the COBS bytes `raw` (a frame's first bytes, without its zero) can
/// begin a request message: `[version: u8][tag: varint u16]...` with a
/// version from 1 to [`HIGHEST_VERSION`] and a tag postcard reads as a `u16`.
/// Any version in that range passes, so a client of another version still
/// gets its `unsupported-version` answer.
pub(crate) fn probe(raw: &[u8]) -> Probe {
    // Undo COBS on the first bytes. A code byte `c` stands for `c - 1` bytes
    // as they are, then a zero; the zero is there only if more follows, and
    // never after 0xff.
    let mut decoded = [0u8; PROBE_MAX];
    let mut n = 0;
    let mut out = |b: u8| {
        if let Some(slot) = decoded.get_mut(n) {
            *slot = b;
            n += 1;
        }
    };
    let mut rest = raw;
    while let Some((&code, tail)) = rest.split_first() {
        let run = usize::from(code.saturating_sub(1));
        let Some((data, after)) = tail.split_at_checked(run) else {
            tail.iter().for_each(|&b| out(b));
            break;
        };
        data.iter().for_each(|&b| out(b));
        if code != 0xff && !after.is_empty() {
            out(0);
        }
        rest = after;
    }
    let decoded = decoded.get(..n).unwrap_or_default();
    match decoded.first() {
        None => Probe::Maybe,
        Some(version) if !(1..=HIGHEST_VERSION).contains(version) => Probe::Noise,
        Some(_) => match postcard::take_from_bytes::<Header>(decoded) {
            Ok(_) => Probe::Header,
            Err(postcard::Error::DeserializeUnexpectedEnd) => Probe::Maybe,
            Err(_) => Probe::Noise,
        },
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    /// Inside a frame; `len` bytes so far, the first of them a whole header
    /// if `header`.
    Frame {
        len: usize,
        last: Instant,
        header: bool,
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
                self.state = State::Frame {
                    len: 0,
                    last: now,
                    header: false,
                };
                Framed::Pending
            }
            (State::Text, b) => Framed::Text(b),
            // An empty frame: the zero also opens the next one.
            (State::Frame { len: 0, .. }, 0) => {
                self.state = State::Frame {
                    len: 0,
                    last: now,
                    header: false,
                };
                Framed::Pending
            }
            (State::Frame { len, .. }, 0) => {
                self.state = State::Text;
                match self.buf.get_mut(..len).map(cobs::decode_in_place) {
                    Some(Ok(n)) => Framed::Frame(n),
                    _ => Framed::Bad(Error::MalformedRequest),
                }
            }
            (State::Frame { len, header, .. }, b) => {
                let Some(slot) = self.buf.get_mut(len) else {
                    self.state = State::Overflow { last: now };
                    return Framed::Pending;
                };
                *slot = b;
                let len = len + 1;
                let raw = self.buf.get(..len).unwrap_or_default();
                // Past PROBE_MAX bytes the header is always known; the bound
                // only keeps a noise replay within its buffer.
                let header = header
                    || len > PROBE_MAX
                    || match probe(raw) {
                        Probe::Header => true,
                        Probe::Maybe => false,
                        Probe::Noise => {
                            self.state = State::Text;
                            return Framed::Noise(Replay::from_slice(raw).unwrap_or_default());
                        }
                    };
                self.state = State::Frame {
                    len,
                    last: now,
                    header,
                };
                Framed::Pending
            }
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
            State::Frame { len, last, .. } => (last, len > 0),
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

    fn cobs(message: &[u8]) -> std::vec::Vec<u8> {
        let mut wire = std::vec![0u8; cobs::max_encoding_length(message.len())];
        let n = cobs::encode(message, &mut wire);
        wire.truncate(n);
        wire
    }

    /// Every prefix of `raw`, probed.
    fn probes(raw: &[u8]) -> std::vec::Vec<Probe> {
        (1..=raw.len()).map(|n| probe(&raw[..n])).collect()
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
        let out = feed(&mut framer, &[0, 2, 7, 0, 0, 0, 2, 5, 0]);
        assert_eq!(out, [Framed::Frame(1), Framed::Frame(1)]);
        assert_eq!(framer.buf()[0], 5);
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

    #[test]
    fn text_after_a_zero_is_noise_by_its_second_byte_and_comes_back() {
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        assert_eq!(framer.push(0, Instant::ZERO), Framed::Pending);
        assert_eq!(framer.push(b's', Instant::ZERO), Framed::Pending);
        assert_eq!(
            framer.push(b't', Instant::ZERO),
            Framed::Noise(Replay::from_slice(b"st").unwrap())
        );
        assert_eq!(framer.expires_at(), None, "no frame is left open");
        assert_eq!(framer.push(b'a', Instant::ZERO), Framed::Text(b'a'));
    }

    #[test]
    fn keys_a_terminal_sends_after_a_zero_are_noise() {
        // Enter, Tab, Backspace, Delete, an arrow, a UTF-8 letter and a
        // break's 0xff, each then typed text: none can be a version byte.
        for keys in [
            &b"\rs"[..],
            b"\ns",
            b"\ts",
            b"\x08s",
            b"\x7fs",
            b"\x1b[A",
            "é".as_bytes(),
            b"\xffs",
            b"\r\r",
        ] {
            let mut buf = [0u8; 16];
            let mut framer = Framer::new(&mut buf);
            let mut input = std::vec![0];
            input.extend_from_slice(keys);
            let mut want = std::vec![Framed::Noise(Replay::from_slice(&keys[..2]).unwrap())];
            want.extend(keys[2..].iter().map(|&b| Framed::Text(b)));
            assert_eq!(feed(&mut framer, &input), want, "{keys:02x?}");
        }
    }

    #[test]
    fn a_zero_byte_version_is_noise() {
        // A code byte of 1 is a zero: version 0, which no client sends.
        let mut buf = [0u8; 16];
        let mut framer = Framer::new(&mut buf);
        assert_eq!(
            feed(&mut framer, &[0, 1, b's']),
            [Framed::Noise(Replay::from_slice(&[1, b's']).unwrap())]
        );
    }

    #[test]
    fn the_probe_reads_the_header_as_postcard_does() {
        // `status` with tag 1, as the docs' worked example sends it.
        assert_eq!(
            probes(&[0x03, 0x03, 0x01, 0x01]),
            [Probe::Maybe, Probe::Maybe, Probe::Header, Probe::Header]
        );
        // Tag 0 is an implicit zero: known once the next code byte comes.
        assert_eq!(
            probes(&cobs(&[VERSION, 0, 0])),
            [Probe::Maybe, Probe::Maybe, Probe::Header, Probe::Header]
        );
        // A three-byte tag whose last byte overflows a u16, or continues.
        assert_eq!(probe(&cobs(&[VERSION, 0xff, 0xff, 0x03])), Probe::Header);
        assert_eq!(probe(&cobs(&[VERSION, 0xff, 0xff, 0x04])), Probe::Noise);
        assert_eq!(probe(&cobs(&[VERSION, 0xff, 0xff, 0x81])), Probe::Noise);
        // Versions outside 1 to HIGHEST_VERSION.
        assert_eq!(probe(&cobs(&[HIGHEST_VERSION + 1, 1, 0])), Probe::Noise);
        assert_eq!(probe(&cobs(&[HIGHEST_VERSION, 1, 0])), Probe::Header);
        // A long run without zeros starts with the code byte 0xff.
        let mut long = std::vec![VERSION];
        long.resize(300, 0x41);
        assert_eq!(cobs(&long)[0], 0xff);
        assert_eq!(probe(&cobs(&long)[..PROBE_MAX]), Probe::Header);
    }

    /// The other way round from noise: a request header of any tag and any
    /// version a client could send is never taken for noise, whatever
    /// follows it, and is known to be one within `PROBE_MAX` bytes.
    #[test]
    fn no_header_a_client_can_send_is_noise() {
        let bodies: [&[u8]; 4] = [&[], &[0], &[7, 0, 0], &[0xff; 300]];
        for version in 1..=HIGHEST_VERSION {
            for tag in (0..=u16::MAX).step_by(if version == VERSION { 1 } else { 61 }) {
                for body in bodies {
                    let mut message = [0u8; 320];
                    let len = postcard::to_slice(&(Header { version, tag }, ()), &mut message)
                        .unwrap()
                        .len();
                    message[len..len + body.len()].copy_from_slice(body);
                    let raw = cobs(&message[..len + body.len()]);
                    let seen = probes(&raw[..raw.len().min(PROBE_MAX + 1)]);
                    assert!(
                        !seen.contains(&Probe::Noise),
                        "version {version} tag {tag}: {seen:?} for {raw:02x?}"
                    );
                    if raw.len() > PROBE_MAX {
                        assert_eq!(seen[PROBE_MAX - 1], Probe::Header, "{raw:02x?}");
                    }
                }
            }
        }
    }
}
