//! The [`Transport`] on smoltcp: TCP streams, UDP control datagrams and ping
//! over a ringbuffer [`Link`].

use core::net::{IpAddr, Ipv4Addr};

use smoltcp::iface::{Interface, PollResult, SocketHandle, SocketSet, SocketStorage};
use smoltcp::phy::{PcapMode, PcapWriter};
use smoltcp::socket::{tcp, udp};
use smoltcp::wire::{HardwareAddress, IpAddress, IpCidr, IpEndpoint};
use tidenet_core::addr::{self, HardwareId};
use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::{Error, LinkState, Stats, StreamId, StreamState, Transport};
use tidenet_ringbuffer::wire::MAX_MTU;
use tidenet_ringbuffer::{Config, Link};

use crate::capture::{NoCapture, PcapSink};
use crate::device::IpLink;
use crate::tcp_watch::TcpWatch;

/// Streams (connected or listening) one transport holds at once.
pub const MAX_STREAMS: usize = 4;
/// The UDP port of the control datagram channel, as in the DCF design.
pub const CONTROL_PORT: u16 = 5000;
/// First byte-for-byte the ping of the DCF design: magic, then nanoseconds.
pub const PING_MAGIC: u64 = 0x52_5454_5054;
/// The pong's magic; the pong echoes the ping's timestamp.
pub const PONG_MAGIC: u64 = 0x52_5454_5053;

const UDP_PACKETS: usize = 4;
const IPV4_UDP_HEADERS: usize = 28;
const EPHEMERAL_PORTS: core::ops::RangeInclusive<u16> = 49152..=65535;

/// The link window [`Resources`] gives by default: the frames in flight of
/// about four MTU-sized frames.
pub const DEFAULT_WINDOW: usize = 6144;

/// Memory for one [`TcpIp`]: socket storage and buffers, `BUF` bytes per
/// stream per direction (which is also the TCP window), and `WINDOW` bytes
/// for the link's copies of its frames in flight.
///
/// Static or boxed by the caller, in the manner of embassy-net's
/// `StackResources`, so the transport itself allocates nothing.
pub struct Resources<'a, const BUF: usize, const WINDOW: usize = DEFAULT_WINDOW> {
    window: [u8; WINDOW],
    sockets: [SocketStorage<'a>; MAX_STREAMS + 1],
    tcp: [[u8; BUF]; 2 * MAX_STREAMS],
    udp_rx_meta: [udp::PacketMetadata; UDP_PACKETS],
    udp_rx: [u8; 2 * MAX_MTU],
    udp_tx_meta: [udp::PacketMetadata; UDP_PACKETS],
    udp_tx: [u8; 2 * MAX_MTU],
}

impl<const BUF: usize, const WINDOW: usize> Resources<'_, BUF, WINDOW> {
    /// Zeroed resources.
    pub const fn new() -> Self {
        Resources {
            window: [0; WINDOW],
            sockets: [SocketStorage::EMPTY; MAX_STREAMS + 1],
            tcp: [[0; BUF]; 2 * MAX_STREAMS],
            udp_rx_meta: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_rx: [0; 2 * MAX_MTU],
            udp_tx_meta: [udp::PacketMetadata::EMPTY; UDP_PACKETS],
            udp_tx: [0; 2 * MAX_MTU],
        }
    }
}

