//! A model of bittide's ringbuffer hardware, in virtual time: the board's
//! stand-in, so that every layer above runs and is tested anywhere.
//!
//! It reproduces what makes the real link unreliable, so that the faults
//! come from timing and not only from dice:
//!
//! - Time is counted in link cycles (8 ns at 125 MHz). Each direction streams
//!   one 64-bit word per cycle from the sender's transmit memory, through a
//!   fixed latency, into the receiver's receive memory, each end at its own
//!   free-running counter that starts at a random offset. Alignment must run.
//! - Every node has its own [`Cpu`] with its own clock. A CPU access to a
//!   memory costs that CPU's [`Cpu::bus_cycles`] per word and moves only its
//!   clock, so the two ends of a link, and every node of a topology, work at
//!   the same time in virtual time. The hardware keeps streaming meanwhile:
//!   a frame written while it is streamed goes out torn, a frame read while
//!   new data lands is read torn, a frame not read before it is overwritten
//!   is lost, and a frame not overwritten is delivered again on every pass.
//! - The CPU is 32 bits wide, like bittide's VexRiscv: a 64-bit word is
//!   written and read as two halves, low half first, so a single word can
//!   tear between its halves.
//! - On top, seeded [`Faults`]: lost and corrupted write bursts, and outages
//!   of whole passes. A burst is a run of writes to consecutive transmit
//!   addresses, however the CPU splits it among its other work: a frame's
//!   payload is one burst whether it is written in one go or a few words
//!   per poll.
//! - A link interrupt, which the real ringbuffer lacks: the model notes when
//!   each write burst lands in the peer's receive memory
//!   ([`Link::next_landing`]), so a simulated node can sleep until then.
//!
//! # Time, and keeping CPUs in step
//!
//! The hardware of each direction is evaluated lazily in two stages. A
//! word *departs* the transmit memory at the cycle the counter reaches it,
//! and *lands* in the receive memory a latency later. Before a write at
//! cycle `t` takes effect, every departure before `t` is computed with the
//! old contents; before a read at `t`, every landing before `t` is applied.
//! So an access sees exactly the hardware state of its own cycle, whichever
//! CPU's clock is ahead, as long as no CPU runs further ahead of another
//! than the latency: a write can only be seen a latency after it happens.
//!
//! A simulator keeps that bound by always running the CPU that is furthest
//! behind ([`Schedule`]), and by giving it a [`Cpu::set_horizon`] up to which
//! it may run;
//! the ports turn that into a [`burst_budget`] for the link layer, which
//! splits longer transfers across polls. A write that arrives after its
//! cycle has already been streamed is applied at once and counted in
//! [`Link::late_writes`], so tests can check that a run was exact. Two ends
//! that share one `Cpu` take turns on its clock, as two nodes emulated on
//! one processor do, and are always exact.
//!
//! The same configuration, seed and order of calls give the same run.
//! Memories are borrowed, not allocated, so the model also runs inside the
//! firmware image.
//!
//! [`burst_budget`]: tidenet_core::ringbuffer::ReceiveRingbuffer::burst_budget
#![no_std]
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod cpu;
mod direction;
mod pair;
mod schedule;

use core::cell::RefCell;
use core::fmt;

use heapless::Vec;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::ringbuffer::{Aligner, ReceiveRingbuffer, TransmitRingbuffer, UgnCapture};

pub use cpu::Cpu;
pub use pair::Pair;
pub use schedule::{Schedule, MAX_CPUS};
pub use tidenet_core::ringbuffer::CYCLE_NS;

use direction::{Direction, RxChange};

/// Faults injected on top of those that timing causes. Rates are fractions
/// from 0 to 1.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Chance that a CPU write burst never reaches the wire: the peer keeps
    /// seeing what was there before.
    pub loss: f64,
    /// Chance that a CPU write burst reaches the wire with one bit flipped.
    pub corrupt: f64,
    /// Chance, per pass, that an outage starts: for [`Faults::burst_passes`]
    /// passes the receiver stores zeros instead of what was sent.
    pub burst: f64,
    /// Length of an outage, in passes.
    pub burst_passes: u32,
}

