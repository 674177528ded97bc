//! The transport: its sockets, the two threads that serve them, and the
//! DCF API.
//!
//! Two threads block on the sockets, so nothing waits on a polling sleep:
//! - the control thread receives every datagram, answers pings at once,
//!   hands pongs to the ping they answer and messages to the application;
//! - the data thread accepts streams on the data port and queues them.
//!
//! Both serve only the peer unless the policy takes strangers
//! ([`Strangers`]); what they refuse or drop is counted, and logged at most
//! once per [`LOG_INTERVAL`] for each kind of event.
//!
//! A third socket is `measure_rtt`'s: its caller sends the ping from it and
//! receives the pong on it, with no thread in between (see `rtt.rs`).
//!
//! Closing (or dropping) the transport shuts the sockets down, which wakes
//! the threads, joins them and frees both ports before it returns.

use std::io;
use std::mem::MaybeUninit;
use std::net::{
    IpAddr, Ipv6Addr, Shutdown, SocketAddr, SocketAddrV6, TcpListener, TcpStream, UdpSocket,
};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use socket2::SockRef;
use tidenet_core::Stats;

use crate::activity::Activity;
use crate::addr;
use crate::log::{RateLimit, Repeated};
use crate::probe::{self, Datagram, PROBE_LEN};
use crate::rtt::{Pending, Pinger};
use crate::socket;
use crate::stats::Counters;
use crate::transport::Streams;
use crate::{
    Builder, Config, DataStream, Drops, LogLevel, Strangers, TransportError, LOG_INTERVAL,
};

/// The largest message: one UDP datagram over IPv6, 65,535 bytes of payload
/// length less the 8-byte UDP header. (65,507, often quoted, is IPv4's.)
pub const MAX_MESSAGE: usize = u16::MAX as usize - 8;
/// Messages queued for [`Thunderbolt::recv_message`] before more are dropped.
pub const MESSAGE_QUEUE: usize = 1024;
/// Accepted data streams waiting to be claimed before more are refused.
pub const STREAM_QUEUE: usize = 64;
/// How long a blocked thread sleeps before it checks for shutdown on its
/// own, in case the wake-up by socket shutdown does not come.
const SHUTDOWN_CHECK: Duration = Duration::from_millis(500);

/// A received message and its sender.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The sender's address and control port.
    pub from: SocketAddrV6,
    /// The message.
    pub data: Vec<u8>,
}

/// A DCF-compatible host transport: UDP control messages, TCP data streams
/// and RTT probes to peers on one IPv6 link-local interface.
///
/// The DCF API here blocks and is safe to share between threads. The same
/// value also implements tidenet's poll-driven
/// [`Transport`](tidenet_core::Transport), so the node shell runs on it.
pub struct Thunderbolt {
    /// `None` once closed. Calls take a reference for as long as they run,
    /// so the sockets, and with them the ports, go with the last of them.
    shared: Mutex<Option<Arc<Shared>>>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    pub(crate) activity: Arc<Activity>,
    /// The address this end is known by: the bound one, or the interface's
    /// link-local address when bound to `::`.
    ip: Ipv6Addr,
    threads: Mutex<Vec<JoinHandle<()>>>,
    messages: Mutex<Receiver<Message>>,
    accepted: Mutex<Receiver<TcpStream>>,
    /// What the `Transport` trait's streams need; see `transport.rs`.
    pub(crate) streams: Streams,
}

/// What the threads and the API share.
pub(crate) struct Shared {
    pub config: Arc<Config>,
    pub control: UdpSocket,
    pub listener: TcpListener,
    /// The interface's index: the scope of every link-local peer.
    pub index: u32,
    pub counters: Arc<Counters>,
    pub activity: Arc<Activity>,
    pub pending: Pending,
    /// The socket `measure_rtt` pings from, while no call is using it.
    pinger: Mutex<Option<Pinger>>,
    pub learned: Learned,
    log_limit: Mutex<RateLimit>,
    pub closed: AtomicBool,
}

