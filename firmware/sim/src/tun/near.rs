//! The near end of the link: the ringbuffer link layer alone, with the
//! kernel's IP stack above it instead of smoltcp. Packets the kernel routes
//! to the TUN interface become frames; frames become packets the kernel
//! receives on it.
//!
//! Both ways a packet must be IPv4 whose header's length is the packet's,
//! within the link's MTU (the check smoltcp's side of a link makes, see
//! [`tidenet_tcpip::device::check`]); anything else (the kernel's IPv6
//! chatter on a new interface, say) is dropped here and counted.

use std::io;

use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::Instant;
use tidenet_ringbuffer::wire::MAX_MTU;
use tidenet_ringbuffer::Link;
use tidenet_tcpip::device::check;

use super::iface::Tun;

/// What crossed between the kernel and the link, and what did not.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Counters {
    /// Packets from the kernel put on the link.
    pub(crate) to_link: u64,
    /// Packets from the link handed to the kernel.
    pub(crate) to_kernel: u64,
    /// Packets from the kernel that were not IPv4 within the MTU.
    pub(crate) dropped_from_kernel: u64,
    /// Frames from the far node that were not IPv4 within the MTU.
    pub(crate) dropped_from_link: u64,
}

/// The link layer on one side, the TUN interface on the other.
pub(crate) struct Near<'a, T, R> {
    link: Link<'a, T, R>,
    tun: Tun,
    packet: [u8; MAX_MTU],
    counters: Counters,
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> Near<'a, T, R> {
    /// Bridges `link` to `tun`.
    pub(crate) fn new(link: Link<'a, T, R>, tun: Tun) -> Self {
        Near {
            link,
            tun,
            packet: [0; MAX_MTU],
            counters: Counters::default(),
        }
    }

    /// The link layer.
    pub(crate) fn link(&self) -> &Link<'a, T, R> {
        &self.link
    }

    /// The bridge's counters.
    pub(crate) fn counters(&self) -> Counters {
        self.counters
    }

    /// Does the link's bus work due at `now`, hands its frames to the
    /// kernel, and takes the kernel's packets while the link's window has
    /// room. Packets it has no room for wait in the interface's queue,
    /// which is the kernel's to drop from when full, as a NIC's is.
    /// Returns whether anything happened; fails only if the TUN device
    /// does.
    pub(crate) fn poll(&mut self, now: Instant) -> io::Result<bool> {
        let mut active = self.link.poll(now);
        let mtu = self.link.mtu();
        let Near {
            link,
            tun,
            packet,
            counters,
        } = self;
        while let Some((frame, _)) = link.receive() {
            active = true;
            let delivered = frame.consume(|p| match check(p, mtu) {
                Ok(()) => tun.send(p).map(|()| true),
                Err(_) => Ok(false),
            })?;
            if delivered {
                counters.to_kernel += 1;
            } else {
                counters.dropped_from_link += 1;
            }
        }
        while link.can_transmit() {
            let Some(len) = tun.recv(packet)? else { break };
            active = true;
            let packet = &packet[..len];
            match (check(packet, mtu), link.transmit()) {
                (Ok(()), Some(room)) => {
                    room.consume(len, |frame| {
                        let n = frame.len().min(len);
                        frame[..n].copy_from_slice(&packet[..n]);
                    });
                    counters.to_link += 1;
                }
                _ => counters.dropped_from_kernel += 1,
            }
        }
        Ok(active)
    }
}
