//! The node side of the shell protocol: the one place requests run.
//!
//! A [`Node`] owns a [`Transport`] and executes encoded [`Request`]s against
//! it, whether they come from the text shell, from a script's binary frames or
//! from a peer's `remote`. It answers each with one encoded [`Response`].
//!
//! Most requests finish at once. `ping` and `remote` wait for the link, so the
//! node holds one request at a time: [`Node::request`] starts it,
//! [`Node::poll`] moves it on, and [`Node::take_reply`] hands over the reply
//! once, after at most [`TIMEOUT`]. Alongside, `poll` accepts streams on
//! listening ports and answers peers' remote requests, so a node whose UART
//! nobody watches still reports its status and stats.

use core::net::{IpAddr, Ipv4Addr};

use heapless::Vec;

use crate::proto::{
    self, Header, Link, Peer, Request, Response, Status, StreamInfo, MAX_DATA, MAX_LISTENERS,
    MAX_MESSAGE, MAX_STREAMS, REMOTE_REPLY, REMOTE_REQUEST, VERSION,
};
use crate::time::{earliest, Duration, Instant};
use crate::{Error, StreamId, StreamState, Transport};

/// How long `ping` and `remote` wait for the peer before answering
/// [`Error::Timeout`].
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// A request that is waiting for the link, or a reply waiting to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Idle,
    Ping {
        tag: u16,
        peer: IpAddr,
        deadline: Instant,
    },
    Remote {
        tag: u16,
        peer: IpAddr,
        sent_tag: u16,
        deadline: Instant,
    },
    Replied {
        len: usize,
    },
}

/// The streams and listening ports the node has opened, for `status`.
#[derive(Default)]
struct Book {
    streams: Vec<StreamInfo, MAX_STREAMS>,
    listening: Vec<u16, MAX_LISTENERS>,
}

/// A transport plus the request executor. See the module docs.
pub struct Node<T> {
    transport: T,
    book: Book,
    job: Job,
    next_tag: u16,
    /// The reply to the local request, kept until taken.
    reply: [u8; MAX_MESSAGE],
    /// The datagram being handled.
    datagram: [u8; MAX_MESSAGE],
    /// Outgoing datagrams: remote requests and replies to peers.
    out: [u8; MAX_MESSAGE],
    /// Bytes `recv` takes from a stream.
    scratch: [u8; MAX_DATA],
}

impl<T: Transport> Node<T> {
    /// A node on `transport`.
    pub fn new(transport: T) -> Self {
        Node {
            transport,
            book: Book::default(),
            job: Job::Idle,
            next_tag: 0,
            reply: [0; MAX_MESSAGE],
            datagram: [0; MAX_MESSAGE],
            out: [0; MAX_MESSAGE],
            scratch: [0; MAX_DATA],
        }
    }

    /// The transport, to read.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// The transport, for whoever drives its link.
    pub fn transport_mut(&mut self) -> &mut T {
        &mut self.transport
    }

    /// Whether a request is running or its reply has not been taken. A new
    /// request now is answered [`Error::Busy`].
    pub fn is_busy(&self) -> bool {
        self.job != Job::Idle
    }

    /// Starts the request encoded in `message` (a [`Header`] and a
    /// [`Request`]). Whatever the bytes, exactly one reply follows.
    ///
    /// Returns [`Error::Busy`], and drops the message, if the previous reply
    /// has not been taken.
    pub fn request(&mut self, message: &[u8], now: Instant) -> Result<(), Error> {
        if self.is_busy() {
            return Err(Error::Busy);
        }
        let (header, body) = match proto::split(message) {
            Ok(parts) => parts,
            Err(e) => {
                self.reply_with(0, Err(e));
                return Ok(());
            }
        };
        let request = match proto::decode_request(header, body) {
            Ok(request) => request,
            Err(e) => {
                self.reply_with(header.tag, Err(e));
                return Ok(());
            }
        };
        match request {
            Request::Ping { peer } => {
                let started = resolve(&self.transport, peer).and_then(|peer| {
                    self.transport.ping(peer, now)?;
                    Ok(peer)
                });
                match started {
                    Ok(peer) => {
                        self.job = Job::Ping {
                            tag: header.tag,
                            peer,
                            deadline: now + TIMEOUT,
                        }
                    }
                    Err(e) => self.reply_with(header.tag, Err(e)),
                }
            }
            Request::Remote { peer, request } => match self.send_remote(peer, request) {
                Ok((peer, sent_tag)) => {
                    self.job = Job::Remote {
                        tag: header.tag,
                        peer,
                        sent_tag,
                        deadline: now + TIMEOUT,
                    }
                }
                Err(e) => self.reply_with(header.tag, Err(e)),
            },
            request => {
                let result = run(
                    &mut self.transport,
                    &mut self.book,
                    &mut self.scratch,
                    request,
                );
                self.job = Job::Replied {
                    len: respond(&mut self.reply, header.tag, result),
                };
            }
        }
        self.transport.poll(now);
        Ok(())
    }

