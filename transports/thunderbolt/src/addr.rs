//! Link-local addresses as people write them, and the interfaces they name.
//!
//! A `fe80::` address means nothing without its interface: every
//! Thunderbolt port of a host has the same prefix. The interface rides after
//! a `%`, by name (`fe80::1%thunderbolt0`) or by index (`fe80::1%2`).

use std::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use nix::ifaddrs::getifaddrs;
use nix::net::if_::{if_indextoname, if_nametoindex, InterfaceFlags};

use crate::TransportError;

/// An IPv6 address and the interface it is on, if one was written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScopedAddr {
    /// The address.
    pub ip: Ipv6Addr,
    /// What follows the `%`.
    pub zone: Option<Zone>,
}

/// The interface part of a scoped address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Zone {
    /// By name: `thunderbolt0`, `lo`.
    Name(String),
    /// By index, as `ip link` numbers them.
    Index(u32),
}

impl FromStr for ScopedAddr {
    type Err = TransportError;

    fn from_str(text: &str) -> Result<Self, TransportError> {
        let invalid = |reason: &str| TransportError::InvalidAddress {
            input: text.into(),
            reason: reason.into(),
        };
        let (ip, zone) = match text.split_once('%') {
            Some((ip, zone)) => (ip, Some(zone)),
            None => (text, None),
        };
        let ip = ip.parse::<Ipv6Addr>().map_err(|_| {
            if ip.parse::<Ipv4Addr>().is_ok() {
                invalid("is IPv4, and this transport speaks IPv6 only")
            } else {
                invalid("is not an IPv6 address")
            }
        })?;
        let zone = match zone {
            None => None,
            Some("") => return Err(invalid("has nothing after the '%'")),
            Some(digits) if digits.bytes().all(|b| b.is_ascii_digit()) => {
                match digits.parse::<u32>() {
                    Ok(0) | Err(_) => return Err(invalid("names no interface index")),
                    Ok(index) => Some(Zone::Index(index)),
                }
            }
            Some(name)
                if name
                    .bytes()
                    .any(|b| b == b'%' || b == b'/' || b.is_ascii_whitespace()) =>
            {
                return Err(invalid("has an interface name no interface can have"))
            }
            Some(name) => Some(Zone::Name(name.into())),
        };
        Ok(ScopedAddr { ip, zone })
    }
}

impl fmt::Display for ScopedAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.zone {
            None => write!(f, "{}", self.ip),
            Some(Zone::Name(name)) => write!(f, "{}%{name}", self.ip),
            Some(Zone::Index(index)) => write!(f, "{}%{index}", self.ip),
        }
    }
}

impl Zone {
    /// The index of the interface this zone names, if it exists.
    pub fn index(&self) -> Result<u32, TransportError> {
        match self {
            Zone::Name(name) => index(name),
            // nix 0.31 reports an unknown index as an empty name, not an error.
            Zone::Index(index) => match if_indextoname(*index) {
                Ok(name) if !name.is_empty() => Ok(*index),
                _ => Err(TransportError::InterfaceNotFound(index.to_string())),
            },
        }
    }
}

/// The index of the interface called `name`.
pub(crate) fn index(name: &str) -> Result<u32, TransportError> {
    match if_nametoindex(name) {
        Ok(index) if index != 0 => Ok(index),
        _ => Err(TransportError::InterfaceNotFound(name.into())),
    }
}

/// The address the transport binds on `interface` when none is configured:
/// its IPv6 link-local address, or `::1` on a loopback interface.
pub(crate) fn link_local(interface: &str) -> Result<Ipv6Addr, TransportError> {
    let addrs = getifaddrs().map_err(|e| TransportError::Io(e.into()))?;
    let mut loopback = None;
    for ifaddr in addrs.filter(|a| a.interface_name == interface) {
        let Some(ip) = ifaddr
            .address
            .as_ref()
            .and_then(|a| a.as_sockaddr_in6())
            .map(|a| a.ip())
        else {
            continue;
        };
        if ip.is_unicast_link_local() {
            return Ok(ip);
        }
        if ip.is_loopback() && ifaddr.flags.contains(InterfaceFlags::IFF_LOOPBACK) {
            loopback = Some(ip);
        }
    }
    loopback.ok_or_else(|| TransportError::NoLinkLocalAddress(interface.into()))
}

/// The scope id to send to `ip` with: the interface's index for link-local
/// addresses, none for the others, whose route picks the interface.
pub(crate) fn scope_for(ip: Ipv6Addr, interface_index: u32) -> u32 {
    if ip.is_unicast_link_local() {
        interface_index
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ScopedAddr, String> {
        text.parse::<ScopedAddr>().map_err(|e| e.to_string())
    }

    #[test]
    fn the_three_written_forms_parse() {
        assert_eq!(
            parse("fe80::1%thunderbolt0"),
            Ok(ScopedAddr {
                ip: "fe80::1".parse().unwrap(),
                zone: Some(Zone::Name("thunderbolt0".into()))
            })
        );
        assert_eq!(parse("fe80::1%2").map(|a| a.zone), Ok(Some(Zone::Index(2))));
        assert_eq!(parse("::1%lo").map(|a| a.to_string()), Ok("::1%lo".into()));
        assert_eq!(parse("fe80::2").map(|a| a.zone), Ok(None));
    }

    #[test]
    fn malformed_addresses_say_what_is_wrong() {
        for (text, says) in [
            ("169.254.1.1", "is IPv4"),
            ("fe80::1%", "nothing after"),
            ("fe80::1%0", "no interface index"),
            ("fe80::1%99999999999", "no interface index"),
            ("fe80::1%a b", "no interface can have"),
            ("fe80:::1", "not an IPv6 address"),
            ("", "not an IPv6 address"),
            ("[fe80::1]", "not an IPv6 address"),
        ] {
            let err = parse(text).expect_err(text);
            assert!(err.starts_with("invalid-address: "), "{err}");
            assert!(err.contains(says), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_interfaces_are_named() {
        let err = index("no-such-if0").unwrap_err();
        assert!(matches!(err, TransportError::InterfaceNotFound(ref n) if n == "no-such-if0"));
        let zone = Zone::Index(u32::MAX - 1);
        assert!(matches!(
            zone.index(),
            Err(TransportError::InterfaceNotFound(_))
        ));
    }

    #[test]
    fn loopback_binds_its_loopback_address() {
        assert_eq!(link_local("lo").unwrap(), Ipv6Addr::LOCALHOST);
        assert!(matches!(
            link_local("no-such-if0"),
            Err(TransportError::NoLinkLocalAddress(_))
        ));
    }
}