/// The peer, when none is configured: the first host heard from, and the
/// control port its messages come from.
#[derive(Debug, Default)]
pub(crate) struct Learned {
    ip: OnceLock<Ipv6Addr>,
    /// 0 until a message came.
    control_port: AtomicU16,
}

impl Thunderbolt {
    /// The DCF builder, with every default.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Binds the ports `config` names and starts serving them.
    pub fn new(config: Config) -> Result<Thunderbolt, TransportError> {
        let index = addr::index(&config.interface)?;
        let bind_ip = match config.address {
            Some(ip) => ip,
            None => addr::link_local(&config.interface)?,
        };
        let ip = if bind_ip.is_unspecified() {
            addr::link_local(&config.interface).unwrap_or(bind_ip)
        } else {
            bind_ip
        };
        let scope = addr::scope_for(bind_ip, index);
        let control = socket::control(
            &config,
            SocketAddrV6::new(bind_ip, config.control_port, 0, scope),
        )?;
        let listener = socket::listener(
            &config,
            SocketAddrV6::new(bind_ip, config.data_port, 0, scope),
        )?;
        let pinger = socket::pinger(
            &config,
            SocketAddrV6::new(ip, 0, 0, addr::scope_for(ip, index)),
        )?;
        for socket in [SockRef::from(&control), SockRef::from(&listener)] {
            socket
                .set_read_timeout(Some(SHUTDOWN_CHECK))
                .map_err(socket::option("SO_RCVTIMEO"))?;
        }
        let config = Arc::new(config);
        let counters = Arc::<Counters>::default();
        let activity = Arc::<Activity>::default();
        let shared = Arc::new(Shared {
            config: config.clone(),
            control,
            listener,
            index,
            counters: counters.clone(),
            activity: activity.clone(),
            pending: Pending::default(),
            pinger: Mutex::new(Some(Pinger::new(pinger))),
            learned: Learned::default(),
            log_limit: Mutex::default(),
            closed: AtomicBool::new(false),
        });
        let (message_tx, messages) = mpsc::sync_channel(MESSAGE_QUEUE);
        let (stream_tx, accepted) = mpsc::sync_channel(STREAM_QUEUE);
        let transport = Thunderbolt {
            shared: Mutex::new(Some(shared.clone())),
            config,
            counters,
            activity,
            ip,
            threads: Mutex::default(),
            messages: Mutex::new(messages),
            accepted: Mutex::new(accepted),
            streams: Streams::default(),
        };
        let control = {
            let shared = shared.clone();
            thread::Builder::new()
                .name("tidenet-tb-control".into())
                .spawn(move || serve_control(&shared, &message_tx))
                .map_err(TransportError::Io)?
        };
        lock(&transport.threads).push(control);
        let data = thread::Builder::new()
            .name("tidenet-tb-data".into())
            .spawn(move || serve_data(&shared, &stream_tx))
            .map_err(TransportError::Io)?;
        lock(&transport.threads).push(data);
        Ok(transport)
    }

    /// The interface this transport is bound to.
    pub fn interface(&self) -> &str {
        &self.config.interface
    }

    /// Where the control channel listens, with the port the OS chose if the
    /// configuration said 0.
    pub fn control_addr(&self) -> Result<SocketAddrV6, TransportError> {
        v6(self.live()?.control.local_addr())
    }

    /// Where data streams are accepted.
    pub fn data_addr(&self) -> Result<SocketAddrV6, TransportError> {
        v6(self.live()?.listener.local_addr())
    }

    /// What the transport was built from.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Reads a peer written as `fe80::2%thunderbolt0`, `fe80::2%5` or plain
    /// `fe80::2`, as [`Config::resolve`] does, but without asking the kernel
    /// for the interface's index again.
    pub fn resolve(&self, text: &str) -> Result<Ipv6Addr, TransportError> {
        let index = self.live()?.index;
        self.config.resolve_on(text, || Ok(index))
    }