/// How a modelled link is built. The CPUs at its ends are separate: see
/// [`Cpu`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Words in each transmit and receive memory.
    pub depth: usize,
    /// Cycles from leaving one transmit memory to landing in the peer's
    /// receive memory, per direction.
    pub latency: usize,
    /// Seed for the initial counter offsets and the injected faults.
    pub seed: u64,
    /// Injected faults.
    pub faults: Faults,
    /// How far, in cycles, a CPU's writes may run ahead of the peer CPU's
    /// clock. More lets a simulated CPU write a whole frame in one go and
    /// costs memory (two words per cycle); CPUs that share one clock need
    /// none.
    pub write_ahead: usize,
}

impl Default for LinkConfig {
    /// 256 words, 200 cycles of latency, no faults, writes up to 4096
    /// cycles ahead.
    fn default() -> Self {
        LinkConfig {
            depth: 256,
            latency: 200,
            seed: 0,
            faults: Faults::default(),
            write_ahead: 4096,
        }
    }
}

impl LinkConfig {
    /// Words of memory [`Link::new`] needs for this configuration: both
    /// directions' transmit and receive memories and their words in flight.
    ///
    /// `const`, so that a firmware image can size a static for it.
    pub const fn memory_words(&self) -> usize {
        4 * self.depth + 2 * direction::pipe_words(self.latency, self.write_ahead)
    }
}

/// Why a link cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Depth below the 12 words the model supports (the smallest bittide
    /// builds is 16), or above what a counter holds.
    Depth(usize),
    /// The memory handed in is smaller than [`LinkConfig::memory_words`].
    Memory {
        /// Words needed.
        needed: usize,
        /// Words given.
        given: usize,
    },
    /// A fault rate is not a number from 0 to 1.
    Rate(&'static str),
}

/// The depths a link can have.
pub const DEPTHS: core::ops::RangeInclusive<usize> = 12..=1 << 16;

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Depth(d) => write!(
                f,
                "depth {d} is out of range; use {} to {} words",
                DEPTHS.start(),
                DEPTHS.end()
            ),
            ConfigError::Memory { needed, given } => {
                write!(
                    f,
                    "the link needs {needed} words of memory but was given {given}"
                )
            }
            ConfigError::Rate(name) => write!(f, "{name} must be a fraction from 0 to 1"),
        }
    }
}

impl core::error::Error for ConfigError {}

/// What the model injected so far, for reports and for tests that check the
/// link layer counted every one of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    /// Write bursts that never reached the wire.
    pub lost_writes: u64,
    /// Write bursts that reached the wire with a bit flipped.
    pub corrupted_writes: u64,
    /// Outages started.
    pub outages: u64,
}

/// One end of the link: `A` or `B`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The first end.
    A,
    /// The second end.
    B,
}

impl Side {
    /// The direction this side transmits on, and the one it receives on.
    fn directions(self) -> (usize, usize) {
        match self {
            Side::A => (0, 1),
            Side::B => (1, 0),
        }
    }
}

/// Write bursts a direction remembers as landing; more are folded together.
const LANDINGS: usize = 8;

/// A point-to-point ringbuffer link between two nodes, in virtual time.
pub struct Link<'m> {
    faults: Faults,
    dirs: [Direction<'m>; 2],
    injected: Injected,
    late_writes: u64,
    /// Per direction, the cycles at which write bursts not yet reported
    /// land in the receive memory.
    landings: [Vec<u64, LANDINGS>; 2],
    /// Per direction, the counter offsets of the node that transmits on it
    /// and of the one that receives, once their ports exist.
    counters: [(Option<u64>, Option<u64>); 2],
    /// Per direction, what its UGN capture latched.
    captures: [Option<UgnCapture>; 2],
}

