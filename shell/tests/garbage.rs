//! The shell under line noise: whatever bytes arrive, it does not panic, and a
//! person (or a script) can get it back with Enter and a command.

use std::string::String;
use std::vec::Vec;

use proptest::prelude::*;
use tidenet_core::node::{Node, TIMEOUT};
use tidenet_core::proto::{self, Header, Request, Response, MAX_MESSAGE};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::Error;
use tidenet_shell::{Resources, Shell, FRAME_TIMEOUT, LINE_MAX, PROMPT, TYPEAHEAD};

mod support;

use support::{Fake, Uart, STACK};

/// Polls node and shell until the input is used up and nothing runs; a
/// request that waits gets its timeout's worth of time. Returns the time it
/// ends at.
fn settle(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    mut now: Instant,
) -> Instant {
    for _ in 0..10_000 {
        node.poll(now);
        let active = shell.poll(node, now).unwrap();
        if node.is_busy() {
            now = now + TIMEOUT;
            continue;
        }
        if !active && uart.input.borrow().is_empty() {
            return now;
        }
    }
    panic!("the shell did not settle");
}

/// A shell on a fresh UART and node, with the first prompt already read.
macro_rules! rig {
    ($uart:ident, $shell:ident, $node:ident) => {
        let $uart = Uart::default();
        let mut resources = Resources::new($uart.clone());
        let mut $shell = Shell::new(&mut resources).unwrap();
        let mut $node = Node::new([Fake]);
        assert!($uart.take_output().ends_with(PROMPT.as_bytes()));
    };
}

/// The printed lines, as a terminal would show them: escape sequences
/// dropped, a carriage return starting the line over, prompts removed.
fn lines(output: &[u8]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut bytes = output.iter().copied().peekable();
    while let Some(b) = bytes.next() {
        match b {
            0x1b if bytes.peek() == Some(&b'[') => {
                bytes.next();
                for c in bytes.by_ref() {
                    if (0x40..=0x7e).contains(&c) {
                        break;
                    }
                }
            }
            b'\r' if bytes.peek() != Some(&b'\n') => line.clear(),
            b'\r' => {}
            b'\n' => {
                let mut l = line.as_str();
                while let Some(rest) = l.strip_prefix(PROMPT) {
                    l = rest;
                }
                lines.push(l.to_owned());
                line.clear();
            }
            b => line.push(char::from(b)),
        }
    }
    lines
}

/// Types `input` and returns the printed lines that follow.
fn type_lines(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    now: Instant,
    input: &[u8],
) -> Vec<String> {
    uart.take_output();
    uart.feed(input);
    settle(shell, node, uart, now);
    lines(&uart.take_output())
}

fn encode_frame(tag: u16, request: &Request<'_>) -> Vec<u8> {
    let mut message = [0u8; MAX_MESSAGE];
    let len = proto::encode(Header::new(tag), request, &mut message).unwrap();
    let mut frame = std::vec![0u8; cobs::max_encoding_length(len) + 2];
    let n = cobs::encode(&message[..len], &mut frame[1..]);
    frame.truncate(n + 2);
    frame[n + 1] = 0;
    frame
}

/// Every `0x00 <COBS> 0x00` frame in `output`, decoded.
fn frames(output: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut parts = output.split(|&b| b == 0);
    // What precedes the first zero is text; then frames alternate with text.
    parts.next();
    while let Some(frame) = parts.next() {
        if frame.is_empty() {
            continue;
        }
        let mut frame = frame.to_vec();
        let len = cobs::decode_in_place(&mut frame).expect("the shell's frames are COBS");
        frame.truncate(len);
        frames.push(frame);
        parts.next();
    }
    frames
}

fn cobs_bytes(message: &[u8]) -> Vec<u8> {
    let mut wire = std::vec![0u8; cobs::max_encoding_length(message.len())];
    let n = cobs::encode(message, &mut wire);
    wire.truncate(n);
    wire
}

/// `message` between zeros, as a frame; it need not be a request.
fn raw_frame(message: &[u8]) -> Vec<u8> {
    let mut frame = std::vec![0u8];
    frame.extend(cobs_bytes(message));
    frame.push(0);
    frame
}

