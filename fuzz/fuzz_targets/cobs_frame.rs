//! The shell's COBS deframer (`tidenet_shell`'s binary mode) fed whole
//! frames: each piece of the input is COBS-encoded and sent between zeros,
//! as a script would send it.
//!
//! Every frame whose bytes begin with a request header is answered exactly
//! once, in order, under its tag, with a response that decodes; any other
//! frame is line noise or a named error, never a lost or extra reply.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_core::node::Node;
use tidenet_core::proto::{self, Header, MAX_MESSAGE};
use tidenet_core::time::Instant;
use tidenet_fuzz::shell::{frames, settle};
use tidenet_fuzz::transport::Fake;
use tidenet_fuzz::uart::Uart;
use tidenet_fuzz::Input;
use tidenet_shell::{Resources, Shell};

/// The highest version the shell takes a frame's first byte for; above it,
/// the frame is typing after a stray zero (see the shell's frame module).
const HIGHEST_VERSION: u8 = 7;

/// What the shell makes of a frame holding `message`.
enum Judged {
    /// A request header: answered under its tag; whether the whole request
    /// decodes.
    Request(u16, bool),
    /// It ended before a whole header: a frame the shell could not read.
    Unreadable,
    /// It cannot begin a request: typing after a stray zero, read as text.
    Noise,
    /// No bytes at all: an empty frame, which only opens the next.
    Empty,
}

fn judge(message: &[u8]) -> Judged {
    match message.first() {
        None => Judged::Unreadable,
        Some(v) if !(1..=HIGHEST_VERSION).contains(v) => Judged::Noise,
        Some(_) => match postcard::take_from_bytes::<Header>(message) {
            Ok((header, body)) => {
                Judged::Request(header.tag, proto::decode_request(header, body).is_ok())
            }
            Err(postcard::Error::DeserializeUnexpectedEnd) => Judged::Unreadable,
            Err(_) => Judged::Noise,
        },
    }
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let uart = Uart::default();
    let mut resources = Resources::new(uart.clone());
    let mut shell = Shell::new(&mut resources).unwrap_or_else(|e| match e {});
    let mut node = Node::new([Fake::default()]);
    let mut expected = Vec::new();
    let mut wire = Vec::new();
    // Whether the line is in binary use: a request decoded since the last
    // Enter. Errors about unreadable frames go out as frames only then.
    let mut binary = false;
    while !input.is_empty() {
        let len = usize::from(input.u16()) % MAX_MESSAGE;
        let message = input.bytes(len);
        // The cobs crate encodes nothing as nothing: `0 0` is an empty
        // frame, which only opens the next.
        let raw = cobs::encode_vec(message);
        let judged = if raw.is_empty() {
            Judged::Empty
        } else {
            judge(message)
        };
        match judged {
            Judged::Request(tag, decodes) => {
                expected.push(tag);
                binary |= decodes;
            }
            Judged::Unreadable if binary => expected.push(0),
            Judged::Unreadable | Judged::Empty => {}
            Judged::Noise => binary &= !raw.iter().any(|&b| b == b'\r' || b == b'\n'),
        }
        wire.push(0);
        wire.extend_from_slice(&raw);
        wire.push(0);
    }
    uart.feed(&wire);
    settle(&mut shell, &mut node, &uart, Instant::ZERO);
    let tags: Vec<u16> = frames(&uart.take_output())
        .iter()
        .map(|frame| {
            let (header, _) = proto::decode_response(frame).expect("a reply decodes");
            header.tag
        })
        .collect();
    assert_eq!(tags, expected);
});
