//! A middleware [`Device`] that counts outgoing TCP segments and
//! retransmissions.
//!
//! smoltcp keeps no retransmission counter, and the number that matters is
//! what went on the link anyway: a segment whose sequence space was already
//! sent once is a retransmission, whatever timer or duplicate ack caused it.

use heapless::Vec;
use smoltcp::phy::{self, Device, DeviceCapabilities};
use smoltcp::time::Instant;
use smoltcp::wire::{IpProtocol, Ipv4Packet, TcpPacket};

/// Flows tracked at once; a node with more streams than this under-counts.
const FLOWS: usize = 8;

/// The highest sequence number sent per (source port, destination port).
#[derive(Default)]
struct Watch {
    flows: Vec<((u16, u16), u32), FLOWS>,
    segments: u64,
    retransmits: u64,
}

impl Watch {
    fn inspect(&mut self, packet: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(packet) else {
            return;
        };
        if ip.next_header() != IpProtocol::Tcp {
            return;
        }
        let Ok(tcp) = TcpPacket::new_checked(ip.payload()) else {
            return;
        };
        self.segments += 1;
        let len = tcp.payload().len() as u32 + u32::from(tcp.syn()) + u32::from(tcp.fin());
        if len == 0 {
            return;
        }
        let start = tcp.seq_number().0 as u32;
        let end = start.wrapping_add(len);
        let key = (tcp.src_port(), tcp.dst_port());
        match self.flows.iter_mut().find(|(k, _)| *k == key) {
            Some((_, highest)) => {
                // Wrapping comparison, as TCP sequence numbers are compared.
                if (end.wrapping_sub(*highest) as i32) <= 0 {
                    self.retransmits += 1;
                } else {
                    *highest = end;
                }
            }
            None => {
                if self.flows.is_full() {
                    self.flows.remove(0);
                }
                let _ = self.flows.push((key, end));
            }
        }
    }
}

/// Wraps a [`Device`] and watches what the stack transmits through it.
pub struct TcpWatch<D> {
    inner: D,
    watch: Watch,
}

impl<D> TcpWatch<D> {
    /// Watches `inner`.
    pub fn new(inner: D) -> Self {
        TcpWatch {
            inner,
            watch: Watch::default(),
        }
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutably.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// TCP segments sent, and how many of them were retransmissions.
    pub fn counts(&self) -> (u64, u64) {
        (self.watch.segments, self.watch.retransmits)
    }

    /// Sets both counts back to zero; the flows stay tracked.
    pub fn reset_counts(&mut self) {
        self.watch.segments = 0;
        self.watch.retransmits = 0;
    }
}

impl<D: Device> Device for TcpWatch<D> {
    type RxToken<'a>
        = D::RxToken<'a>
    where
        Self: 'a;
    type TxToken<'a>
        = TxToken<'a, D::TxToken<'a>>
    where
        Self: 'a;

    fn receive(&mut self, timestamp: Instant) -> Option<(Self::RxToken<'_>, Self::TxToken<'_>)> {
        let (rx, tx) = self.inner.receive(timestamp)?;
        Some((
            rx,
            TxToken {
                inner: tx,
                watch: &mut self.watch,
            },
        ))
    }

    fn transmit(&mut self, timestamp: Instant) -> Option<Self::TxToken<'_>> {
        let tx = self.inner.transmit(timestamp)?;
        Some(TxToken {
            inner: tx,
            watch: &mut self.watch,
        })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.inner.capabilities()
    }
}

/// A transmit token that shows the packet to the watch once it is built.
pub struct TxToken<'a, T> {
    inner: T,
    watch: &'a mut Watch,
}

impl<T: phy::TxToken> phy::TxToken for TxToken<'_, T> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let watch = self.watch;
        self.inner.consume(len, |buf| {
            let result = f(buf);
            watch.inspect(buf);
            result
        })
    }
}