impl<const BUF: usize, const WINDOW: usize> Default for Resources<'_, BUF, WINDOW> {
    fn default() -> Self {
        Self::new()
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Slot {
    Free,
    Listening(u16),
    Stream,
    Closing,
}

/// Counters the transport keeps itself; the link and the watch keep theirs.
#[derive(Default)]
struct Counters {
    stream_bytes_tx: u64,
    stream_bytes_rx: u64,
    datagrams_tx: u64,
    datagrams_rx: u64,
    pings_tx: u64,
    pings_answered: u64,
    pongs_rx: u64,
}

/// TCP/IP over a bittide ringbuffer link; every packet it sends and
/// receives is also written to `S`, a packet capture (see [`capture`]),
/// which on a board is [`NoCapture`].
///
/// [`capture`]: crate::capture
pub struct TcpIp<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer, S: PcapSink = NoCapture> {
    device: TcpWatch<PcapWriter<IpLink<'a, T, R>, S>>,
    iface: Interface,
    sockets: SocketSet<'a>,
    tcp: [SocketHandle; MAX_STREAMS],
    slots: [Slot; MAX_STREAMS],
    listening: heapless::Vec<u16, MAX_STREAMS>,
    udp: SocketHandle,
    /// This end of the link, and the address derived from it.
    id: HardwareId,
    local: Ipv4Addr,
    next_port: u16,
    now: Instant,
    /// The stamp of the latest ping: only its pong counts.
    ping_stamp: Option<u64>,
    rtt: Option<(IpAddr, Duration)>,
    /// Probes were answered or taken since the last poll, which reports it
    /// as progress: a pong taken while reading datagrams is news too.
    probes_taken: bool,
    counters: Counters,
}

fn stamp(now: Instant) -> smoltcp::time::Instant {
    smoltcp::time::Instant::from_micros(now.as_micros() as i64)
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> TcpIp<'a, T, R> {
    /// A transport on the ringbuffer pair `tx` and `rx` for the link end
    /// `id`, using `resources`. The link layer is built here, from the
    /// same `id`, so its address and the IP address cannot disagree; it
    /// aligns and comes up by itself as the transport is polled.
    pub fn new<const BUF: usize, const WINDOW: usize>(
        tx: T,
        rx: R,
        id: HardwareId,
        link: Config,
        resources: &'a mut Resources<'a, BUF, WINDOW>,
        now: Instant,
    ) -> Self {
        Self::with_capture(tx, rx, id, link, resources, now, NoCapture)
    }
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer, S: PcapSink> TcpIp<'a, T, R, S> {
    /// As [`new`](TcpIp::new), and every IP packet the transport sends or
    /// receives is written to `capture` as `LINKTYPE_RAW` pcap, stamped
    /// with the transport's clock; the file header is written here.
    pub fn with_capture<const BUF: usize, const WINDOW: usize>(
        tx: T,
        rx: R,
        id: HardwareId,
        link: Config,
        resources: &'a mut Resources<'a, BUF, WINDOW>,
        now: Instant,
        capture: S,
    ) -> Self {
        let local = id.link_local();
        let Resources {
            window,
            sockets,
            tcp,
            udp_rx_meta,
            udp_rx,
            udp_tx_meta,
            udp_tx,
        } = resources;
        let link = Link::new(tx, rx, addr::host_part(local), link, &mut window[..]);
        let mut device = TcpWatch::new(PcapWriter::new(IpLink::new(link), capture, PcapMode::Both));
        let mut config = smoltcp::iface::Config::new(HardwareAddress::Ip);
        // Initial sequence numbers and ephemeral ports differ per board.
        config.random_seed = u64::from(u32::from(local)) << 16 | u64::from(id.port);
        let mut iface = Interface::new(config, &mut device, stamp(now));
        iface.update_ip_addrs(|addrs| {
            let _ = addrs.push(IpCidr::new(IpAddress::Ipv4(local), 16));
        });

        let mut set = SocketSet::new(&mut sockets[..]);
        let (rx_bufs, tx_bufs) = tcp.split_at_mut(MAX_STREAMS);
        let mut rx_bufs = rx_bufs.iter_mut();
        let mut tx_bufs = tx_bufs.iter_mut();
        let tcp = core::array::from_fn(|_| {
            // Both iterators hold exactly MAX_STREAMS buffers.
            let (Some(rx), Some(tx)) = (rx_bufs.next(), tx_bufs.next()) else {
                unreachable!()
            };
            let mut socket = tcp::Socket::new(
                tcp::SocketBuffer::new(&mut rx[..]),
                tcp::SocketBuffer::new(&mut tx[..]),
            );
            // Send at once and acknowledge at once: holding data back only
            // adds idle passes to a link that is not busy. Set once here
            // because a socket keeps both across close and reuse.
            socket.set_nagle_enabled(false);
            socket.set_ack_delay(Some(smoltcp::time::Duration::from_micros(100)));
            set.add(socket)
        });
        let mut udp = udp::Socket::new(
            udp::PacketBuffer::new(&mut udp_rx_meta[..], &mut udp_rx[..]),
            udp::PacketBuffer::new(&mut udp_tx_meta[..], &mut udp_tx[..]),
        );
        // Cannot fail: the port is not 0.
        let _ = udp.bind(CONTROL_PORT);
        let udp = set.add(udp);
        let next_port = *EPHEMERAL_PORTS.start() + (u32::from(local) % 1024) as u16;
        TcpIp {
            device,
            iface,
            sockets: set,
            tcp,
            slots: [Slot::Free; MAX_STREAMS],
            listening: heapless::Vec::new(),
            udp,
            id,
            local,
            next_port,
            now,
            ping_stamp: None,
            probes_taken: false,
            rtt: None,
            counters: Counters::default(),
        }
    }

    /// The link layer underneath, for its MTU, state and timers.
    pub fn link(&self) -> &Link<'a, T, R> {
        self.device.inner().get_ref().link()
    }

    /// The peer if `peer` is it; the error that says why not otherwise.
    fn check_peer(&self, peer: IpAddr) -> Result<IpAddress, Error> {
        let known = self.peer().ok_or(Error::LinkDown)?;
        if known == IpAddr::V4(self.local) {
            return Err(Error::AddressConflict(known));
        }
        match peer {
            IpAddr::V4(v4) if peer == known => Ok(IpAddress::from(v4)),
            _ => Err(Error::PeerUnreachable(peer)),
        }
    }

    fn free_slot(&self) -> Result<usize, Error> {
        self.slots
            .iter()
            .position(|s| *s == Slot::Free)
            .ok_or(Error::too_many_streams(MAX_STREAMS))
    }

    fn stream(&self, id: StreamId) -> Result<usize, Error> {
        let i = usize::from(id.0);
        match self.slots.get(i) {
            Some(Slot::Stream) => Ok(i),
            _ => Err(Error::UnknownStream(id.0)),
        }
    }

    fn socket(&mut self, i: usize) -> &mut tcp::Socket<'a> {
        self.sockets.get_mut::<tcp::Socket>(self.tcp[i])
    }

    fn ephemeral_port(&mut self) -> u16 {
        let port = self.next_port;
        self.next_port = if port == *EPHEMERAL_PORTS.end() {
            *EPHEMERAL_PORTS.start()
        } else {
            port + 1
        };
        port
    }

    /// Answers pings and takes pongs off the control socket, so they never
    /// wait for the application to read datagrams.
    fn serve_pings(&mut self) {
        loop {
            let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
            let Ok((data, meta)) = socket.peek() else {
                return;
            };
            let Some((magic, stamp)) = parse_rtt(data) else {
                return;
            };
            let from = meta.endpoint;
            match magic {
                PING_MAGIC => {
                    let mut pong = [0u8; 16];
                    pong[..8].copy_from_slice(&PONG_MAGIC.to_be_bytes());
                    pong[8..].copy_from_slice(&stamp.to_be_bytes());
                    if socket.send_slice(&pong, from).is_err() {
                        // Answer on a later poll, once the queue drains.
                        return;
                    }
                    self.counters.pings_answered += 1;
                }
                _ => {
                    // A late pong to an earlier ping would report its age,
                    // not the latest round trip.
                    if self.ping_stamp == Some(stamp) {
                        let rtt = self.now.saturating_since(Instant::from_nanos(stamp));
                        self.rtt = Some((IpAddr::from(from.addr), rtt));
                    }
                    self.counters.pongs_rx += 1;
                }
            }
            let _ = self.sockets.get_mut::<udp::Socket>(self.udp).recv();
            self.probes_taken = true;
        }
    }

    /// Frees slots whose close has completed and keeps one socket listening
    /// on every listened port.
    fn tend_slots(&mut self) {
        for i in 0..MAX_STREAMS {
            if self.slots[i] == Slot::Closing {
                let socket = self.socket(i);
                match socket.state() {
                    tcp::State::Closed => self.slots[i] = Slot::Free,
                    tcp::State::TimeWait => {
                        socket.abort();
                        self.slots[i] = Slot::Free;
                    }
                    _ => {}
                }
            }
        }
        for p in 0..self.listening.len() {
            let port = self.listening[p];
            if !self.slots.contains(&Slot::Listening(port)) {
                let Ok(i) = self.free_slot() else { return };
                if self.socket(i).listen(port).is_ok() {
                    self.slots[i] = Slot::Listening(port);
                }
            }
        }
    }
}