/// Sends a binary `status`, which puts the line in binary use, and checks
/// its reply is a frame. Returns the time it ends at.
fn into_binary_use(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    now: Instant,
) -> Instant {
    uart.take_output();
    uart.feed(&encode_frame(1, &Request::Status));
    let now = settle(shell, node, uart, now);
    let replies = frames(&uart.take_output());
    assert_eq!(replies.len(), 1, "no reply to a binary status");
    assert!(matches!(
        proto::decode_response(&replies[0]),
        Ok((Header { tag: 1, .. }, Response::Status(_)))
    ));
    now
}

/// Feeds `noise` to a fresh shell and checks it recovers.
fn recovers_from(noise: &[u8]) -> Result<(), TestCaseError> {
    rig!(uart, shell, node);
    uart.feed(noise);
    let now = settle(
        &mut shell,
        &mut node,
        &uart,
        Instant::from_micros(1_000_000),
    );
    answers_after_noise(&mut shell, &mut node, &uart, now)
}

/// Lets any half frame the noise left expire, presses Enter to end whatever
/// line it left, and checks the shell answers a typed `status` and a binary
/// `Status` request.
fn answers_after_noise(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    now: Instant,
) -> Result<(), TestCaseError> {
    let now = settle(
        shell,
        node,
        uart,
        now + FRAME_TIMEOUT + Duration::from_millis(1),
    );
    prop_assert_eq!(shell.poll_at(), None, "no half frame is left");
    uart.feed(b"\r");
    let now = settle(shell, node, uart, now);

    let status = type_lines(shell, node, uart, now, b"status\r");
    let stack = std::format!("stack={STACK}");
    prop_assert!(status.contains(&stack), "no {} in {:?}", stack, status);
    prop_assert!(status.iter().any(|l| l == "ok"), "no ok in {:?}", status);
    prop_assert!(
        !status.iter().any(|l| l.starts_with("error")),
        "{:?}",
        status
    );

    uart.take_output();
    uart.feed(&encode_frame(7, &Request::Status));
    settle(shell, node, uart, now);
    let output = uart.take_output();
    prop_assert_eq!(
        output.first(),
        Some(&0),
        "a binary reply is a frame: {:02x?}",
        output
    );
    let replies = frames(&output);
    prop_assert_eq!(replies.len(), 1, "{:02x?}", output);
    let (header, response) = proto::decode_response(&replies[0]).unwrap();
    prop_assert_eq!(header.tag, 7);
    match response {
        Response::Status(status) => prop_assert_eq!(status.stack, STACK),
        other => prop_assert!(false, "expected status, got {:?}", other),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn garbage_never_panics_and_enter_then_status_recovers(
        noise in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        // That case is its own test below.
        recovers_from(&noise)?;
    }

    #[test]
    fn text_like_garbage_never_panics_and_recovers(
        // Printable text, line ends, escapes, tabs, backspaces and zeros:
        // what a confused terminal or a wrong baud rate sends.
        noise in proptest::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'\r'),
                1 => Just(b'\n'),
                1 => Just(b'\t'),
                1 => Just(0x08u8),
                1 => Just(0x1bu8),
                1 => Just(b'['),
                1 => Just(0u8),
            ],
            0..2048,
        ),
    ) {
        recovers_from(&noise)?;
    }

    /// Once the line is in binary use, every frame that begins with a
    /// header, whatever follows it (a body that is no request, bad COBS, too
    /// many bytes), gets exactly one reply frame and no text.
    #[test]
    fn in_binary_use_every_frame_with_a_header_gets_one_reply_frame(
        frames_in in proptest::collection::vec(
            (
                1u8..=7,
                any::<u16>(),
                proptest::collection::vec(any::<u8>(), 0..600),
                any::<prop::sample::Index>(),
                proptest::collection::vec(1u8..=255, 0..700),
            ),
            1..6,
        ),
    ) {
        rig!(uart, shell, node);
        let now = into_binary_use(&mut shell, &mut node, &uart, Instant::ZERO);
        let mut input = Vec::new();
        for (version, tag, body, cut, tail) in &frames_in {
            let mut message = [0u8; 700];
            let header = Header { version: *version, tag: *tag };
            let len = postcard::to_slice(&(header, ()), &mut message).unwrap().len();
            message[len..len + body.len()].copy_from_slice(body);
            let raw = cobs_bytes(&message[..len + body.len()]);
            // Keep the header's bytes (a code byte and at most four), cut
            // anywhere after them, and add any bytes.
            let keep = raw.len().min(6);
            let keep = keep + cut.index(raw.len() - keep + 1);
            input.push(0);
            input.extend_from_slice(&raw[..keep]);
            input.extend_from_slice(tail);
            input.push(0);
        }
        uart.feed(&input);
        let now = settle(&mut shell, &mut node, &uart, now);
        let output = uart.take_output();
        prop_assert_eq!(output.first(), Some(&0), "{:02x?}", output);
        prop_assert!(lines(&output).is_empty(), "text in {:02x?}", output);
        let replies = frames(&output);
        prop_assert_eq!(replies.len(), frames_in.len(), "{:02x?}", output);
        for reply in &replies {
            prop_assert!(proto::decode_response(reply).is_ok());
        }
        answers_after_noise(&mut shell, &mut node, &uart, now)?;
    }

    /// A zero followed by bytes that cannot begin a request is dropped, and
    /// the shell goes on exactly as if it had never come: the same echo, the
    /// same replies, whatever is typed after it.
    #[test]
    fn a_zero_before_what_cannot_be_a_request_changes_nothing(
        start in prop_oneof![
            // A code byte of 1: a zero byte where the version goes.
            (1u8..=255).prop_map(|b| std::vec![1, b]),
            // A version byte above 7: what a typed key gives.
            (2u8..=255, 8u8..=255).prop_map(|(c, v)| std::vec![c, v]),
            // A tag that overflows a u16.
            (1u8..=7, 4u8..=255).prop_map(|(v, t)| std::vec![5, v, 0xff, 0xff, t]),
        ],
        typed in proptest::collection::vec(
            prop_oneof![
                8 => 0x20u8..0x7f,
                1 => Just(b'\r'),
                1 => Just(0x1bu8),
                1 => 1u8..=255,
            ],
            0..64,
        ),
        binary in any::<bool>(),
    ) {
        let mut rest = start;
        rest.extend_from_slice(&typed);
        rest.extend_from_slice(b"\rstatus\r");
        let mut with_zero = std::vec![0u8];
        with_zero.extend_from_slice(&rest);
        let outputs = [with_zero, rest].map(|input| {
            rig!(uart, shell, node);
            let now = if binary {
                into_binary_use(&mut shell, &mut node, &uart, Instant::ZERO)
            } else {
                Instant::ZERO
            };
            uart.feed(&input);
            let now = settle(&mut shell, &mut node, &uart, now);
            settle(&mut shell, &mut node, &uart, now + FRAME_TIMEOUT);
            uart.take_output()
        });
        prop_assert_eq!(
            String::from_utf8_lossy(&outputs[0]),
            String::from_utf8_lossy(&outputs[1])
        );
        let stack = std::format!("stack={STACK}");
        prop_assert!(
            lines(&outputs[0]).contains(&stack),
            "status did not run: {:?}",
            lines(&outputs[0])
        );
    }
}

