//! The transport: its sockets, the two threads that serve them, and the
//! DCF API.
//!
//! Two threads block on the sockets, so nothing waits on a polling sleep:
//! - the control thread receives every datagram, answers pings at once,
//!   hands pongs to the ping they answer and messages to the application;
//! - the data thread accepts streams on the data port and queues them.
//!
//! Closing (or dropping) the transport shuts both sockets down, which wakes
//! the threads, joins them and frees both ports before it returns.

use std::io;
use std::mem::MaybeUninit;
use std::net::{Ipv6Addr, Shutdown, SocketAddr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use socket2::SockRef;
use tidenet_core::Stats;

use crate::addr;
use crate::probe::{self, Datagram, PROBE_LEN};
use crate::rtt::Pending;
use crate::socket;
use crate::stats::Counters;
use crate::transport::Streams;
use crate::{Builder, Config, DataStream, TransportError};

/// The largest message: one UDP datagram over IPv6, 65,535 bytes of payload
/// length less the 8-byte UDP header. (65,507, often quoted, is IPv4's.)
pub const MAX_MESSAGE: usize = u16::MAX as usize - 8;
/// Messages queued for [`Thunderbolt::recv_message`] before more are dropped.
const MESSAGE_QUEUE: usize = 1024;
/// Accepted data streams waiting to be claimed before more are refused.
const STREAM_QUEUE: usize = 64;
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
    /// `None` once closed, so that the sockets, and with them the ports,
    /// are gone.
    shared: Option<Arc<Shared>>,
    config: Arc<Config>,
    counters: Arc<Counters>,
    /// The address this end is known by: the bound one, or the interface's
    /// link-local address when bound to `::`.
    ip: Ipv6Addr,
    threads: Vec<JoinHandle<()>>,
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
    pub pending: Pending,
    /// The first peer heard from, when none is configured.
    pub learned: Mutex<Option<Ipv6Addr>>,
    pub closed: AtomicBool,
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
        for socket in [SockRef::from(&control), SockRef::from(&listener)] {
            socket
                .set_read_timeout(Some(SHUTDOWN_CHECK))
                .map_err(TransportError::Io)?;
        }
        let config = Arc::new(config);
        let counters = Arc::<Counters>::default();
        let shared = Arc::new(Shared {
            config: config.clone(),
            control,
            listener,
            index,
            counters: counters.clone(),
            pending: Pending::default(),
            learned: Mutex::new(None),
            closed: AtomicBool::new(false),
        });
        let (message_tx, messages) = mpsc::sync_channel(MESSAGE_QUEUE);
        let (stream_tx, accepted) = mpsc::sync_channel(STREAM_QUEUE);
        let mut transport = Thunderbolt {
            shared: Some(shared.clone()),
            config,
            counters,
            ip,
            threads: Vec::new(),
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
        transport.threads.push(control);
        let data = thread::Builder::new()
            .name("tidenet-tb-data".into())
            .spawn(move || serve_data(&shared, &stream_tx))
            .map_err(TransportError::Io)?;
        transport.threads.push(data);
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
        shared.send_control(peer, data)?;
        Counters::add(&self.counters.datagrams_tx, 1);
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
        let stream = socket::connect(&self.config, self.ip, to)?;
        DataStream::new(stream, self.counters.clone()).map_err(TransportError::Io)
    }

    /// Waits up to `timeout` for a peer to open a data stream to us.
    pub fn accept_data_stream(&self, timeout: Duration) -> Result<DataStream, TransportError> {
        let stream = match lock(&self.accepted).recv_timeout(timeout) {
            Ok(stream) => stream,
            Err(RecvTimeoutError::Timeout) => return Err(TransportError::Timeout),
            Err(RecvTimeoutError::Disconnected) => return Err(TransportError::Shutdown),
        };
        DataStream::new(stream, self.counters.clone()).map_err(TransportError::Io)
    }

    /// Pings `peer` and waits up to `timeout` for its pong.
    pub fn measure_rtt(
        &self,
        peer: Ipv6Addr,
        timeout: Duration,
    ) -> Result<Duration, TransportError> {
        let shared = self.live()?;
        let (stamp, rtt) = shared.ping(peer)?;
        rtt.recv_timeout(timeout).map_err(|_| {
            shared.pending.forget(stamp);
            TransportError::Timeout
        })
    }

    /// Counters since start or the last [`reset_stats`](Self::reset_stats).
    pub fn get_stats(&self) -> Stats {
        self.counters.snapshot()
    }

    /// Sets every counter back to zero.
    pub fn reset_stats(&self) {
        self.counters.reset();
    }

    /// Stops serving and frees both ports; later calls say
    /// [`TransportError::Shutdown`]. Dropping the transport does the same.
    /// Data streams already handed out stay open.
    pub fn close(&mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.closed.store(true, Ordering::SeqCst);
        // Shutting a socket down wakes the thread blocked on it: a UDP
        // receive returns, an accept fails. Linux does both even though it
        // reports ENOTCONN for the unconnected UDP socket.
        let _ = SockRef::from(&shared.control).shutdown(Shutdown::Both);
        let _ = SockRef::from(&shared.listener).shutdown(Shutdown::Both);
        for thread in self.threads.drain(..) {
            if thread.join().is_err() {
                self.config.log("close: a transport thread had panicked");
            }
        }
        // The threads held the only other references: this closes both
        // sockets. So do the streams, listeners and queued streams.
        drop(shared);
        self.streams.clear();
        while self.try_accept().is_some() {}
    }

    /// The sockets and threads' state, unless closed.
    pub(crate) fn live(&self) -> Result<&Shared, TransportError> {
        self.shared.as_deref().ok_or(TransportError::Shutdown)
    }

    pub(crate) fn counters(&self) -> &Counters {
        &self.counters
    }

    /// The address this end is known by.
    pub(crate) fn ip(&self) -> Ipv6Addr {
        self.ip
    }

    /// The link's peer: the first configured, else the first heard from.
    pub(crate) fn peer_ip(&self) -> Option<Ipv6Addr> {
        match (self.config.peers.first(), &self.shared) {
            (Some(peer), _) => Some(peer.ip),
            (None, Some(shared)) => *lock(&shared.learned),
            (None, None) => None,
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

    /// Sends `data` to `peer`'s control port.
    pub fn send_control(&self, peer: Ipv6Addr, data: &[u8]) -> Result<(), TransportError> {
        let to = self.addr(peer, self.config.peer(peer).control_port);
        self.control.send_to(data, to).map_err(TransportError::Io)?;
        Ok(())
    }

    /// Sends a ping to `peer`; returns its stamp and where the round trip
    /// will arrive.
    pub fn ping(&self, peer: Ipv6Addr) -> Result<(u64, Receiver<Duration>), TransportError> {
        let (stamp, rtt) = self.pending.expect(peer);
        if let Err(e) = self.send_control(peer, &probe::ping(stamp)) {
            self.pending.forget(stamp);
            return Err(e);
        }
        Counters::add(&self.counters.pings_tx, 1);
        Ok((stamp, rtt))
    }

    fn heard_from(&self, ip: Ipv6Addr) {
        if self.config.peers.is_empty() {
            lock(&self.learned).get_or_insert(ip);
        }
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
                // but go on serving the other peers.
                shared.config.log(&format!("control: receive failed: {e}"));
                continue;
            }
        };
        shared.heard_from(*from.ip());
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
                    shared
                        .config
                        .log(&format!("control: pong to {from} failed: {e}"));
                }
            }
            Datagram::Pong(stamp) => match shared.pending.take(stamp, *from.ip()) {
                Some(answer) => {
                    Counters::add(&shared.counters.pongs_rx, 1);
                    answer.deliver();
                }
                None => shared.config.log(&format!(
                    "control: dropped a pong from {from} that answers no ping of ours"
                )),
            },
            Datagram::Message(data) => {
                Counters::add(&shared.counters.datagrams_rx, 1);
                if let Some(handler) = &shared.config.message_handler {
                    handler(from, data);
                    continue;
                }
                let message = Message {
                    from,
                    data: data.to_vec(),
                };
                if let Err(TrySendError::Full(_)) = messages.try_send(message) {
                    shared.config.log(&format!(
                        "control: dropped a {len}-byte message from {from}: {MESSAGE_QUEUE} messages wait unread"
                    ));
                }
            }
        }
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
                shared.config.log(&format!("data: accept failed: {e}"));
                thread::sleep(SHUTDOWN_CHECK / 10);
                continue;
            }
        };
        shared.heard_from(*from.ip());
        if let Err(e) = socket::tune(&shared.config, &SockRef::from(&stream)) {
            shared.config.log(&format!(
                "data: could not set options on the stream from {from}: {e}"
            ));
        }
        if let Err(TrySendError::Full(_)) = streams.try_send(stream) {
            shared.config.log(&format!(
                "data: refused a stream from {from}: {STREAM_QUEUE} accepted streams wait unclaimed"
            ));
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
