//! tidenet's poll-driven [`Transport`] trait on the host transport, so the
//! node shell runs over Thunderbolt unchanged.
//!
//! A trait stream is a non-blocking TCP stream; its port is the TCP port.
//! Listening on our data port takes the streams DCF peers open with
//! `open_data_stream`. Datagrams are control messages, and pings are the DCF
//! probe; the control thread answers the peer's pings whether or not
//! anything polls.

use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};
use std::time::{Duration as WallDuration, Instant as WallInstant};

use nix::poll::{PollFd, PollFlags, PollTimeout};
use socket2::{SockAddr, SockRef};
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::{Error, Stats, StreamId, StreamState, Transport};

use crate::log::Repeated;
use crate::socket;
use crate::stats::Counters;
use crate::thunderbolt::{lock, transient, Shared, Thunderbolt, MAX_MESSAGE};
use crate::TransportError;

/// Streams open at once through the trait.
pub const MAX_STREAMS: usize = 64;
/// How long a closed stream may wait for the peer's end before it is
/// dropped anyway.
const CLOSE_LINGER: WallDuration = WallDuration::from_secs(10);
/// How soon to look again for acknowledgements while bytes are
/// unacknowledged, at first and at most. The kernel signals nothing when
/// the peer acknowledges bytes (only when room frees up in a full send
/// buffer), so a task waiting for a flush is served by looking; the wait
/// doubles while nothing changes, so a peer that stops reading costs little.
const ACK_POLL: (WallDuration, WallDuration) =
    (WallDuration::from_millis(1), WallDuration::from_millis(100));

nix::ioctl_read_bad!(
    /// Bytes written to a TCP socket that the peer has not acknowledged,
    /// sent or not: the kernel's `write_seq - snd_una`. Linux defines
    /// `SIOCOUTQ` as `TIOCOUTQ`, whose number differs between architectures.
    siocoutq,
    nix::libc::TIOCOUTQ,
    nix::libc::c_int
);

/// The trait's streams and listeners, and what `poll` has reported of them.
#[derive(Debug)]
pub(crate) struct Streams {
    slots: Vec<Option<Slot>>,
    /// Streams closed by us, drained until the peer closes too, so that the
    /// peer reads everything we sent instead of a reset.
    closing: Vec<(TcpStream, WallInstant)>,
    /// Listening ports.
    listeners: Vec<Listener>,
    /// The latest ping through the trait: peer, stamp and its round trip.
    /// (In a mutex only so that the transport is `Sync`.)
    ping: Option<(Ipv6Addr, u64, Mutex<Receiver<WallDuration>>)>,
    /// The threads' count of changes `poll` saw last.
    changes: u64,
    /// How long `poll_at` waits for acknowledgements now.
    ack_wait: WallDuration,
    /// The link signal's watch on every socket here (feature `async`).
    #[cfg(feature = "async")]
    pub watch: Option<crate::asynch::Watch>,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            slots: Vec::new(),
            closing: Vec::new(),
            listeners: Vec::new(),
            ping: None,
            changes: 0,
            ack_wait: ACK_POLL.0,
            #[cfg(feature = "async")]
            watch: None,
        }
    }
}

#[derive(Debug)]
struct Slot {
    stream: TcpStream,
    state: StreamState,
    /// Readiness `poll` has reported and no task has used up yet. A `recv`
    /// that finds nothing clears `readable`, a `send` that finds no room
    /// clears `writable`, so that the next bytes or room are reported again,
    /// and only those: a stream with unread bytes nobody asks for does not
    /// make every poll report progress.
    readable: bool,
    writable: bool,
    /// Unacknowledged bytes at the last poll, plus what `send` queued
    /// since. Counting the sends means that bytes acknowledged before the
    /// next poll still show as a change there: otherwise a `flush` that
    /// began after the last poll would wait for a report that never comes.
    unacked: usize,
    /// The stream closed by a reset or a broken connection, not by the
    /// peer's FIN: it ends in [`Error::StreamReset`], not `StreamClosed`.
    reset: bool,
}

#[derive(Debug)]
struct Listener {
    port: u16,
    /// `None` is our data port, served by the data thread.
    socket: Option<TcpListener>,
    /// A connection waiting has been reported; cleared by an `accept` that
    /// finds none.
    ready: bool,
}

impl Slot {
    fn new(stream: TcpStream, state: StreamState) -> Self {
        Slot {
            stream,
            state,
            readable: false,
            writable: false,
            unacked: 0,
            reset: false,
        }
    }

