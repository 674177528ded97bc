use proptest::prelude::*;

use super::*;

/// The `crc` crate's CRC-32C: what the link's own must agree with.
const REFERENCE: crc::Crc<u32> = crc::Crc::<u32>::new(&crc::CRC_32_ISCSI);

const BINDING: Binding = Binding {
    own: 0x1234,
    peer: 0xbeef,
};

fn binding() -> impl Strategy<Value = Binding> {
    (any::<u16>(), any::<u16>()).prop_map(|(own, peer)| Binding { own, peer })
}

#[test]
fn mtu_follows_the_depth() {
    // A third of the data ring (depth less 4 control words), less the
    // header word; at least 256 bytes, or the whole ring where it holds
    // less.
    assert_eq!(mtu_for_depth(12), 56);
    assert_eq!(mtu_for_depth(16), 88);
    assert_eq!(mtu_for_depth(64), 256);
    assert_eq!(mtu_for_depth(128), 320);
    assert_eq!(mtu_for_depth(256), 664);
    assert_eq!(mtu_for_depth(384), 1000);
    assert_eq!(mtu_for_depth(570), 1496);
    assert_eq!(mtu_for_depth(571), 1500);
    assert_eq!(mtu_for_depth(4000), 1500);
    assert_eq!(frame_words(1500), 189);
    assert_eq!(frame_words(0), 1);
}

#[test]
fn control_words_are_pinned_bit_for_bit() {
    // The wire format as numbers: a reordered field or another check
    // changes these, which a round trip alone would not show.
    let feedback = Feedback {
        ack: 0x0102,
        consumed: 0x0304,
        nak: 2,
    };
    assert_eq!(feedback.to_word(BINDING) >> 32, 0x040a_0304);
    let progress = Progress {
        written: 0xa0b0,
        answered: 1,
        beat: 0x0123,
    };
    assert_eq!(progress.to_word(BINDING) >> 32, 0xa0b0_4123);
    let hello = Hello {
        host: 0x0203,
        version: VERSION,
    };
    assert_eq!(hello.to_word(BINDING) >> 32, 0x0203_0200);
    assert_eq!(Sessions(BINDING).to_word() >> 32, 0x1234_beef);
    let header = Header {
        seq: 7,
        len: 1500,
        crc: 0xdead_beef,
    };
    assert_eq!(header.to_word(), 0x0007_05dc_dead_beef);
    // The checks, pinned too: CRC-32C over index, binding and fields.
    assert_eq!(
        Sessions(BINDING).to_word() as u32,
        check(SESSIONS, 0x1234_beef, Binding::default())
    );
    let mut digest = REFERENCE.digest();
    digest.update(&[0, 0x12, 0x34, 0xbe, 0xef, 0x04, 0x0a, 0x03, 0x04]);
    assert_eq!(feedback.to_word(BINDING) as u32, digest.finalize());
}

#[test]
fn a_word_of_zeros_is_never_a_control_word() {
    for binding in [Binding::default(), BINDING] {
        assert_eq!(Feedback::from_word(0, binding), None);
        assert_eq!(Progress::from_word(0, binding), None);
        assert_eq!(Hello::from_word(0, binding), None);
    }
    assert_eq!(Sessions::from_word(0), None);
}

proptest! {
    #[test]
    fn control_words_round_trip(ack in 0u16..0x4000, consumed: u16, nak in 0u8..4, written: u16,
                                answered in 0u8..4, beat in 0u16..0x4000, host: u16, b in binding()) {
        let feedback = Feedback { ack, consumed, nak };
        prop_assert_eq!(Feedback::from_word(feedback.to_word(b), b), Some(feedback));
        let progress = Progress { written, answered, beat };
        prop_assert_eq!(Progress::from_word(progress.to_word(b), b), Some(progress));
        let hello = Hello { host, version: VERSION };
        prop_assert_eq!(Hello::from_word(hello.to_word(b), b), Some(hello));
        prop_assert_eq!(Sessions::from_word(Sessions(b).to_word()), Some(Sessions(b)));
    }

    #[test]
    fn a_flipped_bit_or_another_session_never_checks_out(ack in 0u16..0x4000, consumed: u16,
                                                         bit in 0u32..64, b in binding(), other in binding()) {
        let word = Feedback { ack, consumed, nak: 1 }.to_word(b);
        prop_assert_eq!(Feedback::from_word(word ^ (1 << bit), b), None);
        if other != b {
            prop_assert_eq!(Feedback::from_word(word, other), None);
        }
        // Nor is one control word taken for another.
        prop_assert_eq!(Progress::from_word(word, b), None);
    }

    #[test]
    fn any_word_decodes_without_panicking(word: u64, b in binding()) {
        let _ = Feedback::from_word(word, b);
        let _ = Progress::from_word(word, b);
        let _ = Hello::from_word(word, b);
        let _ = Sessions::from_word(word);
        prop_assert_eq!(Header::from_word(word).to_word(), word);
    }
}