    /// Sends one message to `peer`'s control port, unreliably.
    pub fn send_message(&self, peer: Ipv6Addr, data: &[u8]) -> Result<(), TransportError> {
        let shared = self.live()?;
        if data.len() > MAX_MESSAGE {
            return Err(TransportError::MessageTooLarge {
                size: data.len(),
                max: MAX_MESSAGE,
            });
        }
        if data.len() == PROBE_LEN && !matches!(Datagram::classify(data), Datagram::Message(_)) {
            return Err(TransportError::ReservedMessage);
        }
        self.counted(shared.send_control(peer, data))?;
        Counters::add(&self.counters.datagrams_tx, 1);
        Counters::add(&self.counters.message_bytes_tx, data.len());
        Ok(())
    }

    /// Waits up to `timeout` for the next message. Messages go to the
    /// message handler instead, if one was configured.
    pub fn recv_message(&self, timeout: Duration) -> Result<Message, TransportError> {
        match lock(&self.messages).recv_timeout(timeout) {
            Ok(message) => Ok(message),
            Err(RecvTimeoutError::Timeout) => Err(TransportError::Timeout),
            Err(RecvTimeoutError::Disconnected) => Err(TransportError::Shutdown),
        }
    }

    /// Opens a data stream to `peer`'s data port, waiting at most the
    /// configured connect timeout.
    pub fn open_data_stream(&self, peer: Ipv6Addr) -> Result<DataStream, TransportError> {
        let shared = self.live()?;
        let to = shared.addr(peer, self.config.peer(peer).data_port);
        let stream = self.counted(socket::connect(&self.config, self.ip, to))?;
        let stream = self
            .counted(DataStream::new(stream, self.counters.clone()).map_err(TransportError::Io))?;
        Counters::add(&self.counters.streams_opened, 1);
        Ok(stream)
    }

