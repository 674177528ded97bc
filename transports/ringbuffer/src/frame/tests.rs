use super::*;

extern crate std;
use std::vec::Vec;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, RngSeed};

/// Fixed seed and no regression files: every run checks the same cases.
fn config(cases: u32) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(0x7165_6e65_7400_0001),
        failure_persistence: None,
        ..Config::default()
    }
}

/// Packets of `len` bytes, random but for a plausible IPv4 header start:
/// version 4, IHL 5, total length `len`.
fn ipv4_packet(len: core::ops::RangeInclusive<usize>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), len).prop_map(|mut packet| {
        let total = u16::try_from(packet.len()).unwrap().to_be_bytes();
        packet[0] = 0x45;
        packet[2..4].copy_from_slice(&total);
        packet
    })
}

/// Seals `packet` as frame `seq`/`attempt`; returns the header and the
/// payload words actually used.
fn sealed(seq: u16, attempt: u8, packet: &[u8]) -> (Header, Vec<u64>) {
    let mut words = [0u64; MAX_PAYLOAD_WORDS];
    let (header, used) = seal(seq, attempt, packet, &mut words);
    (header, words[..used].to_vec())
}

/// Bit positions of the version byte within a header word.
const VERSION_BITS: core::ops::Range<u32> = 40..48;

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn seal_then_open_gives_back_the_same_bytes(
        packet in ipv4_packet(MIN_PACKET..=MAX_MTU),
        seq in 1..=u16::MAX,
        attempt in any::<u8>(),
    ) {
        let (header, words) = sealed(seq, attempt, &packet);
        prop_assert_eq!(words.len(), packet.len().div_ceil(8));
        // What the receiver sees: the header word and the payload words.
        let header = Header::from_word(header.to_word());
        prop_assert_eq!((header.seq, header.version, header.attempt), (seq, VERSION, attempt));
        let len = packet_len(words[0], MAX_MTU);
        prop_assert_eq!(len, Ok(packet.len()));
        let mut out = [0u8; MAX_MTU];
        prop_assert_eq!(open(&header, &words, packet.len(), &mut out), Ok(packet.len()));
        prop_assert_eq!(&out[..packet.len()], &packet[..]);
    }

    #[test]
    fn any_single_bit_flip_in_a_sealed_frame_is_rejected(
        packet in ipv4_packet(MIN_PACKET..=MAX_MTU),
        seq in 1..=u16::MAX,
        attempt in any::<u8>(),
        // Word 0 is the header word, words 1.. the payload words.
        word in any::<Index>(),
        bit in 0..64u32,
    ) {
        let (header, mut words) = sealed(seq, attempt, &packet);
        let mut header_word = header.to_word();
        let word = word.index(words.len() + 1);
        if word == 0 {
            header_word ^= 1 << bit;
        } else {
            words[word - 1] ^= 1 << bit;
        }
        let expected = if word == 0 && VERSION_BITS.contains(&bit) {
            Drop::BadVersion
        } else {
            Drop::Corrupt
        };
        let mut out = [0u8; MAX_MTU];
        let got = open(&Header::from_word(header_word), &words, packet.len(), &mut out);
        prop_assert_eq!(got, Err(expected), "word {} bit {}", word, bit);
    }

    #[test]
    fn packet_len_never_panics_and_only_accepts_lengths_from_min_packet_to_mtu(
        first_word in any::<u64>(),
        mtu in prop_oneof![0..=2 * MAX_MTU, (0..=300usize).prop_map(mtu_for_depth)],
    ) {
        let bytes = first_word.to_le_bytes();
        match packet_len(first_word, mtu) {
            Ok(len) => {
                prop_assert!((MIN_PACKET..=mtu).contains(&len), "len {} mtu {}", len, mtu);
                prop_assert_eq!(bytes[0] >> 4, 4);
                prop_assert_eq!(len, usize::from(u16::from_be_bytes([bytes[2], bytes[3]])));
                prop_assert!(len >= usize::from(bytes[0] & 0x0f) * 4);
            }
            Err(Drop::BadVersion) => prop_assert_ne!(bytes[0] >> 4, 4),
            Err(Drop::Oversized | Drop::MalformedLen) => prop_assert_eq!(bytes[0] >> 4, 4),
            Err(Drop::Corrupt) => prop_assert!(false, "packet_len has no CRC to fail"),
        }
    }

    #[test]
    fn control_word_round_trips(ack in any::<u16>(), host in any::<u16>()) {
        let control = Control { ack, host };
        prop_assert_eq!(Control::from_word(control.to_word()), Some(control));
    }

    #[test]
    fn any_single_bit_flip_in_a_control_word_is_rejected(
        ack in any::<u16>(),
        host in any::<u16>(),
        bit in 0..64u32,
    ) {
        let word = Control { ack, host }.to_word() ^ (1 << bit);
        prop_assert_eq!(Control::from_word(word), None);
    }
}

#[test]
fn mtu_follows_depth_up_to_1500() {
    assert_eq!(mtu_for_depth(16), 112);
    assert_eq!(mtu_for_depth(128), 1008);
    assert_eq!(mtu_for_depth(256), 1500);
    assert_eq!(mtu_for_depth(4000), 1500);
}

#[test]
fn the_all_zero_word_is_not_a_control_word() {
    assert_eq!(Control::from_word(0), None);
    // Not even the control word of ack 0, host 0 is all zeros.
    assert_ne!(Control { ack: 0, host: 0 }.to_word(), 0);
}

#[test]
fn an_all_zero_header_word_is_seq_0_the_empty_mailbox() {
    let header = Header::from_word(0);
    assert_eq!(header.seq, 0);
    // And it never opens as a frame, whatever the payload words hold.
    let (_, words) = sealed(
        1,
        0,
        &[
            0x45, 0, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
    );
    let mut out = [0u8; MAX_MTU];
    assert_eq!(open(&header, &words, 20, &mut out), Err(Drop::BadVersion));
    assert_eq!(packet_len(0, MAX_MTU), Err(Drop::BadVersion));
}
