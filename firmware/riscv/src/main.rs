//! tidenet on a bare-metal riscv32imc image, for QEMU's `virt` machine.
//!
//! The image is a self-contained two-node bittide system on one CPU: node A
//! and node B, each a TCP/IP transport on its end of a ringbuffer link, with
//! node A's shell on the 16550 UART. The link is the ringbuffer model, lossy,
//! with its memories in RAM; the part of it the FPGA would do (streaming the
//! memories across) is advanced in software by this image, to the CLINT's
//! time. Both nodes run on this one CPU, so the model gives them one clock.
//! Node B has no UART: reach it with `remote 0 <command>`.
//!
//! On a real board the model goes, node B goes (it is another board), and
//! the ringbuffers are the FPGA's; see the docs' firmware chapter.
#![no_std]
#![no_main]

use core::cell::RefCell;
use core::ptr::addr_of_mut;

use tidenet_core::addr::HardwareId;
use tidenet_core::node::Node;
use tidenet_core::time::{earliest, Duration, Instant};
use tidenet_core::Transport;
use tidenet_model::{Cpu, Faults, Link, LinkConfig, Port, Side, CYCLE_NS};
use tidenet_node::{App, Clock};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

use tidenet_firmware::clint::Clint;
use tidenet_firmware::model_clock::CpuClock;
use tidenet_firmware::sleep::Sleep;
use tidenet_firmware::uart::Uart16550;
use tidenet_firmware::{halt, say, stack, CLINT_BASE, CLINT_TICK_NS, UART_BASE};

/// Percent of write bursts the link loses, and corrupts: enough that
/// `stats` has drops to show.
const LOSS_PERCENT: u8 = 2;
const CORRUPT_PERCENT: u8 = 1;
/// The link between the two nodes: bittide's depth and latency, lossy. The
/// two nodes share this CPU and its clock, so no write runs ahead.
const LINK: LinkConfig = LinkConfig {
    depth: 256,
    latency: 200,
    seed: 1,
    faults: Faults {
        loss: LOSS_PERCENT as f64 / 100.0,
        corrupt: CORRUPT_PERCENT as f64 / 100.0,
        burst: 0.0,
        burst_passes: 0,
    },
    write_ahead: 0,
};
/// Link cycles one bus word costs this CPU in the model: a VexRiscv's.
const BUS_CYCLES: u64 = 8;
const LINK_WORDS: usize = LINK.memory_words();
/// Bytes in each direction of each TCP stream's buffer.
const STREAM_BUFFER: usize = 2048;
/// Bytes of each link's window: its frames in flight.
const WINDOW: usize = 4096;
/// How long the nodes get to align and hear from each other before the
/// prompt.
const LINK_UP: Duration = Duration::from_secs(2);

// Everything large is a static, sized at build time, so that the linker
// checks it against data memory. `main` takes each once.
static mut LINK_MEMORY: [u64; LINK_WORDS] = [0; LINK_WORDS];
static mut TCPIP_A: Resources<'static, STREAM_BUFFER, WINDOW> = Resources::new();
static mut TCPIP_B: Resources<'static, STREAM_BUFFER, WINDOW> = Resources::new();
// SAFETY: the shell's handle on the UART; the boot messages' handle is done
// with before the shell starts.
static mut SHELL: tidenet_shell::Resources<Uart16550> =
    tidenet_shell::Resources::new(unsafe { Uart16550::new(UART_BASE) });

