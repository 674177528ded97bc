//! The smoltcp [`Device`] over a ringbuffer link: one IPv4 packet per
//! frame.

use smoltcp::phy::{self, Device, DeviceCapabilities, Medium};
use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::Stats;
use tidenet_ringbuffer::{Link, Received, Transmit};

/// Why a checked frame is no IPv4 packet smoltcp should see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Not IPv4.
    BadVersion,
    /// The IP header claims more than the link carries.
    Oversized,
    /// The IP header's length is shorter than a header, or is not the
    /// frame's.
    Length,
}

/// Checks that `packet` is an IPv4 packet whose header's total length is
/// exactly the frame's, within `mtu`.
///
/// The link layer's CRC has already vouched for every byte, so this catches
/// a peer that sends what is not IPv4, not damage on the way.
pub fn check(packet: &[u8], mtu: usize) -> Result<(), Malformed> {
    let [first, _, hi, lo, ..] = *packet else {
        return Err(Malformed::Length);
    };
    if first >> 4 != 4 {
        return Err(Malformed::BadVersion);
    }
    let len = usize::from(u16::from_be_bytes([hi, lo]));
    // The header's own length (IHL) is at least the 20 fixed bytes: one
    // below that is no IPv4 header, however long the packet.
    let header = usize::from(first & 0x0f) * 4;
    if len > mtu {
        Err(Malformed::Oversized)
    } else if header < 20 || len < header || len != packet.len() {
        Err(Malformed::Length)
    } else {
        Ok(())
    }
}

/// smoltcp's view of a [`Link`]: it receives the link's checked frames as
/// IPv4 packets and hands its packets to the link's window.
pub struct IpLink<'a, T, R> {
    link: Link<'a, T, R>,
    drops: Stats,
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> IpLink<'a, T, R> {
    /// smoltcp on `link`.
    pub fn new(link: Link<'a, T, R>) -> Self {
        IpLink {
            link,
            drops: Stats::default(),
        }
    }

    /// The link underneath.
    pub fn link(&self) -> &Link<'a, T, R> {
        &self.link
    }

    /// The link underneath, mutably, to poll it.
    pub fn link_mut(&mut self) -> &mut Link<'a, T, R> {
        &mut self.link
    }

    /// The link's counters with the packets dropped here added in.
    pub fn stats(&self) -> Stats {
        let d = &self.drops;
        Stats {
            drop_bad_version: self.link.stats().drop_bad_version + d.drop_bad_version,
            drop_oversized: d.drop_oversized,
            drop_malformed_len: d.drop_malformed_len,
            ..*self.link.stats()
        }
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&mut self) {
        self.link.reset_stats();
        self.drops = Stats::default();
    }
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> Device for IpLink<'a, T, R> {
    type RxToken<'d>
        = RxToken<'d>
    where
        Self: 'd;
    type TxToken<'d>
        = TxToken<'d, 'a>
    where
        Self: 'd;

    fn receive(&mut self, _: smoltcp::time::Instant) -> Option<(RxToken<'_>, TxToken<'_, 'a>)> {
        let mtu = self.link.mtu();
        // Frames that are not IPv4 are taken off the link and counted here,
        // so that smoltcp never sees them and the next one can come.
        loop {
            let bad = {
                let (rx, _) = self.link.receive()?;
                check(rx.packet(), mtu).err()
            };
            let Some(bad) = bad else { break };
            let counter = match bad {
                Malformed::BadVersion => &mut self.drops.drop_bad_version,
                Malformed::Oversized => &mut self.drops.drop_oversized,
                Malformed::Length => &mut self.drops.drop_malformed_len,
            };
            *counter += 1;
            if let Some((rx, _)) = self.link.receive() {
                rx.consume(|_| ());
            }
        }
        let (rx, tx) = self.link.receive()?;
        Some((RxToken(rx), TxToken(tx)))
    }

    fn transmit(&mut self, _: smoltcp::time::Instant) -> Option<TxToken<'_, 'a>> {
        self.link.transmit().map(TxToken)
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ip;
        caps.max_transmission_unit = self.link.mtu();
        caps
    }
}

/// Hands a received packet to smoltcp and frees the link for the next.
pub struct RxToken<'l>(Received<'l>);

impl phy::RxToken for RxToken<'_> {
    fn consume<U, F: FnOnce(&[u8]) -> U>(self, f: F) -> U {
        self.0.consume(f)
    }
}

/// Takes one packet from smoltcp into the link's window.
pub struct TxToken<'l, 'a>(Transmit<'l, 'a>);

impl phy::TxToken for TxToken<'_, '_> {
    fn consume<U, F: FnOnce(&mut [u8]) -> U>(self, len: usize, f: F) -> U {
        self.0.consume(len, f)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn ipv4(len: u16) -> [u8; 20] {
        let mut header = [0u8; 20];
        header[0] = 0x45;
        header[2..4].copy_from_slice(&len.to_be_bytes());
        header
    }

    #[test]
    fn lengths_are_checked_against_the_frame_by_name() {
        assert_eq!(check(&ipv4(20), 1500), Ok(()));
        assert_eq!(check(&ipv4(21), 1500), Err(Malformed::Length));
        assert_eq!(check(&ipv4(19), 1500), Err(Malformed::Length));
        assert_eq!(check(&ipv4(2000), 1500), Err(Malformed::Oversized));
        let mut v6 = ipv4(20);
        v6[0] = 0x60;
        assert_eq!(check(&v6, 1500), Err(Malformed::BadVersion));
        assert_eq!(check(&[0x45, 0], 1500), Err(Malformed::Length));
        let mut options = ipv4(20);
        options[0] = 0x46;
        assert_eq!(
            check(&options, 1500),
            Err(Malformed::Length),
            "header longer than the packet"
        );
    }

    /// Found by `cargo xtask fuzz` (target `ip_length`): a header length
    /// (IHL) below five words passed, so smoltcp was handed a packet with
    /// no whole IPv4 header.
    #[test]
    fn a_header_length_below_twenty_bytes_is_malformed() {
        for ihl in 0..5 {
            let mut short = ipv4(20);
            short[0] = 0x40 | ihl;
            assert_eq!(check(&short, 1500), Err(Malformed::Length), "IHL {ihl}");
        }
        let mut fuzzed = [0u8; 36];
        fuzzed[..4].copy_from_slice(&[0x40, 0x01, 0x00, 0x24]);
        assert_eq!(check(&fuzzed, 1600), Err(Malformed::Length));
    }

    proptest! {
        #[test]
        fn any_frame_is_judged_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..64), mtu in 0usize..2000) {
            let _ = check(&bytes, mtu);
        }
    }
}
