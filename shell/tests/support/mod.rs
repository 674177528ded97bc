//! What the shell's tests and benches run it on: a transport with no link
//! and a UART in memory. Shared by `tests/garbage.rs` and, through
//! `#[path]`, `benches/shell.rs`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr};
use std::rc::Rc;
use std::vec::Vec;

use tidenet_core::proto::MAX_MESSAGE;
use tidenet_core::time::{Duration, Instant};
use tidenet_core::{Error, Stats, StreamId, StreamState, Transport};

/// What [`Fake`] calls its stack, as `status` shows it.
pub const STACK: &str = "noise-fake";

/// A transport with no link: every request finishes at once, so the shell
/// never waits, but for `ping`, which waits for its timeout.
pub struct Fake;

impl Transport for Fake {
    fn stack(&self) -> &'static str {
        STACK
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
    fn accept(&mut self, _port: u16) -> Result<Option<StreamId>, Error> {
        Ok(None)
    }
    fn state(&self, stream: StreamId) -> Result<StreamState, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn send(&mut self, stream: StreamId, _data: &[u8]) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn recv(&mut self, stream: StreamId, _buf: &mut [u8]) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn send_queue(&self, stream: StreamId) -> Result<usize, Error> {
        Err(Error::UnknownStream(stream.0))
    }
    fn close(&mut self, stream: StreamId) -> Result<(), Error> {
        Err(Error::UnknownStream(stream.0))
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

/// An in-memory UART; clones share the same wires, so the test keeps one while
/// the shell owns another.
#[derive(Clone, Default)]
pub struct Uart {
    pub input: Rc<RefCell<VecDeque<u8>>>,
    pub output: Rc<RefCell<Vec<u8>>>,
}

impl Uart {
    pub fn feed(&self, bytes: &[u8]) {
        self.input.borrow_mut().extend(bytes.iter().copied());
    }

    pub fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut *self.output.borrow_mut())
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut input = self.input.borrow_mut();
        let mut n = 0;
        while n < buf.len() {
            let Some(byte) = input.pop_front() else {
                break;
            };
            buf[n] = byte;
            n += 1;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.input.borrow().is_empty())
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