#[test]
fn enter_ends_an_unfinished_escape_sequence() {
    rig!(uart, shell, node);
    type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"\x1b[\r");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"status\r");
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
}

fn error_lines(lines: &[String]) -> Vec<&String> {
    lines.iter().filter(|l| l.starts_with("error")).collect()
}

#[test]
fn an_over_long_line_gives_one_line_too_long_error() {
    rig!(uart, shell, node);
    let mut line = std::vec![b'a'; LINE_MAX + 10];
    line.push(b'\r');
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &line);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].starts_with("error: line-too-long:"), "{out:?}");
    assert!(!out.iter().any(|l| l == "ok"), "nothing ran: {out:?}");

    // A line of spaces runs no command but is still too long.
    let mut line = std::vec![b' '; LINE_MAX + 10];
    line.push(b'\r');
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &line);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].starts_with("error: line-too-long:"), "{out:?}");

    // A valid command that overflows is dropped, not run truncated.
    let mut line = b"listen 7000 ".to_vec();
    line.extend(std::iter::repeat_n(b' ', LINE_MAX));
    line.extend_from_slice(b"x\r");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &line);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].starts_with("error: line-too-long:"), "{out:?}");

    // The next line is fine again.
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"status\r");
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
    assert!(error_lines(&out).is_empty(), "{out:?}");
}

#[test]
fn a_line_of_exactly_line_max_bytes_is_not_too_long() {
    // The editor's buffer holds LINE_MAX bytes; a line that fills it exactly
    // lost nothing.
    rig!(uart, shell, node);
    let mut line = b"status".to_vec();
    line.resize(LINE_MAX, b' ');
    line.push(b'\r');
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &line);
    assert!(error_lines(&out).is_empty(), "{out:?}");
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
}

