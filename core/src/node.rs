//! The node side of the shell protocol: the one place requests run.
//!
//! A [`Node`] owns a node's links, one [`Transport`] each, and executes
//! encoded [`Request`]s against them, whether they come from the text shell,
//! from a script's binary frames or from a peer's `remote`. It answers each
//! with one encoded [`Response`].
//!
//! Most requests finish at once. `ping` and `remote` wait for a link, so the
//! node holds one request at a time: [`Node::request`] starts it,
//! [`Node::poll`] moves it on, and [`Node::take_reply`] hands over the reply
//! once, after at most [`TIMEOUT`]. Alongside, `poll` accepts streams on
//! listening ports, answers peers' remote requests, and tells each peer who
//! this end of its link is, so a node whose UART nobody watches still
//! reports its status and stats, and `links` names every far end.
//!
//! Streams get the node's own ids, unique over all links, so that `send`,
//! `recv` and `close` need no link; [`StreamInfo`] says which link each runs
//! on.

use core::net::{IpAddr, Ipv4Addr};

use heapless::Vec;

pub mod collect;

use collect::{Collect, Edge, Report, ROUTE};

use crate::addr::HardwareId;
use crate::proto::{
    self, Header, Identity, Link, Peer, Request, Response, Status, StreamInfo, IDENTITY, MAX_DATA,
    MAX_LINKS, MAX_LISTENERS, MAX_MESSAGE, MAX_STREAMS, REMOTE_REPLY, REMOTE_REQUEST, VERSION,
};
use crate::time::{earliest, Duration, Instant};
use crate::{Error, LinkState, Stats, StreamId, StreamState, Transport};

/// How long `ping` and `remote` wait for the peer before answering
/// [`Error::Timeout`].
pub const TIMEOUT: Duration = Duration::from_secs(1);

/// How soon a node tells a peer who it is again when the peer has not
/// answered; it doubles on every try, up to [`IDENTIFY_MAX`], so that a
/// peer that never answers (one of another build) costs little.
pub const IDENTIFY_EVERY: Duration = Duration::from_millis(20);

/// The longest wait between two tries to tell a peer who this end is.
pub const IDENTIFY_MAX: Duration = Duration::from_millis(1280);

/// What a peer may run on this node through `remote`.
///
/// On a board's ringbuffer links only the node at the far end of a link
/// can send at all, so `Full` is the default. A host on a shared network
/// interface should be stricter; `tidenet node` starts Thunderbolt nodes
/// `ReadOnly`. The variants' order is their number on the wire.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum RemotePolicy {
    /// Nothing: every remote request is refused.
    Off,
    /// Only what reads: `status`, `links` and `stats`.
    ReadOnly,
    /// Every request a shell can run here.
    #[default]
    Full,
}

impl RemotePolicy {
    /// Whether a peer may run `request`.
    pub fn allows(self, request: &Request<'_>) -> bool {
        match self {
            RemotePolicy::Off => false,
            RemotePolicy::ReadOnly => matches!(
                request,
                Request::Status | Request::Links | Request::Stats { .. }
            ),
            RemotePolicy::Full => true,
        }
    }
}

/// A request that is waiting for a link, or a reply waiting to be taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Job {
    Idle,
    Ping {
        tag: u16,
        link: usize,
        peer: IpAddr,
        deadline: Instant,
    },
    Remote {
        tag: u16,
        link: usize,
        peer: IpAddr,
        sent_tag: u16,
        deadline: Instant,
    },
    Replied {
        len: usize,
    },
}

/// One stream the node has opened or accepted.
#[derive(Clone, Copy, Debug)]
struct Entry {
    info: StreamInfo,
    /// The transport's id for it, on link `info.link`.
    stream: StreamId,
}

impl Entry {
    /// `error` from the transport, about this stream, named by the node's
    /// id for it rather than the transport's.
    fn renumber(&self, error: Error) -> Error {
        let id = self.info.id;
        match error {
            Error::UnknownStream(_) => Error::UnknownStream(id),
            Error::NotConnected(_) => Error::NotConnected(id),
            Error::StreamClosed(_) => Error::StreamClosed(id),
            Error::StreamReset(_) => Error::StreamReset(id),
            other => other,
        }
    }

    /// The transport the stream runs on.
    fn link<'l, T>(&self, links: &'l mut [T]) -> Result<&'l mut T, Error> {
        links
            .get_mut(usize::from(self.info.link))
            .ok_or(Error::UnknownStream(self.info.id))
    }
}

