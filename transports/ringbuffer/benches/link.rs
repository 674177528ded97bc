//! The link layer's hot paths, per 1500-byte frame: the CRC-32C every
//! frame carries, sealing a frame (its check over the payload and the
//! payload packed into ring words, as the sender writes it), opening one
//! (the words unpacked and checked, as the receiver reads it), and the
//! window's bookkeeping of frames in flight (push, walk, pop).
//!
//! `cargo bench -p tidenet-ringbuffer --bench link`; `-- --test` runs each
//! once.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tidenet_ringbuffer::wire::{self, frame_words, Binding, Header, MAX_MTU};
use tidenet_ringbuffer::{image_len, Window};

const BINDING: Binding = Binding {
    own: 0x1234,
    peer: 0xabcd,
};

fn payload() -> Vec<u8> {
    (0..MAX_MTU).map(|i| (i * 7 + i / 13) as u8).collect()
}

/// The frame's words as the sender writes them: header, then the payload
/// packed eight bytes a word.
fn seal(seq: u16, payload: &[u8], words: &mut [u64]) {
    let len = payload.len() as u16;
    let mut digest = Header::digest(seq, len, BINDING);
    digest.update(payload);
    let header = Header {
        seq,
        len,
        crc: digest.finalize(),
    };
    words[0] = header.to_word();
    for (word, bytes) in words[1..].iter_mut().zip(payload.chunks(8)) {
        *word = wire::pack(bytes);
    }
}

/// The payload of the frame in `words` if its check holds, as the receiver
/// takes it.
fn open<'a>(words: &[u64], out: &'a mut [u8]) -> Option<&'a [u8]> {
    let header = Header::from_word(words[0]);
    let len = usize::from(header.len);
    let mut digest = Header::digest(header.seq, header.len, BINDING);
    for (word, bytes) in words[1..].iter().zip(out.chunks_mut(8)) {
        bytes.copy_from_slice(&word.to_le_bytes()[..bytes.len()]);
    }
    digest.update(&out[..len]);
    (digest.finalize() == header.crc).then_some(&out[..len])
}

fn frames(c: &mut Criterion) {
    let payload = payload();
    let mut words = vec![0u64; frame_words(MAX_MTU)];
    let mut out = vec![0u8; MAX_MTU];
    let mut group = c.benchmark_group("link");
    group.throughput(Throughput::Bytes(MAX_MTU as u64));
    group.bench_function("crc32c 1500 B", |b| {
        b.iter(|| {
            let mut digest = Header::digest(1, MAX_MTU as u16, BINDING);
            digest.update(black_box(&payload));
            digest.finalize()
        })
    });
    group.bench_function("seal 1500 B frame", |b| {
        b.iter(|| seal(black_box(7), black_box(&payload), &mut words))
    });
    seal(7, &payload, &mut words);
    assert_eq!(open(&words, &mut out), Some(&payload[..]));
    group.bench_function("open 1500 B frame", |b| {
        b.iter(|| open(black_box(&words), &mut out).map(<[u8]>::len))
    });
    group.finish();
}

fn window(c: &mut Criterion) {
    let payload = payload();
    // Room for ten full frames, as the simulator's deepest window.
    let mut buf = vec![0u8; 10 * image_len(MAX_MTU)];
    let mut window = Window::new(&mut buf);
    let mut group = c.benchmark_group("link");
    group.throughput(Throughput::Bytes(MAX_MTU as u64));
    // One frame through the window while eight others are in flight: the
    // sender's push, the walk a rewind does, and the pop its ack does.
    while window.has_room(MAX_MTU) {
        let _ = window.push(
            MAX_MTU,
            |p| p.copy_from_slice(&payload),
            |_| Header {
                seq: 0,
                len: MAX_MTU as u16,
                crc: 0,
            },
        );
    }
    // Two acked: a frame's image takes the room of one, and the window
    // never lets its tail touch its head.
    window.pop();
    window.pop();
    group.bench_function("window push, walk, pop of 1500 B", |b| {
        b.iter(|| {
            let pushed = window.push(
                MAX_MTU,
                |p| p.copy_from_slice(black_box(&payload)),
                |_| Header {
                    seq: 1,
                    len: MAX_MTU as u16,
                    crc: 0,
                },
            );
            assert!(pushed.is_ok());
            let mut at = window.first();
            let mut walked = 0;
            while let Some(offset) = at {
                walked += window.payload(offset).len();
                at = window.next(offset);
            }
            window.pop();
            walked
        })
    });
    assert!(!window.is_empty());
    group.finish();
}

criterion_group!(benches, frames, window);
criterion_main!(benches);