#[test]
fn an_over_long_line_of_non_ascii_text_gives_line_too_long() {
    rig!(uart, shell, node);
    // `send 0 ` then 2-byte characters well past the line buffer.
    let mut line = b"send 0 ".to_vec();
    for _ in 0..LINE_MAX {
        line.extend_from_slice("é".as_bytes());
    }
    line.push(b'\r');
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &line);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{out:?}");
    assert!(errors[0].starts_with("error: line-too-long:"), "{out:?}");
}

#[test]
fn arrow_keys_do_not_count_as_overflow() {
    rig!(uart, shell, node);
    let mut input = b"status".to_vec();
    for _ in 0..300 {
        input.extend_from_slice(b"\x1b[D");
    }
    for _ in 0..300 {
        input.extend_from_slice(b"\x1b[C");
    }
    input.push(b'\r');
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &input);
    assert!(error_lines(&out).is_empty(), "{out:?}");
    assert!(
        out.iter().any(|l| *l == std::format!("stack={STACK}")),
        "{out:?}"
    );
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
}

#[test]
fn a_double_escape_before_an_arrow_is_not_overflow() {
    rig!(uart, shell, node);
    let out = type_lines(
        &mut shell,
        &mut node,
        &uart,
        Instant::ZERO,
        b"status\x1b\x1b[D\r",
    );
    assert!(error_lines(&out).is_empty(), "{out:?}");
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
}

#[test]
fn tab_completes_command_names() {
    rig!(uart, shell, node);
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"statu\t\r");
    assert!(
        out.iter().any(|l| *l == std::format!("stack={STACK}")),
        "{out:?}"
    );
    assert!(out.iter().any(|l| l == "ok"), "{out:?}");
    assert!(error_lines(&out).is_empty(), "{out:?}");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"lin\t\r");
    assert!(out.iter().any(|l| l.starts_with("link=0 ")), "{out:?}");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"stats\t\r");
    assert!(out.iter().any(|l| l == "frames_tx=0"), "{out:?}");
    // A completed name takes its arguments after the space tab adds.
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"lis\t7000\r");
    assert_eq!(out.last().map(String::as_str), Some("ok"), "{out:?}");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"status\r");
    assert!(out.iter().any(|l| l == "listening=7000"), "{out:?}");
}

#[test]
fn tab_stops_where_command_names_diverge() {
    rig!(uart, shell, node);
    // `sta` starts both `status` and `stats`: tab goes as far as they agree,
    // so typing `s` after it gives `stats`.
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"sta\ts\r");
    assert!(out.iter().any(|l| l == "frames_tx=0"), "{out:?}");
    // `re` starts `recv` and `remote`; nothing to complete. The remote
    // request reaches the transport, which has no datagrams.
    let out = type_lines(
        &mut shell,
        &mut node,
        &uart,
        Instant::ZERO,
        b"re\tmote 0 stats\r",
    );
    assert!(
        out.iter().any(|l| l.starts_with("error: unsupported:")),
        "{out:?}"
    );
}

#[test]
fn an_argument_to_a_command_that_takes_none_is_unexpected() {
    rig!(uart, shell, node);
    for line in [&b"status extra\r"[..], b"links 1\r", b"peers x\r"] {
        let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, line);
        assert!(
            out.iter()
                .any(|l| l.starts_with("error: unexpected-argument:")),
            "{out:?}"
        );
    }
}

#[test]
fn options_and_out_of_range_numbers_get_named_errors() {
    rig!(uart, shell, node);
    for (line, error) in [
        (
            &b"status -x\r"[..],
            "error: unexpected-option: 'status' takes no options",
        ),
        (
            b"stats -x\r",
            "error: unexpected-option: 'stats' takes no options",
        ),
        (
            b"listen --port 5\r",
            "error: unexpected-option: 'listen' takes no options",
        ),
        (
            b"recv 300\r",
            "error: bad-argument: '300' is not a number from 0 to 255",
        ),
        (
            b"listen 70000\r",
            "error: bad-argument: '70000' is not a number from 0 to 65535",
        ),
    ] {
        let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, line);
        let errors = error_lines(&out);
        assert_eq!(errors.len(), 1, "{out:?}");
        assert!(errors[0].starts_with(error), "{out:?}");
    }
}

