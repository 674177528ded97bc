//! A model of the bittide ringbuffer hardware, in virtual time.
//!
//! This is the stand-in for the FPGA that lets every layer above run and be
//! tested anywhere. It models what makes the real link unreliable, so that the
//! faults come from timing rather than only from dice:
//!
//! - Time advances in link cycles (8 ns at 125 MHz). Each direction streams
//!   one 64-bit word per cycle from the sender's transmit memory, through a
//!   fixed latency, into the receiver's receive memory, each side at its own
//!   free-running counter that starts at a random offset. Alignment must run.
//! - Every CPU access to a memory costs [`LinkConfig::bus_cycles`] per word,
//!   during which the hardware keeps streaming. A frame written while it is
//!   being streamed goes out torn; a frame read while new data arrives is
//!   read torn; a frame not read before it is overwritten is lost; a frame not
//!   overwritten is delivered again on every pass.
//! - On top, seeded [`Faults`]: lost and corrupted write bursts, and outages
//!   of whole passes.
//! - A link interrupt, which the real ringbuffer lacks: the model notes when
//!   each write burst lands in the peer's receive memory
//!   ([`Link::next_landing`]), so an async net task can sleep until then
//!   instead of polling.
//!
//! Both CPUs share the one virtual clock and take turns on it, so a run is a
//! pure function of its configuration and seed. Memories are borrowed, not
//! allocated, so the model also runs inside the firmware image.

mod direction;

use core::cell::RefCell;
use core::fmt;

use heapless::Vec;
use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::ringbuffer::{AlignedRingbuffer, Aligner, ReceiveRingbuffer, TransmitRingbuffer};
use tidenet_core::time::Instant;

use direction::Direction;

pub use tidenet_core::ringbuffer::CYCLE_NS;

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

/// How a modelled link is built.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// Words in each transmit and receive memory.
    pub depth: usize,
    /// Cycles from leaving one transmit memory to landing in the peer's
    /// receive memory, per direction.
    pub latency: usize,
    /// Link cycles one CPU access to one 64-bit word costs.
    pub bus_cycles: u64,
    /// Seed for the initial counter offsets and the injected faults.
    pub seed: u64,
    /// Injected faults.
    pub faults: Faults,
}

impl Default for LinkConfig {
    /// 256 words (one MTU-1500 frame and its framing), 200 cycles of latency,
    /// 8 cycles per bus word (two 32-bit accesses of a VexRiscv), no faults.
    fn default() -> Self {
        LinkConfig {
            depth: 256,
            latency: 200,
            bus_cycles: 8,
            seed: 0,
            faults: Faults::default(),
        }
    }
}

impl LinkConfig {
    /// Words of memory [`Link::new`] needs for this configuration.
    ///
    /// `const`, so that a firmware image can size a static for it.
    pub const fn memory_words(&self) -> usize {
        let pipe = if self.latency > 0 { self.latency } else { 1 };
        4 * self.depth + 2 * pipe
    }
}

/// Why a link cannot be built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Depth below the 4 words the framing needs, or above what a counter holds.
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

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Depth(d) => write!(f, "depth {d} is out of range; use 4 to 1048576 words"),
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
    now: u64,
    bus_cycles: u64,
    faults: Faults,
    rng: Xoshiro256PlusPlus,
    dirs: [Direction<'m>; 2],
    injected: Injected,
    /// Per direction, the cycles at which write bursts not yet reported
    /// land in the receive memory.
    landings: [Vec<u64, LANDINGS>; 2],
}