    /// The reply to the last request, once it is ready; each reply is handed
    /// over once.
    pub fn take_reply(&mut self) -> Option<&[u8]> {
        let Job::Replied { len } = self.job else {
            return None;
        };
        self.job = Job::Idle;
        self.reply.get(..len)
    }

    /// Polls the transport, takes streams on listening ports, answers peers'
    /// remote requests and moves the running request on. Returns whether
    /// anything happened.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut active = self.transport.poll(now);
        // Forget streams the transport has freed before it hands their ids out
        // again.
        let transport = &self.transport;
        self.book
            .streams
            .retain(|s| transport.state(StreamId(s.id)).is_ok());
        for &port in &self.book.listening {
            while let Ok(Some(id)) = self.transport.accept(port) {
                active = true;
                let info = StreamInfo {
                    id: id.0,
                    state: StreamState::Established,
                    port,
                    accepted: true,
                };
                if self.book.streams.push(info).is_err() {
                    // More streams than `status` can list: refuse this one.
                    let _ = self.transport.close(id);
                }
            }
        }
        loop {
            match self.transport.recv_datagram(&mut self.datagram) {
                Ok(Some((from, len))) => {
                    active = true;
                    self.on_datagram(from, len);
                }
                Ok(None) => break,
                // Too long to be ours; the transport has dropped it.
                Err(Error::MessageTooLarge { .. }) => continue,
                Err(_) => break,
            }
        }
        match self.job {
            Job::Ping {
                tag,
                peer,
                deadline,
            } => {
                if let Some((from, rtt)) = self.transport.take_rtt() {
                    if from == peer {
                        let rtt_ns = u64::try_from(rtt.as_nanos()).unwrap_or(u64::MAX);
                        self.reply_with(tag, Ok(Response::Pong { peer, rtt_ns }));
                    }
                } else if now >= deadline {
                    self.reply_with(tag, Err(Error::Timeout));
                }
            }
            Job::Remote { tag, deadline, .. } if now >= deadline => {
                self.reply_with(tag, Err(Error::Timeout));
            }
            _ => {}
        }
        active
    }

    /// When [`poll`](Node::poll) must run next at the latest.
    pub fn poll_at(&mut self, now: Instant) -> Option<Instant> {
        let deadline = match self.job {
            Job::Ping { deadline, .. } | Job::Remote { deadline, .. } => Some(deadline),
            _ => None,
        };
        earliest(self.transport.poll_at(now), deadline)
    }

    fn reply_with(&mut self, tag: u16, result: Result<Response<'_>, Error>) {
        self.job = Job::Replied {
            len: respond(&mut self.reply, tag, result),
        };
    }

    /// Sends `request` to `peer` in a control datagram; returns the peer's
    /// address and the tag its reply will carry.
    fn send_remote(&mut self, peer: Peer, request: &[u8]) -> Result<(IpAddr, u16), Error> {
        let peer = resolve(&self.transport, peer)?;
        match postcard::from_bytes::<Request>(request) {
            Ok(Request::Ping { .. } | Request::Remote { .. }) => return Err(Error::NotRemotable),
            Ok(_) => {}
            Err(_) => return Err(Error::MalformedRequest),
        }
        self.next_tag = self.next_tag.wrapping_add(1);
        let (marker, rest) = self.out.split_at_mut(REMOTE_REQUEST.len());
        marker.copy_from_slice(&REMOTE_REQUEST);
        let header = postcard::to_slice(&Header::new(self.next_tag), rest)
            .map_err(|_| Error::MalformedRequest)?
            .len();
        let len = REMOTE_REQUEST.len() + header + request.len();
        let Some(body) = self.out.get_mut(len - request.len()..len) else {
            return Err(Error::MessageTooLarge {
                size: len,
                max: MAX_MESSAGE,
            });
        };
        body.copy_from_slice(request);
        // The transport names its own limit, or says it has no datagrams.
        self.transport.send_datagram(peer, &self.out[..len])?;
        Ok((peer, self.next_tag))
    }

    /// Handles one control datagram: a peer's remote request, the reply to
    /// ours, or something else, which is dropped.
    fn on_datagram(&mut self, from: IpAddr, len: usize) {
        let Some(message) = self.datagram.get(..len) else {
            return;
        };
        if let Some(message) = message.strip_prefix(&REMOTE_REQUEST) {
            let (tag, result) = match proto::split(message) {
                Err(e) => (0, Err(e)),
                Ok((header, body)) => (
                    header.tag,
                    proto::decode_request(header, body).and_then(|request| {
                        run(
                            &mut self.transport,
                            &mut self.book,
                            &mut self.scratch,
                            request,
                        )
                    }),
                ),
            };
            let (marker, rest) = self.out.split_at_mut(REMOTE_REPLY.len());
            marker.copy_from_slice(&REMOTE_REPLY);
            let len = REMOTE_REPLY.len() + respond(rest, tag, result);
            // A lost reply is the requester's timeout to report.
            let _ = self.transport.send_datagram(from, &self.out[..len]);
        } else if let Some(message) = message.strip_prefix(&REMOTE_REPLY) {
            let Job::Remote {
                tag,
                peer,
                sent_tag,
                ..
            } = self.job
            else {
                return;
            };
            let Ok((header, body)) = proto::split(message) else {
                return;
            };
            if from != peer || header.tag != sent_tag {
                return; // A late reply to an earlier request.
            }
            if header.version != VERSION {
                let got = header.version;
                return self.reply_with(
                    tag,
                    Err(Error::UnsupportedVersion {
                        got,
                        supported: VERSION,
                    }),
                );
            }
            if postcard::from_bytes::<Response>(body).is_err() {
                return self.reply_with(tag, Err(Error::MalformedReply));
            }
            // Relay the peer's response as it is, under the local tag.
            let relayed = postcard::to_slice(&Header::new(tag), &mut self.reply)
                .ok()
                .map(|h| h.len())
                .and_then(|h| {
                    let end = h + body.len();
                    self.reply.get_mut(h..end)?.copy_from_slice(body);
                    Some(end)
                });
            match relayed {
                Some(len) => self.job = Job::Replied { len },
                None => self.reply_with(tag, Err(Error::MalformedReply)),
            }
        }
    }
}