#[test]
fn help_lists_every_command() {
    rig!(uart, shell, node);
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"help\r");
    for name in [
        "status", "links", "peers", "connect", "listen", "send", "recv", "close", "ping", "stats",
        "remote",
    ] {
        assert!(
            out.iter()
                .any(|l| l.split_whitespace().next() == Some(name)),
            "{name} missing from help: {out:#?}"
        );
    }
}

/// What a stray zero looks like on a UART: line noise, a break as a cable
/// is plugged in (a zero, perhaps more zeros or a 0xff), a key pressed at
/// the same time.
const NOISE: [&[u8]; 8] = [
    b"\0",
    b"\0\0\0",
    b"\0\xff",
    b"\0\x01",
    b"\0\x1b",
    b"\0\r",
    b"\0\xc3",
    b"\0\0\xfe",
];

/// The issue this pins down: the command typed right after the noise is
/// not swallowed by a frame the noise seemed to open, and no error, text or
/// binary, is printed for the noise.
#[test]
fn noise_followed_at_once_by_a_command_runs_the_command() {
    for binary in [false, true] {
        for noise in NOISE {
            rig!(uart, shell, node);
            let now = if binary {
                into_binary_use(&mut shell, &mut node, &uart, Instant::ZERO)
            } else {
                Instant::ZERO
            };
            let mut input = noise.to_vec();
            input.extend_from_slice(b"status\r");
            uart.feed(&input);
            // No time passes: the reply does not wait for a frame to expire.
            settle(&mut shell, &mut node, &uart, now);
            assert_eq!(shell.poll_at(), None, "{noise:02x?}: a frame is left open");
            let output = uart.take_output();
            assert!(
                !output.contains(&0),
                "{noise:02x?}: a frame in {output:02x?}"
            );
            let out = lines(&output);
            assert!(
                out.contains(&std::format!("stack={STACK}")),
                "{noise:02x?}: {out:?}"
            );
            assert_eq!(
                out.last().map(String::as_str),
                Some("ok"),
                "{noise:02x?}: {out:?}"
            );
            assert!(error_lines(&out).is_empty(), "{noise:02x?}: {out:?}");
        }
    }
}

/// Noise in the middle of a typed line loses none of it.
#[test]
fn noise_inside_a_typed_line_loses_none_of_it() {
    rig!(uart, shell, node);
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, b"sta\0tus\r");
    assert!(out.contains(&std::format!("stack={STACK}")), "{out:?}");
    assert!(error_lines(&out).is_empty(), "{out:?}");
}

/// Frames the shell could not read, each with the error it gets, and
/// whether it ends only when `FRAME_TIMEOUT` has passed.
fn unreadable_frames() -> Vec<(Vec<u8>, Error, bool)> {
    let mut half = encode_frame(3, &Request::Status);
    half.truncate(half.len() - 2);
    // A header, then more than the frame buffer holds.
    let mut long = std::vec![0u8, 0x02, proto::VERSION];
    long.extend(std::iter::repeat_n(0x41, tidenet_shell::FRAME_MAX + 100));
    long.push(0);
    std::vec![
        (half, Error::IncompleteFrame, true),
        // Version 1 and then not COBS: the code byte 9 promises 8 bytes.
        (
            std::vec![0, 0x09, 0x01, 0x00],
            Error::MalformedRequest,
            false
        ),
        // COBS, but only a version byte: no header.
        (raw_frame(&[proto::VERSION]), Error::MalformedRequest, false),
        (long, Error::frame_too_long(tidenet_shell::FRAME_MAX), false),
    ]
}

/// Sends `frame` and lets it end; returns the output and the time.
fn send_unreadable(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    now: Instant,
    frame: &[u8],
    times_out: bool,
) -> (Vec<u8>, Instant) {
    uart.take_output();
    uart.feed(frame);
    let now = settle(shell, node, uart, now);
    if times_out {
        let at = shell.poll_at().expect("the half frame has a deadline");
        assert_eq!(at, now + FRAME_TIMEOUT);
        settle(shell, node, uart, Instant::from_nanos(at.as_nanos() - 1));
        assert!(
            uart.output.borrow().is_empty(),
            "an error before the timeout"
        );
        let now = settle(shell, node, uart, at);
        return (uart.take_output(), now);
    }
    (uart.take_output(), now)
}