impl<'m> Link<'m> {
    /// Builds a link in `memory`, which must hold
    /// [`LinkConfig::memory_words`] words.
    pub fn new(config: &LinkConfig, memory: &'m mut [u64]) -> Result<Self, ConfigError> {
        if !DEPTHS.contains(&config.depth) {
            return Err(ConfigError::Depth(config.depth));
        }
        let f = &config.faults;
        for (name, rate) in [("loss", f.loss), ("corrupt", f.corrupt), ("burst", f.burst)] {
            if !(0.0..=1.0).contains(&rate) {
                return Err(ConfigError::Rate(name));
            }
        }
        let needed = config.memory_words();
        if memory.len() < needed {
            return Err(ConfigError::Memory {
                needed,
                given: memory.len(),
            });
        }
        memory.fill(0);
        let depth = config.depth;
        let pipe = direction::pipe_words(config.latency, config.write_ahead);
        let (tx0, rest) = memory.split_at_mut(depth);
        let (rx0, rest) = rest.split_at_mut(depth);
        let (tx1, rest) = rest.split_at_mut(depth);
        let (rx1, rest) = rest.split_at_mut(depth);
        let (pipe0, rest) = rest.split_at_mut(pipe);
        let (pipe1, _) = rest.split_at_mut(pipe);
        let mut seeds = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let mut offset = || seeds.next_u64() % depth as u64;
        let (t0, r0, t1, r1) = (offset(), offset(), offset(), offset());
        let dirs = [
            Direction::new(tx0, rx0, pipe0, config.latency, (t0, r0), seeds.next_u64()),
            Direction::new(tx1, rx1, pipe1, config.latency, (t1, r1), seeds.next_u64()),
        ];
        Ok(Link {
            faults: config.faults,
            dirs,
            injected: Injected::default(),
            late_writes: 0,
            landings: [Vec::new(), Vec::new()],
            counters: [(None, None); 2],
            captures: [None; 2],
        })
    }

    /// What the model injected so far.
    pub fn injected(&self) -> Injected {
        self.injected
    }

    /// Writes that came after the hardware had already streamed their cycle
    /// and so took effect late. Zero when every CPU kept to its horizon; see
    /// the crate docs.
    pub fn late_writes(&self) -> u64 {
        self.late_writes
    }

    /// Depth in words.
    pub fn depth(&self) -> usize {
        self.dirs[0].depth()
    }

    /// The link's latency in cycles, per direction: also how far one CPU
    /// may run ahead of another without the model losing exactness.
    pub fn latency(&self) -> u64 {
        self.dirs[0].latency()
    }

    /// The true UGN of the direction `side` receives on: the latency plus
    /// the receiver's counter offset less the sender's. `None` until both
    /// ends have ports. Tests hold what a node measures to this.
    pub fn true_ugn(&self, side: Side) -> Option<i64> {
        let (Some(tx), Some(rx)) = self.counters[side.directions().1] else {
            return None;
        };
        Some(self.latency().wrapping_add(rx).wrapping_sub(tx) as i64)
    }

    /// When the next write burst the peer made lands in `side`'s receive
    /// memory, in cycles; it may already have passed. `None` if none is
    /// pending since [`take_landed`](Link::take_landed) last reported.
    ///
    /// This is the model's link interrupt. A burst lands when its last word
    /// to arrive does; a burst the model lost never lands, and one that
    /// rewrites what was there rings all the same, as a doorbell would. The
    /// end of an outage rings too, a pass after arrivals resume, since the
    /// memory then differs from the zeros the outage left.
    pub fn next_landing(&self, side: Side) -> Option<u64> {
        self.landings[side.directions().1].iter().copied().min()
    }

    /// Whether a write burst has landed in `side`'s receive memory by cycle
    /// `now` since the last call: the interrupt's acknowledgement.
    pub fn take_landed(&mut self, side: Side, now: u64) -> bool {
        let pending = &mut self.landings[side.directions().1];
        let before = pending.len();
        pending.retain(|&at| at > now);
        pending.len() < before
    }

    /// How far `side`'s clock may jump, from `now`, before
    /// [`next_landing`](Link::next_landing) can change without a write:
    /// with outages configured, one pass, since one may start at any pass
    /// and its end lands more than a pass later.
    pub fn horizon(&mut self, side: Side, now: u64) -> Option<u64> {
        if self.faults.burst == 0.0 {
            return None;
        }
        // Roll the outages of the passes up to here, so that one which
        // started meanwhile is known and rings.
        let dir = side.directions().1;
        self.dirs[dir].roll_until(now, &self.faults, &mut self.injected);
        self.note_restored(dir);
        Some(now + self.depth() as u64)
    }

