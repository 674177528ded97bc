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
use std::os::fd::AsRawFd;
use std::sync::mpsc::Receiver;
use std::sync::Mutex;
use std::time::{Duration as WallDuration, Instant as WallInstant};

use socket2::{SockAddr, SockRef};
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, Stats, StreamId, StreamState, Transport};

use crate::socket;
use crate::stats::Counters;
use crate::thunderbolt::{lock, transient, Thunderbolt, MAX_MESSAGE};
use crate::TransportError;

/// Streams open at once through the trait.
pub const MAX_STREAMS: usize = 64;
/// How long a closed stream may wait for the peer's end before it is
/// dropped anyway.
const CLOSE_LINGER: WallDuration = WallDuration::from_secs(10);

nix::ioctl_read_bad!(
    /// Bytes written to a TCP socket that the peer has not acknowledged,
    /// sent or not: the kernel's `write_seq - snd_una`. Linux defines
    /// `SIOCOUTQ` as `TIOCOUTQ`, whose number differs between architectures.
    siocoutq,
    nix::libc::TIOCOUTQ,
    nix::libc::c_int
);

/// The trait's streams and listeners.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    slots: Vec<Option<Slot>>,
    /// Streams closed by us, drained until the peer closes too, so that the
    /// peer reads everything we sent instead of a reset.
    closing: Vec<(TcpStream, WallInstant)>,
    /// Listening ports; `None` is our data port, served by the data thread.
    listeners: Vec<(u16, Option<TcpListener>)>,
    /// The latest ping through the trait: peer, stamp and its round trip.
    /// (In a mutex only so that the transport is `Sync`.)
    ping: Option<(Ipv6Addr, u64, Mutex<Receiver<WallDuration>>)>,
}

#[derive(Debug)]
struct Slot {
    stream: TcpStream,
    state: StreamState,
}

impl Slot {
    /// The stream, if bytes may move on it now.
    fn open(&mut self, id: StreamId) -> Result<&mut TcpStream, Error> {
        match self.state {
            StreamState::Connecting => Err(Error::NotConnected(id.0)),
            StreamState::Closing | StreamState::Closed => Err(Error::StreamClosed(id.0)),
            StreamState::Established => Ok(&mut self.stream),
        }
    }

    /// What a read or write's `result` means: bytes moved, none for now, or
    /// the end of the stream, which closes the slot.
    fn moved(&mut self, id: StreamId, result: io::Result<usize>) -> Result<usize, Error> {
        match result {
            Ok(n) => Ok(n),
            Err(e) if transient(&e) => Ok(0),
            Err(_) => {
                self.state = StreamState::Closed;
                Err(Error::StreamClosed(id.0))
            }
        }
    }
}

impl Streams {
    pub fn clear(&mut self) {
        *self = Streams::default();
    }

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
        let slot = Some(Slot { stream, state });
        let i = match self.slots.iter().position(Option::is_none) {
            Some(i) => i,
            None if self.slots.len() < MAX_STREAMS => {
                self.slots.push(None);
                self.slots.len() - 1
            }
            None => return Err(Error::TooManyStreams { max: MAX_STREAMS }),
        };
        self.slots[i] = slot;
        Ok(StreamId(i as u8))
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

    fn open(&self) -> Result<&crate::thunderbolt::Shared, Error> {
        self.live().map_err(|_| Error::LinkDown)
    }

    /// Takes a stream from the data thread or a listener into a slot.
    fn adopt(&mut self, stream: TcpStream) -> Result<Option<StreamId>, Error> {
        if let Err(e) = stream.set_nonblocking(true) {
            self.config()
                .log(&format!("streams: dropped an accepted stream: {e}"));
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
            Error::TooManyStreams { max: MAX_STREAMS }
        }
        // The interface went away, or lost its address.
        _ => Error::LinkDown,
    }
}

