//! The link: one ringbuffer pair, from alignment to frames, and back again
//! when the peer goes away.

use tidenet_core::ringbuffer::{
    Aligner, ReceiveRingbuffer, TransmitRingbuffer, UgnCapture, ANNOUNCE, CYCLE_NS,
};
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::{DownReason, LinkState, Stats};

use crate::reassert::Reassert;
use crate::receiver::Receiver;
use crate::rtt::Rtt;
use crate::sender::Sender;
use crate::wire::{
    self, Binding, Feedback, Hello, Progress, Sessions, FEEDBACK, HELLO, PROGRESS, SESSIONS,
};

/// How a link comes to be aligned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alignment {
    /// The link runs bittide's alignment protocol itself, at start and
    /// whenever the peer goes away.
    Protocol,
    /// The hardware aligns the link (bittide's planned auto-alignment): the
    /// link only shakes hands with the peer.
    Hardware,
}

/// How a link behaves. [`Config::new`] gives the defaults.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    /// Seeds this end's session numbers. Give it something that differs
    /// from boot to boot (a free-running counter read at boot), so that a
    /// session after a reboot is new to the peer.
    pub boot: u16,
    /// Who aligns the link.
    pub alignment: Alignment,
    /// How often an idle link rewrites its control words, so that the peer
    /// hears it is alive.
    pub heartbeat: Duration,
    /// How long the peer may stay silent before the link goes down.
    pub silence: Duration,
    /// How long alignment may stall, and the handshake may take, before
    /// they start over.
    pub restart_after: Duration,
}

/// An aligner that starts over after `config.restart_after` without a step.
fn aligner(config: &Config) -> Aligner {
    let mut aligner = Aligner::new();
    aligner.set_restart_after(config.restart_after);
    aligner
}

impl Config {
    /// The defaults: protocol alignment, a heartbeat every millisecond,
    /// down after 10 ms of silence, and alignment or the handshake started
    /// over after 10 ms without a step.
    pub fn new(boot: u16) -> Self {
        Config {
            boot,
            alignment: Alignment::Protocol,
            heartbeat: Duration::from_millis(1),
            silence: Duration::from_millis(10),
            restart_after: tidenet_core::ringbuffer::RESTART_AFTER,
        }
    }
}

/// The least polls the handshake gets before it times out, however long
/// they took, so that a slow CPU (an emulated one) is not timed out by its
/// own slowness.
const RESTART_POLLS: u32 = 64;
/// Words of a poll's budget kept for the control words written after the
/// frames: the feedback and the progress word.
const CONTROL_WORDS: usize = 2;

/// The data ring's geometry.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ring {
    /// Words in the data ring.
    pub words: usize,
}

impl Ring {
    /// The largest depth a link uses: ring positions travel as 16 bits,
    /// and each end must tell ahead from behind.
    const MAX_DEPTH: usize = 1 << 15;

    pub(crate) fn for_depth(depth: usize) -> Self {
        Ring {
            words: depth.min(Self::MAX_DEPTH).saturating_sub(wire::RING).max(1),
        }
    }

    /// The memory index of ring position `pos`.
    pub fn index(&self, pos: u64) -> usize {
        wire::RING + (pos % self.words as u64) as usize
    }

    /// Words from position `pos` to the end of the ring, where a burst
    /// must stop and go on at the start.
    pub fn until_end(&self, pos: u64) -> usize {
        self.words - (pos % self.words as u64) as usize
    }
}

#[derive(Debug)]
enum Phase {
    /// Running the alignment protocol.
    Aligning(Aligner),
    /// Aligned; waiting for the peer to echo this end's session, since the
    /// given time, for so many polls. The time is set by the first poll.
    Handshake(Instant, u32),
    /// Frames flow.
    Up,
    /// The ringbuffer cannot hold the control words and a frame: the link
    /// does nothing, and says why.
    Unusable,
}

/// The peer as the control words show it.
#[derive(Clone, Copy, Debug, Default)]
struct Peer {
    /// Its session, 0 until known.
    session: u16,
    /// Its host part, once its hello checked out.
    host: Option<u16>,
    /// Its feedback word as last read, to tell when it changes.
    feedback: u64,
    /// Whether a feedback word of this session has been read: proof that
    /// the peer's word 0 no longer holds a marker left from alignment.
    fed_back: bool,
}

