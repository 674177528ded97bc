//! The link's wire format: how a direction of an aligned ringbuffer is laid
//! out, in 64-bit words.
//!
//! ```text
//! word 0   feedback  [ack: u14][nak: u2][consumed: u16]          [CRC-32C]
//! word 1   progress  [written: u16][answered: u2][beat: u14]     [CRC-32C]
//! word 2   hello     [host: u16][version: u8][reserved: u8]      [CRC-32C]
//! word 3   sessions  [session: u16][peer session: u16]           [CRC-32C]
//! word 4.. the data ring: frames one after another, wrapping
//! ```
//!
//! A frame in the data ring is a header word and its payload words:
//!
//! ```text
//! header   [seq: u16][len: u16][CRC-32C]
//! payload  len bytes, little-endian in words, zero padded to a word
//! ```
//!
//! Each node writes words 0 to 3 of its own transmit memory; they reach the
//! peer like any other word. Words 0 and the `nak` of word 0 speak for this
//! node's *receiving* side, about the peer's frames; word 1 for its
//! *sending* side. Within a control word the fields sit in the upper 32
//! bits, most significant first; the lower 32 bits are their check.
//!
//! Every check is a CRC-32C, so a torn or corrupted word is taken with a
//! probability of about 2^-32. The checks of words 0 to 2 and of every frame
//! also cover both ends' session numbers (the writer's, then the one it
//! learnt from the peer), so nothing written in an earlier session, by
//! either end, checks out in a later one: a rebooted peer's frames are never
//! mixed with the old session's.

mod crc32c;

pub use crc32c::Digest;

/// The link format version; word 2 carries it.
pub const VERSION: u8 = 2;
/// Index of the feedback word.
pub const FEEDBACK: usize = 0;
/// Index of the progress word.
pub const PROGRESS: usize = 1;
/// Index of the hello word.
pub const HELLO: usize = 2;
/// Index of the sessions word.
pub const SESSIONS: usize = 3;
/// Index of the first word of the data ring.
pub const RING: usize = 4;
/// The largest packet the link carries, as on Ethernet.
pub const MAX_MTU: usize = 1500;
/// The MTU below which a frame may take more than a third of the ring.
pub const MIN_MTU: usize = 256;
/// The smallest ringbuffer that holds the control words and a frame.
pub const MIN_DEPTH: usize = RING + 2;

/// The largest packet a ringbuffer of `depth` words carries.
///
/// A frame takes at most a third of the data ring. The receiver reads a
/// frame only once its header, written last, has landed, and the sender
/// learns it may write over a frame's words only a round trip after they
/// are read: with frames of half the ring, the sender waits on that round
/// trip between every two frames, and with a frame as long as the ring it
/// idles a whole round trip per frame. A third keeps a frame in the writing
/// while one is in flight and one in the reading; smaller frames would cost
/// more in TCP/IP headers than they win (`tidenet bench` measured 0.83 of
/// the ceiling at depth 256 with thirds, 0.82 with halves, 0.80 with
/// quarters). But never less than [`MIN_MTU`] bytes, or the whole ring
/// where it holds less, so that TCP keeps a useful segment on shallow
/// rings; and never more than 1500.
pub const fn mtu_for_depth(depth: usize) -> usize {
    let ring = depth.saturating_sub(RING);
    let whole = ring.saturating_sub(1) * 8;
    let third = (ring / 3).saturating_sub(1) * 8;
    let floor = if whole < MIN_MTU { whole } else { MIN_MTU };
    let mtu = if third > floor { third } else { floor };
    if mtu < MAX_MTU {
        mtu
    } else {
        MAX_MTU
    }
}

/// Words a frame of `len` payload bytes takes in the ring: its header and
/// its payload.
pub const fn frame_words(len: usize) -> usize {
    1 + len.div_ceil(8)
}

/// The session numbers a control word or a frame is bound to: its
/// writer's, and the one the writer learnt from the peer (0 while none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Binding {
    /// The writer's session.
    pub own: u16,
    /// The peer's session, as the writer knows it.
    pub peer: u16,
}

impl Binding {
    /// The same two sessions seen from the other end.
    pub fn reversed(self) -> Self {
        Binding {
            own: self.peer,
            peer: self.own,
        }
    }

    fn bytes(self) -> [u8; 4] {
        let [a, b] = self.own.to_be_bytes();
        let [c, d] = self.peer.to_be_bytes();
        [a, b, c, d]
    }
}

/// Packs `fields` into a control word at `index`, checked with `binding`.
fn seal(index: usize, fields: u32, binding: Binding) -> u64 {
    (u64::from(fields) << 32) | u64::from(check(index, fields, binding))
}

/// The fields of control word `word` at `index`, if its check holds under
/// `binding`. A word of zeros never holds: it is what an unwritten memory
/// and an outage deliver.
fn open(index: usize, word: u64, binding: Binding) -> Option<u32> {
    let fields = (word >> 32) as u32;
    (word != 0 && check(index, fields, binding) == word as u32).then_some(fields)
}

fn check(index: usize, fields: u32, binding: Binding) -> u32 {
    let mut digest = Digest::new();
    digest.update(&[index as u8]);
    digest.update(&binding.bytes());
    digest.update(&fields.to_be_bytes());
    digest.finalize()
}

