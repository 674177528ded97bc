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

    /// Waits for received bytes and takes as many as fit in `buf`. The end of
    /// the stream is [`Error::StreamClosed`], as in [`Transport::recv`].
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
    /// A stream that closes first, with bytes still unacknowledged, gives
    /// [`Error::StreamClosed`]: those bytes may never arrive.
    pub async fn flush(&self) -> Result<(), Error> {
        self.net
            .until(false, |t| match (t.send_queue(self.id), t.state(self.id)) {
                (Ok(0), _) => Some(Ok(())),
                (Ok(_), Ok(StreamState::Closed)) => Some(Err(Error::StreamClosed(self.id.0))),
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
    /// [`Stream::recv`], with the end of the stream as `Ok(0)`, as the trait
    /// wants.
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