/// The streams and listening ports the node has opened, for `status`.
#[derive(Default)]
struct Book {
    streams: Vec<Entry, MAX_STREAMS>,
    listening: Vec<u16, MAX_LISTENERS>,
}

impl Book {
    fn entry(&self, id: u8) -> Result<Entry, Error> {
        self.streams
            .iter()
            .find(|e| e.info.id == id)
            .copied()
            .ok_or(Error::UnknownStream(id))
    }

    /// Books a stream under the lowest free id; `None` when the book is
    /// full. A stream the transport has handed out again replaces the one
    /// it freed.
    fn add(&mut self, link: usize, stream: StreamId, port: u16, accepted: bool) -> Option<u8> {
        self.streams
            .retain(|e| !(usize::from(e.info.link) == link && e.stream == stream));
        // At most MAX_STREAMS ids are taken, so one below it is free.
        let id = (0..=u8::MAX).find(|id| self.streams.iter().all(|e| e.info.id != *id))?;
        let info = StreamInfo {
            id,
            link: link as u8,
            state: if accepted {
                StreamState::Established
            } else {
                StreamState::Connecting
            },
            port,
            accepted,
        };
        self.streams.push(Entry { info, stream }).ok()?;
        Some(id)
    }
}

/// What a node knows of the far end of one of its links.
#[derive(Clone, Copy, Debug, Default)]
struct FarEnd {
    /// Who it is, once it has said.
    id: Option<HardwareId>,
    /// When this end last told it who we are, and how many times it has.
    told: Option<(Instant, u8)>,
}

impl FarEnd {
    /// When to tell the peer again, unless it has answered.
    fn tell_at(&self) -> Option<Instant> {
        if self.id.is_some() {
            return None;
        }
        Some(match self.told {
            None => Instant::ZERO,
            Some((at, tries)) => at + (IDENTIFY_EVERY * (1 << tries.min(6))).min(IDENTIFY_MAX),
        })
    }
}

/// A node's links plus the request executor. See the module docs.
///
/// `N` is the number of links, each its own [`Transport`] (ringbuffer pair,
/// link layer, stack and address), from 1 to [`MAX_LINKS`].
pub struct Node<T, const N: usize = 1> {
    links: [T; N],
    far: [FarEnd; N],
    collect: Collect<N>,
    /// The link the next poll starts at.
    turn: usize,
    /// What peers may run here, and how many of their requests each link
    /// refused.
    remote: RemotePolicy,
    refused: [u64; N],
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

impl<T: Transport, const N: usize> Node<T, N> {
    /// A node on `links`: link `i` is the one `links` lists as `i`.
    ///
    /// # Panics
    ///
    /// At compile time, if `N` is 0 or more than [`MAX_LINKS`].
    pub fn new(links: [T; N]) -> Self {
        const { assert!(N >= 1 && N <= MAX_LINKS, "a node has 1 to MAX_LINKS links") };
        Node {
            links,
            far: [FarEnd::default(); N],
            collect: Collect::new(),
            turn: 0,
            remote: RemotePolicy::default(),
            refused: [0; N],
            book: Book::default(),
            job: Job::Idle,
            next_tag: 0,
            reply: [0; MAX_MESSAGE],
            datagram: [0; MAX_MESSAGE],
            out: [0; MAX_MESSAGE],
            scratch: [0; MAX_DATA],
        }
    }

    /// The links' transports, to read.
    pub fn links(&self) -> &[T; N] {
        &self.links
    }

    /// The links' transports, for whoever drives them.
    pub fn links_mut(&mut self) -> &mut [T; N] {
        &mut self.links
    }

    /// Sets what peers may run here through `remote`.
    pub fn set_remote_policy(&mut self, policy: RemotePolicy) {
        self.remote = policy;
    }

    /// Makes this node the one reports are collected at, or not. See
    /// [`collect`].
    pub fn set_manager(&mut self, manager: bool) {
        self.collect.set_manager(manager);
    }

    /// Hops to the manager: 0 on the manager, `None` while no route to one
    /// is known.
    pub fn hops(&self, now: Instant) -> Option<u8> {
        self.collect.hops(now)
    }

    /// On the manager: the next report that arrived, whole. Take them as
    /// they come: the next is read off its stream only once this one is
    /// taken.
    pub fn take_report(&mut self) -> Option<Report> {
        self.collect.take()
    }