    /// The stream, if bytes may move on it now.
    fn open(&mut self, id: StreamId) -> Result<&mut TcpStream, Error> {
        match self.state {
            StreamState::Connecting => Err(Error::NotConnected(id.0)),
            StreamState::Closing | StreamState::Closed => Err(self.ended(id)),
            StreamState::Established => Ok(&mut self.stream),
        }
    }

    /// How a stream that moves no more bytes ended.
    fn ended(&self, id: StreamId) -> Error {
        match self.reset {
            true => Error::StreamReset(id.0),
            false => Error::StreamClosed(id.0),
        }
    }

    /// What a read or write's `result` means: bytes moved, none for now, or
    /// the end of the stream, which closes the slot. `recv` turns a clean
    /// EOF into `UnexpectedEof`; what cut the connection instead is a
    /// reset. `TimedOut` is among those, not transient: a non-blocking
    /// stream has no read timeout, so it is the kernel giving up on the
    /// connection.
    fn moved(&mut self, id: StreamId, result: io::Result<usize>) -> Result<usize, Error> {
        use io::ErrorKind::*;
        match result {
            Ok(n) => Ok(n),
            Err(e)
                if matches!(
                    e.kind(),
                    ConnectionReset | ConnectionAborted | BrokenPipe | TimedOut
                ) =>
            {
                self.state = StreamState::Closed;
                self.reset = true;
                Err(self.ended(id))
            }
            Err(e) if transient(&e) => Ok(0),
            Err(_) => {
                self.state = StreamState::Closed;
                Err(self.ended(id))
            }
        }
    }

    /// Bytes the peer has not acknowledged, if the socket can say.
    fn unacked(&self) -> Option<usize> {
        let mut queued = 0;
        // SAFETY: the descriptor is the slot's socket, open while the slot
        // holds it, and `queued` is the int the ioctl writes.
        let asked = unsafe { siocoutq(self.stream.as_raw_fd(), &mut queued) };
        asked.ok().and_then(|_| usize::try_from(queued).ok())
    }

    /// Takes what `poll(2)` said of the socket; returns whether a task
    /// could see a change.
    fn update(&mut self, events: PollFlags) -> bool {
        let mut changed = false;
        if self.state == StreamState::Connecting {
            self.state = match self.stream.take_error() {
                Ok(None) if self.stream.peer_addr().is_ok() => StreamState::Established,
                Ok(None) => return false,
                Ok(Some(_)) | Err(_) => StreamState::Closed,
            };
            return true;
        }
        if self.state != StreamState::Established {
            return false;
        }
        // A reset: the error is pending on the socket. An established
        // stream has an error only if its connection broke (a FIN is no
        // error), so whatever the error, the stream was cut off.
        if events.contains(PollFlags::POLLERR) && !matches!(self.stream.take_error(), Ok(None)) {
            self.state = StreamState::Closed;
            self.reset = true;
            return true;
        }
        let readable =
            events.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        if readable && !self.readable {
            self.readable = true;
            changed = true;
        }
        if events.contains(PollFlags::POLLOUT) && !self.writable {
            self.writable = true;
            changed = true;
        }
        let unacked = self.unacked().unwrap_or(0);
        if unacked != self.unacked {
            self.unacked = unacked;
            changed = true;
        }
        changed
    }
}

impl Streams {
    fn get(&self, id: StreamId) -> Result<&Slot, Error> {
        match self.slots.get(usize::from(id.0)) {
            Some(Some(slot)) => Ok(slot),
            _ => Err(Error::UnknownStream(id.0)),
        }
    }

    fn slot(&mut self, id: StreamId) -> Result<&mut Slot, Error> {
        match self.slots.get_mut(usize::from(id.0)) {
            Some(Some(slot)) => Ok(slot),
            _ => Err(Error::UnknownStream(id.0)),
        }
    }

