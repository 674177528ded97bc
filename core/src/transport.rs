//! The one interface every stack implements.

use core::net::{IpAddr, Ipv4Addr};

use crate::addr::HardwareId;
use crate::time::{Duration, Instant};
use crate::{DownReason, Error, LinkState, Stats};

/// A handle to one stream of a [`Transport`]; small and `Copy`, like a file
/// descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(pub u8);

/// Where a stream is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum StreamState {
    /// Opening: the handshake has not finished.
    Connecting,
    /// Data flows both ways.
    Established,
    /// One side has closed; data may still drain.
    Closing,
    /// Gone: the peer closed or reset it, or it timed out. `recv` tells
    /// which: [`Error::StreamClosed`] or [`Error::StreamReset`].
    Closed,
}

/// A reliable stream plus a control datagram channel to peers on a link.
///
/// Sans-IO and poll-driven, in the smoltcp manner: nothing happens between
/// calls to [`poll`](Transport::poll). Call it whenever the link signals
/// activity or [`poll_at`](Transport::poll_at) comes due, and after every
/// `send`, `recv` or `close` to push the change onto the link at once.
///
/// Operations never block. Those that would (a full send buffer, no data yet)
/// return `Ok(0)` or `Ok(None)`; errors are reserved for things a caller must
/// act on, each a named [`Error`].
pub trait Transport {
    /// A short name of the stack, as `status` shows it: `tcpip`, `bespoke`, ...
    fn stack(&self) -> &'static str;

    /// Moves packets between the link and the stack. Returns whether anything
    /// happened, so a caller can tell an idle link from a busy one.
    ///
    /// Anything a caller could see must count: bytes or datagrams arriving,
    /// room freed for sending, a stream's state changing (a time-out too), a
    /// pong, the peer becoming known. The async net task wakes waiting tasks
    /// only after a poll that says so.
    fn poll(&mut self, now: Instant) -> bool;

    /// When [`poll`](Transport::poll) must be called next at the latest, if no
    /// link activity comes first. `None` means only link activity matters.
    ///
    /// Never earlier than a poll could do something: a deadline of "now"
    /// while the link cannot take a packet makes a caller that sleeps until
    /// it spin.
    fn poll_at(&mut self, now: Instant) -> Option<Instant>;

    /// This end's address.
    fn local_addr(&self) -> IpAddr;

    /// The peer's address, while the link is up.
    fn peer(&self) -> Option<IpAddr>;

    /// Whether the link is up, and if not, why. A link that goes down and
    /// comes back is a normal event: [`poll`](Transport::poll) reports both
    /// as progress. Without a link layer of its own, a transport is up
    /// while it knows its peer.
    fn link_state(&self) -> LinkState {
        match self.peer() {
            Some(_) => LinkState::Up,
            None => LinkState::Down(DownReason::Starting),
        }
    }

    /// The board and port this end of the link belongs to, for a transport
    /// built from one. A [`Node`](crate::node::Node) tells the peer, so
    /// that `links` names who is at every far end.
    fn local_id(&self) -> Option<HardwareId> {
        None
    }

    /// The link's UGN in link cycles (the receiver's counter when a word
    /// arrives, less the sender's when it left), once the link has
    /// measured it; `None` from a transport whose link cannot.
    fn ugn(&self) -> Option<i64> {
        None
    }

    /// Opens a stream to `peer` on `port`. It starts in
    /// [`StreamState::Connecting`].
    fn connect(&mut self, peer: IpAddr, port: u16) -> Result<StreamId, Error>;

    /// Starts accepting streams on `port`.
    fn listen(&mut self, port: u16) -> Result<(), Error>;

    /// Takes one stream that a peer opened to a listening `port`, if any.
    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error>;

    /// Where `stream` is in its life.
    fn state(&self, stream: StreamId) -> Result<StreamState, Error>;

