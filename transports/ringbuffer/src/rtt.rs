//! The link's round-trip estimate, which times its re-sends.

use tidenet_core::time::Duration;

/// Smoothed round trip and its variation, as TCP keeps them (RFC 6298),
/// from the time a frame is first written until its acknowledgement is
/// read. Only first transmissions are timed (Karn's rule), so a re-sent
/// frame cannot make the estimate too small.
#[derive(Clone, Copy, Debug)]
pub struct Rtt {
    srtt: Option<Duration>,
    rttvar: Duration,
    rto: Duration,
    min: Duration,
    max: Duration,
}

impl Rtt {
    /// An estimate that starts at `initial`, never below `min` or above
    /// `max`.
    pub fn new(initial: Duration, min: Duration, max: Duration) -> Self {
        Rtt {
            srtt: None,
            rttvar: Duration::ZERO,
            rto: initial.clamp(min, max),
            min,
            max,
        }
    }

    /// How long to wait for an acknowledgement before writing again.
    pub fn rto(&self) -> Duration {
        self.rto
    }

    /// The smoothed round trip, once there is a sample.
    pub fn srtt(&self) -> Option<Duration> {
        self.srtt
    }

    /// Takes in one measured round trip.
    pub fn sample(&mut self, rtt: Duration) {
        // A longer one says no more than the maximum does, and keeps the
        // sums below from overflowing.
        let rtt = rtt.min(self.max);
        let srtt = match self.srtt {
            None => {
                self.rttvar = rtt / 2;
                rtt
            }
            Some(srtt) => {
                let error = srtt.abs_diff(rtt);
                self.rttvar = (self.rttvar * 3 + error) / 4;
                (srtt * 7 + rtt) / 8
            }
        };
        self.srtt = Some(srtt);
        // RFC 6298's clock granularity term is the minimum here: a round
        // trip as steady as the link's would otherwise leave no margin for
        // one late poll of the peer's.
        self.rto = (srtt + (self.rttvar * 4).max(self.min)).min(self.max);
    }

    /// Doubles the wait after a time-out, up to the maximum.
    pub fn back_off(&mut self) {
        self.rto = (self.rto * 2).min(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn the_wait_follows_the_samples_within_its_bounds() {
        let mut rtt = Rtt::new(200 * US, 10 * US, 1000 * US);
        assert_eq!(rtt.rto(), 200 * US);
        rtt.sample(20 * US);
        // 20 + 4 * 10.
        assert_eq!(rtt.rto(), 60 * US);
        for _ in 0..100 {
            rtt.sample(20 * US);
        }
        assert_eq!(rtt.srtt(), Some(20 * US));
        assert_eq!(rtt.rto(), 30 * US, "the variation decays to the minimum");
        rtt.sample(Duration::ZERO);
        assert!(rtt.rto() >= 10 * US);
        // A sample past the maximum counts as the maximum.
        rtt.sample(Duration::from_secs(1 << 40));
        assert_eq!(rtt.rto(), 1000 * US);
        for _ in 0..20 {
            rtt.back_off();
        }
        assert_eq!(rtt.rto(), 1000 * US);
    }
}