/// One ringbuffer link: bittide's alignment, a session handshake, and
/// frames both ways, checked, in order, and re-sent until acknowledged.
///
/// Poll-driven and allocation-free: [`poll`](Link::poll) does the bus work,
/// within the ringbuffer's burst budget, and [`poll_at`](Link::poll_at)
/// says when it must run again if no word lands first. The stack above
/// takes frames with [`receive`](Link::receive) and gives them with
/// [`transmit`](Link::transmit), in the manner of a smoltcp `Device`, but
/// the link knows nothing of what the frames carry.
pub struct Link<'a, T, R> {
    tx: T,
    rx: R,
    /// The host part of this end's link-local address, which the peer
    /// learns from word 2.
    host: u16,
    config: Config,
    ring: Ring,
    mtu: usize,
    pass: Duration,
    phase: Phase,
    down: DownReason,
    session: u16,
    peer: Peer,
    sender: Sender<'a>,
    receiver: Receiver,
    beat: u16,
    beat_due: Option<Instant>,
    /// When the peer last showed it was alive.
    heard: Instant,
    /// What this end's feedback word says, once written this session.
    feedback: Option<Feedback>,
    /// Whether to write the feedback word even if it says the same: the
    /// peer wrote on without having read the last one.
    reassert: bool,
    /// When to write the feedback word again in case the last write was
    /// lost.
    feedback_again: Reassert,
    /// What this end's progress word says, once written this session.
    progress: Option<(u16, u8)>,
    /// When to write the progress word again in case the last write was
    /// lost.
    progress_again: Reassert,
    /// When to look at the peer's frames again while writing ours.
    look_at: Option<Instant>,
    stats: Stats,
}

impl<'a, T: TransmitRingbuffer, R: ReceiveRingbuffer> Link<'a, T, R> {
    /// A link on `tx` and `rx` for the end whose link-local address has
    /// host part `host`, keeping the frames it has in flight in `window`
    /// (see [`Link::window_bytes`] for its size). It starts down, and comes
    /// up by itself as it is polled.
    pub fn new(tx: T, rx: R, host: u16, config: Config, window: &'a mut [u8]) -> Self {
        let depth = tx.data_len().min(rx.data_len());
        let ring = Ring::for_depth(depth);
        let pass = Duration::from_nanos(depth as u64 * CYCLE_NS);
        // The round trip is at least a pass each way; until measured,
        // assume a slow peer (an emulated CPU takes hundreds of microseconds
        // a loop).
        let rtt = Rtt::new(
            Duration::from_millis(1),
            pass * 4 + Duration::from_micros(5),
            config.silence / 2,
        );
        // On a link the hardware aligned, the first poll's heartbeat says
        // who this end is, and the handshake's time runs from then.
        let (phase, beat_due, down) = match config.alignment {
            _ if depth < wire::MIN_DEPTH => (Phase::Unusable, None, DownReason::RingTooSmall),
            Alignment::Protocol => (
                Phase::Aligning(aligner(&config)),
                None,
                DownReason::Starting,
            ),
            Alignment::Hardware => (
                Phase::Handshake(Instant::ZERO, 0),
                Some(Instant::ZERO),
                DownReason::Starting,
            ),
        };
        let mut link = Link {
            tx,
            rx,
            host,
            config,
            ring,
            mtu: wire::mtu_for_depth(ring.words + wire::RING),
            pass,
            phase,
            down,
            session: config.boot,
            peer: Peer::default(),
            sender: Sender::new(window, rtt),
            receiver: Receiver::new(),
            beat: 0,
            beat_due,
            heard: Instant::ZERO,
            feedback: None,
            reassert: false,
            feedback_again: Reassert::default(),
            progress_again: Reassert::default(),
            progress: None,
            look_at: None,
            stats: Stats::default(),
        };
        link.new_session();
        if let Phase::Handshake(..) = link.phase {
            link.tx.write_slice(&[0], FEEDBACK);
            link.tx.set_enabled(true);
            link.rx.set_enabled(true);
        }
        link
    }

    /// The largest packet a frame carries.
    pub fn mtu(&self) -> usize {
        self.mtu
    }

    /// Bytes of RAM this link keeps frames in flight in.
    pub fn window_bytes(&self) -> usize {
        self.sender.window_bytes()
    }

    /// The link's UGN from the peer to this end, in link cycles, from the
    /// board's UGN capture, while the link is up; `None` on a board without
    /// one.
    pub fn ugn(&self) -> Option<i64> {
        match self.phase {
            Phase::Up => self.rx.ugn_capture().map(UgnCapture::ugn),
            _ => None,
        }
    }