    fn insert(&mut self, stream: TcpStream, state: StreamState) -> Result<StreamId, Error> {
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < MAX_STREAMS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Error::too_many_streams(MAX_STREAMS)),
        };
        self.watch(&stream)?;
        self.slots[i] = Some(Slot::new(stream, state));
        Ok(StreamId(i as u8))
    }

    /// Has the link signal watch `socket`, if there is a link signal.
    #[cfg(feature = "async")]
    pub fn watch(&self, socket: &impl AsFd) -> Result<(), Error> {
        match &self.watch {
            Some(watch) => watch
                .add(socket.as_fd())
                .map_err(|_| Error::too_many_streams(MAX_STREAMS)),
            None => Ok(()),
        }
    }

    #[cfg(not(feature = "async"))]
    fn watch(&self, _socket: &impl AsFd) -> Result<(), Error> {
        Ok(())
    }

    /// Every socket the link signal must watch: streams, closing streams
    /// and listeners.
    #[cfg(feature = "async")]
    pub fn sockets(&self) -> impl Iterator<Item = std::os::fd::BorrowedFd<'_>> {
        let slots = self.slots.iter().flatten().map(|slot| slot.stream.as_fd());
        let closing = self.closing.iter().map(|(stream, _)| stream.as_fd());
        let listeners = self
            .listeners
            .iter()
            .filter_map(|l| l.socket.as_ref().map(AsFd::as_fd));
        slots.chain(closing).chain(listeners)
    }

    /// Looks at every stream and listener at once; returns whether a task
    /// could see a change.
    fn poll_sockets(&mut self) -> bool {
        // Not POLLRDHUP, which nix has no flag for: `revents` is `None`
        // when the kernel sets a flag nix does not know, and would hide
        // every event of a stream whose peer has closed. The peer's FIN
        // reads as POLLIN: a read then gives the end of the stream.
        let interest = PollFlags::POLLIN | PollFlags::POLLOUT;
        let slots: Vec<usize> = (0..self.slots.len())
            .filter(|&i| {
                self.slots[i]
                    .as_ref()
                    .is_some_and(|slot| slot.state != StreamState::Closed)
            })
            .collect();
        let listeners: Vec<usize> = (0..self.listeners.len())
            .filter(|&i| self.listeners[i].socket.is_some())
            .collect();
        let events: Vec<PollFlags> = {
            let mut fds: Vec<PollFd<'_>> = slots
                .iter()
                .filter_map(|&i| self.slots[i].as_ref())
                .map(|slot| PollFd::new(slot.stream.as_fd(), interest))
                .chain(listeners.iter().filter_map(|&i| {
                    let socket = self.listeners[i].socket.as_ref()?;
                    Some(PollFd::new(socket.as_fd(), PollFlags::POLLIN))
                }))
                .collect();
            if fds.is_empty() {
                return false;
            }
            // Fails only on a signal or without memory: then nothing is
            // reported, and the next poll looks again.
            if nix::poll::poll(&mut fds, PollTimeout::ZERO).is_err() {
                return false;
            }
            fds.iter()
                .map(|fd| fd.revents().unwrap_or(PollFlags::empty()))
                .collect()
        };
        let mut changed = false;
        for (&i, &events) in slots.iter().zip(&events) {
            if let Some(slot) = &mut self.slots[i] {
                changed |= slot.update(events);
            }
        }
        for (&i, &events) in listeners.iter().zip(&events[slots.len()..]) {
            let listener = &mut self.listeners[i];
            if events.contains(PollFlags::POLLIN) && !listener.ready {
                listener.ready = true;
                changed = true;
            }
        }
        changed
    }

    /// Reads closed streams until the peer closes too; returns whether one
    /// finished.
    fn drain_closing(&mut self) -> bool {
        let mut changed = false;
        let mut scratch = [0u8; 4096];
        self.closing.retain_mut(|(stream, since)| {
            let done = loop {
                match stream.read(&mut scratch) {
                    Ok(0) => break true,
                    Ok(_) => continue,
                    Err(e) => break !transient(&e),
                }
            };
            let keep = !done && since.elapsed() < CLOSE_LINGER;
            changed |= !keep;
            keep
        });
        changed
    }
}

impl Thunderbolt {
    /// The peer as this IPv6-only transport can reach it. The node asks
    /// for the unspecified address when link 0 has no peer yet.
    fn v6(peer: IpAddr) -> Result<Ipv6Addr, Error> {
        match peer {
            _ if peer.is_unspecified() => Err(Error::LinkDown),
            IpAddr::V6(ip) => Ok(ip),
            IpAddr::V4(_) => Err(Error::PeerUnreachable(peer)),
        }
    }

    fn open(&self) -> Result<Arc<Shared>, Error> {
        self.live().map_err(|_| Error::LinkDown)
    }

    /// Takes a stream from the data thread or a listener into a slot.
    fn adopt(&mut self, stream: TcpStream) -> Result<Option<StreamId>, Error> {
        if let Err(e) = stream.set_nonblocking(true) {
            self.config().log(
                crate::LogLevel::Warn,
                &format!("streams: dropped an accepted stream: {e}"),
            );
            return Ok(None);
        }
        self.streams
            .insert(stream, StreamState::Established)
            .map(Some)
    }
}

