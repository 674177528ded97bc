//! The link frame format: what one mailbox holds.
//!
//! Every direction of an aligned ringbuffer carries one mailbox at offset 0,
//! in 64-bit words:
//!
//! ```text
//! word 0   control  [ack seq: u16][own host part: u16][CRC-32C of those 32 bits: u32]
//! word 1   header   [seq: u16][version: u8][attempt: u8][CRC-32C: u32]
//! word 2.. payload  one IPv4 packet, little-endian, zero padded to a word
//! ```
//!
//! - The control word belongs to the *receiving* side of this node: it
//!   acknowledges the peer's latest frame and tells the peer our address.
//! - The header's CRC-32C covers its first four bytes and every payload word,
//!   so a torn or corrupted frame is accepted with probability about 2^-32,
//!   where IP's 16-bit checksums alone would let one in every 65536 through.
//! - The packet's length is not in the header: it comes from the IPv4 header
//!   and is checked against the MTU and then by the CRC.
//! - `attempt` changes each time the sender rewrites a frame, so that the
//!   receiver can tell a deliberate re-send, which it must acknowledge again,
//!   from the hardware re-streaming the same words.
//!
//! Words are big-endian packed integers within the header and control words
//! and little-endian byte order within payload words, so the on-wire image
//! of a payload is the packet's bytes in order.

use crc::{Crc, Digest, CRC_32_ISCSI};

/// Word index of the control word.
pub const CONTROL: usize = 0;
/// Word index of the frame header.
pub const HEADER: usize = 1;
/// Word index of the first payload word.
pub const PAYLOAD: usize = 2;
/// The frame format version this crate speaks.
pub const VERSION: u8 = 1;
/// The largest packet the link layer carries, as in Ethernet.
pub const MAX_MTU: usize = 1500;
/// Payload words of the largest packet.
pub const MAX_PAYLOAD_WORDS: usize = MAX_MTU.div_ceil(8);
/// The smallest packet: an IPv4 header.
pub const MIN_PACKET: usize = 20;

const CRC32C: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

/// The MTU a ringbuffer of `depth` words supports: 1500 bytes, or less where
/// the mailbox cannot hold that much.
pub const fn mtu_for_depth(depth: usize) -> usize {
    let room = depth.saturating_sub(PAYLOAD) * 8;
    if room < MAX_MTU {
        room
    } else {
        MAX_MTU
    }
}

/// Why a frame was not delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Drop {
    /// The CRC-32C did not match: torn or corrupted.
    Corrupt,
    /// The IPv4 length is below a header's or does not fit the frame.
    MalformedLen,
    /// The IPv4 length is above the MTU.
    Oversized,
    /// Unknown frame version, or not IPv4.
    BadVersion,
}

/// The parsed frame header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Sequence number; 0 marks an empty mailbox.
    pub seq: u16,
    /// Frame format version.
    pub version: u8,
    /// How many times the sender has rewritten this frame, modulo 256.
    pub attempt: u8,
    /// CRC-32C of the first four header bytes and the payload words.
    pub crc: u32,
}

impl Header {
    /// Splits a header word into its fields.
    pub fn from_word(word: u64) -> Self {
        Header {
            seq: (word >> 48) as u16,
            version: (word >> 40) as u8,
            attempt: (word >> 32) as u8,
            crc: word as u32,
        }
    }

    /// Packs the fields into a header word.
    pub fn to_word(self) -> u64 {
        (u64::from(self.seq) << 48)
            | (u64::from(self.version) << 40)
            | (u64::from(self.attempt) << 32)
            | u64::from(self.crc)
    }

    fn digest(&self) -> Digest<'static, u32> {
        let mut digest = CRC32C.digest();
        digest.update(&self.seq.to_be_bytes());
        digest.update(&[self.version, self.attempt]);
        digest
    }
}

/// The control word's content.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Control {
    /// The sequence number of the peer's latest frame this end accepted.
    pub ack: u16,
    /// The host part of this end's link-local address.
    pub host: u16,
}

impl Control {
    /// Packs the control word, with its check.
    pub fn to_word(self) -> u64 {
        let upper = (u32::from(self.ack) << 16) | u32::from(self.host);
        (u64::from(upper) << 32) | u64::from(CRC32C.checksum(&upper.to_be_bytes()))
    }

    /// Unpacks a control word, or `None` if its check fails (torn, corrupt,
    /// or never written).
    pub fn from_word(word: u64) -> Option<Self> {
        let upper = (word >> 32) as u32;
        (word != 0 && CRC32C.checksum(&upper.to_be_bytes()) == word as u32).then_some(Control {
            ack: (upper >> 16) as u16,
            host: upper as u16,
        })
    }
}

/// Writes `packet` into `words` as a frame's payload and returns the header
/// that seals it and the number of payload words used.
///
/// `words` must hold `packet.len().div_ceil(8)` words.
pub fn seal(seq: u16, attempt: u8, packet: &[u8], words: &mut [u64]) -> (Header, usize) {
    let used = packet.len().div_ceil(8);
    for (word, chunk) in words[..used].iter_mut().zip(packet.chunks(8)) {
        let mut bytes = [0u8; 8];
        bytes[..chunk.len()].copy_from_slice(chunk);
        *word = u64::from_le_bytes(bytes);
    }
    (sign(seq, attempt, &words[..used]), used)
}

/// The header that seals payload `words` as frame `seq`, attempt `attempt`.
pub fn sign(seq: u16, attempt: u8, words: &[u64]) -> Header {
    let mut header = Header {
        seq,
        version: VERSION,
        attempt,
        crc: 0,
    };
    header.crc = payload_crc(&header, words);
    header
}

/// The packet length a frame claims, from the IPv4 header in its first
/// payload word, checked against `mtu`.
pub fn packet_len(first_word: u64, mtu: usize) -> Result<usize, Drop> {
    let bytes = first_word.to_le_bytes();
    if bytes[0] >> 4 != 4 {
        return Err(Drop::BadVersion);
    }
    let len = usize::from(u16::from_be_bytes([bytes[2], bytes[3]]));
    if len > mtu {
        Err(Drop::Oversized)
    } else if len < MIN_PACKET || len < usize::from(bytes[0] & 0x0f) * 4 {
        Err(Drop::MalformedLen)
    } else {
        Ok(len)
    }
}

/// Checks a received frame: `words` are its payload words, as many as
/// [`packet_len`] asked for. On success the packet's bytes go to `out` and
/// their count is returned.
pub fn open(header: &Header, words: &[u64], len: usize, out: &mut [u8]) -> Result<usize, Drop> {
    if header.version != VERSION {
        return Err(Drop::BadVersion);
    }
    if words.len() != len.div_ceil(8) || out.len() < len {
        return Err(Drop::MalformedLen);
    }
    if payload_crc(header, words) != header.crc {
        return Err(Drop::Corrupt);
    }
    for (chunk, word) in out[..len].chunks_mut(8).zip(words) {
        chunk.copy_from_slice(&word.to_le_bytes()[..chunk.len()]);
    }
    Ok(len)
}

fn payload_crc(header: &Header, words: &[u64]) -> u32 {
    let mut digest = header.digest();
    for word in words {
        digest.update(&word.to_le_bytes());
    }
    digest.finalize()
}

#[cfg(test)]
mod tests;
