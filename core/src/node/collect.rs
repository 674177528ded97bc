//! Report collection: every node's edges reach one manager node, relayed
//! hop by hop, over any topology.
//!
//! bittide's own `net_state` gathers UGN reports only from the manager's
//! direct neighbours, reads fixed-size records and takes a short read for
//! a failure, and gives up after three tries. Here:
//!
//! - **Routes.** The manager advertises 0 hops on each of its links in a
//!   [`ROUTE`] datagram every [`ROUTE_EVERY`]; a node that has heard a
//!   route advertises its best plus one. A route not heard again within
//!   [`ROUTE_TTL`] is forgotten, so a lost link or peer is routed around.
//!   Each node's *parent* is the link of its best route.
//! - **Records.** Each node opens a TCP stream to its parent on
//!   [`REPORT_PORT`] and writes length-delimited postcard [`Report`]s:
//!   its own, every [`REPORT_EVERY`], and every one its children send it.
//!   A read takes what has arrived; a record is whole once its length's
//!   worth is in, so a short read only means "more later".
//! - **No per-record state.** Relaying keeps one record in hand: while it
//!   waits for room upstream, children's streams are not read, and TCP
//!   holds them back. A record lost with a broken stream is sent again by
//!   its node at its next turn, so every report reaches the manager while
//!   a path exists, and the manager keeps the latest of each node.
//!
//! The manager's application takes each record as it arrives
//! ([`Node::take_report`](super::Node::take_report)) and decides when it
//! has enough; [`Collection`] does the bookkeeping.

use heapless::Vec;
use serde::{Deserialize, Serialize};

use crate::addr::HardwareId;
use crate::proto::MAX_LINKS;
use crate::time::{earliest, Duration, Instant};
use crate::{Error, LinkState, StreamId, StreamState, Transport};

/// The TCP port each node takes its children's reports on.
pub const REPORT_PORT: u16 = 7900;

/// Marks a control datagram that advertises a route to the manager: the
/// sender's hop count, one byte.
pub const ROUTE: [u8; 4] = *b"TNrt";

/// How often a node with a route advertises it on every link.
pub const ROUTE_EVERY: Duration = Duration::from_millis(20);

/// How long an advertised route holds without being heard again.
pub const ROUTE_TTL: Duration = Duration::from_millis(70);

/// How often a node sends its own report upstream, while it has a parent.
pub const REPORT_EVERY: Duration = Duration::from_millis(25);

/// How soon a node opens a stream to its parent again after one failed.
pub const CONNECT_AGAIN: Duration = Duration::from_millis(2);

/// Hops past which a route counts as none: no rig is longer, and counting
/// to it ends the loops a lost route leaves behind.
pub const MAX_HOPS: u8 = 64;

/// The longest encoded [`Report`]: the DNA, the time it was made, and
/// [`MAX_LINKS`] edges at their widest.
pub const MAX_RECORD: usize = 12 + 10 + 1 + MAX_LINKS * (1 + 13 + 11);

/// How much older than the one it has a report may be and still replace
/// it: by more, the node's clock started over (it rebooted). Relayed
/// reports are late by milliseconds, not this.
pub const RESTARTED: Duration = Duration::from_secs(1);

/// One edge of the network as its receiving end sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Edge {
    /// The reporting node's port.
    pub port: u8,
    /// The board and port at the far end.
    pub peer: HardwareId,
    /// The link's UGN from the peer to this node, once measured.
    pub ugn: Option<i64>,
}

/// One node's report: its DNA and every link that is up, identified, with
/// its UGN.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The reporting node's FPGA DNA.
    pub dna: [u8; 12],
    /// The node's clock when it made the report, in nanoseconds. Reports
    /// take different paths as routes change, so an older one can arrive
    /// after a newer: the manager keeps the latest made.
    pub made_ns: u64,
    /// Its links, by port.
    pub edges: Vec<Edge, MAX_LINKS>,
}

/// A record on its way in: its length, then the bytes of one [`Report`].
#[derive(Default)]
struct Assembly {
    /// The length prefix as it arrives, two bytes.
    prefix: Vec<u8, 2>,
    bytes: Vec<u8, MAX_RECORD>,
}

