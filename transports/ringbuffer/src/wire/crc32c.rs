//! CRC-32C (Castagnoli), four bytes at a time.
//!
//! The link checks every byte it carries, twice (sealed by the sender,
//! checked by the receiver), so the CRC is most of the link layer's cost
//! per byte. The `crc` crate's default takes a byte per table lookup (about
//! 10 riscv32imc instructions a byte); its faster variant needs a 16 KiB
//! table, which data memory cannot spare on a node of seven links. Slicing
//! by four takes four bytes per step from four 1 KiB tables (4 KiB in
//! all): 8.7 to 9.0 riscv32imc instructions a byte, measured. See the
//! firmware chapter's CPU-cost figures.

/// The reflected Castagnoli polynomial.
const POLY: u32 = 0x82f6_3b78;

/// `TABLES[k][b]`: the CRC of byte `b` followed by `k` zero bytes.
static TABLES: [[u32; 256]; 4] = tables();

const fn tables() -> [[u32; 256]; 4] {
    let mut t = [[0u32; 256]; 4];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u32;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 4 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// A CRC-32C being computed: feed it bytes, then [`finalize`](Digest::finalize).
#[derive(Clone, Copy, Debug)]
pub struct Digest {
    crc: u32,
}

impl Default for Digest {
    fn default() -> Self {
        Self::new()
    }
}

impl Digest {
    /// A CRC over nothing yet.
    pub const fn new() -> Self {
        Digest { crc: !0 }
    }

    /// Feeds `bytes`.
    pub fn update(&mut self, bytes: &[u8]) {
        let mut crc = self.crc;
        let mut words = bytes.chunks_exact(4);
        for w in &mut words {
            crc = step(crc ^ u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        }
        for &b in words.remainder() {
            crc = TABLES[0][((crc ^ u32::from(b)) & 0xff) as usize] ^ (crc >> 8);
        }
        self.crc = crc;
    }

    /// Feeds a ringbuffer word: its eight bytes, little-endian, as
    /// `update(&word.to_le_bytes())` would, without the bytes.
    pub fn update_word(&mut self, word: u64) {
        let crc = step(self.crc ^ word as u32);
        self.crc = step(crc ^ (word >> 32) as u32);
    }

    /// The CRC of everything fed.
    pub fn finalize(self) -> u32 {
        !self.crc
    }
}

/// Four bytes, already XORed into the CRC, through the four tables.
#[inline(always)]
fn step(x: u32) -> u32 {
    TABLES[3][(x & 0xff) as usize]
        ^ TABLES[2][((x >> 8) & 0xff) as usize]
        ^ TABLES[1][((x >> 16) & 0xff) as usize]
        ^ TABLES[0][(x >> 24) as usize]
}

#[cfg(test)]
mod tests {
    use super::Digest;
    use crc::{Crc, CRC_32_ISCSI};

    /// The `crc` crate's CRC-32C, as a reference.
    const REFERENCE: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);

    #[test]
    fn it_matches_the_catalogue_check_value() {
        let mut d = Digest::new();
        d.update(b"123456789");
        assert_eq!(d.finalize(), 0xe306_9283);
    }

    #[test]
    fn it_matches_the_reference_at_every_length_and_split() {
        let data: [u8; 67] = core::array::from_fn(|i| (i * 37 + 11) as u8);
        for len in 0..data.len() {
            for split in 0..=len {
                let mut d = Digest::new();
                d.update(&data[..split]);
                d.update(&data[split..len]);
                assert_eq!(
                    d.finalize(),
                    REFERENCE.checksum(&data[..len]),
                    "len {len} split {split}"
                );
            }
        }
    }

    #[test]
    fn words_are_their_little_endian_bytes() {
        let words = [0x0123_4567_89ab_cdefu64, 0, u64::MAX, 0x8000_0000_0000_0001];
        let mut by_word = Digest::new();
        let mut by_byte = Digest::new();
        by_byte.update(&[0xa5, 0x5a, 0x01]);
        by_word.update(&[0xa5, 0x5a, 0x01]);
        for w in words {
            by_word.update_word(w);
            by_byte.update(&w.to_le_bytes());
        }
        assert_eq!(by_word.finalize(), by_byte.finalize());
    }
}
