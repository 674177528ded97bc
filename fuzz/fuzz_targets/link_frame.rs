//! The link's wire format (`tidenet_ringbuffer::wire`): every word decoder
//! fed arbitrary words under an arbitrary session binding, and a frame
//! built from the fuzzer's payload checked as the receiver checks it.
//!
//! A word that decodes must encode back to itself (the reserved byte of a
//! hello aside), and a frame with any one bit flipped must fail its check.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_fuzz::Input;
use tidenet_ringbuffer::wire::{
    frame_words, pack, Binding, Feedback, Header, Hello, Progress, Sessions, MAX_MTU,
};

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let binding = Binding {
        own: input.u16(),
        peer: input.u16(),
    };
    let seq = input.u16();
    let mut words = Vec::new();
    for _ in 0..4 {
        words.push(input.u64());
    }
    for &word in &words {
        if let Some(f) = Feedback::from_word(word, binding) {
            assert_eq!(f.to_word(binding), word, "feedback {f:?}");
        }
        if let Some(p) = Progress::from_word(word, binding) {
            assert_eq!(p.to_word(binding), word, "progress {p:?}");
        }
        if let Some(h) = Hello::from_word(word, binding) {
            assert_eq!(Hello::from_word(h.to_word(binding), binding), Some(h));
        }
        if let Some(s) = Sessions::from_word(word) {
            assert_eq!(s.to_word(), word, "sessions {s:?}");
        }
        assert_eq!(Header::from_word(word).to_word(), word);
    }

    // A frame as the sender writes it: header, then the payload packed
    // into little-endian words; checked as the receiver reads it.
    let payload = input.bytes(MAX_MTU);
    let payload_words: Vec<u64> = payload.chunks(8).map(pack).collect();
    assert_eq!(frame_words(payload.len()), 1 + payload_words.len());
    let len = payload.len() as u16;
    let crc = |words: &[u64], seq: u16, len: u16, binding: Binding| {
        let mut digest = Header::digest(seq, len, binding);
        words.iter().for_each(|w| digest.update(&w.to_le_bytes()));
        digest.finalize()
    };
    let header = Header {
        seq,
        len,
        crc: crc(&payload_words, seq, len, binding),
    };
    let word = header.to_word();
    assert_eq!(Header::from_word(word), header);
    let unpacked: Vec<u8> = payload_words.iter().flat_map(|w| w.to_le_bytes()).collect();
    assert_eq!(&unpacked[..payload.len()], payload, "pack lost bytes");
    assert!(
        unpacked[payload.len()..].iter().all(|&b| b == 0),
        "padding is zeros"
    );

    // Flip the bit the fuzzer names, in the header or any payload word:
    // CRC-32C catches every single-bit error.
    let bits = 64 * (1 + payload_words.len());
    let bit = usize::from(input.u16()) % bits;
    let (mut header_word, mut flipped) = (word, payload_words.clone());
    match bit / 64 {
        0 => header_word ^= 1 << (bit % 64),
        i => flipped[i - 1] ^= 1 << (bit % 64),
    }
    let torn = Header::from_word(header_word);
    let other_binding = Binding {
        own: binding.own ^ input.u16().max(1),
        ..binding
    };
    assert_ne!(
        crc(&flipped, torn.seq, torn.len, binding),
        torn.crc,
        "bit {bit}"
    );
    assert_ne!(
        crc(&payload_words, seq, len, other_binding),
        header.crc,
        "binding"
    );
});