impl Assembly {
    /// How many bytes the record still needs: read no more than this, so
    /// that nothing after it is taken off the stream.
    fn need(&self) -> usize {
        match self.prefix.as_slice() {
            &[lo, hi] => usize::from(u16::from_le_bytes([lo, hi])) - self.bytes.len(),
            short => 2 - short.len(),
        }
    }

    /// Takes `more` (at most [`need`](Assembly::need) bytes) towards the
    /// record; returns it once whole. A length longer than any report
    /// means the stream is not ours.
    fn feed(&mut self, more: &[u8]) -> Result<Option<Report>, Error> {
        for &b in more {
            if self.prefix.len() < 2 {
                // Cannot fail: fewer than two bytes in.
                let _ = self.prefix.push(b);
                if self.need() > MAX_RECORD {
                    return Err(Error::MalformedRequest);
                }
            } else {
                self.bytes.push(b).map_err(|_| Error::MalformedRequest)?;
            }
        }
        if self.prefix.len() < 2 || self.need() > 0 {
            return Ok(None);
        }
        let report = postcard::from_bytes(&self.bytes).map_err(|_| Error::MalformedRequest);
        *self = Assembly::default();
        report.map(Some)
    }
}

/// What collection knows of one link.
#[derive(Default)]
struct Port {
    /// Whether the link listens for children's streams.
    listening: bool,
    /// Whether the link was up at the last poll.
    up: bool,
    /// The route the peer advertised, and when it was last heard.
    route: Option<(u8, Instant)>,
    /// A child's stream of records, and the record coming in on it.
    child: Option<(StreamId, Assembly)>,
}

/// A node's part in report collection. See the module docs.
pub(super) struct Collect<const N: usize> {
    manager: bool,
    ports: [Port; N],
    /// The stream to the parent, on its link.
    up: Option<(usize, StreamId)>,
    /// The record going upstream, and how much of it has gone.
    out: Vec<u8, { MAX_RECORD + 2 }>,
    sent: usize,
    /// The hops advertised last.
    advertised: Option<u8>,
    /// When to advertise the route, and to send this node's report, next.
    advertise_at: Instant,
    /// When to try the parent's port again after a stream failed.
    connect_at: Instant,
    report_at: Instant,
    /// On the manager: a record for the application to take.
    arrived: Option<Report>,
    /// This node's report as last sent.
    reported: Report,
}

impl<const N: usize> Collect<N> {
    pub(super) fn new() -> Self {
        Collect {
            manager: false,
            ports: core::array::from_fn(|_| Port::default()),
            up: None,
            out: Vec::new(),
            sent: 0,
            advertised: None,
            advertise_at: Instant::ZERO,
            connect_at: Instant::ZERO,
            report_at: Instant::ZERO,
            arrived: None,
            reported: Report::default(),
        }
    }

    pub(super) fn set_manager(&mut self, manager: bool) {
        self.manager = manager;
    }

    /// Hops to the manager: 0 on the manager, `None` without a route.
    pub(super) fn hops(&self, now: Instant) -> Option<u8> {
        if self.manager {
            return Some(0);
        }
        self.parent(now).map(|(_, hops)| hops)
    }

    /// The link of the best live route, and this node's hops through it.
    fn parent(&self, now: Instant) -> Option<(usize, u8)> {
        self.ports
            .iter()
            .enumerate()
            .filter_map(|(i, p)| {
                let (hops, heard) = p.route?;
                (now < heard + ROUTE_TTL && hops < MAX_HOPS).then_some((i, hops + 1))
            })
            .min_by_key(|&(i, hops)| (hops, i))
    }

    pub(super) fn take(&mut self) -> Option<Report> {
        self.arrived.take()
    }

    /// A route advertisement from link `i`.
    pub(super) fn on_route(&mut self, i: usize, message: &[u8], now: Instant) {
        if let (Some(&hops), Some(port)) = (message.first(), self.ports.get_mut(i)) {
            port.route = Some((hops, now));
        }
    }