#[riscv_rt::entry]
fn main() -> ! {
    let stack = stack::paint();
    // SAFETY: main runs once, on the only hart, with interrupts off, and
    // nothing else names these statics.
    let (link_memory, tcpip_a, tcpip_b, shell) = unsafe {
        (
            &mut *addr_of_mut!(LINK_MEMORY),
            &mut *addr_of_mut!(TCPIP_A),
            &mut *addr_of_mut!(TCPIP_B),
            &mut *addr_of_mut!(SHELL),
        )
    };
    // SAFETY: the CLINT is at CLINT_BASE; reading mtime changes nothing.
    let clint = unsafe { Clint::new(CLINT_BASE, CLINT_TICK_NS) };
    // SAFETY: the UART is at UART_BASE; once the shell has its own handle,
    // this one only reads the line status, which changes nothing.
    let console = &mut unsafe { Uart16550::new(UART_BASE) };
    console.init();
    say(
        console,
        format_args!(
            "tidenet firmware {} (riscv32imc, qemu virt)\r\n",
            env!("CARGO_PKG_VERSION")
        ),
    );
    say(console, format_args!("stack {stack}\r\n"));
    // SAFETY: the CLINT and the UART are QEMU virt's, at the PLIC's
    // UART line; this is the only `Sleep`.
    let mut sleep = unsafe { Sleep::new(Clint::new(CLINT_BASE, CLINT_TICK_NS), console) };
    say(
        console,
        format_args!("idle counters at {:#010x}\r\n", sleep.counters()),
    );

    let link = match Link::new(&LINK, link_memory) {
        Ok(link) => RefCell::new(link),
        Err(e) => halt(console, "the link model", e),
    };
    let cpu = Cpu::new(BUS_CYCLES);
    let mut clock = CpuClock { clint, cpu: &cpu };
    // The boot numbers seed the links' sessions; a board takes them from a
    // free-running counter at boot.
    let boot = clock.clint.now().as_nanos() as u16;
    let (ta, ra) = Port::pair(&link, Side::A, &cpu);
    let (tb, rb) = Port::pair(&link, Side::B, &cpu);
    let (id_a, id_b) = (board_id(1), board_id(2));
    let now = clock.now();
    let mut a = TcpIp::new(ta, ra, id_a, Config::new(boot), tcpip_a, now);
    let mut b = TcpIp::new(tb, rb, id_b, Config::new(boot ^ 0x5a5a), tcpip_b, now);
    // The links align and shake hands as they are polled.
    let up = tidenet_node::await_peers(&mut [&mut a, &mut b], &mut clock, LINK_UP);
    say(
        console,
        format_args!(
            "node a {} (this shell), node b {} (`remote 0 ...`); link of {} words, \
             losing {}% and corrupting {}% of writes, {}\r\n",
            a.local_addr(),
            b.local_addr(),
            LINK.depth,
            LOSS_PERCENT,
            CORRUPT_PERCENT,
            if up { "up" } else { "down" },
        ),
    );

    let mut node_b = Node::new([b]);
    let Ok(mut node_a) = App::new([a], shell);
    loop {
        sleep.turn();
        let now = clock.now();
        let Ok(busy_a) = node_a.poll(now);
        let busy_b = node_b.poll(now);
        if busy_a || busy_b {
            continue;
        }
        // Nothing asks for another poll at once: sleep until a node's
        // next deadline, the model's next landing (the link's doorbell,
        // which on a board would be the peer's write arriving), or input.
        let next = earliest(node_a.poll_at(now), node_b.poll_at(now));
        let next = earliest(next, next_landing(&link, now));
        sleep.until(next, console);
    }
}

/// When the model next lands a write burst in either node's memory. The
/// bursts landed by `polled`, when both nodes' polls began, have been seen
/// and are acknowledged; a later one may have landed behind a node's poll,
/// so it stays pending and the loop polls again at once.
fn next_landing(link: &RefCell<Link<'_>>, polled: Instant) -> Option<Instant> {
    let mut link = link.borrow_mut();
    let mut next = None;
    for side in [Side::A, Side::B] {
        link.take_landed(side, polled.as_nanos() / CYCLE_NS);
        let at = link
            .next_landing(side)
            .map(|c| Instant::from_nanos(c * CYCLE_NS));
        next = earliest(next, at);
    }
    next
}

/// The identity of each end of the modelled link: a made-up DNA per node.
fn board_id(node: u8) -> HardwareId {
    let mut dna = *b"tidenet-qemu";
    dna[11] = node;
    HardwareId { dna, port: 0 }
}