    /// This node's own report as it stands: every link that is up and
    /// whose peer has said who it is. Empty, with a zero DNA, on a node
    /// built without hardware ids.
    pub fn report(&self) -> Report {
        own_report(&self.links, &self.far)
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
                let started = resolve(&self.links, peer).and_then(|(link, peer)| {
                    self.links[link].ping(peer, now)?;
                    Ok((link, peer))
                });
                match started {
                    Ok((link, peer)) => {
                        self.job = Job::Ping {
                            tag: header.tag,
                            link,
                            peer,
                            deadline: now + TIMEOUT,
                        }
                    }
                    Err(e) => self.reply_with(header.tag, Err(e)),
                }
            }
            Request::Remote { peer, request } => match self.send_remote(peer, request) {
                Ok((link, peer, sent_tag)) => {
                    self.job = Job::Remote {
                        tag: header.tag,
                        link,
                        peer,
                        sent_tag,
                        deadline: now + TIMEOUT,
                    }
                }
                Err(e) => self.reply_with(header.tag, Err(e)),
            },
            request => {
                let result = run(
                    &mut self.links,
                    &self.far,
                    &self.refused,
                    &mut self.book,
                    &mut self.scratch,
                    request,
                );
                self.job = Job::Replied {
                    len: respond(&mut self.reply, header.tag, result),
                };
            }
        }
        for link in &mut self.links {
            link.poll(now);
        }
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

