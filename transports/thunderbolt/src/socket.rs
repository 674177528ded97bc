//! The transport's sockets, each tied to the interface and given the options
//! the configuration asks for.

use std::io;
use std::net::{Ipv6Addr, SocketAddrV6, TcpListener, TcpStream, UdpSocket};
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};

use crate::{Config, TransportError};

/// Backlog of the data port: streams the OS completes before we accept them.
const BACKLOG: i32 = 128;
/// Keepalive: idle time before the first probe, the gap between probes and
/// how many may go unanswered. A vanished peer is noticed in about 8 s,
/// not the OS default of over two hours.
const KEEPALIVE: (Duration, Duration, u32) = (Duration::from_secs(5), Duration::from_secs(1), 3);

/// The UDP control socket, bound to `local`.
pub(crate) fn control(config: &Config, local: SocketAddrV6) -> Result<UdpSocket, TransportError> {
    let socket = new(config, Type::DGRAM, Protocol::UDP)?;
    buffers(config, &socket, "control")?;
    bind(&socket, local)?;
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
    socket.set_reuse_address(true).map_err(TransportError::Io)?;
    buffers(config, &socket, "data")?;
    tune(config, &socket).map_err(TransportError::Io)?;
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
    socket
        .set_recv_buffer_size(config.buffer_size)
        .and_then(|()| socket.set_send_buffer_size(config.buffer_size))
        .and_then(|()| tune(config, &socket))
        .map_err(TransportError::Io)?;
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
pub(crate) fn tune(config: &Config, socket: &Socket) -> io::Result<()> {
    socket.set_tcp_nodelay(config.tcp_nodelay)?;
    socket.set_keepalive(config.tcp_keepalive)?;
    if config.tcp_keepalive {
        let (time, interval, retries) = KEEPALIVE;
        let keepalive = TcpKeepalive::new()
            .with_time(time)
            .with_interval(interval)
            .with_retries(retries);
        socket.set_tcp_keepalive(&keepalive)?;
    }
    Ok(())
}

/// A new IPv6-only socket tied to the configured interface.
fn new(config: &Config, ty: Type, protocol: Protocol) -> Result<Socket, TransportError> {
    let socket = Socket::new(Domain::IPV6, ty, Some(protocol)).map_err(TransportError::Io)?;
    socket.set_only_v6(true).map_err(TransportError::Io)?;
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

/// Asks for the configured buffers and says, once per socket kind, when the
/// kernel gave less.
fn buffers(config: &Config, socket: &Socket, what: &str) -> Result<(), TransportError> {
    socket
        .set_recv_buffer_size(config.buffer_size)
        .and_then(|()| socket.set_send_buffer_size(config.buffer_size))
        .map_err(TransportError::Io)?;
    // Linux reports twice what it grants, for its bookkeeping.
    let granted = socket.recv_buffer_size().map_err(TransportError::Io)? / 2;
    if granted < config.buffer_size {
        config.log(&format!(
            "{what}: the kernel capped the receive buffer at {granted} of the {} bytes asked for; raise net.core.rmem_max and net.core.wmem_max",
            config.buffer_size
        ));
    }
    Ok(())
}
