//! The bespoke stack: bittide's planned replacement for TCP/IP on ringbuffer
//! links, behind the same [`Transport`] trait. Today it is a stub.
//!
//! It exists now so that swapping stacks is proven rather than claimed: a
//! node, the shell and the tools take it where they take `TcpIp`, `status`
//! names it, and every operation it cannot do yet answers
//! [`Error::Unsupported`] instead of pretending.
//!
//! # The intended design
//!
//! TCP/IP is general; a bittide link is not. Both ends are fixed, the clocks
//! are synchronised, and the link already has a word-level framing, so most of
//! what IP and TCP carry is redundant here:
//!
//! - **No IP header (20 bytes), no TCP header (20+).** A link has exactly one
//!   peer, learned from the control word, so there is nothing to route and no
//!   address to carry. A frame carries a stream id (one byte) instead of
//!   ports, and lengths come from the frame header.
//! - **One reliability layer, not two.** The ringbuffer link layer already
//!   delivers frames in order, checked, with a sliding window and rewinds;
//!   TCP on top repeats that with timers tuned for the internet. The bespoke
//!   stack multiplexes streams straight onto the link's frames.
//! - **Target overhead: one 64-bit word per frame** (the link frame's
//!   header), against that word plus 40 bytes of IPv4 and TCP headers now:
//!   5 more payload words per frame, 3% more goodput at a 1500-byte MTU and
//!   far more on shallow links (a 16-word link's frame spends five of its 11
//!   payload words on IP and TCP headers).
//! - **Duplicates and torn frames** are handled as the link layer handles them
//!   today: a CRC-32C over every frame rejects a torn or corrupt read, and a
//!   sequence number already delivered marks a re-streamed copy, which is
//!   dropped before any stream sees it. Because the sequence number is per
//!   link, a re-streamed frame costs one compare.
//! - **Datagrams and ping** ride the same frames with a reserved stream id, so
//!   the control channel and RTT need no second protocol.
//!
//! Until that exists, [`Bespoke`] runs the link layer, so its link aligns,
//! comes up and counts like TCP/IP's, and answers everything above it with
//! [`Error::Unsupported`].
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use core::net::{IpAddr, Ipv4Addr};

use tidenet_core::addr::{self, HardwareId};
use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, LinkState, Stats, StreamId, StreamState, Transport};
use tidenet_ringbuffer::{Config, Link};

/// The bespoke stack on one ringbuffer link. A stub: see the crate docs.
pub struct Bespoke<'a, T, R> {
    link: Link<'a, T, R>,
    /// This end of the link, and the address derived from it.
    id: HardwareId,
    local: Ipv4Addr,
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> Bespoke<'a, T, R> {
    /// The stack on the ringbuffer pair `tx` and `rx` for the link end `id`,
    /// its link configured by `link` and keeping its frames in flight in
    /// `window`: the parts `TcpIp` takes, so that the swap is one line.
    pub fn new(tx: T, rx: R, id: HardwareId, link: Config, window: &'a mut [u8]) -> Self {
        let local = id.link_local();
        Bespoke {
            link: Link::new(tx, rx, addr::host_part(local), link, window),
            id,
            local,
        }
    }
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer> Transport for Bespoke<'_, T, R> {
    fn stack(&self) -> &'static str {
        "bespoke"
    }

    fn poll(&mut self, now: Instant) -> bool {
        self.link.poll(now)
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.link.poll_at(now)
    }

    fn local_addr(&self) -> IpAddr {
        IpAddr::V4(self.local)
    }

    fn peer(&self) -> Option<IpAddr> {
        let host = self.link.peer_host()?;
        addr::from_host_part(host).map(IpAddr::V4)
    }

    fn link_state(&self) -> LinkState {
        self.link.state()
    }

    fn local_id(&self) -> Option<HardwareId> {
        Some(self.id)
    }

    fn ugn(&self) -> Option<i64> {
        self.link.ugn()
    }

    fn connect(&mut self, _peer: IpAddr, _port: u16) -> Result<StreamId, Error> {
        Err(Error::Unsupported)
    }

    fn listen(&mut self, _port: u16) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    fn accept(&mut self, _port: u16) -> Result<Option<StreamId>, Error> {
        Err(Error::Unsupported)
    }

    fn state(&self, _stream: StreamId) -> Result<StreamState, Error> {
        Err(Error::Unsupported)
    }

    fn send(&mut self, _stream: StreamId, _data: &[u8]) -> Result<usize, Error> {
        Err(Error::Unsupported)
    }

    fn recv(&mut self, _stream: StreamId, _buf: &mut [u8]) -> Result<usize, Error> {
        Err(Error::Unsupported)
    }

    fn send_queue(&self, _stream: StreamId) -> Result<usize, Error> {
        Err(Error::Unsupported)
    }

    fn close(&mut self, _stream: StreamId) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    fn max_datagram(&self) -> usize {
        0
    }

    fn send_datagram(&mut self, _peer: IpAddr, _data: &[u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    fn recv_datagram(&mut self, _buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        Err(Error::Unsupported)
    }

    fn ping(&mut self, _peer: IpAddr, _now: Instant) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        None
    }

    /// The link's counters; nothing above it moves.
    fn stats(&self) -> Stats {
        *self.link.stats()
    }

    fn reset_stats(&mut self) {
        self.link.reset_stats();
    }
}
