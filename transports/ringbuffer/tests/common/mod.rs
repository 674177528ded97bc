//! Two links on the hardware model, each end on its own CPU, run in
//! virtual-time order, with traffic that checks itself.
#![allow(dead_code)]

use std::cell::RefCell;

use rand_core::{Rng, SeedableRng};
use rand_xoshiro::Xoshiro256PlusPlus;
use tidenet_core::time::Duration;
use tidenet_core::Stats;
use tidenet_model::{Cpu, Link as Model, LinkConfig, Port, Rx, Schedule, Side, Tx};
use tidenet_ringbuffer::{Alignment, Config, Link};

pub type End<'r> = Link<'r, Tx<'r, 'r, 'r>, Rx<'r, 'r, 'r>>;

/// What the rig is built from.
#[derive(Clone, Copy, Debug)]
pub struct Setup {
    pub link: LinkConfig,
    pub bus_cycles: u64,
    pub window: usize,
    pub alignment: Alignment,
    /// Every frame as long as the MTU allows, as a bulk transfer's are.
    pub full_frames: bool,
}

impl Setup {
    pub fn new(link: LinkConfig) -> Self {
        Setup {
            link,
            bus_cycles: 8,
            window: 8192,
            alignment: Alignment::Protocol,
            full_frames: false,
        }
    }
}

/// Traffic one end sends: frames of seeded lengths and bytes, each
/// starting with its index, so the receiver can check every byte.
pub struct Traffic {
    seed: u64,
    /// The seed of what the peer sends.
    peer_seed: u64,
    mtu: usize,
    full: bool,
    pub sent: usize,
    /// One past the index of the last frame received.
    pub received: usize,
    /// Frames of the peer's never received: lost with a link that went
    /// down, which the link layer does not promise to deliver.
    pub gaps: usize,
    /// Stop after this many frames.
    pub frames: usize,
}

impl Traffic {
    pub fn new(seed: u64, peer_seed: u64, mtu: usize, full: bool, frames: usize) -> Self {
        Traffic {
            seed,
            peer_seed,
            mtu,
            full,
            sent: 0,
            received: 0,
            gaps: 0,
            frames,
        }
    }

    /// Frame `n` this end sends.
    pub fn frame(&self, n: usize, buf: &mut Vec<u8>) {
        self.make(self.seed, n, buf);
    }

    /// Frame `n` the peer sends.
    pub fn peer_frame(&self, n: usize, buf: &mut Vec<u8>) {
        self.make(self.peer_seed, n, buf);
    }

    fn make(&self, seed: u64, n: usize, buf: &mut Vec<u8>) {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(
            seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
        );
        let random = 4 + (rng.next_u64() % (self.mtu as u64 - 3)) as usize;
        let len = if self.full { self.mtu } else { random };
        buf.clear();
        buf.resize(len, 0);
        rng.fill_bytes(&mut buf[4..]);
        buf[..4].copy_from_slice(&(n as u32).to_le_bytes());
    }
}

/// A node: its CPU's link end, and whether it runs at all.
pub struct Node<'r> {
    pub link: End<'r>,
    pub cpu: &'r Cpu,
    pub traffic: Traffic,
    pub side: Side,
    /// The link's `link_ups` when the application last looked.
    ups: u64,
}

pub struct Rig<'r> {
    pub model: &'r RefCell<Model<'r>>,
    pub nodes: [Node<'r>; 2],
    pub schedule: Schedule<'r>,
    pub setup: Setup,
    scratch: Vec<u8>,
    /// The first mismatch seen, if any.
    pub corrupted: Option<String>,
}

/// Builds two nodes on a modelled link and hands them to `f`.
pub fn with_rig<T>(
    setup: Setup,
    frames: [usize; 2],
    f: impl for<'r> FnOnce(&mut Rig<'r>) -> T,
) -> T {
    let mut memory = vec![0u64; setup.link.memory_words()];
    let model = RefCell::new(Model::new(&setup.link, &mut memory).expect("valid link"));
    let cpus = [Cpu::new(setup.bus_cycles), Cpu::new(setup.bus_cycles)];
    if setup.alignment == Alignment::Hardware {
        // The hardware aligned the link before the CPUs booted.
        tidenet_model::align(&model, [&cpus[0], &cpus[1]], 100_000).expect("aligns");
    }
    let mut windows = [vec![0u8; setup.window], vec![0u8; setup.window]];
    let [wa, wb] = &mut windows;
    let mtu = tidenet_ringbuffer::wire::mtu_for_depth(setup.link.depth);
    let node = |side, cpu, window, n: u16| {
        let (tx, rx) = Port::pair(&model, side, cpu);
        let mut config = Config::new((setup.link.seed as u16).wrapping_mul(7).wrapping_add(n));
        config.alignment = setup.alignment;
        Node {
            link: Link::new(tx, rx, 0x0100 + n, config, window),
            cpu,
            traffic: Traffic::new(
                setup.link.seed.wrapping_mul(2) + u64::from(n),
                setup.link.seed.wrapping_mul(2) + 1 - u64::from(n),
                mtu,
                setup.full_frames,
                frames[usize::from(n)],
            ),
            side,
            ups: 0,
        }
    };
    let nodes = [
        node(Side::A, &cpus[0], &mut wa[..], 0),
        node(Side::B, &cpus[1], &mut wb[..], 1),
    ];
    let mut rig = Rig {
        model: &model,
        nodes,
        schedule: Schedule::new(&[&cpus[0], &cpus[1]], setup.link.latency as u64),
        setup,
        scratch: Vec::new(),
        corrupted: None,
    };
    f(&mut rig)
}

