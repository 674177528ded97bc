//! The image's bulk transfer on the host, for callgrind: two TCP/IP nodes
//! on a loss-free model link, with the same sizes and clock as
//! `firmware/riscv/src/bin/cpu/runs.rs`, so that callgrind's split by
//! function can be set beside the image's.

use std::cell::RefCell;
use std::hint::black_box;

use tidenet_core::addr::HardwareId;
use tidenet_core::time::{earliest, Instant};
use tidenet_core::Transport;
use tidenet_model::{Cpu, Faults, Link as Model, LinkConfig, Port, Side, CYCLE_NS};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

/// As in the image: payload, chunk, buffers, clock step, bus cost.
pub const BYTES: usize = 32 * 1024;
const CHUNK: usize = 1024;
const BUF: usize = 4096;
const WINDOW: usize = 16 * 1024;
const STEP: u64 = 64;
const BUS_CYCLES: u64 = 8;
const PORT: u16 = 7000;
/// Polls before a run counts as stalled.
const MAX_POLLS: usize = 1_000_000;

/// The function callgrind counts: `--toggle-collect` names it.
pub const COUNTED: &str = "*host::counted_transfer*";

/// Makes the data; kept out of line so that callgrind shows it apart.
#[inline(never)]
fn fill(buf: &mut [u8], from: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (from + i).wrapping_mul(31).wrapping_add((from + i) / 251) as u8;
    }
}

/// Checks the data; out of line for the same reason.
#[inline(never)]
fn intact(buf: &[u8], from: usize) -> bool {
    buf.iter()
        .enumerate()
        .all(|(i, &b)| b == (from + i).wrapping_mul(31).wrapping_add((from + i) / 251) as u8)
}

fn id(node: u8) -> HardwareId {
    let mut dna = *b"tidenet-cpu0";
    dna[11] = node;
    HardwareId { dna, port: 0 }
}

/// Brings two nodes up on a link of `depth` words, then moves [`BYTES`]
/// from A to B in [`counted_transfer`]. Returns the bytes delivered.
pub fn transfer(depth: usize) -> Result<usize, String> {
    let config = LinkConfig {
        depth,
        latency: 200,
        seed: 1,
        faults: Faults::default(),
        write_ahead: 0,
    };
    let mut memory = vec![0u64; config.memory_words()];
    let model = RefCell::new(Model::new(&config, &mut memory).map_err(|e| format!("{e:?}"))?);
    let cpu = Cpu::new(BUS_CYCLES);
    let now = || {
        cpu.advance_to(cpu.cycles() + STEP);
        cpu.instant()
    };
    let (ta, ra) = Port::pair(&model, Side::A, &cpu);
    let (tb, rb) = Port::pair(&model, Side::B, &cpu);
    let mut res_a = Box::new(Resources::<BUF, WINDOW>::new());
    let mut res_b = Box::new(Resources::<BUF, WINDOW>::new());
    let t = now();
    let mut a = TcpIp::new(ta, ra, id(1), Config::new(0x1234), &mut res_a, t);
    let mut b = TcpIp::new(tb, rb, id(2), Config::new(0x4321), &mut res_b, t);
    b.listen(PORT).map_err(|e| e.to_string())?;
    let mut stream = None;
    let mut sa = None;
    for _ in 0..MAX_POLLS {
        let t = now();
        a.poll(t);
        b.poll(t);
        if sa.is_none() && a.link_state().is_up() && b.link_state().is_up() {
            sa = Some(a.connect(b.local_addr(), PORT).map_err(|e| e.to_string())?);
        }
        if let Ok(Some(s)) = b.accept(PORT) {
            stream = Some(s);
            break;
        }
    }
    let (Some(sa), Some(sb)) = (sa, stream) else {
        return Err("the nodes did not connect".into());
    };
    counted_transfer(&cpu, &model, &mut a, &mut b, sa, sb)
}

/// As the image's runs: with nothing to do, time jumps to the nodes' next
/// deadline or the model's next landing.
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

/// The bulk transfer alone: what callgrind counts.
#[inline(never)]
fn counted_transfer(
    cpu: &Cpu,
    model: &RefCell<Model<'_>>,
    a: &mut impl Transport,
    b: &mut impl Transport,
    sa: tidenet_core::StreamId,
    sb: tidenet_core::StreamId,
) -> Result<usize, String> {
    let (mut sent, mut received) = (0, 0);
    let mut chunk = [0u8; CHUNK];
    for _ in 0..MAX_POLLS {
        if received >= BYTES {
            return Ok(received);
        }
        let t = cpu.instant();
        let mut busy = false;
        if sent < BYTES {
            let n = CHUNK.min(BYTES - sent);
            fill(&mut chunk[..n], sent);
            let took = a.send(sa, &chunk[..n]).map_err(|e| e.to_string())?;
            sent += took;
            busy |= took > 0;
        }
        busy |= a.poll(t);
        busy |= b.poll(t);
        let got = b.recv(sb, &mut chunk).map_err(|e| e.to_string())?;
        if !intact(black_box(&chunk[..got]), received) {
            return Err("node B received other bytes than node A sent".into());
        }
        received += got;
        if !busy && got == 0 {
            let deadlines = [a.poll_at(t), b.poll_at(t)];
            sleep(cpu, model, deadlines);
        }
    }
    Err(format!("stalled after {received} of {BYTES} bytes"))
}