    /// Notes that a burst written on `dir` lands at cycle `at`.
    fn ring(&mut self, dir: usize, at: u64) {
        let pending = &mut self.landings[dir];
        if let Err(at) = pending.push(at) {
            // Full: fold it into the latest, which then rings at the later
            // of the two. A late interrupt costs latency; a lost one, a
            // stalled net task.
            if let Some(latest) = pending.iter_mut().max() {
                *latest = (*latest).max(at);
            }
        }
    }

    /// Cuts the wire both ways for `cycles` cycles from cycle `at`: every
    /// word arriving meanwhile is stored as zero, as in an outage of
    /// [`Faults::burst`], but at a time a test chooses. `at` should not be
    /// before any CPU's clock.
    pub fn cut(&mut self, at: u64, cycles: u64) {
        for dir in 0..2 {
            self.dirs[dir].cut(at..at + cycles);
            self.injected.outages += 1;
            self.note_restored(dir);
        }
    }

    fn note_restored(&mut self, dir: usize) {
        if let Some(at) = self.dirs[dir].take_restored() {
            self.ring(dir, at);
        }
    }

    /// A CPU writes `src` at transmit index `offset` of `dir`, word by word
    /// and each word low half first, starting at `cpu`'s clock.
    fn write(&mut self, dir: usize, cpu: &Cpu, src: &[u64], offset: usize) {
        let fate = self.burst(dir, offset, src.len());
        let mut lands = None;
        for (i, &word) in src.iter().enumerate() {
            let (low, high) = cpu.access();
            let word = match fate {
                WriteFate::Lost => continue,
                WriteFate::Flip { word: w, bit } if w == i => word ^ (1 << bit),
                _ => word,
            };
            if low < self.dirs[dir].departed() {
                self.late_writes += 1;
            }
            let d = &mut self.dirs[dir];
            d.depart_until(low, &self.faults, &mut self.injected);
            d.write_half(offset + i, word, LOW);
            d.depart_until(high, &self.faults, &mut self.injected);
            d.write_half(offset + i, word, HIGH);
            lands = lands.max(Some(d.landing(offset + i, high)));
            self.note_restored(dir);
        }
        if let Some(at) = lands {
            self.ring(dir, at);
        }
    }

    /// The fate of a write of `len` words at `offset` of `dir`. A write
    /// that goes on where the last one on `dir` stopped continues its burst,
    /// and shares its fate, however the CPU split it among other work: a
    /// lost burst stays lost, and a corrupted one has its one flipped bit
    /// already. Anything else starts a burst and rolls the dice.
    fn burst(&mut self, dir: usize, offset: usize, len: usize) -> WriteFate {
        let continued = self.dirs[dir].continue_burst(offset, len);
        match continued {
            Some(WriteFate::Lost) => WriteFate::Lost,
            Some(_) => WriteFate::Clean,
            None => {
                let fate = self.roll_write(dir, len);
                self.dirs[dir].start_burst(offset + len, fate);
                fate
            }
        }
    }

    /// A CPU reads receive index `offset` onwards of `dir` into `dst`, word
    /// by word and each word low half first, starting at `cpu`'s clock.
    fn read(&mut self, dir: usize, cpu: &Cpu, dst: &mut [u64], offset: usize) {
        for (i, word) in dst.iter_mut().enumerate() {
            let (low, high) = cpu.access();
            let d = &mut self.dirs[dir];
            d.land_until(low, &self.faults, &mut self.injected);
            let low_half = d.rx_word(offset + i) & LOW;
            d.land_until(high, &self.faults, &mut self.injected);
            *word = low_half | (d.rx_word(offset + i) & HIGH);
            self.note_restored(dir);
        }
    }

    fn roll_write(&mut self, dir: usize, len: usize) -> WriteFate {
        let rng = self.dirs[dir].write_rng();
        if chance(rng, self.faults.loss) {
            self.injected.lost_writes += 1;
            WriteFate::Lost
        } else if len > 0 && chance(rng, self.faults.corrupt) {
            self.injected.corrupted_writes += 1;
            let r = rng.next_u64();
            WriteFate::Flip {
                word: (r % len as u64) as usize,
                bit: ((r >> 32) % 64) as u32,
            }
        } else {
            WriteFate::Clean
        }
    }
}