    /// Waits up to `timeout` for a peer to open a data stream to us. Streams
    /// go to the stream handler instead, if one was configured.
    pub fn accept_data_stream(&self, timeout: Duration) -> Result<DataStream, TransportError> {
        let stream = match lock(&self.accepted).recv_timeout(timeout) {
            Ok(stream) => stream,
            Err(RecvTimeoutError::Timeout) => return Err(TransportError::Timeout),
            Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Shutdown),
        };
        self.counted(DataStream::new(stream, self.counters.clone()).map_err(TransportError::Io))
    }

    /// Pings `peer` and waits up to `timeout` for its pong; returns the
    /// round trip as the caller waited it.
    ///
    /// The ping goes out from a socket of its own, on which the caller
    /// receives the pong, so no other thread has to wake the caller: it
    /// waits as long as on a plain socket. Peers answer a ping where it
    /// came from. A second caller at the same time is answered through the
    /// control thread, a few microseconds later.
    pub fn measure_rtt(
        &self,
        peer: Ipv6Addr,
        timeout: Duration,
    ) -> Result<Duration, TransportError> {
        let shared = self.live()?;
        self.counted(shared.measure_rtt(peer, timeout))
    }

    /// Counters since start or the last [`reset_stats`](Self::reset_stats).
    pub fn get_stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// What was refused, dropped or failed since start or the last
    /// [`reset_stats`](Self::reset_stats).
    pub fn drops(&self) -> Drops {
        self.counters.drops()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.counters.reset();
    }

    /// Stops serving and frees both ports; later calls say
    /// [`TransportError::Shutdown`]. Dropping the transport does the same.
    ///
    /// Data streams already handed out stay open, and so do streams opened
    /// through the `Transport` trait, until the transport is dropped. A call
    /// still running (a `measure_rtt` waiting for its pong) keeps the
    /// sockets until it returns.
    pub fn close(&self) {
        let Some(shared) = lock(&self.shared).take() else {
            return;
        };
        shared.closed.store(true, Ordering::SeqCst);
        // Shutting a socket down wakes the thread blocked on it: a UDP
        // receive returns, an accept fails. Linux does both even though it
        // reports ENOTCONN for the unconnected UDP socket.
        let _ = SockRef::from(&shared.control).shutdown(Shutdown::Both);
        let _ = SockRef::from(&shared.listener).shutdown(Shutdown::Both);
        let threads = std::mem::take(&mut *lock(&self.threads));
        for thread in threads {
            // A handler that closes the transport runs on one of these:
            // that thread ends on its own once the handler returns.
            if thread.thread().id() == thread::current().id() {
                continue;
            }
            if thread.join().is_err() {
                self.config
                    .log(LogLevel::Error, "close: a transport thread had panicked");
            }
        }
        // The threads held the only other references, short of a call
        // still running: this closes both sockets, and the queued streams.
        drop(shared);
        while self.try_accept().is_some() {}
        self.activity.bump();
    }

    /// Whether the transport serves: built and not closed.
    pub fn is_running(&self) -> bool {
        lock(&self.shared).is_some()
    }

    /// The sockets and threads' state, unless closed.
    pub(crate) fn live(&self) -> Result<Arc<Shared>, TransportError> {
        lock(&self.shared).clone().ok_or(TransportError::Shutdown)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Counts a failed socket operation into [`Drops::errors`].
    fn counted<T>(&self, result: Result<T, TransportError>) -> Result<T, TransportError> {
        if let Err(e) = &result {
            if e.is_socket_failure() {
                Counters::add(&self.counters.errors, 1);
            }
        }
        result
    }

    /// The address this end is known by.
    pub(crate) fn ip(&self) -> Ipv6Addr {
        self.ip
    }

    /// The link's peer: the first configured, else the first heard from.
    pub(crate) fn peer_ip(&self) -> Option<Ipv6Addr> {
        match self.config.peers.first() {
            Some(peer) => Some(peer.ip),
            None => self.live().ok()?.learned.ip.get().copied(),
        }
    }

    pub(crate) fn try_accept(&self) -> Option<TcpStream> {
        lock(&self.accepted).try_recv().ok()
    }

    pub(crate) fn try_recv_message(&self) -> Result<Option<Message>, TransportError> {
        match lock(&self.messages).try_recv() {
            Ok(message) => Ok(Some(message)),
            Err(mpsc::TryRecvError::Empty) => Ok(None),
            Err(mpsc::TryRecvError::Disconnected) => Err(TransportError::Shutdown),
        }
    }
}

impl Drop for Thunderbolt {
    fn drop(&mut self) {
        self.close();
    }
}

impl Shared {
    /// `peer`'s `port`, scoped to our interface if `peer` is link-local.
    pub fn addr(&self, peer: Ipv6Addr, port: u16) -> SocketAddrV6 {
        SocketAddrV6::new(peer, port, 0, addr::scope_for(peer, self.index))
    }

    /// `peer`'s control port: the configured one, or the one its messages
    /// came from, or else ours.
    fn control_port(&self, peer: Ipv6Addr) -> u16 {
        let configured = self.config.peer(peer);
        if self.config.peers.is_empty() && self.learned.ip.get() == Some(&peer) {
            match self.learned.control_port.load(Ordering::Relaxed) {
                0 => configured.control_port,
                learned => learned,
            }
        } else {
            configured.control_port
        }
    }

    /// Sends `data` to `peer`'s control port.
    pub fn send_control(&self, peer: Ipv6Addr, data: &[u8]) -> Result<(), TransportError> {
        let to = self.addr(peer, self.control_port(peer));
        self.control.send_to(data, to).map_err(TransportError::Io)?;
        Ok(())
    }

    /// Sends a ping to `peer` from the control socket; returns its stamp and
    /// where the round trip will arrive. For callers that cannot wait.
    pub fn ping(&self, peer: Ipv6Addr) -> Result<(u64, Receiver<Duration>), TransportError> {
        let (stamp, rtt) = self.pending.expect(peer);
        if let Err(e) = self.send_control(peer, &probe::ping(stamp)) {
            self.pending.forget(stamp);
            return Err(e);
        }
        Counters::add(&self.counters.pings_tx, 1);
        Ok((stamp, rtt))
    }