    /// Whether the ringbuffer pair is aligned: the link is shaking hands or
    /// up. A rig's bring-up reports it as its own stage.
    pub fn is_aligned(&self) -> bool {
        matches!(self.phase, Phase::Handshake(..) | Phase::Up)
    }

    /// Whether the link is up, and if not, why.
    pub fn state(&self) -> LinkState {
        match self.phase {
            Phase::Up => LinkState::Up,
            _ => LinkState::Down(self.down),
        }
    }

    /// The peer's host part, while the link is up.
    pub fn peer_host(&self) -> Option<u16> {
        match self.phase {
            Phase::Up => self.peer.host,
            _ => None,
        }
    }

    /// The smoothed round trip of a frame and its acknowledgement, once
    /// measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.sender.rtt().srtt()
    }

    /// The link's counters; the stack's stay zero.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Sets the counters back to zero.
    pub fn reset_stats(&mut self) {
        self.stats = Stats::default();
    }

    /// A checked frame from the peer, with room to answer it, if one is
    /// waiting.
    pub fn receive(&mut self) -> Option<(Received<'_>, Transmit<'_, 'a>)> {
        self.receiver.ready()?;
        let Link {
            receiver,
            sender,
            stats,
            ..
        } = self;
        Some((
            Received { receiver },
            Transmit {
                sender,
                dropped: &mut stats.drop_tx_full,
            },
        ))
    }

    /// Whether [`transmit`](Link::transmit) would give room now: the link
    /// is up and its window holds another frame of up to the MTU.
    pub fn can_transmit(&self) -> bool {
        matches!(self.phase, Phase::Up) && self.sender.has_room(self.mtu)
    }

    /// Room for one frame of up to the MTU, if the link can take it.
    pub fn transmit(&mut self) -> Option<Transmit<'_, 'a>> {
        self.can_transmit().then_some(Transmit {
            sender: &mut self.sender,
            dropped: &mut self.stats.drop_tx_full,
        })
    }

    /// When [`poll`](Link::poll) must run next at the latest, if no word
    /// lands first.
    pub fn poll_at(&self, now: Instant) -> Option<Instant> {
        let busy = match &self.phase {
            Phase::Aligning(aligner) => aligner.busy(),
            Phase::Handshake(..) | Phase::Unusable => false,
            Phase::Up => {
                self.receiver.busy()
                    || self.sender.busy(&self.ring)
                    || self.feedback != Some(self.receiver.feedback())
                    || self.progress != Some(self.sender.progress())
            }
        };
        if busy || self.receiver.ready().is_some() {
            // Bus work left over from the last poll's budget (frames or
            // control words), or a packet waiting for the stack: the caller
            // polls at once.
            return Some(now);
        }
        let phase = match &self.phase {
            // The protocol's steps wait on words that may change without a
            // write (a transmitter stopping sends zeros), so look every pass.
            Phase::Aligning(aligner) => earliest(aligner.poll_at(), Some(now + self.pass)),
            Phase::Handshake(since, _) => Some(*since + self.config.restart_after),
            Phase::Unusable => None,
            Phase::Up => [
                self.sender.poll_at(),
                self.receiver_poll_at(),
                self.feedback_again.at(),
                self.progress_again.at(),
                Some(self.heard + self.config.silence),
            ]
            .into_iter()
            .flatten()
            .min(),
        };
        earliest(phase, self.beat_due)
    }

    fn receiver_poll_at(&self) -> Option<Instant> {
        self.receiver.poll_at(self.pass, self.sender.rtt().rto())
    }

    /// Does the bus work due at `now`: alignment, the handshake, reading
    /// and writing frames and control words. Returns whether anything
    /// changed that the stack could see: a frame ready, room freed, the
    /// link going up or down.
    pub fn poll(&mut self, now: Instant) -> bool {
        let mut budget = Budget {
            reads: self.rx.burst_budget(),
            writes: self.tx.burst_budget(),
        };
        if budget.reads == 0 && budget.writes == 0 {
            // Other CPUs first: whatever is due stays due.
            return false;
        }
        let budget = &mut budget;
        // A few words once a heartbeat: not worth deferring to a poll with
        // room for them.
        let went_down = self.beat_due.is_some_and(|t| now >= t) && self.heartbeat(now, budget);
        let changed = match &mut self.phase {
            Phase::Aligning(_) if !budget.allows(1) => false,
            Phase::Aligning(aligner) => {
                let restarts = aligner.restarts();
                let aligned = aligner.poll(&mut self.tx, &mut self.rx, now);
                self.stats.align_restarts += u64::from(aligner.restarts() - restarts);
                if aligned {
                    self.aligned(now);
                }
                false
            }
            Phase::Handshake(since, polls) => {
                if *polls == 0 {
                    *since = now;
                }
                *polls = polls.saturating_add(1);
                let timed_out =
                    now >= *since + self.config.restart_after && *polls >= RESTART_POLLS;
                self.handshake(now, timed_out, budget)
            }
            Phase::Up => self.exchange(now, budget),
            Phase::Unusable => false,
        };
        went_down || changed
    }

    /// Starts a new session of this end: a number the peer has not seen
    /// from it, so nothing written before can be taken for new.
    fn new_session(&mut self) {
        self.session = self.session.wrapping_add(1).max(1);
        self.peer = Peer::default();
        self.feedback = None;
        self.progress = None;
        self.feedback_again = Reassert::default();
        self.progress_again = Reassert::default();
    }

    /// The protocol has finished: zero word 0, which holds the marker, and
    /// start shaking hands.
    fn aligned(&mut self, now: Instant) {
        self.tx.write_slice(&[0], FEEDBACK);
        self.tx.set_enabled(true);
        self.rx.set_enabled(true);
        self.phase = Phase::Handshake(now, 0);
        self.write_identity();
        self.beat_due = Some(now);
    }

    /// This end's binding: its session and the peer's as it knows it.
    fn binding(&self) -> Binding {
        Binding {
            own: self.session,
            peer: self.peer.session,
        }
    }

    /// Writes words 2 and 3, which say who this end is and which session
    /// of the peer it knows.
    fn write_identity(&mut self) {
        let binding = self.binding();
        let hello = Hello {
            host: self.host,
            version: wire::VERSION,
        };
        self.tx.write_slice(
            &[hello.to_word(binding), Sessions(binding).to_word()],
            HELLO,
        );
    }

    fn write_progress(&mut self, now: Instant) {
        let (written, answered) = self.sender.progress();
        let word = Progress {
            written,
            answered,
            beat: self.beat,
        };
        self.tx
            .write_slice(&[word.to_word(self.binding())], PROGRESS);
        let same = self.progress == Some((written, answered));
        self.progress_again.wrote(now, same, self.pass);
        self.progress = Some((written, answered));
    }

    fn write_feedback(&mut self, now: Instant) {
        let feedback = self.receiver.feedback();
        self.tx
            .write_slice(&[feedback.to_word(self.binding())], FEEDBACK);
        let same = self.feedback == Some(feedback);
        self.feedback_again.wrote(now, same, self.pass);
        self.feedback = Some(feedback);
        self.reassert = false;
    }

    /// Rewrites the control words, with the heartbeat counter moved on, so
    /// that the peer hears this end is alive and any lost write is healed.
    /// Returns whether the link went down: the peer started over.
    fn heartbeat(&mut self, now: Instant, budget: &mut Budget) -> bool {
        self.beat = self.beat.wrapping_add(1) & 0x3fff;
        self.beat_due = Some(now + self.config.heartbeat);
        if matches!(self.phase, Phase::Aligning(_)) {
            return false;
        }
        self.write_progress(now);
        self.write_identity();
        budget.wrote(3);
        if matches!(self.phase, Phase::Up) {
            self.write_feedback(now);
            budget.wrote(1);
            // Looked for here too, for a peer that wrote nothing since.
            return self.peer_started_over(now, budget);
        }
        false
    }

    fn read(&mut self, index: usize) -> u64 {
        let mut word = [0];
        self.rx.read_slice(&mut word, index);
        word[0]
    }

    /// Waits for the peer's sessions word to echo this end's session.
    fn handshake(&mut self, now: Instant, timed_out: bool, budget: &mut Budget) -> bool {
        if timed_out {
            self.go_down(DownReason::HandshakeTimeout, now);
            return true;
        }
        if budget.reads < 3 {
            return false;
        }
        let mut words = [0; 2];
        self.rx.read_slice(&mut words, HELLO);
        budget.read(2);
        let Some(Sessions(theirs)) = Sessions::from_word(words[1]) else {
            if self.config.alignment == Alignment::Protocol && self.read(FEEDBACK) == ANNOUNCE {
                // The peer started the alignment protocol over: join it.
                self.go_down(DownReason::PeerRealigning, now);
                return true;
            }
            return false;
        };
        if theirs.own != self.peer.session {
            self.peer.session = theirs.own;
            self.write_identity();
        }
        if theirs.peer != self.session {
            return false;
        }
        let Some(hello) = Hello::from_word(words[0], theirs) else {
            return false;
        };
        if hello.version != wire::VERSION {
            if self.down != DownReason::PeerVersion(hello.version) {
                self.stats.drop_bad_version += 1;
                self.down = DownReason::PeerVersion(hello.version);
            }
            return false;
        }
        self.peer.host = Some(hello.host);
        self.come_up(now);
        true
    }

    fn come_up(&mut self, now: Instant) {
        let binding = self.binding();
        self.sender.reset(binding);
        self.receiver.reset(binding.reversed());
        self.phase = Phase::Up;
        self.heard = now;
        self.stats.link_ups += 1;
        self.write_feedback(now);
        self.write_progress(now);
    }

    /// The link is down for `reason`: every frame in flight is dropped
    /// (the stack above re-sends what matters), and the link works on
    /// coming back.
    fn go_down(&mut self, reason: DownReason, now: Instant) {
        match reason {
            DownReason::PeerSilent => self.stats.down_peer_silent += 1,
            DownReason::PeerRestarted => self.stats.down_peer_restarted += 1,
            DownReason::PeerRealigning => self.stats.down_peer_realigning += 1,
            DownReason::HandshakeTimeout => self.stats.down_handshake_timeout += 1,
            DownReason::Starting
            | DownReason::PeerVersion(_)
            | DownReason::RingTooSmall
            | DownReason::Unwired => {}
        }
        self.down = reason;
        self.sender.reset(Binding::default());
        self.receiver.reset(Binding::default());
        if reason == DownReason::PeerRestarted {
            // The peer started a new session on a link that is still
            // aligned: keep this end's, so the two do not chase each other,
            // and shake hands on the peer's new one.
            let session = self.peer.session;
            self.peer = Peer {
                session,
                ..Peer::default()
            };
            self.phase = Phase::Handshake(now, 0);
            self.write_identity();
            return;
        }
        self.new_session();
        match self.config.alignment {
            Alignment::Protocol => self.phase = Phase::Aligning(aligner(&self.config)),
            Alignment::Hardware => {
                self.phase = Phase::Handshake(now, 0);
                self.write_identity();
            }
        }
    }

    /// Looks for the two ways a peer that started over shows it: a
    /// sessions word for other sessions, or the alignment marker in word 0.
    /// Returns whether the link went down. Reads nothing without a budget
    /// for it: the next look will.
    ///
    /// The marker survives lost writes, as a peer aligning again rewrites
    /// it every poll (and, while this end is up and does not answer, keeps
    /// announcing); a sessions word it cleared may still show the old
    /// session if the clear was lost. But a marker may also be one left
    /// from the alignment that just finished, until the peer's first
    /// feedback lands over it: it counts once a feedback word of this
    /// session was read, or when the sessions word is unreadable too.
    fn peer_started_over(&mut self, now: Instant, budget: &mut Budget) -> bool {
        if budget.reads == 0 {
            return false;
        }
        budget.read(1);
        let sessions = Sessions::from_word(self.read(SESSIONS));
        if let Some(Sessions(theirs)) = sessions {
            if theirs.own != self.peer.session || theirs.peer != self.session {
                self.go_down(DownReason::PeerRestarted, now);
                self.peer.session = theirs.own;
                self.write_identity();
                return true;
            }
        }
        if self.config.alignment == Alignment::Protocol && budget.reads > 0 {
            budget.read(1);
            let word = self.read(FEEDBACK);
            if Feedback::from_word(word, self.binding().reversed()).is_some() {
                self.peer.fed_back = true;
            } else if word == ANNOUNCE && (self.peer.fed_back || sessions.is_none()) {
                self.go_down(DownReason::PeerRealigning, now);
                return true;
            }
        }
        false
    }

    /// Frames both ways, while up.
    fn exchange(&mut self, now: Instant, budget: &mut Budget) -> bool {
        let binding = self.binding().reversed();
        let rto = self.sender.rtt().rto();
        let (ring, mtu, pass) = (self.ring, self.mtu, self.pass);

        let delivered = self.stats.frames_rx;
        // While frames wait to be written, the ring the peer writes is
        // looked at half a pass apart at most: a look that finds nothing
        // costs a bus word the frames could have had.
        let look = !self.sender.busy(&ring) || self.look_at.is_none_or(|t| now >= t);
        let mut reads = if look { budget.reads } else { 0 };
        let looked = reads;
        let events = self.receiver.poll(
            &mut self.rx,
            &ring,
            mtu,
            &mut reads,
            now,
            pass,
            rto,
            &mut self.stats,
        );
        budget.read(looked - reads);
        self.look_at = (looked > 0 && self.stats.frames_rx == delivered && !self.receiver.busy())
            .then(|| now + pass / 2)
            .or(self.look_at.filter(|_| !look));
        if events.peer_unreadable && self.peer_started_over(now, budget) {
            return true;
        }
        if events.peer_moved || self.stats.frames_rx != delivered {
            self.heard = now;
        }
        // The peer wrote on: our last feedback may have been lost, so say
        // it again.
        self.reassert |= events.peer_moved;
        let mut changed = events.changed;

        if self.sender.wants_feedback(&ring) && budget.reads > 0 {
            let word = self.read(FEEDBACK);
            budget.read(1);
            match Feedback::from_word(word, binding) {
                Some(feedback) if word != self.peer.feedback => {
                    self.peer.feedback = word;
                    self.peer.fed_back = true;
                    self.heard = now;
                    changed |= self.sender.on_feedback(feedback, now, &mut self.stats);
                }
                Some(_) => self.sender.feedback_unchanged(),
                None => {
                    if self.peer_started_over(now, budget) {
                        return true;
                    }
                }
            }
        }
        // The last words of the budget are kept for the control words that
        // say what happened.
        let mut writes = budget.writes.saturating_sub(CONTROL_WORDS);
        let before = writes;
        self.sender
            .poll(&mut self.tx, &ring, &mut writes, now, &mut self.stats);
        budget.wrote(before - writes);

        let due = self.feedback_again.due(now);
        let stale = self.feedback != Some(self.receiver.feedback());
        if (self.reassert || due || stale) && budget.writes > 0 {
            self.write_feedback(now);
            budget.wrote(1);
        }
        let due = self.progress_again.due(now);
        let stale = self.progress != Some(self.sender.progress());
        if (due || stale) && budget.writes > 0 {
            self.write_progress(now);
            budget.wrote(1);
        }
        if now >= self.heard + self.config.silence {
            self.go_down(DownReason::PeerSilent, now);
            return true;
        }
        changed
    }
}

