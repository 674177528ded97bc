//! Link sequence numbers: 16 bits that wrap, compared as serial numbers.

use core::cmp::Ordering;
use core::ops::Add;

/// A frame's sequence number. Ordering is serial-number arithmetic, as in
/// smoltcp's `TcpSeqNumber`: `a < b` when `b` is less than half the space
/// ahead of `a`, so comparisons survive the wrap from 65535 to 0. The link
/// never has more than a few thousand frames in flight, far inside that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Seq(pub u16);

impl Seq {
    /// How far `self` is ahead of `earlier`; negative if behind.
    pub fn since(self, earlier: Seq) -> i16 {
        self.0.wrapping_sub(earlier.0) as i16
    }
}

impl Add<u16> for Seq {
    type Output = Seq;
    fn add(self, n: u16) -> Seq {
        Seq(self.0.wrapping_add(n))
    }
}

impl PartialOrd for Seq {
    fn partial_cmp(&self, other: &Seq) -> Option<Ordering> {
        Some(self.since(*other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::Seq;

    #[test]
    fn order_survives_the_wrap() {
        assert!(Seq(65535) < Seq(0));
        assert!(Seq(65000) < Seq(100));
        assert!(Seq(100) > Seq(65000));
        assert_eq!(Seq(65535) + 2, Seq(1));
        assert_eq!(Seq(1).since(Seq(65535)), 2);
        assert_eq!(Seq(65535).since(Seq(1)), -2);
    }
}