/// Before any request has come as a frame, a person is at the line: an
/// error about a frame the shell could not read is a text line, and the
/// next typed command works.
#[test]
fn before_binary_use_an_unreadable_frame_gets_one_text_error() {
    for (frame, error, times_out) in unreadable_frames() {
        rig!(uart, shell, node);
        let (output, now) = send_unreadable(
            &mut shell,
            &mut node,
            &uart,
            Instant::ZERO,
            &frame,
            times_out,
        );
        assert!(!output.contains(&0), "{error:?}: a frame in {output:02x?}");
        assert_eq!(
            error_lines(&lines(&output)),
            [&std::format!("error: {error}")],
            "{output:02x?}"
        );
        let out = type_lines(&mut shell, &mut node, &uart, now, b"status\r");
        assert_eq!(out.last().map(String::as_str), Some("ok"), "{out:?}");
    }
}

/// Once a request has come as a frame, a script is at the line: the same
/// errors come back as frames under tag 0, as they always have, and no text.
#[test]
fn in_binary_use_an_unreadable_frame_gets_one_error_frame() {
    for (frame, error, times_out) in unreadable_frames() {
        rig!(uart, shell, node);
        let now = into_binary_use(&mut shell, &mut node, &uart, Instant::ZERO);
        let (output, now) = send_unreadable(&mut shell, &mut node, &uart, now, &frame, times_out);
        assert!(
            lines(&output).is_empty(),
            "{error:?}: text in {output:02x?}"
        );
        let replies = frames(&output);
        assert_eq!(replies.len(), 1, "{error:?}: {output:02x?}");
        assert_eq!(
            proto::decode_response(&replies[0]),
            Ok((Header::new(0), Response::Error(error)))
        );
        // Still in binary use: the next mistake is a frame too.
        let (output, now) = send_unreadable(&mut shell, &mut node, &uart, now, &frame, times_out);
        assert_eq!(frames(&output).len(), 1, "{error:?}: {output:02x?}");
        let out = type_lines(&mut shell, &mut node, &uart, now, b"status\r");
        assert_eq!(out.last().map(String::as_str), Some("ok"), "{out:?}");
    }
}

/// Enter hands the line back to text: after a typed line, even an empty
/// one, frame errors are text again until the next request frame.
#[test]
fn enter_ends_binary_use() {
    let (frame, error, _) = unreadable_frames().swap_remove(1);
    for typed in [&b"status\r"[..], b"\r", b"\n"] {
        rig!(uart, shell, node);
        let now = into_binary_use(&mut shell, &mut node, &uart, Instant::ZERO);
        type_lines(&mut shell, &mut node, &uart, now, typed);
        let (output, now) = send_unreadable(&mut shell, &mut node, &uart, now, &frame, false);
        assert!(!output.contains(&0), "{typed:02x?}: {output:02x?}");
        assert_eq!(
            error_lines(&lines(&output)),
            [&std::format!("error: {error}")]
        );
        let now = into_binary_use(&mut shell, &mut node, &uart, now);
        let (output, _) = send_unreadable(&mut shell, &mut node, &uart, now, &frame, false);
        assert_eq!(frames(&output).len(), 1, "{typed:02x?}: {output:02x?}");
    }
}

/// A frame that reads as a header but is no request (another version, or a
/// body that does not decode) is answered under its tag as always, but says
/// nothing about who is at the line: it does not start binary use.
#[test]
fn only_a_request_of_this_version_starts_binary_use() {
    let (frame, error, _) = unreadable_frames().swap_remove(1);
    let newer = Header {
        version: proto::VERSION + 1,
        tag: 9,
    };
    let mut message = [0u8; 8];
    let len = proto::encode(newer, &Request::Status, &mut message).unwrap();
    for not_a_request in [
        raw_frame(&message[..len]),
        raw_frame(&[proto::VERSION, 9, 200]),
    ] {
        rig!(uart, shell, node);
        uart.feed(&not_a_request);
        let now = settle(&mut shell, &mut node, &uart, Instant::ZERO);
        let replies = frames(&uart.take_output());
        assert_eq!(replies.len(), 1);
        assert_eq!(
            proto::decode_response(&replies[0]).map(|(h, _)| h.tag),
            Ok(9)
        );
        let (output, _) = send_unreadable(&mut shell, &mut node, &uart, now, &frame, false);
        assert_eq!(
            error_lines(&lines(&output)),
            [&std::format!("error: {error}")]
        );
    }
}

