//! Whether a link is up, and why not: what every transport reports and the
//! shell shows.

use serde::{Deserialize, Serialize};

/// Where a link is in its life.
///
/// A link that goes down is not an error path: the link layer works on
/// bringing it back (aligning again, shaking hands again) and says why it
/// went down meanwhile.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkState {
    /// Not up, for this reason; the link is working on coming back.
    Down(DownReason),
    /// Frames flow both ways.
    Up,
}

impl LinkState {
    /// Whether frames flow.
    pub fn is_up(self) -> bool {
        self == LinkState::Up
    }
}

/// Why a link is not up.
///
/// The variants' order is their number on the wire: add new ones at the
/// end.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DownReason {
    /// It has not come up since it started: aligning, or waiting for the
    /// peer to answer.
    Starting,
    /// The peer's control words stopped changing for longer than the
    /// silence time-out: its CPU stopped, or the link lost its signal.
    PeerSilent,
    /// The peer started a new session: it rebooted, or its link layer
    /// started over.
    PeerRestarted,
    /// The peer started bittide's alignment protocol again.
    PeerRealigning,
    /// The peer did not finish the session handshake in time.
    HandshakeTimeout,
    /// The peer speaks another version of the link format.
    PeerVersion(u8),
    /// The ringbuffer is too small to hold the link's control words and a
    /// frame; the link never comes up on it. Build the hardware with a
    /// deeper ringbuffer.
    RingTooSmall,
    /// Nothing is wired to this port: the node has fewer links than
    /// ports.
    Unwired,
}

impl DownReason {
    /// A stable, greppable name, as the shell prints it.
    pub fn name(self) -> &'static str {
        match self {
            DownReason::Starting => "starting",
            DownReason::PeerSilent => "peer-silent",
            DownReason::PeerRestarted => "peer-restarted",
            DownReason::PeerRealigning => "peer-realigning",
            DownReason::HandshakeTimeout => "handshake-timeout",
            DownReason::PeerVersion(_) => "peer-version",
            DownReason::RingTooSmall => "ring-too-small",
            DownReason::Unwired => "unwired",
        }
    }
}
