//! When to write a control word again in case its last write was lost.

use tidenet_core::time::{Duration, Instant};

/// The longest wait, in passes, before a control word is written again;
/// after that the heartbeat rewrites it.
const MAX_PASSES: u32 = 32;

/// The schedule of a control word's rewrites. A lost write of a word that
/// then stays the same would go unhealed until the heartbeat, a whole
/// millisecond on: the feedback word, for a sender waiting for room; the
/// progress word, for a receiver waiting to learn a frame is there. So a
/// word is written again two passes after it changed, then after four,
/// eight, ... up to [`MAX_PASSES`], and then left to the heartbeat.
#[derive(Clone, Copy, Debug, Default)]
pub struct Reassert(Option<(Instant, Duration)>);

impl Reassert {
    /// When the word is next due to be written again, if at all.
    pub fn at(&self) -> Option<Instant> {
        self.0.map(|(at, _)| at)
    }

    /// Whether the word is due to be written again.
    pub fn due(&self, now: Instant) -> bool {
        self.0.is_some_and(|(at, _)| now >= at)
    }

    /// The word was written at `now`; `same`: it says what the last write
    /// said. A rewrite when due waits twice as long for the next; a change
    /// starts over at two passes. A rewrite of the same word before it was
    /// due (the heartbeat's, say) changes nothing: restarting the repeats
    /// there would wake an idle peer every few passes after every
    /// heartbeat.
    pub fn wrote(&mut self, now: Instant, same: bool, pass: Duration) {
        let gap = match self.0 {
            Some((at, gap)) if same && now >= at => gap * 2,
            _ if same => return,
            _ => pass * 2,
        };
        self.0 = (gap <= pass * MAX_PASSES).then_some((now + gap, gap));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewrites_back_off_from_two_passes_and_stop_after_thirty_two() {
        let pass = Duration::from_micros(1);
        let t0 = Instant::from_micros(100);
        let mut reassert = Reassert::default();
        assert_eq!(reassert.at(), None, "nothing written yet");
        reassert.wrote(t0, false, pass);
        assert_eq!(reassert.at(), Some(t0 + pass * 2));
        assert!(!reassert.due(t0 + pass));
        assert!(reassert.due(t0 + pass * 2));
        let mut now = t0 + pass * 2;
        for gap in [4, 8, 16, 32] {
            reassert.wrote(now, true, pass);
            assert_eq!(reassert.at(), Some(now + pass * gap));
            now = now + pass * gap;
        }
        reassert.wrote(now, true, pass);
        assert_eq!(reassert.at(), None, "left to the heartbeat");
        reassert.wrote(now + pass, true, pass);
        assert_eq!(reassert.at(), None, "the heartbeat's rewrite starts none");
        reassert.wrote(now, false, pass);
        assert_eq!(reassert.at(), Some(now + pass * 2), "a change starts over");
        reassert.wrote(now + pass, true, pass);
        assert_eq!(
            reassert.at(),
            Some(now + pass * 2),
            "a rewrite before it was due moves nothing"
        );
    }
}
