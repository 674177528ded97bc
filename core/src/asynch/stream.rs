//! A stream as async tasks use it.

use super::{Clock, Net};
use crate::{Error, StreamId, StreamState, Transport};

/// One stream of a [`Net`], from [`Net::connect`] or [`Net::accept`].
///
/// Its methods take `&self`, so one task can `join` a send and a receive on
/// it. Dropping it closes the stream gracefully without waiting, like
/// dropping a `std::net::TcpStream`; [`close`](Stream::close) also waits
/// until the peer has every byte.
pub struct Stream<'a, T: Transport, C: Clock> {
    net: Net<'a, T, C>,
    id: StreamId,
}

impl<'a, T: Transport, C: Clock> Stream<'a, T, C> {
    pub(super) fn new(net: Net<'a, T, C>, id: StreamId) -> Self {
        Stream { net, id }
    }

    /// The transport's id of this stream.
    pub fn id(&self) -> StreamId {
        self.id
    }

    /// Waits for the handshake to finish.
    pub(super) async fn established(&self) -> Result<(), Error> {
        self.net
            .until(false, |t| match t.state(self.id) {
                Ok(StreamState::Connecting) => None,
                Ok(StreamState::Closed) => Some(Err(Error::StreamClosed(self.id.0))),
                Ok(_) => Some(Ok(())),
                Err(e) => Some(Err(e)),
            })
            .await
    }

    /// Queues as much of `data` as fits, waiting until at least one byte
    /// does; returns how much. Bytes it reports are the transport's to
    /// deliver, even if the task is cancelled right after.
    pub async fn send(&self, data: &[u8]) -> Result<usize, Error> {
        if data.is_empty() {
            return Ok(0);
        }
        self.net
            .until(true, |t| match t.send(self.id, data) {
                Ok(0) => None,
                sent => Some(sent),
            })
            .await
    }

    /// Waits for received bytes and takes as many as fit in `buf`. As in
    /// [`Transport::recv`], the peer's close is [`Error::StreamClosed`] and
    /// a stream cut off without it is [`Error::StreamReset`].
    pub async fn recv(&self, buf: &mut [u8]) -> Result<usize, Error> {
        if buf.is_empty() {
            return Ok(0);
        }
        self.net
            .until(true, |t| match t.recv(self.id, buf) {
                Ok(0) => None,
                got => Some(got),
            })
            .await
    }

    /// Waits until the peer has acknowledged every byte sent so far.
    ///
    /// A stream that ends first, with bytes still unacknowledged, gives
    /// the error that says how it ended, [`Error::StreamReset`] or
    /// [`Error::StreamClosed`]: those bytes may never arrive.
    pub async fn flush(&self) -> Result<(), Error> {
        self.net
            .until(false, |t| match (t.send_queue(self.id), t.state(self.id)) {
                (Ok(0), _) => Some(Ok(())),
                // A `send` on an ended stream names how it ended, and
                // sends nothing.
                (Ok(_), Ok(StreamState::Closed)) => Some(Err(t
                    .send(self.id, &[])
                    .err()
                    .unwrap_or(Error::StreamClosed(self.id.0)))),
                (Err(e), _) | (_, Err(e)) => Some(Err(e)),
                (Ok(_), Ok(_)) => None,
            })
            .await
    }

    /// Waits until the peer has every byte ([`flush`](Stream::flush)), then
    /// closes the stream. The stream is closed even if the flush fails.
    pub async fn close(self) -> Result<(), Error> {
        let flushed = self.flush().await;
        // Dropping `self` closes the stream.
        drop(self);
        flushed
    }

    /// Resets the stream at once ([`Transport::abort`]): what the peer has
    /// not acknowledged is dropped, and the peer reads
    /// [`Error::StreamReset`], never a clean end. For giving up on a
    /// transfer so that the peer cannot take a part for the whole.
    ///
    /// If the transport cannot reset it (`Unsupported`, say), the stream
    /// comes back with the error: dropping it would close it cleanly, the
    /// very end the caller meant to avoid.
    pub fn abort(self) -> Result<(), (Self, Error)> {
        match self.net.with(|t| t.abort(self.id)) {
            // Dropping `self` finds the id gone and closes nothing.
            Ok(()) => Ok(()),
            Err(e) => Err((self, e)),
        }
    }
}

impl<T: Transport, C: Clock> Drop for Stream<'_, T, C> {
    fn drop(&mut self) {
        // The only error is that the transport already forgot the stream,
        // which leaves nothing to close.
        let _ = self.net.with(|t| t.close(self.id));
    }
}

impl<T: Transport, C: Clock> embedded_io_async::ErrorType for Stream<'_, T, C> {
    type Error = Error;
}

impl<T: Transport, C: Clock> embedded_io_async::Read for Stream<'_, T, C> {
    /// [`Stream::recv`], with the peer's close as `Ok(0)`, as the trait
    /// wants. `Ok(0)` therefore means every byte arrived; a stream cut off
    /// stays the error [`Error::StreamReset`] (kind
    /// [`ConnectionReset`](embedded_io_async::ErrorKind::ConnectionReset)),
    /// so that `read_to_end`-style loops fail rather than end early.
    async fn read(&mut self, buf: &mut [u8]) -> Result<usize, Error> {
        match self.recv(buf).await {
            Err(Error::StreamClosed(_)) => Ok(0),
            got => got,
        }
    }
}

impl<T: Transport, C: Clock> embedded_io_async::Write for Stream<'_, T, C> {
    async fn write(&mut self, buf: &[u8]) -> Result<usize, Error> {
        self.send(buf).await
    }

    async fn flush(&mut self) -> Result<(), Error> {
        Stream::flush(self).await
    }
}