    /// When [`poll`](Collect::poll) has something to do by time alone: a
    /// route to advertise or expiring, a report due, a parent to try again.
    pub(super) fn poll_at(&self, now: Instant) -> Option<Instant> {
        let mut at = None;
        for (_, heard) in self.ports.iter().filter_map(|p| p.route) {
            at = earliest(at, Some(heard + ROUTE_TTL));
        }
        if let Some(hops) = self.hops(now) {
            at = earliest(at, Some(self.advertise_at));
            if hops > 0 {
                at = earliest(at, Some(self.report_at));
                if self.up.is_none() {
                    at = earliest(at, Some(self.connect_at));
                }
            }
        }
        at.map(|t| t.max(now))
    }

    /// Moves collection on; `own` is this node's report as it stands.
    /// Returns whether anything happened.
    pub(super) fn poll<T: Transport>(
        &mut self,
        links: &mut [T],
        own: Report,
        buf: &mut [u8],
        now: Instant,
    ) -> bool {
        let mut active = false;
        // Each link listens once; one that refused is asked again.
        for (port, link) in self.ports.iter_mut().zip(links.iter_mut()) {
            if !port.listening {
                port.listening = link.listen(REPORT_PORT).is_ok();
            }
        }
        // Routes, and a parent. A link that comes up, or a route that
        // changes, is told at once rather than at the next round.
        for (port, link) in self.ports.iter_mut().zip(links.iter()) {
            let up = link.link_state() == LinkState::Up;
            if !up {
                port.route = None;
            }
            if up && !port.up {
                self.advertise_at = now;
            }
            port.up = up;
        }
        let hops = self.hops(now);
        if hops != self.advertised {
            self.advertise_at = now;
        }
        if let Some(hops) = hops.filter(|_| now >= self.advertise_at) {
            self.advertise_at = now + ROUTE_EVERY;
            self.advertised = Some(hops);
            let mut word = [0u8; ROUTE.len() + 1];
            word[..ROUTE.len()].copy_from_slice(&ROUTE);
            word[ROUTE.len()] = hops;
            for link in links.iter_mut() {
                if let Some(peer) = link.peer() {
                    // A lost advertisement is made up for by the next.
                    let _ = link.send_datagram(peer, &word);
                }
            }
        }
        let parent = self.parent(now).map(|(i, _)| i).filter(|_| !self.manager);
        active |= self.upstream(links, parent, now);
        // This node's own report, when it changed or is due again, and
        // there is room for it.
        let due = now >= self.report_at || own.edges != self.reported.edges;
        if parent.is_some() && due && self.out.is_empty() {
            self.report_at = now + REPORT_EVERY;
            let own = Report {
                made_ns: now.as_nanos(),
                ..own
            };
            self.queue(&own);
            self.reported = own;
        }
        active |= self.flush(links);
        // Children's records: taken in only while there is room for one.
        for (i, link) in links.iter_mut().enumerate() {
            let port = &mut self.ports[i];
            if port.child.is_none() {
                if let Ok(Some(stream)) = link.accept(REPORT_PORT) {
                    port.child = Some((stream, Assembly::default()));
                    active = true;
                }
            }
            let Some((stream, assembly)) = &mut port.child else {
                continue;
            };
            while self.out.is_empty() && self.arrived.is_none() {
                let want = assembly.need().min(buf.len());
                let record = match link.recv(*stream, &mut buf[..want]) {
                    Ok(0) => break,
                    Ok(got) => assembly.feed(&buf[..got]),
                    // Reset or closed: the child opens another.
                    Err(e) => Err(e),
                };
                active = true;
                match record {
                    Ok(None) => {}
                    Ok(Some(report)) if self.manager => self.arrived = Some(report),
                    Ok(Some(report)) => {
                        Self::encode(&mut self.out, &report);
                        self.sent = 0;
                    }
                    Err(_) => {
                        // Gone, or not our format: the child opens another.
                        let _ = link.close(*stream);
                        port.child = None;
                        break;
                    }
                }
            }
        }
        active |= self.flush(links);
        active
    }