/// Encodes the reply to request `tag` into `buf`; returns its length.
fn respond(buf: &mut [u8], tag: u16, result: Result<Response<'_>, Error>) -> usize {
    let response = result.unwrap_or_else(Response::Error);
    proto::encode(Header::new(tag), &response, buf)
        .or_else(|e| proto::encode(Header::new(tag), &Response::Error(e), buf))
        // Every error fits in a message; an empty reply would still be one.
        .unwrap_or(0)
}

/// The address `peer` stands for on `transport`.
///
/// Link 0 before its peer is known stands for the unspecified address, and the
/// transport says why it cannot reach it: `link-down` from a stack whose link
/// is not up yet, `unsupported` from one that cannot do the operation at all.
fn resolve<T: Transport>(transport: &T, peer: Peer) -> Result<IpAddr, Error> {
    match peer {
        Peer::Link(0) => Ok(transport
            .peer()
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
        Peer::Link(n) => Err(Error::UnknownLink(n)),
        Peer::Addr(addr) => Ok(addr),
    }
}

/// Runs a request that finishes at once.
fn run<'s, T: Transport>(
    transport: &mut T,
    book: &mut Book,
    scratch: &'s mut [u8],
    request: Request<'_>,
) -> Result<Response<'s>, Error> {
    Ok(match request {
        Request::Status => {
            let mut streams = book.streams.clone();
            for s in &mut streams {
                s.state = transport
                    .state(StreamId(s.id))
                    .unwrap_or(StreamState::Closed);
            }
            Response::Status(Status {
                version: VERSION,
                stack: transport.stack(),
                addr: transport.local_addr(),
                listening: book.listening.clone(),
                streams,
            })
        }
        Request::Links => {
            let mut links = Vec::new();
            // One transport, one link; the list leaves room for more.
            let _ = links.push(Link {
                index: 0,
                local: transport.local_addr(),
                peer: transport.peer(),
                state: transport.link_state(),
            });
            Response::Links(links)
        }
        Request::Connect { peer, port } => {
            let id = transport.connect(resolve(transport, peer)?, port)?;
            // The transport may hand out the id of a stream freed since the
            // last poll.
            book.streams.retain(|s| s.id != id.0);
            let info = StreamInfo {
                id: id.0,
                state: StreamState::Connecting,
                port,
                accepted: false,
            };
            if book.streams.push(info).is_err() {
                let _ = transport.close(id);
                return Err(Error::TooManyStreams { max: MAX_STREAMS });
            }
            Response::Opened { stream: id.0 }
        }
        Request::Listen { port } => {
            if book.listening.contains(&port) {
                return Err(Error::PortInUse(port));
            }
            if book.listening.is_full() {
                return Err(Error::TooManyListeners { max: MAX_LISTENERS });
            }
            transport.listen(port)?;
            let _ = book.listening.push(port);
            Response::Done
        }
        Request::Send { stream, data } => {
            let sent = transport.send(StreamId(stream), data)?;
            Response::Sent {
                len: u16::try_from(sent).unwrap_or(u16::MAX),
            }
        }
        Request::Recv { stream, max } => {
            let max = scratch.len().min(usize::from(max));
            let buf = &mut scratch[..max];
            let got = transport.recv(StreamId(stream), buf)?;
            Response::Data {
                data: buf.get(..got).unwrap_or_default(),
            }
        }
        Request::Close { stream } => {
            transport.close(StreamId(stream))?;
            book.streams.retain(|s| s.id != stream);
            Response::Done
        }
        Request::Stats => Response::Stats(transport.stats()),
        Request::ResetStats => {
            transport.reset_stats();
            Response::Done
        }
        Request::Ping { .. } | Request::Remote { .. } => return Err(Error::NotRemotable),
    })
}

#[cfg(test)]
mod tests;