/// A 16-byte RTT datagram's magic and timestamp, if it is one.
fn parse_rtt(data: &[u8]) -> Option<(u64, u64)> {
    let data: &[u8; 16] = data.try_into().ok()?;
    let (magic, stamp) = data.split_at(8);
    let magic = u64::from_be_bytes(magic.try_into().ok()?);
    let stamp = u64::from_be_bytes(stamp.try_into().ok()?);
    matches!(magic, PING_MAGIC | PONG_MAGIC).then_some((magic, stamp))
}

/// Why a stream that holds a slot can move no more bytes, in `state`.
///
/// Only a reset or a time-out takes a socket to `Closed` while its slot is
/// still a stream: the clean ends pass through `TimeWait` or `LastAck`,
/// which only our own `close` (and so a `Closing` slot) leads to. So
/// `Closed` here is a stream cut off without the peer's FIN. A FIN that did
/// arrive is smoltcp's `RecvError::Finished`, the clean end, whatever came
/// after it.
fn ended(state: tcp::State, id: StreamId) -> Error {
    match state {
        tcp::State::Closed => Error::StreamReset(id.0),
        _ => Error::StreamClosed(id.0),
    }
}

fn stream_state(state: tcp::State) -> StreamState {
    use tcp::State::*;
    match state {
        Listen | SynSent | SynReceived => StreamState::Connecting,
        Established => StreamState::Established,
        FinWait1 | FinWait2 | CloseWait | Closing | LastAck => StreamState::Closing,
        TimeWait | Closed => StreamState::Closed,
    }
}

