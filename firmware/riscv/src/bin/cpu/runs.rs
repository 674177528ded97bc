//! The runs the benchmark counts: a bulk TCP transfer between two nodes on
//! a loss-free modelled link, the same bytes through the link layer alone,
//! the CRC and a copy on their own, and the links idling.
//!
//! The split between link layer and IP/TCP comes from the difference: the
//! link-only run carries frames of the link's MTU, as bulk TCP does, so
//! what the TCP run spends beyond it per byte is smoltcp's, its socket
//! copies included.

use core::cell::RefCell;
use core::hint::black_box;

use tidenet_core::addr::HardwareId;
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::Transport;
use tidenet_model::{Cpu, Faults, Link as Model, LinkConfig, Port, Side, CYCLE_NS};
use tidenet_node::Clock;
use tidenet_ringbuffer::wire::{Binding, Header, MAX_MTU};
use tidenet_ringbuffer::{Config, Link};
use tidenet_tcpip::{Resources, TcpIp};

use crate::meter::{Excluded, Meter, Metered};

/// Payload bytes each transfer carries.
pub const BYTES: usize = 32 * 1024;
/// Bytes per `send` and per `recv`, as an application would move them.
const CHUNK: usize = 1024;
/// Bytes of each TCP stream's buffer per direction (its window).
const BUF: usize = 4096;
/// Bytes of each link's window: room for a 4000-word ring's frames.
const WINDOW: usize = 16 * 1024;
/// Link cycles a bus word costs the modelled CPU: a VexRiscv's.
const BUS_CYCLES: u64 = 8;
/// The deepest link measured, which sizes the model's memory.
const DEEPEST: usize = 4000;
const MEMORY_WORDS: usize = link_config(DEEPEST).memory_words();
/// Polls of each node counted while the link idles.
pub const IDLE_POLLS: u64 = 2000;
/// How long, in the modelled CPU's time, a run may take before it is
/// taken as stalled.
const PATIENCE: Duration = Duration::from_millis(200);
/// Link cycles each reading of the clock moves the modelled CPU on, besides
/// what its bus accesses cost: the time a poll's own instructions take.
const STEP: u64 = 64;
const PORT: u16 = 7000;

/// A loss-free link of `depth` words with bittide's latency.
const fn link_config(depth: usize) -> LinkConfig {
    LinkConfig {
        depth,
        latency: 200,
        seed: 1,
        faults: Faults {
            loss: 0.0,
            corrupt: 0.0,
            burst: 0.0,
            burst_passes: 0,
        },
        write_ahead: 0,
    }
}

/// What a transfer counted.
pub struct Transfer {
    /// Payload bytes delivered.
    pub bytes: u64,
    /// The link's MTU.
    pub mtu: usize,
    /// The sending node's stack.
    pub sender: u64,
    /// The receiving node's stack.
    pub receiver: u64,
    /// The link model's work behind both, left out of the two above.
    pub model: u64,
}

/// What idling counted.
pub struct Idle {
    /// Polls, of both nodes together.
    pub polls: u64,
    /// The stack's instructions in them, their `poll_at`s included.
    pub instructions: u64,
    /// The modelled time they took, sleeping between them.
    pub nanos: u64,
}

/// The data: a pattern that a shifted or repeated byte breaks.
fn byte(at: usize) -> u8 {
    (at * 31 + at / 251) as u8
}

fn fill(buf: &mut [u8], from: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = byte(from + i);
    }
}

fn intact(buf: &[u8], from: usize) -> bool {
    buf.iter().enumerate().all(|(i, &b)| b == byte(from + i))
}

fn id(node: u8) -> HardwareId {
    let mut dna = *b"tidenet-cpu0";
    dna[11] = node;
    HardwareId { dna, port: 0 }
}

/// The runs' clock: the modelled CPU's, moved on by [`STEP`] at every
/// reading, for the bring-up. Not the CLINT: under `-icount shift=0` the
/// emulated CPU runs a billion instructions a second, and the model, which
/// simulates every link cycle in software, could never catch up with real
/// time measured in them. Time that follows the polls keeps the runs
/// repeatable, too.
fn clock(cpu: &Cpu) -> impl Clock + '_ {
    move || {
        cpu.advance_to(cpu.cycles() + STEP);
        cpu.instant()
    }
}

