//! The transport's sockets, each tied to the interface and given the options
//! the configuration asks for.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};

use crate::{Config, LogLevel, TransportError};

/// Backlog of the data port: streams the OS completes before we accept them.
pub(crate) const BACKLOG: i32 = 128;
/// Keepalive: idle time before the first probe, the gap between probes and
/// how many may go unanswered. A vanished peer is noticed in about 8 s,
/// not the OS default of over two hours.
const KEEPALIVE: (Duration, Duration, u32) = (Duration::from_secs(5), Duration::from_secs(1), 3);

/// The UDP control socket, bound to `local`.
pub(crate) fn control(config: &Config, local: SocketAddrV6) -> Result<UdpSocket, TransportError> {
    let socket = new(config, Type::DGRAM, Protocol::UDP)?;
    if let Some(note) = control_buffers(config, &socket)? {
        config.log(LogLevel::Warn, &format!("control: {note}"));
    }
    bind(&socket, local)?;
    Ok(socket.into())
}

/// A UDP socket of its own for one ping at a time, bound to an ephemeral
/// port on `local`: the caller of `measure_rtt` receives the pong itself,
/// as a plain socket's caller would, instead of being woken by the control
/// thread. Peers answer a ping to wherever it came from.
pub(crate) fn pinger(config: &Config, local: SocketAddrV6) -> Result<UdpSocket, TransportError> {
    let socket = new(config, Type::DGRAM, Protocol::UDP)?;
    bind(
        &socket,
        SocketAddrV6::new(*local.ip(), 0, 0, local.scope_id()),
    )?;
    Ok(socket.into())
}

/// The TCP listener of the data port, bound to `local`.
pub(crate) fn listener(
    config: &Config,
    local: SocketAddrV6,
) -> Result<TcpListener, TransportError> {
    let socket = new(config, Type::STREAM, Protocol::TCP)?;
    // Lets a new transport bind the port while streams of an old one linger
    // in TIME_WAIT; a second live listener is still refused.
    socket
        .set_reuse_address(true)
        .map_err(option("SO_REUSEADDR"))?;
    if let Some(note) = stream_buffers(config, &socket)? {
        config.log(
            LogLevel::Warn,
            &format!("data port {}: {note}", local.port()),
        );
    }
    tune(config, &socket)?;
    bind(&socket, local)?;
    socket
        .listen(BACKLOG)
        .map_err(|source| TransportError::BindFailed {
            addr: local,
            source,
        })?;
    Ok(socket.into())
}

/// A TCP socket for opening a stream from `local_ip`, tuned, not connected.
pub(crate) fn stream(
    config: &Config,
    local_ip: Ipv6Addr,
    scope: u32,
) -> Result<Socket, TransportError> {
    let socket = new(config, Type::STREAM, Protocol::TCP)?;
    // The listener has said whatever there is to say about buffers.
    stream_buffers(config, &socket)?;
    tune(config, &socket)?;
    if !local_ip.is_unspecified() {
        bind(&socket, SocketAddrV6::new(local_ip, 0, 0, scope))?;
    }
    Ok(socket)
}

/// Opens a blocking stream to `peer`, waiting at most the configured time.
pub(crate) fn connect(
    config: &Config,
    local_ip: Ipv6Addr,
    peer: SocketAddrV6,
) -> Result<TcpStream, TransportError> {
    let socket = stream(config, local_ip, peer.scope_id())?;
    socket
        .connect_timeout(&SockAddr::from(peer), config.connect_timeout)
        .map_err(|source| TransportError::ConnectionFailed { peer, source })?;
    Ok(socket.into())
}

/// Sets the per-stream options; accepted streams get them too.
pub(crate) fn tune(config: &Config, socket: &Socket) -> Result<(), TransportError> {
    socket
        .set_tcp_nodelay(config.tcp_nodelay)
        .map_err(option("TCP_NODELAY"))?;
    socket
        .set_keepalive(config.tcp_keepalive)
        .map_err(option("SO_KEEPALIVE"))?;
    if config.tcp_keepalive {
        let (time, interval, retries) = KEEPALIVE;
        let keepalive = TcpKeepalive::new()
            .with_time(time)
            .with_interval(interval)
            .with_retries(retries);
        socket
            .set_tcp_keepalive(&keepalive)
            .map_err(option("TCP_KEEPIDLE"))?;
    }
    Ok(())
}

