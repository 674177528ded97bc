//! Log lines with a level, and a rate limit on the ones a peer, or anyone
//! who reaches the ports, can cause over and over.
//!
//! A stranger that sends 100,000 datagrams must not write 100,000 lines. So
//! each kind of repeated event is logged the first time, then at most once
//! per [`LOG_INTERVAL`], and that line says how many like it were held back.
//! The counters still count every one (see [`Drops`](crate::Drops)), so
//! nothing is lost but the noise.

use std::time::{Duration, Instant};

/// How much a log line matters; DCF's four levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    /// Detail for whoever debugs the transport: a late pong.
    Debug,
    /// Normal events worth a line.
    Info,
    /// Something was refused or dropped, or a setting could not be had.
    Warn,
    /// A socket failed.
    Error,
}

/// The shortest time between two lines about the same kind of repeated
/// event. A flood of any one kind writes at most one line per interval.
pub const LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The events that others can repeat at will, each limited on its own, so
/// that a flood of one never hides the first line of another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Repeated {
    /// A datagram from a host that is not the peer.
    StrangerDatagram,
    /// A data stream from a host that is not the peer.
    StrangerStream,
    /// A message dropped because the queue was full.
    MessageDropped,
    /// A stream closed because too many waited unclaimed.
    StreamUnclaimed,
    /// A pong that answers no ping of ours.
    PongUnmatched,
    /// The control socket's receive failed (an ICMP error, say).
    ReceiveFailed,
    /// A send on the control socket failed: a pong.
    SendFailed,
    /// Accepting a stream failed (out of descriptors, say).
    AcceptFailed,
    /// An accepted stream could not be set up.
    StreamSetup,
}

const KINDS: usize = 9;
const _: () = assert!(Repeated::StreamSetup as usize + 1 == KINDS);

impl Repeated {
    fn index(self) -> usize {
        self as usize
    }
}

/// When each kind of event was last logged, and how many have been held
/// back since.
#[derive(Debug, Default)]
pub(crate) struct RateLimit {
    windows: [Window; KINDS],
}

#[derive(Clone, Copy, Debug, Default)]
struct Window {
    last: Option<Instant>,
    held: u64,
}

impl RateLimit {
    /// Whether a line about `kind` may be written at `now`. If so, returns
    /// how many like it were held back since the last one written.
    pub fn admit(&mut self, kind: Repeated, now: Instant) -> Option<u64> {
        let window = &mut self.windows[kind.index()];
        match window.last {
            Some(last) if now.saturating_duration_since(last) < LOG_INTERVAL => {
                window.held += 1;
                None
            }
            _ => {
                window.last = Some(now);
                Some(std::mem::take(&mut window.held))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flood_writes_one_line_per_interval_and_counts_the_rest() {
        let mut limit = RateLimit::default();
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        assert_eq!(limit.admit(Repeated::StrangerDatagram, at(0)), Some(0));
        let written = (1..100_000)
            .filter_map(|i| limit.admit(Repeated::StrangerDatagram, at(i / 10)))
            .count();
        assert_eq!(written, 0, "all within the first interval");
        assert_eq!(
            limit.admit(Repeated::StrangerDatagram, at(10_000)),
            Some(99_999),
            "the next line says how many were held back"
        );
        assert_eq!(limit.admit(Repeated::StrangerDatagram, at(10_001)), None);
    }

    #[test]
    fn kinds_are_limited_apart() {
        let mut limit = RateLimit::default();
        let now = Instant::now();
        assert_eq!(limit.admit(Repeated::StrangerDatagram, now), Some(0));
        assert_eq!(limit.admit(Repeated::StrangerDatagram, now), None);
        assert_eq!(limit.admit(Repeated::StrangerStream, now), Some(0));
        assert_eq!(limit.admit(Repeated::PongUnmatched, now), Some(0));
    }
}