/// A turn of a node's loop that did nothing asking for another at once
/// ends in sleep: the modelled CPU's time jumps to the earliest of the
/// nodes' deadlines and the model's next landing, as the image's sleeping
/// loop does (see `firmware/riscv/src/sleep.rs`). So the transfer counts
/// the polls a sleeping node makes, not those of a loop that spins.
fn sleep(cpu: &Cpu, model: &RefCell<Model<'_>>, deadlines: [Option<Instant>; 2]) {
    let now = cpu.cycles();
    let mut next = earliest(deadlines[0], deadlines[1]);
    let mut model = model.borrow_mut();
    for side in [Side::A, Side::B] {
        model.take_landed(side, now);
        let landing = model
            .next_landing(side)
            .map(|c| Instant::from_nanos(c * CYCLE_NS));
        next = earliest(next, landing);
    }
    let next = next.map_or(now + STEP, |t| t.as_nanos() / CYCLE_NS);
    cpu.advance_to(next.max(now + 1));
}

/// Bulk TCP from node A to node B on a link of `depth` words, then the
/// two idling; `meters` count A's calls and B's.
pub fn tcpip(depth: usize, meters: [&Meter; 2]) -> Result<(Transfer, Idle), &'static str> {
    let [ma, mb] = meters;
    let config = link_config(depth);
    let mut memory = [0u64; MEMORY_WORDS];
    let model = Model::new(&config, &mut memory[..config.memory_words()])
        .map_err(|_| "the link model refused its configuration")?;
    let model = RefCell::new(model);
    let cpu = Cpu::new(BUS_CYCLES);
    let mut clock = clock(&cpu);
    let (ta, ra) = Port::pair(&model, Side::A, &cpu);
    let (tb, rb) = Port::pair(&model, Side::B, &cpu);
    let mut res_a = Resources::<BUF, WINDOW>::new();
    let mut res_b = Resources::<BUF, WINDOW>::new();
    let now = clock.now();
    let (ta, ra) = (Metered::new(ta, ma), Metered::new(ra, ma));
    let (tb, rb) = (Metered::new(tb, mb), Metered::new(rb, mb));
    let mut a = TcpIp::new(ta, ra, id(1), Config::new(0x1234), &mut res_a, now);
    let mut b = TcpIp::new(tb, rb, id(2), Config::new(0x4321), &mut res_b, now);
    if !tidenet_node::await_peers(&mut [&mut a, &mut b], &mut clock, Duration::from_secs(2)) {
        return Err("the link did not come up");
    }
    b.listen(PORT).map_err(|_| "node B could not listen")?;
    let sa = a
        .connect(b.local_addr(), PORT)
        .map_err(|_| "node A could not connect")?;
    let deadline = clock.now() + PATIENCE;
    let sb = loop {
        let now = clock.now();
        if now > deadline {
            return Err("node B accepted no stream");
        }
        a.poll(now);
        b.poll(now);
        if let Ok(Some(stream)) = b.accept(PORT) {
            break stream;
        }
    };

    ma.reset();
    mb.reset();
    let (mut sent, mut received) = (0, 0);
    let mut chunk = [0u8; CHUNK];
    while received < BYTES {
        let now = cpu.instant();
        if now > deadline {
            return Err("the transfer stalled");
        }
        let mut busy = false;
        if sent < BYTES {
            let n = CHUNK.min(BYTES - sent);
            fill(&mut chunk[..n], sent);
            let took = ma
                .stack(|| a.send(sa, &chunk[..n]))
                .map_err(|_| "node A's send failed")?;
            sent += took;
            busy |= took > 0;
        }
        busy |= ma.stack(|| a.poll(now));
        busy |= mb.stack(|| b.poll(now));
        let got = mb
            .stack(|| b.recv(sb, &mut chunk))
            .map_err(|_| "node B's recv failed")?;
        if !intact(&chunk[..got], received) {
            return Err("node B received other bytes than node A sent");
        }
        received += got;
        if !busy && got == 0 {
            let at_a = ma.stack(|| a.poll_at(now));
            let at_b = mb.stack(|| b.poll_at(now));
            sleep(&cpu, &model, [at_a, at_b]);
        }
    }
    let transfer = Transfer {
        bytes: received as u64,
        mtu: a.link().mtu(),
        sender: ma.net(),
        receiver: mb.net(),
        model: ma.excluded(Excluded::Model) + mb.excluded(Excluded::Model),
    };
    // The last acknowledgements settle, then the links idle.
    settle(&mut clock, &mut a, &mut b, Duration::from_millis(1));
    ma.reset();
    mb.reset();
    let start = cpu.instant();
    for _ in 0..IDLE_POLLS {
        let now = cpu.instant();
        let busy = ma.stack(|| a.poll(now)) | mb.stack(|| b.poll(now));
        if !busy {
            let at_a = ma.stack(|| a.poll_at(now));
            let at_b = mb.stack(|| b.poll_at(now));
            sleep(&cpu, &model, [at_a, at_b]);
        }
    }
    let idle = Idle {
        polls: 2 * IDLE_POLLS,
        instructions: ma.net() + mb.net(),
        nanos: (cpu.instant() - start).as_nanos() as u64,
    };
    Ok((transfer, idle))
}