impl<T: TransmitRingbuffer, R: ReceiveRingbuffer, S: PcapSink> Transport for TcpIp<'_, T, R, S> {
    fn stack(&self) -> &'static str {
        "tcpip"
    }

    fn poll(&mut self, now: Instant) -> bool {
        self.now = now;
        let mut progress = self.device.inner_mut().get_mut().link_mut().poll(now);
        progress |= self
            .iface
            .poll(stamp(now), &mut self.device, &mut self.sockets)
            != PollResult::None;
        self.serve_pings();
        // A pong taken is progress: a task may be waiting for it.
        progress |= core::mem::take(&mut self.probes_taken);
        self.tend_slots();
        // Push what the stack just queued onto the link now, not next poll.
        progress |= self.device.inner_mut().get_mut().link_mut().poll(now);
        progress
    }

    fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let link = self.link().poll_at(now);
        if !self.link().can_transmit() {
            // The stack can send nothing until an acknowledgement frees the
            // window, so its deadlines (often "now", for data it has ready)
            // would only spin the caller. The acknowledgement arrives as
            // link activity, and the link's own deadline covers its loss.
            return link;
        }
        let stack = self
            .iface
            .poll_at(stamp(now), &self.sockets)
            .map(|t| Instant::from_micros(t.total_micros().max(0) as u64));
        earliest(stack, link)
    }

    fn local_addr(&self) -> IpAddr {
        IpAddr::V4(self.local)
    }

    fn peer(&self) -> Option<IpAddr> {
        let host = self.link().peer_host()?;
        addr::from_host_part(host).map(IpAddr::V4)
    }

    fn local_id(&self) -> Option<HardwareId> {
        Some(self.id)
    }

    fn ugn(&self) -> Option<i64> {
        self.link().ugn()
    }

    fn link_state(&self) -> LinkState {
        self.link().state()
    }

    fn connect(&mut self, peer: IpAddr, port: u16) -> Result<StreamId, Error> {
        let remote = self.check_peer(peer)?;
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        let i = self.free_slot()?;
        let local_port = self.ephemeral_port();
        let cx = self.iface.context();
        let socket = self.sockets.get_mut::<tcp::Socket>(self.tcp[i]);
        socket
            .connect(cx, IpEndpoint::new(remote, port), local_port)
            .map_err(|_| Error::PortInUse(local_port))?;
        self.slots[i] = Slot::Stream;
        Ok(StreamId(i as u8))
    }

    fn listen(&mut self, port: u16) -> Result<(), Error> {
        if port == 0 {
            return Err(Error::InvalidPort);
        }
        if self.listening.contains(&port) {
            return Err(Error::PortInUse(port));
        }
        let i = self.free_slot()?;
        self.socket(i)
            .listen(port)
            .map_err(|_| Error::PortInUse(port))?;
        self.slots[i] = Slot::Listening(port);
        // Cannot fail: a listener holds a slot, and there are as many ports as slots.
        let _ = self.listening.push(port);
        Ok(())
    }

    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        if !self.listening.contains(&port) {
            return Err(Error::NotListening(port));
        }
        let Some(i) = self.slots.iter().position(|s| *s == Slot::Listening(port)) else {
            return Ok(None);
        };
        // As with BSD accept, a stream is handed out once its handshake is done.
        if matches!(
            self.socket(i).state(),
            tcp::State::Listen | tcp::State::SynReceived
        ) {
            return Ok(None);
        }
        self.slots[i] = Slot::Stream;
        self.tend_slots();
        Ok(Some(StreamId(i as u8)))
    }

    fn state(&self, id: StreamId) -> Result<StreamState, Error> {
        let i = self.stream(id)?;
        Ok(stream_state(
            self.sockets.get::<tcp::Socket>(self.tcp[i]).state(),
        ))
    }

    fn send(&mut self, id: StreamId, data: &[u8]) -> Result<usize, Error> {
        let i = self.stream(id)?;
        let socket = self.socket(i);
        match socket.state() {
            tcp::State::SynSent | tcp::State::SynReceived => return Err(Error::NotConnected(id.0)),
            _ if !socket.may_send() => return Err(ended(socket.state(), id)),
            _ => {}
        }
        let sent = socket
            .send_slice(data)
            .map_err(|_| Error::StreamClosed(id.0))?;
        self.counters.stream_bytes_tx += sent as u64;
        Ok(sent)
    }

    fn recv(&mut self, id: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        let i = self.stream(id)?;
        let socket = self.socket(i);
        let got = match socket.recv_slice(buf) {
            Ok(n) => n,
            Err(tcp::RecvError::Finished) => return Err(Error::StreamClosed(id.0)),
            // No FIN arrived: the end is a reset (see `ended`).
            Err(tcp::RecvError::InvalidState) => {
                return Err(match socket.state() {
                    tcp::State::SynSent | tcp::State::SynReceived => Error::NotConnected(id.0),
                    state => ended(state, id),
                })
            }
        };
        self.counters.stream_bytes_rx += got as u64;
        Ok(got)
    }

    fn send_queue(&self, id: StreamId) -> Result<usize, Error> {
        let i = self.stream(id)?;
        // smoltcp keeps bytes in the send buffer until they are acknowledged.
        Ok(self.sockets.get::<tcp::Socket>(self.tcp[i]).send_queue())
    }

    fn close(&mut self, id: StreamId) -> Result<(), Error> {
        let i = self.stream(id)?;
        self.socket(i).close();
        self.slots[i] = Slot::Closing;
        Ok(())
    }

    /// smoltcp's abort: the socket drops its buffers and goes to `Closed`,
    /// and the next poll sends the peer one RST. The slot is freed after
    /// that poll, as a completed close is.
    fn abort(&mut self, id: StreamId) -> Result<(), Error> {
        let i = self.stream(id)?;
        self.socket(i).abort();
        self.slots[i] = Slot::Closing;
        Ok(())
    }

    fn max_datagram(&self) -> usize {
        self.link().mtu().saturating_sub(IPV4_UDP_HEADERS)
    }

    fn send_datagram(&mut self, peer: IpAddr, data: &[u8]) -> Result<(), Error> {
        let remote = self.check_peer(peer)?;
        let max = self.max_datagram();
        if data.len() > max {
            return Err(Error::message_too_large(data.len(), max));
        }
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        socket
            .send_slice(data, IpEndpoint::new(remote, CONTROL_PORT))
            .map_err(|_| Error::WouldBlock)?;
        self.counters.datagrams_tx += 1;
        Ok(())
    }

    fn recv_datagram(&mut self, buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        // Probes ahead of the next datagram are answered and taken here; the
        // next poll reports them.
        self.serve_pings();
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        let Ok((data, meta)) = socket.peek() else {
            return Ok(None);
        };
        if data.len() > buf.len() {
            // Dropped rather than left at the head, where it would block
            // every datagram behind it.
            let size = data.len();
            let _ = socket.recv();
            return Err(Error::message_too_large(size, buf.len()));
        }
        let from = IpAddr::from(meta.endpoint.addr);
        let len = data.len();
        buf[..len].copy_from_slice(data);
        let _ = socket.recv();
        self.counters.datagrams_rx += 1;
        Ok(Some((from, len)))
    }

    fn ping(&mut self, peer: IpAddr, now: Instant) -> Result<(), Error> {
        let remote = self.check_peer(peer)?;
        let mut ping = [0u8; 16];
        ping[..8].copy_from_slice(&PING_MAGIC.to_be_bytes());
        ping[8..].copy_from_slice(&now.as_nanos().to_be_bytes());
        let socket = self.sockets.get_mut::<udp::Socket>(self.udp);
        socket
            .send_slice(&ping, IpEndpoint::new(remote, CONTROL_PORT))
            .map_err(|_| Error::WouldBlock)?;
        self.counters.pings_tx += 1;
        self.ping_stamp = Some(now.as_nanos());
        self.rtt = None;
        Ok(())
    }

    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        self.rtt.take()
    }

    fn stats(&self) -> Stats {
        let (tcp_segments_tx, tcp_retransmits) = self.device.counts();
        let c = &self.counters;
        Stats {
            tcp_segments_tx,
            tcp_retransmits,
            stream_bytes_tx: c.stream_bytes_tx,
            stream_bytes_rx: c.stream_bytes_rx,
            datagrams_tx: c.datagrams_tx,
            datagrams_rx: c.datagrams_rx,
            pings_tx: c.pings_tx,
            pings_answered: c.pings_answered,
            pongs_rx: c.pongs_rx,
            ..self.device.inner().get_ref().stats()
        }
    }

    fn reset_stats(&mut self) {
        self.device.inner_mut().get_mut().reset_stats();
        self.device.reset_counts();
        self.counters = Counters::default();
    }
}