    /// Pings `peer` and waits for the pong: on the transport's ping socket
    /// if no other call is using it, else through the control thread.
    fn measure_rtt(&self, peer: Ipv6Addr, timeout: Duration) -> Result<Duration, TransportError> {
        let taken = lock(&self.pinger).take();
        let Some(mut pinger) = taken else {
            let (stamp, rtt) = self.ping(peer)?;
            return rtt.recv_timeout(timeout).map_err(|_| {
                self.pending.forget(stamp);
                TransportError::Timeout
            });
        };
        let rtt = self.ping_from(&mut pinger, peer, timeout);
        *lock(&self.pinger) = Some(pinger);
        rtt
    }

    fn ping_from(
        &self,
        pinger: &mut Pinger,
        peer: Ipv6Addr,
        timeout: Duration,
    ) -> Result<Duration, TransportError> {
        if timeout.is_zero() {
            return Err(TransportError::Timeout);
        }
        let stamp = self.pending.stamp();
        let to = self.addr(peer, self.control_port(peer));
        let start = Instant::now();
        pinger
            .socket
            .send_to(&probe::ping(stamp), to)
            .map_err(TransportError::Io)?;
        Counters::add(&self.counters.pings_tx, 1);
        // One byte more than a probe, so that a longer datagram is not
        // taken for one.
        let mut buf = [0u8; PROBE_LEN + 1];
        // The whole timeout at first, though the send took a little of it:
        // the same timeout as the last ping's needs no system call to set.
        let mut wait = timeout;
        loop {
            pinger
                .wait_at_most(wait)
                .map_err(socket::option("SO_RCVTIMEO"))?;
            match pinger.socket.recv_from(&mut buf) {
                Ok((len, from)) => {
                    let rtt = start.elapsed();
                    if Datagram::classify(&buf[..len]) == Datagram::Pong(stamp)
                        && from.ip() == IpAddr::V6(peer)
                    {
                        Counters::add(&self.counters.pongs_rx, 1);
                        return Ok(rtt);
                    }
                    // A pong to an earlier ping that timed out on this
                    // socket, say.
                    Counters::add(&self.counters.pongs_unmatched, 1);
                    self.log_repeated(Repeated::PongUnmatched, LogLevel::Debug, || {
                        format!("ping: dropped a {len}-byte datagram from {from} that is not the pong it waits for")
                    });
                }
                Err(e) if transient(&e) => {}
                Err(e) => return Err(TransportError::Io(e)),
            }
            wait = timeout
                .checked_sub(start.elapsed())
                .filter(|left| !left.is_zero())
                .ok_or(TransportError::Timeout)?;
        }
    }

    /// Whether `ip` is the peer: a configured one, or the one learned. With
    /// no peer configured, the first host asked about becomes the peer.
    fn is_peer(&self, ip: Ipv6Addr) -> bool {
        if !self.config.peers.is_empty() {
            return self.config.peers.iter().any(|peer| peer.ip == ip);
        }
        let mut learned_now = false;
        let peer = *self.learned.ip.get_or_init(|| {
            learned_now = true;
            ip
        });
        if learned_now {
            self.activity.bump();
        }
        peer == ip
    }

    /// Whether to serve `from`: the peer always; a stranger, counted into
    /// `counter` and logged, if the policy takes strangers.
    pub fn admits(&self, from: SocketAddrV6, kind: Repeated) -> bool {
        if self.is_peer(*from.ip()) {
            return true;
        }
        let (counter, what) = match kind {
            Repeated::StrangerStream => (&self.counters.stranger_streams, "data: refused a stream"),
            _ => (
                &self.counters.stranger_datagrams,
                "control: refused a datagram",
            ),
        };
        Counters::add(counter, 1);
        let accept = self.config.strangers == Strangers::Accept;
        if !accept {
            self.log_repeated(kind, LogLevel::Warn, || {
                format!(
                    "{what} from {from}, which is not the peer; configure it as a peer, or take strangers with Strangers::Accept"
                )
            });
        }
        accept
    }