/// Words a poll may read and write, from the ringbuffer's burst budgets.
/// Both are time on one bus: a word read leaves one word less to write,
/// and the other way round.
struct Budget {
    reads: usize,
    writes: usize,
}

impl Budget {
    fn allows(&self, words: usize) -> bool {
        self.reads >= words && self.writes >= words
    }

    fn read(&mut self, words: usize) {
        self.spend(words);
    }

    fn wrote(&mut self, words: usize) {
        self.spend(words);
    }

    fn spend(&mut self, words: usize) {
        self.reads = self.reads.saturating_sub(words);
        self.writes = self.writes.saturating_sub(words);
    }
}

/// A checked frame from the peer, handed out once.
pub struct Received<'l> {
    receiver: &'l mut Receiver,
}

impl Received<'_> {
    /// The frame's bytes, to look at before taking them.
    pub fn packet(&self) -> &[u8] {
        self.receiver.ready().unwrap_or(&[])
    }

    /// Hands the frame's bytes to `f`; the link reads the next one after.
    pub fn consume<U>(self, f: impl FnOnce(&[u8]) -> U) -> U {
        let result = f(self.receiver.ready().unwrap_or(&[]));
        self.receiver.take();
        result
    }
}

/// Room for one frame to the peer.
pub struct Transmit<'l, 'a> {
    sender: &'l mut Sender<'a>,
    dropped: &'l mut u64,
}

impl Transmit<'_, '_> {
    /// Takes a frame of `len` bytes, which `f` writes in place. If the
    /// window cannot take it after all (the room was handed out with a
    /// received frame and is gone, or `len` is over the MTU), `f` writes
    /// into scratch, and the frame is dropped and counted: the stack above
    /// re-sends what matters.
    pub fn consume<U>(self, len: usize, f: impl FnOnce(&mut [u8]) -> U) -> U {
        match self.sender.send(len, f) {
            Ok(result) => result,
            Err(f) => {
                *self.dropped += 1;
                let mut scratch = [0u8; wire::MAX_MTU];
                f(&mut scratch[..len.min(wire::MAX_MTU)])
            }
        }
    }
}

#[cfg(test)]
mod tests;
