//! The data stream handed to DCF API users: a blocking TCP stream that
//! counts what crosses it.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV6, TcpStream};
use std::sync::Arc;

use crate::stats::Counters;

/// A reliable byte stream to a peer, from
/// [`Thunderbolt::open_data_stream`](crate::Thunderbolt::open_data_stream) or
/// [`Thunderbolt::accept_data_stream`](crate::Thunderbolt::accept_data_stream).
///
/// It blocks, as `read_exact` and `write_all` expect; the original DCF handed
/// out non-blocking streams, on which they fail with `WouldBlock`. It counts
/// into the transport's `stream_bytes_*` and outlives the transport.
#[derive(Debug)]
pub struct DataStream {
    stream: TcpStream,
    counters: Arc<Counters>,
}

impl DataStream {
    pub(crate) fn new(stream: TcpStream, counters: Arc<Counters>) -> io::Result<Self> {
        stream.set_nonblocking(false)?;
        Ok(DataStream { stream, counters })
    }

    /// The peer's address and port.
    pub fn peer_addr(&self) -> io::Result<SocketAddrV6> {
        match self.stream.peer_addr()? {
            SocketAddr::V6(addr) => Ok(addr),
            SocketAddr::V4(_) => Err(io::ErrorKind::Unsupported.into()),
        }
    }

    /// Closes one or both directions; the peer reads end-of-stream.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.stream.shutdown(how)
    }

    /// The socket, for timeouts and other options.
    pub fn get_ref(&self) -> &TcpStream {
        &self.stream
    }
}

impl Read for DataStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.stream.read(buf)?;
        Counters::add(&self.counters.stream_bytes_rx, n);
        Ok(n)
    }
}

impl Write for DataStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.stream.write(buf)?;
        Counters::add(&self.counters.stream_bytes_tx, n);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}