fn settle(clock: &mut impl Clock, a: &mut impl Transport, b: &mut impl Transport, time: Duration) {
    let until: Instant = clock.now() + time;
    loop {
        let now = clock.now();
        if now > until {
            return;
        }
        a.poll(now);
        b.poll(now);
    }
}

/// The same bytes through the link layer alone, in frames of its MTU; the
/// benchmark's filling and checking of frames is excluded.
pub fn link(depth: usize, meters: [&Meter; 2]) -> Result<Transfer, &'static str> {
    let [ma, mb] = meters;
    let config = link_config(depth);
    let mut memory = [0u64; MEMORY_WORDS];
    let model = Model::new(&config, &mut memory[..config.memory_words()])
        .map_err(|_| "the link model refused its configuration")?;
    let model = RefCell::new(model);
    let cpu = Cpu::new(BUS_CYCLES);
    let mut clock = clock(&cpu);
    let (ta, ra) = Port::pair(&model, Side::A, &cpu);
    let (tb, rb) = Port::pair(&model, Side::B, &cpu);
    let mut window_a = [0u8; WINDOW];
    let mut window_b = [0u8; WINDOW];
    let (ta, ra) = (Metered::new(ta, ma), Metered::new(ra, ma));
    let (tb, rb) = (Metered::new(tb, mb), Metered::new(rb, mb));
    let mut a = Link::new(ta, ra, 1, Config::new(0x1234), &mut window_a);
    let mut b = Link::new(tb, rb, 2, Config::new(0x4321), &mut window_b);
    let deadline = clock.now() + PATIENCE;
    while !(a.state().is_up() && b.state().is_up()) {
        let now = clock.now();
        if now > deadline {
            return Err("the link did not come up");
        }
        a.poll(now);
        b.poll(now);
    }

    ma.reset();
    mb.reset();
    let mtu = a.mtu();
    let (mut sent, mut received) = (0, 0);
    while received < BYTES {
        let now = cpu.instant();
        if now > deadline {
            return Err("the transfer stalled");
        }
        let mut busy = false;
        if sent < BYTES {
            let n = mtu.min(BYTES - sent);
            let from = sent;
            let took = ma.stack(|| {
                a.transmit().is_some_and(|frame| {
                    frame.consume(n, |buf| ma.exclude(Excluded::Bench, || fill(buf, from)));
                    true
                })
            });
            if took {
                sent += n;
            }
            busy |= took;
        }
        busy |= ma.stack(|| a.poll(now));
        busy |= mb.stack(|| b.poll(now));
        let from = received;
        let got = mb.stack(|| {
            b.receive().map(|(frame, _)| {
                frame.consume(|p| mb.exclude(Excluded::Bench, || (p.len(), intact(p, from))))
            })
        });
        match got {
            Some((n, true)) => received += n,
            Some((_, false)) => return Err("node B received other bytes than node A sent"),
            None if !busy => {
                let at_a = ma.stack(|| a.poll_at(now));
                let at_b = mb.stack(|| b.poll_at(now));
                sleep(&cpu, &model, [at_a, at_b]);
            }
            None => {}
        }
    }
    Ok(Transfer {
        bytes: received as u64,
        mtu,
        sender: ma.net(),
        receiver: mb.net(),
        model: ma.excluded(Excluded::Model) + mb.excluded(Excluded::Model),
    })
}

/// What the CRC and a copy cost on their own over [`BYTES`], in frames of
/// `mtu`: the link's CRC-32C as a sender seals a frame, and a
/// `copy_from_slice` of it.
pub fn crc_copy(mtu: usize, meter: &Meter) -> (u64, u64) {
    let mut src = [0u8; MAX_MTU];
    let mut dst = [0u8; MAX_MTU];
    let n = mtu.min(MAX_MTU);
    fill(&mut src[..n], 0);
    let binding = Binding { own: 1, peer: 2 };
    let frames = BYTES.div_ceil(n);
    meter.reset();
    for seq in 0..frames {
        let frame = black_box(&src[..n]);
        let crc = meter.stack(|| {
            let mut digest = Header::digest(seq as u16, n as u16, binding);
            digest.update(frame);
            digest.finalize()
        });
        black_box(crc);
    }
    let crc = meter.net();
    meter.reset();
    for _ in 0..frames {
        let from = black_box(&src[..n]);
        meter.stack(|| dst[..n].copy_from_slice(from));
        black_box(&dst);
    }
    let copy = meter.net();
    (crc, copy)
}