/// A text error comes above the line being typed, which the editor prints
/// again after it, and the line goes on to run.
#[test]
fn a_text_frame_error_keeps_the_line_being_typed() {
    rig!(uart, shell, node);
    let (frame, error, _) = unreadable_frames().swap_remove(1);
    let mut input = b"sta".to_vec();
    input.extend_from_slice(&frame);
    input.extend_from_slice(b"tus\r");
    let out = type_lines(&mut shell, &mut node, &uart, Instant::ZERO, &input);
    assert_eq!(
        error_lines(&out),
        [&std::format!("error: {error}")],
        "{out:?}"
    );
    assert!(out.contains(&std::format!("stack={STACK}")), "{out:?}");
    assert_eq!(out.last().map(String::as_str), Some("ok"), "{out:?}");
}

#[test]
fn a_frame_that_is_not_a_request_gets_malformed_request_under_its_tag() {
    rig!(uart, shell, node);
    // COBS of [VERSION, tag 9, variant 200].
    let message = [proto::VERSION, 9, 200];
    let mut frame = std::vec![0u8; 8];
    let n = cobs::encode(&message, &mut frame[1..]);
    frame.truncate(n + 2);
    frame[n + 1] = 0;
    uart.feed(&frame);
    settle(&mut shell, &mut node, &uart, Instant::ZERO);
    let replies = frames(&uart.take_output());
    assert_eq!(replies.len(), 1);
    assert_eq!(
        proto::decode_response(&replies[0]).unwrap(),
        (Header::new(9), Response::Error(Error::MalformedRequest))
    );
}

/// Starts `ping 0`, which waits for its timeout, and polls until it runs.
fn start_a_ping(shell: &mut Shell<'_, Uart>, node: &mut Node<Fake>, uart: &Uart) {
    uart.feed(b"ping 0\r");
    for _ in 0..16 {
        node.poll(Instant::ZERO);
        shell.poll(node, Instant::ZERO).unwrap();
    }
    assert!(node.is_busy(), "ping is not waiting");
    uart.take_output();
}

fn finals(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("ok") || l.starts_with("error: "))
        .collect()
}

/// A 16550 holds 16 bytes and `ping` may wait a second: what is typed
/// meanwhile leaves the UART at once, and runs, in order, after the reply.
#[test]
fn input_typed_while_a_request_waits_is_held_and_runs_after_it() {
    rig!(uart, shell, node);
    start_a_ping(&mut shell, &mut node, &uart);
    uart.feed(b"status\rstats\rlinks\r");
    node.poll(Instant::ZERO);
    shell.poll(&mut node, Instant::ZERO).unwrap();
    assert!(uart.input.borrow().is_empty(), "input left in the UART");
    assert_eq!(lines(&uart.take_output()), Vec::<String>::new());

    settle(&mut shell, &mut node, &uart, Instant::ZERO);
    let out = lines(&uart.take_output());
    let done = finals(&out);
    assert_eq!(done.len(), 4, "{out:?}");
    assert!(done[0].starts_with("error: timeout: "), "{out:?}");
    assert_eq!(done[1..], ["ok", "ok", "ok"], "{out:?}");
    let status = out.iter().position(|l| l == "version=1");
    let stats = out.iter().position(|l| l == "frames_tx=0");
    let links = out.iter().position(|l| l.starts_with("link=0 "));
    assert!(status < stats && stats < links, "out of order: {out:?}");
}

/// Past the buffer's size, input stays in the UART rather than being
/// dropped by the shell, and all of it runs in the end.
#[test]
fn typeahead_beyond_the_buffer_stays_in_the_uart() {
    rig!(uart, shell, node);
    start_a_ping(&mut shell, &mut node, &uart);
    let lines_typed = TYPEAHEAD / 7 + 4;
    uart.feed(&b"status\r".repeat(lines_typed));
    node.poll(Instant::ZERO);
    shell.poll(&mut node, Instant::ZERO).unwrap();
    assert_eq!(uart.input.borrow().len(), 7 * lines_typed - TYPEAHEAD);

    settle(&mut shell, &mut node, &uart, Instant::ZERO);
    let out = lines(&uart.take_output());
    let oks = finals(&out).iter().filter(|l| **l == "ok").count();
    assert_eq!(oks, lines_typed, "{out:?}");
}