impl<'r> Rig<'r> {
    /// The latest of the two CPUs' clocks.
    pub fn cycles(&self) -> u64 {
        self.nodes.iter().map(|n| n.cpu.cycles()).max().unwrap_or(0)
    }

    pub fn stats(&self, n: usize) -> Stats {
        *self.nodes[n].link.stats()
    }

    /// Runs one step of the node whose turn it is; false if neither will
    /// ever act again.
    pub fn step(&mut self) -> bool {
        let Rig {
            model,
            nodes,
            schedule,
            scratch,
            corrupted,
            ..
        } = self;
        let sides = [nodes[0].side, nodes[1].side];
        schedule
            .step(
                |i| model.borrow().next_landing(sides[i]),
                |i, now| {
                    let lacks = nodes[1 - i].traffic.received;
                    let node = &mut nodes[i];
                    model.borrow_mut().take_landed(node.side, node.cpu.cycles());
                    let mut busy = node.link.poll(now);
                    // Frames in flight when a link goes down are gone; the
                    // application sends again, once up, from the first
                    // frame its peer lacks, as a stack above would.
                    let ups = node.link.stats().link_ups;
                    if ups != node.ups {
                        node.ups = ups;
                        node.traffic.sent = node.traffic.sent.min(lacks);
                    }
                    busy |= Self::serve(node, scratch, corrupted);
                    if busy {
                        Some(now)
                    } else {
                        node.link.poll_at(now)
                    }
                },
            )
            .is_some()
    }

    /// The node's application: sends while the window has room, takes and
    /// checks what arrived.
    fn serve(node: &mut Node<'r>, scratch: &mut Vec<u8>, corrupted: &mut Option<String>) -> bool {
        let mut busy = false;
        while let Some((rx, _)) = node.link.receive() {
            let expected = node.traffic.received;
            let traffic = &node.traffic;
            let index = rx.consume(|got| {
                let index = got
                    .get(..4)
                    .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize);
                let mut want = Vec::new();
                if let Some(i) = index.filter(|&i| i >= expected) {
                    traffic.peer_frame(i, &mut want);
                }
                if got != &want[..] && corrupted.is_none() {
                    *corrupted = Some(format!(
                        "expecting frame {expected} or later: got {} bytes starting {:02x?}, \
                         want {} starting {:02x?}",
                        got.len(),
                        &got[..got.len().min(8)],
                        want.len(),
                        &want[..want.len().min(8)]
                    ));
                }
                index.unwrap_or(expected)
            });
            node.traffic.gaps += index.saturating_sub(expected);
            node.traffic.received = index.max(expected) + 1;
            busy = true;
        }
        while node.traffic.sent < node.traffic.frames {
            let Some(tx) = node.link.transmit() else {
                break;
            };
            node.traffic.frame(node.traffic.sent, scratch);
            let len = scratch.len();
            tx.consume(len, |buf| buf.copy_from_slice(scratch));
            node.traffic.sent += 1;
            busy = true;
        }
        busy
    }

    /// Steps until `done` holds or `limit` cycles pass; whether it held.
    pub fn run_until(&mut self, limit: u64, mut done: impl FnMut(&Rig<'r>) -> bool) -> bool {
        while !done(self) {
            if self.cycles() > limit || !self.step() {
                return done(self);
            }
        }
        true
    }

    /// Switches node `n`'s CPU off (hung: it polls nothing) or on again.
    pub fn set_off(&mut self, n: usize, off: bool) {
        self.schedule.set_off(n, off);
    }

    /// Reboots node `n`: a fresh link end, booted with `boot`, on the same
    /// hardware, which starts over from alignment. The application keeps
    /// its place; what was in flight is gone.
    pub fn reboot(&mut self, n: usize, boot: u16) {
        let node = &mut self.nodes[n];
        let (tx, rx) = Port::pair(self.model, node.side, node.cpu);
        let window = Box::leak(vec![0u8; self.setup.window].into_boxed_slice());
        let mut config = Config::new(boot);
        config.alignment = self.setup.alignment;
        node.link = Link::new(tx, rx, 0x0100 + n as u16, config, window);
        node.ups = 0;
        self.schedule.wake(n);
    }

    /// Whether both ends received everything the other sends.
    pub fn all_delivered(&self) -> bool {
        self.nodes[0].traffic.received >= self.nodes[1].traffic.frames
            && self.nodes[1].traffic.received >= self.nodes[0].traffic.frames
    }
}

/// A duration in link cycles.
pub fn cycles(d: Duration) -> u64 {
    (d.as_nanos() / 8) as u64
}
