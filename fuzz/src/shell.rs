//! Driving a shell on a [`Uart`] and a node on a [`Fake`] transport, and
//! reading the frames it writes.

use tidenet_core::node::{Node, TIMEOUT};
use tidenet_core::time::Instant;
use tidenet_shell::Shell;

use crate::transport::Fake;
use crate::uart::Uart;

/// Polls node and shell until the input is used up and nothing runs; a
/// request that waits gets its timeout's worth of time. Returns the time it
/// ends at. A shell that keeps busy without input is a finding.
pub fn settle(
    shell: &mut Shell<'_, Uart>,
    node: &mut Node<Fake>,
    uart: &Uart,
    mut now: Instant,
) -> Instant {
    for _ in 0..10_000 {
        node.poll(now);
        let active = shell.poll(node, now).unwrap_or_else(|e| match e {});
        if node.is_busy() {
            now = now + TIMEOUT;
            continue;
        }
        if !active && uart.drained() {
            return now;
        }
    }
    panic!("the shell did not settle");
}

/// The frames in a shell's output, COBS-decoded. Text never holds a zero
/// byte and the shell writes each frame whole, as `0 <COBS> 0`, so zeros
/// pair up. A frame that does not decode is a finding.
pub fn frames(output: &[u8]) -> Vec<Vec<u8>> {
    let mut frames = Vec::new();
    let mut rest = output;
    while let Some(open) = rest.iter().position(|&b| b == 0) {
        let body = &rest[open + 1..];
        let close = body
            .iter()
            .position(|&b| b == 0)
            .expect("a frame the shell wrote is closed");
        let mut frame = body[..close].to_vec();
        let len = cobs::decode_in_place(&mut frame).expect("a frame the shell wrote is COBS");
        frame.truncate(len);
        frames.push(frame);
        rest = &body[close + 1..];
    }
    frames
}