/// Names the option the kernel refused.
pub(crate) fn option(option: &'static str) -> impl FnOnce(io::Error) -> TransportError {
    move |source| TransportError::SocketOption { option, source }
}

/// A new IPv6-only socket tied to the configured interface.
fn new(config: &Config, ty: Type, protocol: Protocol) -> Result<Socket, TransportError> {
    let socket = Socket::new(Domain::IPV6, ty, Some(protocol)).map_err(TransportError::Io)?;
    socket.set_only_v6(true).map_err(option("IPV6_V6ONLY"))?;
    socket
        .bind_device(Some(config.interface.as_bytes()))
        .map_err(|source| match source.raw_os_error() {
            Some(nix::libc::ENODEV) => TransportError::InterfaceNotFound(config.interface.clone()),
            _ => TransportError::InterfaceBindFailed {
                interface: config.interface.clone(),
                source,
            },
        })?;
    Ok(socket)
}

fn bind(socket: &Socket, addr: SocketAddrV6) -> Result<(), TransportError> {
    socket
        .bind(&SockAddr::from(addr))
        .map_err(|source| TransportError::BindFailed { addr, source })
}

/// Sets the control socket's buffers. UDP has no autotuning, so it always
/// asks, and takes what the kernel caps it at; returns a note if that is less.
fn control_buffers(config: &Config, socket: &Socket) -> Result<Option<String>, TransportError> {
    if config.buffer_size == 0 {
        return Ok(None);
    }
    socket
        .set_recv_buffer_size(config.buffer_size)
        .map_err(option("SO_RCVBUF"))?;
    socket
        .set_send_buffer_size(config.buffer_size)
        .map_err(option("SO_SNDBUF"))?;
    // Linux reports twice what it grants, for its bookkeeping.
    let granted = [
        socket.recv_buffer_size().map_err(option("SO_RCVBUF"))?,
        socket.send_buffer_size().map_err(option("SO_SNDBUF"))?,
    ]
    .map(|b| b / 2);
    Ok((granted.iter().any(|&b| b < config.buffer_size)).then(|| {
        format!(
            "the kernel granted {} bytes to receive and {} to send of the {} asked for; raise net.core.rmem_max and net.core.wmem_max",
            granted[0], granted[1], config.buffer_size
        )
    }))
}

/// Sets a TCP socket's buffers, if the kernel would grant all of them.
///
/// TCP grows its buffers itself, up to `net.ipv4.tcp_rmem`'s maximum, until
/// a size is set, which switches that off for good. A size the kernel caps
/// at `net.core.rmem_max` (208 KiB by default) would leave a stream with
/// less than autotuning gives it, so then none is set; returns a note.
fn stream_buffers(config: &Config, socket: &Socket) -> Result<Option<String>, TransportError> {
    if config.buffer_size == 0 {
        return Ok(None);
    }
    let limit = |name: &str| {
        std::fs::read_to_string(format!("/proc/sys/net/core/{name}"))
            .ok()
            .and_then(|text| text.trim().parse::<usize>().ok())
    };
    let (rmem, wmem) = (limit("rmem_max"), limit("wmem_max"));
    if rmem.is_some_and(|max| max < config.buffer_size)
        || wmem.is_some_and(|max| max < config.buffer_size)
    {
        return Ok(Some(format!(
            "net.core.rmem_max and wmem_max ({} and {} bytes) are below the {} asked for, so TCP keeps its autotuned buffers; raise them to get the full size",
            rmem.unwrap_or(0),
            wmem.unwrap_or(0),
            config.buffer_size
        )));
    }
    socket
        .set_recv_buffer_size(config.buffer_size)
        .map_err(option("SO_RCVBUF"))?;
    socket
        .set_send_buffer_size(config.buffer_size)
        .map_err(option("SO_SNDBUF"))?;
    Ok(None)
}