    /// Polls every link, takes streams on listening ports, answers peers'
    /// remote requests, tells peers who this end is and moves the running
    /// request on. Returns whether anything happened.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut active = false;
        // Each poll starts at the next link: a link with endless work (one
        // aligning alone, say) must not take every poll's bus time from
        // the links after it.
        self.turn = (self.turn + 1) % N;
        for i in (self.turn..N).chain(0..self.turn) {
            active |= self.links[i].poll(now);
        }
        // Forget streams the transports have freed before they hand their
        // ids out again.
        let links = &self.links;
        self.book.streams.retain(|e| {
            links
                .get(usize::from(e.info.link))
                .is_some_and(|t| t.state(e.stream).is_ok())
        });
        for i in 0..N {
            for p in 0..self.book.listening.len() {
                let port = self.book.listening[p];
                while let Ok(Some(stream)) = self.links[i].accept(port) {
                    active = true;
                    if self.book.add(i, stream, port, true).is_none() {
                        // More streams than `status` can list: refuse this one.
                        let _ = self.links[i].close(stream);
                    }
                }
            }
            loop {
                match self.links[i].recv_datagram(&mut self.datagram) {
                    Ok(Some((from, len))) => {
                        active = true;
                        self.on_datagram(i, from, len, now);
                    }
                    Ok(None) => break,
                    // Too long to be ours; the transport has dropped it.
                    Err(Error::MessageTooLarge { .. }) => continue,
                    Err(_) => break,
                }
            }
            self.identify(i, now);
        }
        let own = own_report(&self.links, &self.far);
        active |= self
            .collect
            .poll(&mut self.links, own, &mut self.scratch, now);
        match self.job {
            Job::Ping {
                tag,
                link,
                peer,
                deadline,
            } => {
                if let Some((from, rtt)) = self.links[link].take_rtt() {
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
        let mut at = match self.job {
            Job::Ping { deadline, .. } | Job::Remote { deadline, .. } => Some(deadline),
            _ => None,
        };
        at = earliest(at, self.collect.poll_at(now));
        for (link, far) in self.links.iter_mut().zip(&self.far) {
            at = earliest(at, link.poll_at(now));
            if link.link_state() == LinkState::Up && link.local_id().is_some() {
                at = earliest(at, far.tell_at().map(|t| t.max(now)));
            }
        }
        at
    }

    fn reply_with(&mut self, tag: u16, result: Result<Response<'_>, Error>) {
        self.job = Job::Replied {
            len: respond(&mut self.reply, tag, result),
        };
    }

    /// Tells link `i`'s peer who this end is, when it is due: the link is up
    /// and the peer has not said who it is. What the node knew of a peer
    /// goes with its link.
    fn identify(&mut self, i: usize, now: Instant) {
        let link = &mut self.links[i];
        let far = &mut self.far[i];
        if link.link_state() != LinkState::Up {
            *far = FarEnd::default();
            return;
        }
        let (Some(id), Some(at)) = (link.local_id(), far.tell_at()) else {
            return;
        };
        if now < at {
            return;
        }
        let tries = far.told.map_or(0, |(_, n)| n.saturating_add(1));
        far.told = Some((now, tries));
        send_identity(link, &mut self.out, Identity { id, known: false });
    }

    /// Sends `request` to `peer` in a control datagram; returns the link
    /// and address it went to, and the tag its reply will carry.
    fn send_remote(&mut self, peer: Peer, request: &[u8]) -> Result<(usize, IpAddr, u16), Error> {
        let (link, peer) = resolve(&self.links, peer)?;
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
            return Err(Error::message_too_large(len, MAX_MESSAGE));
        };
        body.copy_from_slice(request);
        // The transport names its own limit, or says it has no datagrams.
        self.links[link].send_datagram(peer, &self.out[..len])?;
        Ok((link, peer, self.next_tag))
    }

    /// Handles one control datagram from link `i`: a peer's remote request,
    /// the reply to ours, the peer saying who it is, or something else,
    /// which is dropped.
    fn on_datagram(&mut self, i: usize, from: IpAddr, len: usize, now: Instant) {
        let Some(message) = self.datagram.get(..len) else {
            return;
        };
        if let Some(message) = message.strip_prefix(&REMOTE_REQUEST) {
            let (tag, result) = match proto::split(message) {
                Err(e) => (0, Err(e)),
                Ok((header, body)) => (
                    header.tag,
                    proto::decode_request(header, body).and_then(|request| {
                        if !self.remote.allows(&request) {
                            self.refused[i] += 1;
                            return Err(Error::Forbidden(self.remote));
                        }
                        run(
                            &mut self.links,
                            &self.far,
                            &self.refused,
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
            let _ = self.links[i].send_datagram(from, &self.out[..len]);
        } else if let Some(message) = message.strip_prefix(&REMOTE_REPLY) {
            let Job::Remote {
                tag,
                link,
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
            if link != i || from != peer || header.tag != sent_tag {
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
        } else if let Some(message) = message.strip_prefix(&ROUTE) {
            self.collect.on_route(i, message, now);
        } else if let Some(message) = message.strip_prefix(&IDENTITY) {
            let Ok(theirs) = postcard::from_bytes::<Identity>(message) else {
                return;
            };
            let link = &mut self.links[i];
            if link.link_state() != LinkState::Up || Some(from) != link.peer() {
                return; // From before the link went down, or not its peer.
            }
            self.far[i].id = Some(theirs.id);
            if let (false, Some(id)) = (theirs.known, link.local_id()) {
                send_identity(link, &mut self.out, Identity { id, known: true });
            }
        }
    }
}

/// The report of a node on `links`: each link that is up and whose peer
/// has said who it is.
fn own_report<T: Transport>(links: &[T], far: &[FarEnd]) -> Report {
    let mut report = Report::default();
    for (link, far) in links.iter().zip(far) {
        let Some(me) = link.local_id() else {
            continue;
        };
        report.dna = me.dna;
        let Some(peer) = far.id else {
            continue;
        };
        if link.link_state() == LinkState::Up {
            let edge = Edge {
                port: me.port,
                peer,
                ugn: link.ugn(),
            };
            // Cannot fail: one edge per link, at most MAX_LINKS.
            let _ = report.edges.push(edge);
        }
    }
    report
}

/// Tells `link`'s peer who this end is. A lost datagram is sent again on
/// the peer's next try, or on ours.
fn send_identity<T: Transport>(link: &mut T, out: &mut [u8], identity: Identity) {
    let Some(peer) = link.peer() else {
        return;
    };
    let (marker, rest) = out.split_at_mut(IDENTITY.len());
    marker.copy_from_slice(&IDENTITY);
    if let Ok(body) = postcard::to_slice(&identity, rest) {
        let len = IDENTITY.len() + body.len();
        let _ = link.send_datagram(peer, &out[..len]);
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

/// The link `peer` is on, and its address there.
///
/// A link whose peer is not known yet stands for the unspecified address,
/// and its transport says why it cannot reach it: `link-down` from a stack
/// whose link is not up yet, `unsupported` from one that cannot do the
/// operation at all. An address names the link whose peer it is; a node of
/// one link, such as a host's, takes any address on it.
fn resolve<T: Transport>(links: &[T], peer: Peer) -> Result<(usize, IpAddr), Error> {
    match peer {
        Peer::Link(n) => {
            let link = links.get(usize::from(n)).ok_or(Error::UnknownLink(n))?;
            let addr = link.peer().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
            Ok((usize::from(n), addr))
        }
        Peer::Addr(addr) => match links.iter().position(|t| t.peer() == Some(addr)) {
            Some(i) => Ok((i, addr)),
            None if links.len() == 1 => Ok((0, addr)),
            None => Err(Error::PeerUnreachable(addr)),
        },
    }
}

/// The link a request names, or all of them.
fn chosen<T>(links: &mut [T], link: Option<u8>) -> Result<&mut [T], Error> {
    match link {
        None => Ok(links),
        Some(n) => links
            .get_mut(usize::from(n)..=usize::from(n))
            .ok_or(Error::UnknownLink(n)),
    }
}

/// Runs a request that finishes at once.
fn run<'s, T: Transport>(
    links: &mut [T],
    far: &[FarEnd],
    refused: &[u64],
    book: &mut Book,
    scratch: &'s mut [u8],
    request: Request<'_>,
) -> Result<Response<'s>, Error> {
    Ok(match request {
        Request::Status => {
            let mut streams = Vec::new();
            for e in &book.streams {
                let mut info = e.info;
                info.state = links
                    .get(usize::from(info.link))
                    .and_then(|t| t.state(e.stream).ok())
                    .unwrap_or(StreamState::Closed);
                let _ = streams.push(info);
            }
            Response::Status(Status {
                version: VERSION,
                // A node's links run one stack; an unwired port says "none".
                stack: links
                    .iter()
                    .map(|t| t.stack())
                    .find(|&s| s != "none")
                    .unwrap_or("none"),
                links: links.len() as u8,
                listening: book.listening.clone(),
                streams,
            })
        }
        Request::Links => {
            let mut list = Vec::new();
            for (i, (t, far)) in links.iter().zip(far).enumerate() {
                let stats = t.stats();
                let _ = list.push(Link {
                    index: i as u8,
                    local: t.local_addr(),
                    peer: t.peer(),
                    state: t.link_state(),
                    peer_id: far.id,
                    ugn: t.ugn(),
                    frames_tx: stats.frames_tx,
                    frames_rx: stats.frames_rx,
                    link_retransmits: stats.link_retransmits,
                });
            }
            Response::Links(list)
        }
        Request::Connect { peer, port } => {
            let (i, addr) = resolve(links, peer)?;
            let stream = links[i].connect(addr, port)?;
            match book.add(i, stream, port, false) {
                Some(id) => Response::Opened { stream: id },
                None => {
                    let _ = links[i].close(stream);
                    return Err(Error::too_many_streams(MAX_STREAMS));
                }
            }
        }
        Request::Listen { port } => {
            if book.listening.contains(&port) {
                return Err(Error::PortInUse(port));
            }
            if book.listening.is_full() {
                return Err(Error::too_many_listeners(MAX_LISTENERS));
            }
            // Every link that can listens; the port is the node's once one
            // does, so that a retry after an error names the port in use
            // rather than leaving listeners nobody accepts on.
            let mut refused = None;
            let mut listening = false;
            for link in links.iter_mut() {
                match link.listen(port) {
                    Ok(()) => listening = true,
                    Err(e) => refused = refused.or(Some(e)),
                }
            }
            if listening {
                let _ = book.listening.push(port);
            }
            match refused {
                Some(e) => return Err(e),
                None => Response::Done,
            }
        }
        Request::Send { stream, data } => {
            let e = book.entry(stream)?;
            let sent = e
                .link(links)?
                .send(e.stream, data)
                .map_err(|err| e.renumber(err))?;
            Response::Sent {
                len: u16::try_from(sent).unwrap_or(u16::MAX),
            }
        }
        Request::Recv { stream, max } => {
            let e = book.entry(stream)?;
            let max = scratch.len().min(usize::from(max));
            let buf = &mut scratch[..max];
            let got = e
                .link(links)?
                .recv(e.stream, buf)
                .map_err(|err| e.renumber(err))?;
            Response::Data {
                data: buf.get(..got).unwrap_or_default(),
            }
        }
        Request::Close { stream } => {
            let e = book.entry(stream)?;
            e.link(links)?
                .close(e.stream)
                .map_err(|err| e.renumber(err))?;
            book.streams.retain(|s| s.info.id != stream);
            Response::Done
        }
        Request::Stats { link } => {
            let mut total = Stats::default();
            let first = usize::from(link.unwrap_or(0));
            for (i, t) in chosen(links, link)?.iter().enumerate() {
                let mut stats = t.stats();
                stats.remote_refused = refused.get(first + i).copied().unwrap_or(0);
                total.add(&stats);
            }
            Response::Stats(total)
        }
        Request::ResetStats { link } => {
            for t in chosen(links, link)? {
                t.reset_stats();
            }
            Response::Done
        }
        Request::Ping { .. } | Request::Remote { .. } => return Err(Error::NotRemotable),
    })
}

#[cfg(test)]
mod tests;
