//! Moments known only by the poll they happened in.

use tidenet_core::time::{Duration, Instant};

/// Something the link did during a poll: a word read, say. A poll is given
/// one `now` for all of its work (as smoltcp's is), and its reads and
/// writes go on for as long as its bus budget lasts, which at a small depth
/// is many passes. So the poll's `now` is no upper bound for the moment;
/// the next poll's, which starts after this one ends, is. A mark is pinned
/// to that once it is known, and only a pinned mark says that time has
/// surely passed since.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mark {
    /// During the poll that started at this time.
    During(Instant),
    /// At this time or before.
    By(Instant),
}

impl Mark {
    /// Pins the mark to `now` if `now` starts a later poll.
    pub fn pin(&mut self, now: Instant) {
        if let Mark::During(t) = *self {
            if now > t {
                *self = Mark::By(now);
            }
        }
    }

    /// Whether `d` has surely passed since the moment, by `now`.
    pub fn passed(&self, d: Duration, now: Instant) -> bool {
        matches!(*self, Mark::By(t) if now >= t + d)
    }

    /// The earliest time at which `d` may have passed: when to poll, to pin
    /// the mark or to find `d` passed.
    pub fn at(&self, d: Duration) -> Instant {
        match *self {
            Mark::During(t) | Mark::By(t) => t + d,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn only_a_later_poll_pins_a_mark_and_only_a_pinned_one_has_passed() {
        let t = Instant::from_micros(10);
        let mut mark = Mark::During(t);
        assert!(!mark.passed(US, t + US * 100), "not pinned yet");
        mark.pin(t);
        assert_eq!(mark, Mark::During(t), "the same poll pins nothing");
        mark.pin(t + US * 5);
        assert_eq!(mark, Mark::By(t + US * 5));
        mark.pin(t + US * 50);
        assert_eq!(mark, Mark::By(t + US * 5), "pinned once");
        assert!(!mark.passed(US * 2, t + US * 6));
        assert!(mark.passed(US * 2, t + US * 7));
        assert_eq!(mark.at(US * 2), t + US * 7);
    }
}