/// Word 0: what the receiving side has taken of the peer's frames.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Feedback {
    /// Sequence number of the last frame delivered in order, modulo 2^14:
    /// the sender has far fewer frames in flight than that.
    pub ack: u16,
    /// Rewind requests made so far, modulo 4: a change asks the sender to
    /// write everything after `ack` again.
    pub nak: u8,
    /// Ring words read so far, modulo 2^16: the sender may overwrite
    /// everything before. Exact to the word, so that a frame as long as a
    /// shallow ring can follow the one before.
    pub consumed: u16,
}

impl Feedback {
    /// The control word, checked with `binding`.
    pub fn to_word(self, binding: Binding) -> u64 {
        let fields = (u32::from(self.ack & 0x3fff) << 18)
            | (u32::from(self.nak & 3) << 16)
            | u32::from(self.consumed);
        seal(FEEDBACK, fields, binding)
    }

    /// The fields of `word`, if its check holds under `binding`.
    pub fn from_word(word: u64, binding: Binding) -> Option<Self> {
        let fields = open(FEEDBACK, word, binding)?;
        Some(Feedback {
            ack: (fields >> 18) as u16,
            nak: ((fields >> 16) & 3) as u8,
            consumed: fields as u16,
        })
    }
}

/// Word 1: how far the sending side has written, and that it is alive.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// Ring words written so far, modulo 2^16, counting the last frame
    /// only once its header is in.
    pub written: u16,
    /// The last rewind request served, modulo 4.
    pub answered: u8,
    /// A heartbeat counter, modulo 2^14: it moves at least every heartbeat
    /// interval, so a live peer's control words keep changing.
    pub beat: u16,
}

impl Progress {
    /// The control word, checked with `binding`.
    pub fn to_word(self, binding: Binding) -> u64 {
        let fields = (u32::from(self.written) << 16)
            | (u32::from(self.answered & 3) << 14)
            | u32::from(self.beat & 0x3fff);
        seal(PROGRESS, fields, binding)
    }

    /// The fields of `word`, if its check holds under `binding`.
    pub fn from_word(word: u64, binding: Binding) -> Option<Self> {
        let fields = open(PROGRESS, word, binding)?;
        Some(Progress {
            written: (fields >> 16) as u16,
            answered: ((fields >> 14) & 3) as u8,
            beat: (fields & 0x3fff) as u16,
        })
    }
}

/// Word 2: who the node is and which format it speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The host part of the node's link-local address on this link.
    pub host: u16,
    /// The node's link format version.
    pub version: u8,
}

impl Hello {
    /// The control word, checked with `binding`.
    pub fn to_word(self, binding: Binding) -> u64 {
        let fields = (u32::from(self.host) << 16) | (u32::from(self.version) << 8);
        seal(HELLO, fields, binding)
    }

    /// The fields of `word`, if its check holds under `binding`. The
    /// version is not judged here: a peer of another version is named.
    pub fn from_word(word: u64, binding: Binding) -> Option<Self> {
        let fields = open(HELLO, word, binding)?;
        Some(Hello {
            host: (fields >> 16) as u16,
            version: (fields >> 8) as u8,
        })
    }
}

/// Word 3: the node's session on this link, and the peer's as it knows it.
/// Its check covers only itself, so that a new session is always readable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sessions(pub Binding);

impl Sessions {
    /// The control word.
    pub fn to_word(self) -> u64 {
        let fields = (u32::from(self.0.own) << 16) | u32::from(self.0.peer);
        seal(SESSIONS, fields, Binding::default())
    }

    /// The fields of `word`, if its check holds.
    pub fn from_word(word: u64) -> Option<Self> {
        let fields = open(SESSIONS, word, Binding::default())?;
        Some(Sessions(Binding {
            own: (fields >> 16) as u16,
            peer: fields as u16,
        }))
    }
}

/// A frame header: the first word of a frame in the data ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The frame's sequence number; the first frame of a session is 1.
    pub seq: u16,
    /// Payload bytes.
    pub len: u16,
    /// CRC-32C of the binding, `seq`, `len` and every payload word.
    pub crc: u32,
}

impl Header {
    /// Splits a header word into its fields.
    pub fn from_word(word: u64) -> Self {
        Header {
            seq: (word >> 48) as u16,
            len: (word >> 32) as u16,
            crc: word as u32,
        }
    }

    /// Packs the fields into a header word.
    pub fn to_word(self) -> u64 {
        (u64::from(self.seq) << 48) | (u64::from(self.len) << 32) | u64::from(self.crc)
    }

    /// Starts the check of a frame `seq` of `len` bytes under `binding`:
    /// feed it the payload words, then compare with [`Header::crc`].
    pub fn digest(seq: u16, len: u16, binding: Binding) -> Digest {
        let mut digest = Digest::new();
        digest.update(&binding.bytes());
        digest.update(&seq.to_be_bytes());
        digest.update(&len.to_be_bytes());
        digest
    }
}

/// Packs up to eight payload bytes into a little-endian word, zero padded.
pub fn pack(bytes: &[u8]) -> u64 {
    let mut word = [0u8; 8];
    let n = bytes.len().min(8);
    word[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(word)
}

#[cfg(test)]
mod tests;