const LOW: u64 = 0xffff_ffff;
const HIGH: u64 = !LOW;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WriteFate {
    Clean,
    Lost,
    Flip { word: usize, bit: u32 },
}

/// True with probability `p`.
fn chance(rng: &mut Xoshiro256PlusPlus, p: f64) -> bool {
    p > 0.0 && (rng.next_u32() as f64) < p * 4_294_967_296.0
}

/// One node's end of a shared [`Link`], driven by that node's [`Cpu`].
///
/// Both ends borrow the link through a `RefCell`, as two CPUs share the
/// hardware; an access never holds the borrow across a call back out.
pub struct Port<'l, 'm, 'c> {
    link: &'l RefCell<Link<'m>>,
    cpu: &'c Cpu,
    dir: usize,
}

impl<'l, 'm, 'c> Port<'l, 'm, 'c> {
    /// The transmit and receive halves `side` uses, accessed by `cpu`.
    pub fn pair(
        link: &'l RefCell<Link<'m>>,
        side: Side,
        cpu: &'c Cpu,
    ) -> (Tx<'l, 'm, 'c>, Rx<'l, 'm, 'c>) {
        let (tx, rx) = side.directions();
        {
            let mut link = link.borrow_mut();
            link.counters[tx].0 = Some(cpu.counter_at(0));
            link.counters[rx].1 = Some(cpu.counter_at(0));
        }
        (
            Tx(Port { link, cpu, dir: tx }),
            Rx(Port { link, cpu, dir: rx }),
        )
    }

    fn depth(&self) -> usize {
        self.link.borrow().depth()
    }
}

/// A node's transmit half of a modelled link.
pub struct Tx<'l, 'm, 'c>(Port<'l, 'm, 'c>);

/// A node's receive half of a modelled link.
pub struct Rx<'l, 'm, 'c>(Port<'l, 'm, 'c>);

impl TransmitRingbuffer for Tx<'_, '_, '_> {
    fn data_len(&self) -> usize {
        self.0.depth()
    }

    fn write_slice(&mut self, src: &[u64], offset: usize) {
        let Port { link, cpu, dir } = &self.0;
        link.borrow_mut().write(*dir, cpu, src, offset);
    }

    fn set_enabled(&mut self, enabled: bool) {
        let Port { link, cpu, dir } = &self.0;
        let at = cpu.register();
        let mut link = link.borrow_mut();
        let Link {
            faults,
            dirs,
            injected,
            ..
        } = &mut *link;
        dirs[*dir].depart_until(at, faults, injected);
        dirs[*dir].set_tx_enabled(enabled);
    }

    /// Writes may run ahead of the reader's clock, and past this CPU's own
    /// horizon, as far as the words in flight fit in the model's pipe: no
    /// other CPU can see them before their landing either way.
    fn burst_budget(&self) -> usize {
        let Port { link, cpu, dir } = &self.0;
        let ahead = link.borrow().dirs[*dir].write_ahead();
        cpu.writes(ahead)
    }
}

impl ReceiveRingbuffer for Rx<'_, '_, '_> {
    fn data_len(&self) -> usize {
        self.0.depth()
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        let Port { link, cpu, dir } = &self.0;
        link.borrow_mut().read(*dir, cpu, dst, offset);
    }

    fn set_enabled(&mut self, enabled: bool) {
        if enabled {
            self.capture();
        }
        self.register(RxChange::Enable(enabled));
    }

    fn set_clear_at_count(&mut self, count: usize) {
        self.register(RxChange::ClearAt(count));
    }

    /// Reads may run ahead of other CPUs only to the horizon the scheduler
    /// set: further, and a write they should see might not have happened.
    fn burst_budget(&self) -> usize {
        self.0.cpu.reads()
    }

    fn ugn_capture(&self) -> Option<UgnCapture> {
        self.0.link.borrow().captures[self.0.dir]
    }
}

