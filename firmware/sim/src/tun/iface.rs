//! The Linux TUN interface `tidenet tun` bridges to: opened with the
//! `tun-tap` crate (the `TUNSETIFF` ioctl, so no unsafe here), then given
//! its address, MTU and up state with iproute2's `ip` command, as an
//! administrator would by hand.

use std::fmt;
use std::io::{self, ErrorKind};
use std::net::Ipv4Addr;
use std::process::Command;

use tun_tap::{Iface, Mode};

/// Why the TUN interface could not be had.
#[derive(Debug)]
pub(crate) enum IfaceError {
    /// `/dev/net/tun` is not there.
    NoTunDevice,
    /// The kernel refused: creating an interface needs `CAP_NET_ADMIN`.
    NotPermitted(io::Error),
    /// An interface of that name exists and is not a free TUN device.
    NameInUse(String),
    /// iproute2's `ip` is not installed.
    IpMissing(io::Error),
    /// An `ip` command failed; its arguments and what it said.
    IpFailed { args: String, stderr: String },
    /// Anything else the kernel said while opening the device.
    Io(io::Error),
}

impl fmt::Display for IfaceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            IfaceError::NoTunDevice => write!(
                f,
                "tun-unavailable: /dev/net/tun is missing; load the driver (modprobe tun) or, in a container, pass the device in (docker run --device /dev/net/tun --cap-add NET_ADMIN)"
            ),
            IfaceError::NotPermitted(e) => write!(
                f,
                "tun-not-permitted: creating a TUN interface needs CAP_NET_ADMIN ({e}); run as root (sudo tidenet tun ...) or grant it (setcap cap_net_admin+ep on the tidenet binary)"
            ),
            IfaceError::NameInUse(name) => write!(
                f,
                "tun-name-in-use: an interface called {name} already exists and is busy; pick another with --name, or remove it (ip link del {name})"
            ),
            IfaceError::IpMissing(e) => write!(
                f,
                "ip-missing: could not run 'ip' ({e}); install iproute2 (apt-get install iproute2)"
            ),
            IfaceError::IpFailed { args, stderr } => write!(
                f,
                "ip-failed: 'ip {args}' failed: {stderr}; this needs CAP_NET_ADMIN, and no other interface may hold the address"
            ),
            IfaceError::Io(e) => write!(f, "tun-io: opening the TUN interface: {e}"),
        }
    }
}

/// A TUN interface carrying bare IP packets (no packet-info header),
/// non-blocking. It goes away when dropped.
pub(crate) struct Tun {
    iface: Iface,
}

impl Tun {
    /// Creates the TUN interface `name`, gives it `addr/prefix` and `mtu`,
    /// and brings it up.
    pub(crate) fn open(
        name: &str,
        addr: Ipv4Addr,
        prefix: u8,
        mtu: usize,
    ) -> Result<Tun, IfaceError> {
        let iface = Iface::without_packet_info(name, Mode::Tun).map_err(|e| match e.kind() {
            ErrorKind::NotFound => IfaceError::NoTunDevice,
            ErrorKind::PermissionDenied => IfaceError::NotPermitted(e),
            _ if e.raw_os_error() == Some(libc::EBUSY) => IfaceError::NameInUse(name.into()),
            _ => IfaceError::Io(e),
        })?;
        iface.set_non_blocking().map_err(IfaceError::Io)?;
        let name = iface.name().to_string();
        ip(&["addr", "add", &format!("{addr}/{prefix}"), "dev", &name])?;
        ip(&["link", "set", "dev", &name, "mtu", &mtu.to_string(), "up"])?;
        Ok(Tun { iface })
    }

    /// The name the kernel gave the interface.
    pub(crate) fn name(&self) -> &str {
        self.iface.name()
    }

    /// One packet the kernel sent into the interface, if one is waiting.
    pub(crate) fn recv(&self, buf: &mut [u8]) -> io::Result<Option<usize>> {
        match self.iface.recv(buf) {
            Ok(n) => Ok(Some(n)),
            Err(e) if e.kind() == ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Hands one packet to the kernel, as if it had arrived on the
    /// interface.
    pub(crate) fn send(&self, packet: &[u8]) -> io::Result<()> {
        self.iface.send(packet).map(|_| ())
    }
}

/// Runs `ip args`.
fn ip(args: &[&str]) -> Result<(), IfaceError> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(IfaceError::IpMissing)?;
    if out.status.success() {
        Ok(())
    } else {
        Err(IfaceError::IpFailed {
            args: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}
