//! The report-collection decoder (`tidenet_core::node::collect`): a
//! manager node takes a child's stream of length-delimited postcard
//! reports, arriving in reads of the fuzzer's sizes.
//!
//! The manager must hand over exactly the reports a reader of the format
//! finds in the stream, in order: a record longer than any report ends the
//! stream (the child opens another, which goes on after the length), and
//! a record that does not decode is skipped the same way.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tidenet_core::node::collect::{Report, MAX_RECORD, REPORT_PORT};
use tidenet_core::node::Node;
use tidenet_core::time::{Duration, Instant};
use tidenet_fuzz::transport::Fake;
use tidenet_fuzz::Input;

/// The reports in `stream`, as the format defines them.
fn reference(stream: &[u8]) -> Vec<Report> {
    let mut reports = Vec::new();
    let mut rest = stream;
    while let [lo, hi, after @ ..] = rest {
        let len = usize::from(u16::from_le_bytes([*lo, *hi]));
        rest = after;
        if len > MAX_RECORD {
            continue;
        }
        let Some((record, after)) = rest.split_at_checked(len) else {
            break;
        };
        rest = after;
        if let Ok(report) = postcard::from_bytes(record) {
            reports.push(report);
        }
    }
    reports
}

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let count = usize::from(input.u8() % 8);
    let reads = input.bytes(count);
    let stream = input.rest();
    let mut node = Node::new([Fake::streaming(REPORT_PORT, stream, reads)]);
    node.set_manager(true);
    let mut taken = Vec::new();
    let mut now = Instant::ZERO;
    // Each poll reads until a report is whole or the stream stops: a
    // poll that takes nothing once every byte is read is the end.
    for _ in 0..=stream.len() + 2 {
        node.poll(now);
        let report = node.take_report();
        let done = report.is_none() && node.links()[0].unread() == 0;
        taken.extend(report);
        if done {
            break;
        }
        now = now + Duration::from_micros(100);
    }
    assert_eq!(taken, reference(stream));
});