    /// Logs a line about an event others can repeat at will: the first,
    /// then at most one per [`LOG_INTERVAL`] for each kind.
    fn log_repeated(&self, kind: Repeated, level: LogLevel, line: impl FnOnce() -> String) {
        let admitted = lock(&self.log_limit).admit(kind, Instant::now());
        match admitted {
            None => Counters::add(&self.counters.log_lines_suppressed, 1),
            Some(0) => self.config.log(level, &line()),
            Some(held) => self.config.log(
                level,
                &format!(
                    "{} (and {held} more like it in the {} s since the last such line)",
                    line(),
                    LOG_INTERVAL.as_secs()
                ),
            ),
        }
    }

    /// Counts and logs a failed socket operation on a transport thread.
    fn failed(&self, kind: Repeated, line: impl FnOnce() -> String) {
        Counters::add(&self.counters.errors, 1);
        self.log_repeated(kind, LogLevel::Error, line);
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }
}

/// The control thread: sorts every datagram and answers pings at once.
fn serve_control(shared: &Shared, messages: &SyncSender<Message>) {
    // One byte more than the largest datagram, so none is ever cut short.
    let mut buf = vec![0u8; MAX_MESSAGE + 1];
    let control = SockRef::from(&shared.control);
    loop {
        // socket2's receive, not std's: woken by shutdown, the socket
        // returns no sender address, which std's asserts against.
        // SAFETY: the bytes are initialised, and the kernel writes only
        // initialised bytes into them.
        let uninit = unsafe { &mut *(buf.as_mut_slice() as *mut [u8] as *mut [MaybeUninit<u8>]) };
        let received = control.recv_from(uninit);
        if shared.closed() {
            return;
        }
        let (len, from) = match received {
            Ok((len, from)) => match from.as_socket_ipv6() {
                Some(from) => (len, from),
                // An IPv6-only socket; nothing else arrives.
                None => continue,
            },
            Err(e) if transient(&e) => continue,
            Err(e) => {
                // An ICMP error from an earlier send, say: nothing to do
                // but go on serving.
                shared.failed(Repeated::ReceiveFailed, || {
                    format!("control: receive failed: {e}")
                });
                continue;
            }
        };
        if !shared.admits(from, Repeated::StrangerDatagram) {
            continue;
        }
        match Datagram::classify(&buf[..len]) {
            Datagram::Ping(stamp) => {
                // Counted first, so a peer that reads our counters after its
                // pong arrived sees it counted.
                Counters::add(&shared.counters.pings_answered, 1);
                if let Err(e) = shared.control.send_to(&probe::pong(stamp), from) {
                    shared
                        .counters
                        .pings_answered
                        .fetch_sub(1, Ordering::Relaxed);
                    shared.failed(Repeated::SendFailed, || {
                        format!("control: pong to {from} failed: {e}")
                    });
                }
            }
            Datagram::Pong(stamp) => match shared.pending.take(stamp, *from.ip()) {
                Some(answer) => {
                    Counters::add(&shared.counters.pongs_rx, 1);
                    answer.deliver();
                    shared.activity.bump();
                }
                None => {
                    Counters::add(&shared.counters.pongs_unmatched, 1);
                    shared.log_repeated(Repeated::PongUnmatched, LogLevel::Debug, || {
                        format!("control: dropped a pong from {from} that answers no ping of ours")
                    });
                }
            },
            Datagram::Message(data) => deliver(shared, messages, from, data),
        }
    }
}