impl<'m> Link<'m> {
    /// Builds a link in `memory`, which must hold
    /// [`LinkConfig::memory_words`] words.
    pub fn new(config: &LinkConfig, memory: &'m mut [u64]) -> Result<Self, ConfigError> {
        if !(4..=1 << 20).contains(&config.depth) {
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
        let pipe = config.latency.max(1);
        let (tx0, rest) = memory.split_at_mut(depth);
        let (rx0, rest) = rest.split_at_mut(depth);
        let (tx1, rest) = rest.split_at_mut(depth);
        let (rx1, rest) = rest.split_at_mut(depth);
        let (pipe0, rest) = rest.split_at_mut(pipe);
        let (pipe1, _) = rest.split_at_mut(pipe);
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(config.seed);
        let mut offset = || (rng.next_u64() % depth as u64) as usize;
        let dirs = [
            Direction::new(tx0, rx0, pipe0, config.latency, offset(), offset()),
            Direction::new(tx1, rx1, pipe1, config.latency, offset(), offset()),
        ];
        Ok(Link {
            now: 0,
            bus_cycles: config.bus_cycles,
            faults: config.faults,
            rng,
            dirs,
            injected: Injected::default(),
            landings: [Vec::new(), Vec::new()],
        })
    }

    /// The virtual time, in link cycles.
    pub fn cycles(&self) -> u64 {
        self.now
    }

    /// The virtual time as an [`Instant`], for `Transport::poll`.
    pub fn instant(&self) -> Instant {
        Instant::from_nanos(self.now * CYCLE_NS)
    }

    /// Lets time pass without bus accesses, as a CPU doing other work does.
    pub fn advance_to(&mut self, cycles: u64) {
        self.now = self.now.max(cycles);
        // Run the hardware now rather than at the next access, so that an
        // outage that ended meanwhile is noted as a landing.
        self.catch_up(0);
        self.catch_up(1);
    }

    /// How far time may jump before [`next_landing`](Link::next_landing)
    /// can change without a write: with outages configured, one pass, since
    /// one may start at any pass and its end lands more than a pass later.
    pub fn horizon(&self) -> Option<u64> {
        (self.faults.burst > 0.0).then(|| self.now + self.depth() as u64)
    }

    /// What the model injected so far.
    pub fn injected(&self) -> Injected {
        self.injected
    }

    /// Depth in words.
    pub fn depth(&self) -> usize {
        self.dirs[0].depth()
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

    /// Whether a write burst has landed in `side`'s receive memory since the
    /// last call: the interrupt's acknowledgement.
    pub fn take_landed(&mut self, side: Side) -> bool {
        let now = self.now;
        let pending = &mut self.landings[side.directions().1];
        let before = pending.len();
        pending.retain(|&at| at > now);
        pending.len() < before
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

    fn catch_up(&mut self, dir: usize) {
        let Link {
            now,
            faults,
            rng,
            dirs,
            injected,
            ..
        } = self;
        dirs[dir].advance(*now, faults, rng, injected);
        if let Some(at) = dirs[dir].take_restored() {
            self.ring(dir, at);
        }
    }

    fn write(&mut self, dir: usize, src: &[u64], offset: usize) {
        let fate = self.roll_write(src.len());
        let mut lands = None;
        for (i, &word) in src.iter().enumerate() {
            self.now += self.bus_cycles;
            self.catch_up(dir);
            let word = match fate {
                WriteFate::Lost => continue,
                WriteFate::Flip { word: w, bit } if w == i => word ^ (1 << bit),
                _ => word,
            };
            lands = lands.max(Some(self.dirs[dir].landing(offset + i)));
            self.dirs[dir].tx_mut()[offset + i] = word;
        }
        if let Some(at) = lands {
            self.ring(dir, at);
        }
    }

    fn read(&mut self, dir: usize, dst: &mut [u64], offset: usize) {
        for (i, word) in dst.iter_mut().enumerate() {
            self.now += self.bus_cycles;
            self.catch_up(dir);
            *word = self.dirs[dir].rx()[offset + i];
        }
    }

    fn roll_write(&mut self, len: usize) -> WriteFate {
        if chance(&mut self.rng, self.faults.loss) {
            self.injected.lost_writes += 1;
            WriteFate::Lost
        } else if len > 0 && chance(&mut self.rng, self.faults.corrupt) {
            self.injected.corrupted_writes += 1;
            let r = self.rng.next_u64();
            WriteFate::Flip {
                word: (r % len as u64) as usize,
                bit: ((r >> 32) % 64) as u32,
            }
        } else {
            WriteFate::Clean
        }
    }
}

#[derive(Clone, Copy)]
enum WriteFate {
    Clean,
    Lost,
    Flip { word: usize, bit: u32 },
}

/// True with probability `p`.
fn chance(rng: &mut Xoshiro256PlusPlus, p: f64) -> bool {
    p > 0.0 && (rng.next_u32() as f64) < p * 4_294_967_296.0
}

/// One node's view of a shared [`Link`]: its transmit and receive halves.
///
/// Both nodes' halves borrow the link through a `RefCell`, as two CPUs share
/// one bus; an access never holds the borrow across a call back out.
pub struct Port<'l, 'm> {
    link: &'l RefCell<Link<'m>>,
    dir: usize,
}

impl<'l, 'm> Port<'l, 'm> {
    /// The transmit and receive halves `side` uses.
    pub fn pair(link: &'l RefCell<Link<'m>>, side: Side) -> (Tx<'l, 'm>, Rx<'l, 'm>) {
        let (tx, rx) = side.directions();
        (Tx(Port { link, dir: tx }), Rx(Port { link, dir: rx }))
    }

    fn depth(&self) -> usize {
        self.link.borrow().depth()
    }

    /// A register write: one bus access, then the change takes effect.
    fn register(&self, f: impl FnOnce(&mut Direction<'m>)) {
        let mut link = self.link.borrow_mut();
        link.now += link.bus_cycles;
        link.catch_up(self.dir);
        f(&mut link.dirs[self.dir]);
    }
}

/// A node's transmit half of a modelled link.
pub struct Tx<'l, 'm>(Port<'l, 'm>);

/// A node's receive half of a modelled link.
pub struct Rx<'l, 'm>(Port<'l, 'm>);

impl TransmitRingbuffer for Tx<'_, '_> {
    fn data_len(&self) -> usize {
        self.0.depth()
    }

    fn write_slice(&mut self, src: &[u64], offset: usize) {
        self.0.link.borrow_mut().write(self.0.dir, src, offset);
    }

    fn set_enabled(&mut self, enabled: bool) {
        self.0.register(|dir| dir.set_tx_enabled(enabled));
    }
}

impl ReceiveRingbuffer for Rx<'_, '_> {
    fn data_len(&self) -> usize {
        self.0.depth()
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        self.0.link.borrow_mut().read(self.0.dir, dst, offset);
    }

    fn set_enabled(&mut self, enabled: bool) {
        self.0.register(|dir| dir.set_rx_enabled(enabled));
    }

    fn set_clear_at_count(&mut self, count: usize) {
        self.0.register(|dir| dir.set_clear_at_count(count));
    }
}

/// One node's end of a modelled link, once aligned.
pub type Aligned<'l, 'm> = AlignedRingbuffer<Tx<'l, 'm>, Rx<'l, 'm>>;

/// Runs the alignment protocol on both ends of `link`, one step each in
/// turn as two CPUs would; returns side A's and side B's aligned ends, or
/// `None` if it did not finish within `max_polls` steps of each.
pub fn align<'l, 'm>(
    link: &'l RefCell<Link<'m>>,
    max_polls: usize,
) -> Option<(Aligned<'l, 'm>, Aligned<'l, 'm>)> {
    let (ta, ra) = Port::pair(link, Side::A);
    let (tb, rb) = Port::pair(link, Side::B);
    let (mut a, mut b) = (Aligner::new(ta, ra), Aligner::new(tb, rb));
    for _ in 0..max_polls {
        // `&`, not `&&`: both ends take their step every round.
        if a.poll() & b.poll() {
            return Some((a.finish().ok()?, b.finish().ok()?));
        }
    }
    None
}

#[cfg(test)]
mod tests;
