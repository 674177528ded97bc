//! A transport with no link: every request a node runs on it finishes at
//! once (`ping` waits for its timeout), and one incoming stream, if given,
//! delivers the fuzzer's bytes in reads of the fuzzer's sizes.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr};

use tidenet_core::proto::MAX_MESSAGE;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, Stats, StreamId, StreamState, Transport};

/// The one stream a [`Fake`] offers.
const STREAM: StreamId = StreamId(0);

/// See the module docs.
#[derive(Default)]
pub struct Fake {
    /// Bytes the incoming stream has yet to deliver; each new stream
    /// accepted goes on where the last was closed, as a child that opens
    /// another would.
    incoming: VecDeque<u8>,
    /// The size of each read, taken in turn; 0 means as much as asked.
    reads: Vec<usize>,
    next_read: usize,
    /// The port the stream comes in on, and whether it is open.
    port: Option<u16>,
    open: bool,
}

impl Fake {
    /// A transport whose port `port` takes a stream of `bytes`, read in
    /// pieces of `reads` bytes in turn.
    pub fn streaming(port: u16, bytes: &[u8], reads: &[u8]) -> Self {
        Fake {
            incoming: bytes.iter().copied().collect(),
            reads: reads.iter().map(|&r| usize::from(r)).collect(),
            port: Some(port),
            ..Fake::default()
        }
    }

    /// Bytes the stream has not delivered.
    pub fn unread(&self) -> usize {
        self.incoming.len()
    }

    fn known(&self, stream: StreamId) -> Result<(), Error> {
        if stream == STREAM && self.open {
            Ok(())
        } else {
            Err(Error::UnknownStream(stream.0))
        }
    }
}

impl Transport for Fake {
    fn stack(&self) -> &'static str {
        "fuzz"
    }
    fn poll(&mut self, _now: Instant) -> bool {
        false
    }
    fn poll_at(&mut self, _now: Instant) -> Option<Instant> {
        None
    }
    fn local_addr(&self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(169, 254, 0, 1))
    }
    fn peer(&self) -> Option<IpAddr> {
        None
    }
    fn connect(&mut self, _peer: IpAddr, _port: u16) -> Result<StreamId, Error> {
        Err(Error::Unsupported)
    }
    fn listen(&mut self, _port: u16) -> Result<(), Error> {
        Ok(())
    }
    fn accept(&mut self, port: u16) -> Result<Option<StreamId>, Error> {
        let offered = self.port == Some(port) && !self.open && !self.incoming.is_empty();
        self.open |= offered;
        Ok(offered.then_some(STREAM))
    }
    fn state(&self, stream: StreamId) -> Result<StreamState, Error> {
        self.known(stream).map(|()| StreamState::Established)
    }
    fn send(&mut self, stream: StreamId, data: &[u8]) -> Result<usize, Error> {
        self.known(stream).map(|()| data.len())
    }
    fn recv(&mut self, stream: StreamId, buf: &mut [u8]) -> Result<usize, Error> {
        self.known(stream)?;
        let size = match self.reads.get(self.next_read % self.reads.len().max(1)) {
            Some(&size) if size > 0 => size,
            _ => buf.len(),
        };
        self.next_read += 1;
        let n = size.min(buf.len()).min(self.incoming.len());
        for (slot, byte) in buf.iter_mut().zip(self.incoming.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
    fn send_queue(&self, stream: StreamId) -> Result<usize, Error> {
        self.known(stream).map(|()| 0)
    }
    fn close(&mut self, stream: StreamId) -> Result<(), Error> {
        self.known(stream)?;
        self.open = false;
        Ok(())
    }
    fn max_datagram(&self) -> usize {
        MAX_MESSAGE
    }
    fn send_datagram(&mut self, _peer: IpAddr, _data: &[u8]) -> Result<(), Error> {
        Err(Error::Unsupported)
    }
    fn recv_datagram(&mut self, _buf: &mut [u8]) -> Result<Option<(IpAddr, usize)>, Error> {
        Ok(None)
    }
    /// Sent, and never answered: `ping` waits for its timeout.
    fn ping(&mut self, _peer: IpAddr, _now: Instant) -> Result<(), Error> {
        Ok(())
    }
    fn take_rtt(&mut self) -> Option<(IpAddr, Duration)> {
        None
    }
    fn stats(&self) -> Stats {
        Stats::default()
    }
    fn reset_stats(&mut self) {}
}