/// What an OS error on creating or binding a socket means to the trait.
fn os_error(e: TransportError) -> Error {
    match e {
        TransportError::Io(e) | TransportError::BindFailed { source: e, .. }
            if matches!(
                e.raw_os_error(),
                Some(nix::libc::EMFILE | nix::libc::ENFILE)
            ) =>
        {
            Error::too_many_streams(MAX_STREAMS)
        }
        // The interface went away, or lost its address.
        _ => Error::LinkDown,
    }
}

impl Transport for Thunderbolt {
    fn stack(&self) -> &'static str {
        "thunderbolt"
    }

    /// Reports every change a task could see: a message or a stream the
    /// threads queued, a pong, the peer learned (the threads' count of
    /// changes), bytes arrived or room freed on a stream, a handshake
    /// done, a reset, bytes acknowledged, a connection waiting on a
    /// listener, a closed stream done draining.
    fn poll(&mut self, _now: Instant) -> bool {
        let changes = self.activity.changes();
        let mut changed = changes != self.streams.changes;
        self.streams.changes = changes;
        changed |= self.streams.poll_sockets();
        changed |= self.streams.drain_closing();
        self.streams.ack_wait = match changed {
            true => ACK_POLL.0,
            false => (self.streams.ack_wait * 2).min(ACK_POLL.1),
        };
        changed
    }

    /// The OS moves the bytes and the threads signal what they queue, so
    /// only two things need a timer: acknowledgements, which no socket event
    /// reports, while bytes are unacknowledged; and the end of a closed
    /// stream's linger.
    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let unacked = self
            .streams
            .slots
            .iter()
            .flatten()
            .any(|slot| slot.unacked > 0 && slot.state == StreamState::Established);
        let acks = unacked.then(|| now + self.streams.ack_wait);
        let linger = self
            .streams
            .closing
            .iter()
            .map(|(_, since)| CLOSE_LINGER.saturating_sub(since.elapsed()))
            .min()
            .map(|left| now + left);
        earliest(acks, linger)
    }

    fn local_addr(&self) -> IpAddr {
        IpAddr::V6(self.ip())
    }

    fn peer(&self) -> Option<IpAddr> {
        self.peer_ip().map(IpAddr::V6)
    }

    fn connect(&mut self, peer: IpAddr, port: u16) -> Result<StreamId, Error> {
        let ip = Self::v6(peer)?;
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        let shared = self.open()?;
        let to = shared.addr(ip, port);
        let socket = socket::stream(&shared.config, self.ip(), to.scope_id()).map_err(os_error)?;
        socket.set_nonblocking(true).map_err(|_| Error::LinkDown)?;
        match socket.connect(&SockAddr::from(to)) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(nix::libc::EINPROGRESS) => {}
            Err(_) => return Err(Error::PeerUnreachable(peer)),
        }
        self.streams.insert(socket.into(), StreamState::Connecting)
    }

    fn listen(&mut self, port: u16) -> Result<(), Error> {
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        if self.streams.listeners.iter().any(|l| l.port == port) {
            return Err(Error::PortInUse(port));
        }
        let shared = self.open()?;
        let data_port = shared.listener.local_addr().map(|a| a.port()).ok();
        let socket = if data_port == Some(port) {
            None
        } else {
            let bind_ip = shared.config.address.unwrap_or(self.ip());
            let at = shared.addr(bind_ip, port);
            let listener = socket::listener(&shared.config, at).map_err(|e| match e {
                TransportError::BindFailed { source, .. }
                    if source.kind() == io::ErrorKind::AddrInUse =>
                {
                    Error::PortInUse(port)
                }
                e => os_error(e),
            })?;
            listener
                .set_nonblocking(true)
                .map_err(|_| Error::LinkDown)?;
            self.streams.watch(&listener)?;
            Some(listener)
        };
        self.streams.listeners.push(Listener {
            port,
            socket,
            ready: false,
        });
        Ok(())
    }

    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        let Some(i) = self.streams.listeners.iter().position(|l| l.port == port) else {
            return Err(Error::NotListening(port));
        };
        let accepted = match &self.streams.listeners[i].socket {
            None => return self.try_accept().map_or(Ok(None), |s| self.adopt(s)),
            Some(socket) => socket.accept(),
        };
        let (stream, from) = match accepted {
            Ok((stream, SocketAddr::V6(from))) => (stream, from),
            Ok((_, SocketAddr::V4(_))) => return Ok(None),
            Err(_) => {
                // Nothing waits (or the peer gave up): report the next one.
                self.streams.listeners[i].ready = false;
                return Ok(None);
            }
        };
        if !self.open()?.admits(from, Repeated::StrangerStream) {
            return Ok(None);
        }
        // Best effort: the stream works without its options.
        let _ = socket::tune(self.config(), &SockRef::from(&stream));
        Counters::add(&self.counters().streams_accepted, 1);
        self.adopt(stream)
    }

    fn state(&self, id: StreamId) -> Result<StreamState, Error> {
        self.streams.get(id).map(|slot| slot.state)
    }

    fn send(&mut self, id: StreamId, data: &[u8]) -> Result<usize, Error> {
        let slot = self.streams.slot(id)?;
        let written = slot.open(id)?.write(data);
        if matches!(&written, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            slot.writable = false;
        }
        let sent = slot.moved(id, written)?;
        slot.unacked += sent;
        Counters::add(&self.counters().stream_bytes_tx, sent);
        Ok(sent)
    }

    fn recv(&mut self, id: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        let slot = self.streams.slot(id)?;
        let stream = slot.open(id)?;
        if buf.is_empty() {
            return Ok(0);
        }
        let read = match stream.read(buf) {
            // End of stream: the peer closed and everything is read.
            Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
            read => read,
        };
        if matches!(&read, Err(e) if e.kind() == io::ErrorKind::WouldBlock) {
            slot.readable = false;
        }
        let got = slot.moved(id, read)?;
        Counters::add(&self.counters().stream_bytes_rx, got);
        Ok(got)
    }

    fn send_queue(&self, id: StreamId) -> Result<usize, Error> {
        // Only a listening socket refuses, and no slot holds one: a failure
        // means the socket is unusable, which `Slot::moved` calls closed.
        self.streams
            .get(id)?
            .unacked()
            .ok_or(Error::StreamClosed(id.0))
    }

    fn close(&mut self, id: StreamId) -> Result<(), Error> {
        self.streams.slot(id)?;
        let Some(Slot { stream, state, .. }) = self.streams.slots[usize::from(id.0)].take() else {
            return Err(Error::UnknownStream(id.0));
        };
        if state != StreamState::Closed && stream.shutdown(Shutdown::Write).is_ok() {
            self.streams.closing.push((stream, WallInstant::now()));
        }
        Ok(())
    }

    /// `SO_LINGER` of zero, then the socket is closed: the kernel drops
    /// what is unsent and sends the peer an RST instead of a FIN.
    fn abort(&mut self, id: StreamId) -> Result<(), Error> {
        self.streams.slot(id)?;
        let Some(Slot { stream, .. }) = self.streams.slots[usize::from(id.0)].take() else {
            return Err(Error::UnknownStream(id.0));
        };
        // Setting it fails only on a descriptor that is no socket, and so
        // has no connection to reset; the drop closes it either way.
        let _ = SockRef::from(&stream).set_linger(Some(WallDuration::ZERO));
        drop(stream);
        Ok(())
    }

    fn max_datagram(&self) -> usize {
        MAX_MESSAGE
    }

    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        let ip = Self::v6(peer)?;
        self.send_message(ip, data).map_err(|e| match e {
            TransportError::MessageTooLarge { size, max } => Error::message_too_large(size, max),
            TransportError::ReservedMessage => Error::ReservedDatagram,
            TransportError::Shutdown => Error::LinkDown,
            _ => Error::PeerUnreachable(peer),
        })
    }

    fn recv_datagram(&mut self, buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        let Some(message) = self.try_recv_message().map_err(|_| Error::LinkDown)? else {
            return Ok(None);
        };
        let Some(to) = buf.get_mut(..message.data.len()) else {
            return Err(Error::message_too_large(message.data.len(), buf.len()));
        };
        to.copy_from_slice(&message.data);
        Ok(Some((IpAddr::V6(*message.from.ip()), message.data.len())))
    }

    fn ping(&mut self, peer: IpAddr, _now: Instant) -> Result<(), Error> {
        let ip = Self::v6(peer)?;
        let shared = self.open()?;
        // Only the latest ping is reported; stop waiting for the one before.
        if let Some((_, stamp, _)) = &self.streams.ping {
            shared.pending.forget(*stamp);
        }
        let (stamp, rtt) = shared.ping(ip).map_err(|_| {
            Counters::add(&self.counters().errors, 1);
            Error::PeerUnreachable(peer)
        })?;
        self.streams.ping = Some((ip, stamp, Mutex::new(rtt)));
        Ok(())
    }

    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        let rtt = lock(&self.streams.ping.as_ref()?.2).try_recv().ok()?;
        let (peer, _, _) = self.streams.ping.take()?;
        Some((IpAddr::V6(peer), rtt))
    }

    fn stats(&self) -> Stats {
        self.get_stats()
    }

    fn reset_stats(&mut self) {
        Thunderbolt::reset_stats(self);
    }
}