/// Hands a message to the handler or the queue, and learns the peer's
/// control port from it: a DCF peer sends its messages from its control
/// socket. (Not from pings: tidenet pings from sockets of their own.)
fn deliver(shared: &Shared, messages: &SyncSender<Message>, from: SocketAddrV6, data: &[u8]) {
    if shared.config.peers.is_empty() && shared.learned.ip.get() == Some(from.ip()) {
        shared
            .learned
            .control_port
            .store(from.port(), Ordering::Relaxed);
    }
    if let Some(handler) = &shared.config.message_handler {
        Counters::add(&shared.counters.datagrams_rx, 1);
        Counters::add(&shared.counters.message_bytes_rx, data.len());
        handler(from, data);
        return;
    }
    let message = Message {
        from,
        data: data.to_vec(),
    };
    match messages.try_send(message) {
        Ok(()) => {
            Counters::add(&shared.counters.datagrams_rx, 1);
            Counters::add(&shared.counters.message_bytes_rx, data.len());
            shared.activity.bump();
        }
        Err(TrySendError::Full(_)) => {
            Counters::add(&shared.counters.messages_dropped, 1);
            shared.log_repeated(Repeated::MessageDropped, LogLevel::Warn, || {
                format!(
                    "control: dropped a {}-byte message from {from}: {MESSAGE_QUEUE} messages wait unread",
                    data.len()
                )
            });
        }
        // Nobody reads any more: the transport is closing.
        Err(TrySendError::Disconnected(_)) => {}
    }
}

/// The data thread: accepts streams on the data port and queues them.
fn serve_data(shared: &Shared, streams: &SyncSender<TcpStream>) {
    loop {
        let accepted = shared.listener.accept();
        if shared.closed() {
            return;
        }
        let (stream, from) = match accepted {
            Ok((stream, SocketAddr::V6(from))) => (stream, from),
            Ok((_, SocketAddr::V4(_))) => continue,
            Err(e) if transient(&e) => continue,
            Err(e) => {
                // Out of descriptors, say: back off instead of spinning.
                shared.failed(Repeated::AcceptFailed, || {
                    format!("data: accept failed: {e}")
                });
                thread::sleep(SHUTDOWN_CHECK / 10);
                continue;
            }
        };
        // Dropping a refused stream closes it.
        if !shared.admits(from, Repeated::StrangerStream) {
            continue;
        }
        if let Err(e) = socket::tune(&shared.config, &SockRef::from(&stream)) {
            shared.failed(Repeated::StreamSetup, || {
                format!("data: could not set options on the stream from {from}: {e}")
            });
        }
        if let Some(handler) = &shared.config.stream_handler {
            match DataStream::new(stream, shared.counters.clone()) {
                Ok(stream) => {
                    Counters::add(&shared.counters.streams_accepted, 1);
                    handler(stream);
                }
                Err(e) => shared.failed(Repeated::StreamSetup, || {
                    format!("data: dropped the stream from {from}: {e}")
                }),
            }
            continue;
        }
        match streams.try_send(stream) {
            Ok(()) => {
                Counters::add(&shared.counters.streams_accepted, 1);
                shared.activity.bump();
            }
            Err(TrySendError::Full(_)) => {
                Counters::add(&shared.counters.streams_unclaimed, 1);
                shared.log_repeated(Repeated::StreamUnclaimed, LogLevel::Warn, || {
                    format!(
                        "data: refused a stream from {from}: {STREAM_QUEUE} accepted streams wait unclaimed"
                    )
                });
            }
            Err(TrySendError::Disconnected(_)) => {}
        }
    }
}

/// Whether a socket call failed only for now: nothing there yet, a timeout
/// (the shutdown check's), or a signal.
pub(crate) fn transient(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
    )
}

fn v6(addr: io::Result<SocketAddr>) -> Result<SocketAddrV6, TransportError> {
    match addr.map_err(TransportError::Io)? {
        SocketAddr::V6(addr) => Ok(addr),
        SocketAddr::V4(_) => Err(TransportError::Io(io::ErrorKind::Unsupported.into())),
    }
}

/// Locks `mutex`, taking the value even if a thread panicked holding it:
/// every value guarded here is left whole between statements.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