impl Rx<'_, '_, '_> {
    /// bittide's `CaptureUgn`: the first word to arrive once receiving is
    /// enabled latches this node's counter and the one the word carries,
    /// the peer's a latency earlier. Words arrive every cycle, so the first
    /// arrives as the enable takes effect.
    fn capture(&self) {
        let Port { link, cpu, dir } = &self.0;
        let mut link = link.borrow_mut();
        if link.captures[*dir].is_some() {
            return;
        }
        let (Some(tx), Some(_)) = link.counters[*dir] else {
            return;
        };
        let at = cpu.cycles();
        let capture = UgnCapture {
            local: cpu.counter_at(at),
            remote: at.wrapping_sub(link.latency()).wrapping_add(tx),
        };
        link.captures[*dir] = Some(capture);
    }

    /// A receive register write: one bus access, then the change takes
    /// effect for every word landing from then on. Noted with its cycle
    /// rather than applied at once, so that it does not make the hardware
    /// run ahead of the peer CPU.
    fn register(&self, change: RxChange) {
        let Port { link, cpu, dir } = &self.0;
        let at = cpu.register();
        let mut link = link.borrow_mut();
        let Link {
            faults,
            dirs,
            injected,
            ..
        } = &mut *link;
        dirs[*dir].change_rx(at, change, faults, injected);
    }
}

/// One node's end of a modelled link, once aligned, with both directions
/// enabled: for tests of the model and of raw framing.
pub struct End<'l, 'm, 'c> {
    /// The transmit half.
    pub tx: Tx<'l, 'm, 'c>,
    /// The receive half.
    pub rx: Rx<'l, 'm, 'c>,
}

impl End<'_, '_, '_> {
    /// Writes `src` at transmit index `offset`.
    pub fn write(&mut self, offset: usize, src: &[u64]) {
        self.tx.write_slice(src, offset);
    }

    /// Reads receive index `offset` onwards into `dst`.
    pub fn read(&mut self, offset: usize, dst: &mut [u64]) {
        self.rx.read_slice(dst, offset);
    }
}

/// Runs bittide's alignment protocol on both ends of `link`, one step each
/// in turn, then enables both directions again; returns side A's and side
/// B's ends, or `None` if it did not finish within `max_polls` steps of
/// each.
///
/// For tests of the model and of raw framing; the link layer aligns its
/// own links.
pub fn align<'l, 'm, 'c>(
    link: &'l RefCell<Link<'m>>,
    cpus: [&'c Cpu; 2],
    max_polls: usize,
) -> Option<(End<'l, 'm, 'c>, End<'l, 'm, 'c>)> {
    let (mut ta, mut ra) = Port::pair(link, Side::A, cpus[0]);
    let (mut tb, mut rb) = Port::pair(link, Side::B, cpus[1]);
    let (mut a, mut b) = (Aligner::new(), Aligner::new());
    let latency = link.borrow().latency();
    for _ in 0..2 * max_polls {
        // The CPU that is behind takes the next step, no further ahead of
        // the other than the latency, so that the run is exact.
        let (ca, cb) = (cpus[0].cycles(), cpus[1].cycles());
        if ca <= cb && !a.is_aligned() {
            cpus[0].set_horizon(cb + latency + 1);
            a.poll(&mut ta, &mut ra, cpus[0].instant());
        } else if !b.is_aligned() {
            cpus[1].set_horizon(ca + latency + 1);
            b.poll(&mut tb, &mut rb, cpus[1].instant());
        } else if !a.is_aligned() {
            cpus[1].advance_to(ca);
        } else {
            // Both done: start the link over clean, each end from where
            // its CPU is, with the alignment marker gone from word 0.
            for (cpu, tx, rx) in [(cpus[0], &mut ta, &mut ra), (cpus[1], &mut tb, &mut rb)] {
                cpu.set_horizon(u64::MAX);
                tx.write_slice(&[0], 0);
                tx.set_enabled(true);
                rx.set_enabled(true);
            }
            return Some((End { tx: ta, rx: ra }, End { tx: tb, rx: rb }));
        }
        if b.is_aligned() && !a.is_aligned() && cpus[1].cycles() < cpus[0].cycles() {
            cpus[1].advance_to(cpus[0].cycles());
        }
    }
    None
}

#[cfg(test)]
mod tests;