    /// Keeps the stream to the parent open on the parent's link.
    fn upstream<T: Transport>(
        &mut self,
        links: &mut [T],
        parent: Option<usize>,
        now: Instant,
    ) -> bool {
        if let Some((i, stream)) = self.up {
            let alive = matches!(
                links[i].state(stream),
                Ok(StreamState::Connecting | StreamState::Established)
            );
            // A better parent waits until the record in hand is written:
            // the old one still relays it, and TCP delivers what was
            // written before the close.
            if alive && (parent == Some(i) || !self.out.is_empty()) {
                return false;
            }
            if !alive {
                // The parent refused or dropped it (not listening yet,
                // say): asked again a little later, not on every poll.
                self.connect_at = now + CONNECT_AGAIN;
            }
            let _ = links[i].close(stream);
            self.up = None;
            // What was in hand may be lost with the stream; its node sends
            // it again.
            self.out.clear();
            self.sent = 0;
        }
        let Some(i) = parent.filter(|_| now >= self.connect_at) else {
            return false;
        };
        let Some(peer) = links[i].peer() else {
            return false;
        };
        match links[i].connect(peer, REPORT_PORT) {
            Ok(stream) => {
                self.up = Some((i, stream));
                // A new path: this node's report goes first.
                self.report_at = now;
                true
            }
            Err(_) => {
                self.connect_at = now + CONNECT_AGAIN;
                false
            }
        }
    }

    fn queue(&mut self, report: &Report) {
        Self::encode(&mut self.out, report);
        self.sent = 0;
    }

    /// `[length u16 LE][postcard report]` into `out`.
    fn encode(out: &mut Vec<u8, { MAX_RECORD + 2 }>, report: &Report) {
        out.clear();
        let mut body = [0u8; MAX_RECORD];
        if let Ok(bytes) = postcard::to_slice(report, &mut body) {
            let len = (bytes.len() as u16).to_le_bytes();
            // Cannot fail: a report is at most MAX_RECORD bytes.
            let _ = out.extend_from_slice(&len);
            let _ = out.extend_from_slice(bytes);
        }
    }

    /// Writes what is in hand to the parent, as far as there is room.
    fn flush<T: Transport>(&mut self, links: &mut [T]) -> bool {
        let Some((i, stream)) = self.up else {
            return false;
        };
        if self.out.is_empty() || links[i].state(stream) != Ok(StreamState::Established) {
            return false;
        }
        match links[i].send(stream, &self.out[self.sent..]) {
            Ok(0) => false,
            Ok(n) => {
                self.sent += n;
                if self.sent == self.out.len() {
                    self.out.clear();
                    self.sent = 0;
                }
                true
            }
            Err(_) => false,
        }
    }
}

/// The manager application's book of reports: the latest from each node,
/// and what is still missing.
#[derive(Clone, Debug, Default)]
pub struct Collection<const NODES: usize> {
    reports: Vec<Report, NODES>,
}

impl<const NODES: usize> Collection<NODES> {
    /// Keeps `report` unless the book has a later one from its node (see
    /// [`Report::made_ns`] and [`RESTARTED`]). Returns false if the book is
    /// full of other nodes.
    pub fn add(&mut self, report: Report) -> bool {
        match self.reports.iter_mut().find(|r| r.dna == report.dna) {
            Some(old) => {
                let behind = u128::from(old.made_ns.saturating_sub(report.made_ns));
                let restarted = behind > RESTARTED.as_nanos();
                if report.made_ns >= old.made_ns || restarted {
                    *old = report;
                }
                true
            }
            None => self.reports.push(report).is_ok(),
        }
    }

    /// Every report, in the order their nodes first reported.
    pub fn reports(&self) -> &[Report] {
        &self.reports
    }

    /// The report of the node with `dna`.
    pub fn get(&self, dna: &[u8; 12]) -> Option<&Report> {
        self.reports.iter().find(|r| &r.dna == dna)
    }

    /// Whether there are reports, every node any report names has
    /// reported, and every edge has been reported from both ends, port for
    /// port: nothing is missing that the reports know of. A node that never
    /// came up is named by no one; only a list of the rig's nodes can miss
    /// it.
    pub fn complete(&self) -> bool {
        !self.reports.is_empty()
            && self.reports.iter().all(|r| {
                r.edges.iter().all(|e| {
                    self.get(&e.peer.dna).is_some_and(|p| {
                        p.edges.iter().any(|back| {
                            back.port == e.peer.port
                                && back.peer.dna == r.dna
                                && back.peer.port == e.port
                        })
                    })
                })
            })
    }
}

#[cfg(test)]
mod tests;