impl Transport for Thunderbolt {
    fn stack(&self) -> &'static str {
        "thunderbolt"
    }

    fn poll(&mut self, _now: Instant) -> bool {
        let mut changed = false;
        for slot in self.streams.slots.iter_mut().flatten() {
            if slot.state != StreamState::Connecting {
                continue;
            }
            slot.state = match slot.stream.take_error() {
                Ok(None) if slot.stream.peer_addr().is_ok() => StreamState::Established,
                Ok(None) => continue,
                Ok(Some(_)) | Err(_) => StreamState::Closed,
            };
            changed = true;
        }
        let mut scratch = [0u8; 4096];
        self.streams.closing.retain_mut(|(stream, since)| {
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

    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        // The OS moves the bytes; nothing here runs on a timer.
        None
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
        if self.streams.listeners.iter().any(|(p, _)| *p == port) {
            return Err(Error::PortInUse(port));
        }
        let shared = self.open()?;
        let data_port = shared.listener.local_addr().map(|a| a.port()).ok();
        let listener = if data_port == Some(port) {
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
            Some(listener)
        };
        self.streams.listeners.push((port, listener));
        Ok(())
    }

    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        let Some((_, listener)) = self.streams.listeners.iter().find(|(p, _)| *p == port) else {
            return Err(Error::NotListening(port));
        };
        let stream = match listener {
            None => self.try_accept(),
            Some(listener) => match listener.accept() {
                Ok((stream, SocketAddr::V6(_))) => {
                    // Best effort: the stream works without its options.
                    let _ = socket::tune(self.config(), &SockRef::from(&stream));
                    Some(stream)
                }
                Ok((_, SocketAddr::V4(_))) | Err(_) => None,
            },
        };
        match stream {
            Some(stream) => self.adopt(stream),
            None => Ok(None),
        }
    }

    fn state(&self, id: StreamId) -> Result<StreamState, Error> {
        self.streams.get(id).map(|slot| slot.state)
    }

    fn send(&mut self, id: StreamId, data: &[u8]) -> Result<usize, Error> {
        let slot = self.streams.slot(id)?;
        let written = slot.open(id)?.write(data);
        let sent = slot.moved(id, written)?;
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
        let got = slot.moved(id, read)?;
        Counters::add(&self.counters().stream_bytes_rx, got);
        Ok(got)
    }

    fn send_queue(&self, id: StreamId) -> Result<usize, Error> {
        let slot = self.streams.get(id)?;
        let mut queued = 0;
        // SAFETY: the descriptor is the slot's socket, open while the slot
        // holds it, and `queued` is the int the ioctl writes.
        let asked = unsafe { siocoutq(slot.stream.as_raw_fd(), &mut queued) };
        // Only a listening socket refuses, and no slot holds one: a failure
        // means the socket is unusable, which `Slot::moved` calls closed.
        asked
            .ok()
            .and_then(|_| usize::try_from(queued).ok())
            .ok_or(Error::StreamClosed(id.0))
    }

    fn close(&mut self, id: StreamId) -> Result<(), Error> {
        self.streams.slot(id)?;
        let Some(Slot { stream, state }) = self.streams.slots[usize::from(id.0)].take() else {
            return Err(Error::UnknownStream(id.0));
        };
        if state != StreamState::Closed && stream.shutdown(Shutdown::Write).is_ok() {
            self.streams.closing.push((stream, WallInstant::now()));
        }
        Ok(())
    }

    fn max_datagram(&self) -> usize {
        MAX_MESSAGE
    }

    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        let ip = Self::v6(peer)?;
        self.send_message(ip, data).map_err(|e| match e {
            TransportError::MessageTooLarge { size, max } => Error::MessageTooLarge { size, max },
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
            return Err(Error::MessageTooLarge {
                size: message.data.len(),
                max: buf.len(),
            });
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
        let (stamp, rtt) = shared.ping(ip).map_err(|_| Error::PeerUnreachable(peer))?;
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