    /// Queues as much of `data` as fits; returns how much did.
    fn send(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, Error>;

    /// Takes received bytes into `buf`; returns how many. `Ok(0)` means none
    /// yet. The end of the stream is named, so that a finished transfer and
    /// a broken one never read alike:
    /// - [`Error::StreamClosed`] once the peer has closed the stream (a TCP
    ///   FIN) and every byte before the close has been read;
    /// - [`Error::StreamReset`] once the stream was cut off without the
    ///   peer's close (a reset, an abort, a broken connection): bytes may be
    ///   missing. `send` on such a stream says the same.
    fn recv(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<usize, Error>;

    /// Bytes written to `stream` that the peer has not acknowledged yet,
    /// sent or not. Zero means everything written so far has arrived, which
    /// is what an async flush waits for.
    ///
    /// A stream that is reset or times out keeps counting the bytes that never
    /// arrived, so whoever waits for zero watches
    /// [`state`](Transport::state) as well.
    fn send_queue(&self, stream: StreamId) -> Result<usize, Error>;

    /// Closes `stream` gracefully and frees its slot once the close completes.
    fn close(&mut self, stream: StreamId) -> Result<(), Error>;

    /// Resets `stream` at once and frees its id: bytes not yet acknowledged
    /// are dropped, and the peer reads [`Error::StreamReset`] instead of the
    /// clean end that [`close`](Transport::close) gives.
    ///
    /// For an application that gives up on a transfer and must not let its
    /// peer mistake the bytes so far for all of them, and for the
    /// conformance suite, which checks that a peer can tell the two apart.
    ///
    /// A transport without streams keeps this default and says so; the
    /// suite checks that one claiming streams does not.
    fn abort(&mut self, _stream: StreamId) -> Result<(), Error> {
        Err(Error::Unsupported)
    }

    /// The largest datagram [`send_datagram`](Transport::send_datagram) takes.
    fn max_datagram(&self) -> usize;

    /// Sends one control datagram, unreliably.
    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error>;

    /// Takes one received control datagram into `buf`, with its sender.
    ///
    /// A datagram longer than `buf` is dropped and reported as
    /// [`Error::MessageTooLarge`], so it cannot block the ones behind it.
    fn recv_datagram(&mut self, buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error>;

    /// Sends a ping stamped with `now`; the round trip appears in
    /// [`take_rtt`](Transport::take_rtt) when the pong arrives.
    fn ping(&mut self, peer: IpAddr, now: Instant) -> Result<(), Error>;

    /// The round-trip time of the latest ping, once, when its pong arrives.
    /// Pongs to earlier pings are not reported.
    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)>;

    /// Counters since start or the last [`reset_stats`](Transport::reset_stats).
    fn stats(&self) -> Stats;

    /// Sets every counter back to zero.
    fn reset_stats(&mut self);
}

/// A port that may have no link: `None` is a port with nothing wired to it,
/// down for good ([`DownReason::Unwired`]), so that a node's links can be
/// an array of its ports whatever the topology. It listens without error
/// (nothing will arrive) and refuses whatever needs a peer with
/// [`Error::LinkDown`].
impl<T: Transport> Transport for Option<T> {
    fn stack(&self) -> &'static str {
        self.as_ref().map_or("none", T::stack)
    }

    fn poll(&mut self, now: Instant) -> bool {
        self.as_mut().is_some_and(|t| t.poll(now))
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        self.as_mut().and_then(|t| t.poll_at(now))
    }

    fn local_addr(&self) -> IpAddr {
        self.as_ref()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), T::local_addr)
    }

    fn peer(&self) -> Option<IpAddr> {
        self.as_ref().and_then(T::peer)
    }

    fn link_state(&self) -> LinkState {
        self.as_ref()
            .map_or(LinkState::Down(DownReason::Unwired), T::link_state)
    }

    fn local_id(&self) -> Option<HardwareId> {
        self.as_ref().and_then(T::local_id)
    }

    fn ugn(&self) -> Option<i64> {
        self.as_ref().and_then(T::ugn)
    }

    fn connect(&mut self, peer: IpAddr, port: u16) -> Result<StreamId, Error> {
        wired(self)?.connect(peer, port)
    }

    fn listen(&mut self, port: u16) -> Result<(), Error> {
        self.as_mut().map_or(Ok(()), |t| t.listen(port))
    }

    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        self.as_mut().map_or(Ok(None), |t| t.accept(port))
    }

    fn state(&self, stream: StreamId) -> Result<StreamState, Error> {
        self.as_ref()
            .ok_or(Error::UnknownStream(stream.0))?
            .state(stream)
    }

    fn send(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, Error> {
        self.as_mut()
            .ok_or(Error::UnknownStream(stream.0))?
            .send(stream, data)
    }

    fn recv(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        self.as_mut()
            .ok_or(Error::UnknownStream(stream.0))?
            .recv(stream, buf)
    }

    fn send_queue(&self, stream: StreamId) -> Result<usize, Error> {
        self.as_ref()
            .ok_or(Error::UnknownStream(stream.0))?
            .send_queue(stream)
    }

    fn close(&mut self, stream: StreamId) -> Result<(), Error> {
        self.as_mut()
            .ok_or(Error::UnknownStream(stream.0))?
            .close(stream)
    }

    fn abort(&mut self, stream: StreamId) -> Result<(), Error> {
        self.as_mut()
            .ok_or(Error::UnknownStream(stream.0))?
            .abort(stream)
    }

    fn max_datagram(&self) -> usize {
        self.as_ref().map_or(0, T::max_datagram)
    }

    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        wired(self)?.send_datagram(peer, data)
    }

    fn recv_datagram(&mut self, buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        self.as_mut().map_or(Ok(None), |t| t.recv_datagram(buf))
    }

    fn ping(&mut self, peer: IpAddr, now: Instant) -> Result<(), Error> {
        wired(self)?.ping(peer, now)
    }

    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        self.as_mut().and_then(T::take_rtt)
    }

    fn stats(&self) -> Stats {
        self.as_ref().map(T::stats).unwrap_or_default()
    }

    fn reset_stats(&mut self) {
        if let Some(t) = self {
            t.reset_stats();
        }
    }
}

/// The port's transport, or `link-down` for a port with nothing wired.
fn wired<T>(port: &mut Option<T>) -> Result<&mut T, Error> {
    port.as_mut().ok_or(Error::LinkDown)
}
