//! Static addressing derived from hardware ids.
//!
//! A bittide node has no DHCP and nobody types addresses into it. Each end of a
//! link derives its IPv4 link-local address (RFC 3927, `169.254.1.0` to
//! `169.254.254.255`) from the FPGA's DNA and the link's port id, so the same
//! board on the same port always has the same address. The two bytes that
//! vary, the *host part*, are small enough to ride in every link control word,
//! which is how each end learns its peer's address without configuration.

use core::net::Ipv4Addr;

use crc::{Crc, CRC_32_ISCSI};

/// What identifies one end of one link: the FPGA's DNA and the port number.
///
/// On the wire (postcard) it is 13 bytes: the DNA as it is, then the port.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct HardwareId {
    /// The FPGA's 96-bit device DNA, as the bittide HAL reads it.
    pub dna: [u8; 12],
    /// The link's port id on that FPGA (0 to 6 on the 8-node mesh).
    pub port: u8,
}

impl HardwareId {
    /// The link-local address this end of the link uses.
    ///
    /// The host part is CRC-32C of the DNA and port, folded into the
    /// RFC 3927 range. Two ends that collide are reported as
    /// [`crate::Error::AddressConflict`] by the transport when it learns the
    /// peer's address, rather than silently talking to itself.
    pub fn link_local(&self) -> Ipv4Addr {
        const CRC: Crc<u32> = Crc::<u32>::new(&CRC_32_ISCSI);
        let mut digest = CRC.digest();
        digest.update(&self.dna);
        digest.update(&[self.port]);
        let h = digest.finalize();
        let hi = 1 + (h % 254) as u8;
        let lo = (h >> 8) as u8;
        Ipv4Addr::new(169, 254, hi, lo)
    }
}

/// The two bytes of a link-local address that vary, as carried on the link.
pub fn host_part(addr: Ipv4Addr) -> u16 {
    let [_, _, hi, lo] = addr.octets();
    u16::from_be_bytes([hi, lo])
}

/// The link-local address with this host part, or `None` if the host part is
/// outside RFC 3927's usable range (as a corrupt or empty word would be).
pub fn from_host_part(host: u16) -> Option<Ipv4Addr> {
    let [hi, lo] = host.to_be_bytes();
    (1..=254)
        .contains(&hi)
        .then(|| Ipv4Addr::new(169, 254, hi, lo))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_link_local_and_round_trip_through_the_host_part() {
        for port in 0..7 {
            let id = HardwareId {
                dna: [0x5a; 12],
                port,
            };
            let addr = id.link_local();
            assert!(addr.is_link_local(), "{addr}");
            assert_eq!(from_host_part(host_part(addr)), Some(addr));
        }
    }

    #[test]
    fn ports_of_one_fpga_get_distinct_addresses() {
        let addrs: [Ipv4Addr; 7] = core::array::from_fn(|port| {
            HardwareId {
                dna: [7; 12],
                port: port as u8,
            }
            .link_local()
        });
        for (i, a) in addrs.iter().enumerate() {
            assert!(!addrs[i + 1..].contains(a), "{a} repeats");
        }
    }

    #[test]
    fn host_parts_outside_the_usable_range_are_rejected() {
        assert_eq!(from_host_part(0x0000), None);
        assert_eq!(from_host_part(0xff12), None);
    }
}
