//! The shell fed arbitrary UART bytes, in pieces, with time passing between
//! them (`tidenet_shell::Shell`).
//!
//! It must not panic, must settle once the input is used up, must write
//! only frames that decode as responses, and must write a bounded amount
//! for each byte it reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_core::node::Node;
use tidenet_core::proto;
use tidenet_core::time::{Duration, Instant};
use tidenet_fuzz::shell::{frames, settle};
use tidenet_fuzz::transport::Fake;
use tidenet_fuzz::uart::Uart;
use tidenet_fuzz::Input;
use tidenet_shell::{Resources, Shell};

/// The most a shell may write for one byte read: the longest reply (`help`,
/// or a stats table) answers a line that took at least one byte (Enter).
const OUTPUT_PER_BYTE: usize = 4096;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let uart = Uart::default();
    let mut resources = Resources::new(uart.clone());
    let mut shell = Shell::new(&mut resources).unwrap_or_else(|e| match e {});
    let mut node = Node::new([Fake::default()]);
    let mut now = Instant::ZERO;
    let mut output = uart.take_output();
    while !input.is_empty() {
        let len = usize::from(input.u8() % 64);
        let gap = Duration::from_millis(u64::from(input.u8()));
        let bytes = input.bytes(len);
        uart.feed(bytes);
        now = settle(&mut shell, &mut node, &uart, now + gap);
        let written = uart.take_output();
        assert!(
            written.len() <= OUTPUT_PER_BYTE * (bytes.len() + 1),
            "{} bytes written for {} read",
            written.len(),
            bytes.len()
        );
        output.extend_from_slice(&written);
    }
    // A half frame left at the end times out.
    now = settle(
        &mut shell,
        &mut node,
        &uart,
        now + tidenet_shell::FRAME_TIMEOUT,
    );
    output.extend_from_slice(&uart.take_output());
    settle(&mut shell, &mut node, &uart, now);
    for frame in frames(&output) {
        proto::decode_response(&frame).expect("every frame the shell writes is a response");
    }
});
