//! A bittide node as the rig has it: one management CPU, seven links, each
//! a ringbuffer pair with TCP/IP on it, and the shell on the UART.
//!
//! This configuration is built to show that a seven-link node fits
//! bittide's 160 KiB of instruction and 160 KiB of data memory, stack
//! included; `cargo xtask firmware` prints its sizes and its RAM per link.
//! It does not run under QEMU, whose `virt` machine has no ringbuffers.
//! The register map below is laid out as a board's would be but is a
//! placeholder: a board crate takes its addresses from bittide's HAL.
#![no_std]
#![no_main]

use core::mem::MaybeUninit;
use core::ptr::{addr_of_mut, read_volatile};

use tidenet_core::addr::HardwareId;
use tidenet_firmware::clint::Clint;
use tidenet_firmware::mmio::{MmioRx, MmioTx, RxMap};
use tidenet_firmware::uart::Uart16550;
use tidenet_firmware::{stack, CLINT_BASE, CLINT_TICK_NS, UART_BASE};
use tidenet_node::{App, Clock};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

/// Links, one per port.
const LINKS: usize = 7;
/// Words in each ringbuffer.
const DEPTH: usize = 256;
/// Bytes in each direction of each TCP stream's buffer: management
/// traffic, not bulk.
const STREAM_BUFFER: usize = 512;
/// Bytes of each link's window: three frames of a 256-word ring's MTU.
const WINDOW: usize = 2048;
/// Placeholder map: port `p`'s registers start at `RINGBUFFERS + p *
/// PORT_STRIDE`; the transmit memory, then the receive memory, then the
/// registers.
const RINGBUFFERS: usize = 0x4000_0000;
const PORT_STRIDE: usize = 0x1_0000;
/// Placeholder: the FPGA's DNA, three 32-bit words.
const DNA: usize = 0x3000_0000;

type Link = TcpIp<'static, MmioTx, MmioRx>;

// The links' buffers and the node, with its links' state, are statics, so
// that the linker checks them against data memory and `cargo xtask
// firmware` can read their sizes.
#[no_mangle]
static mut LINK_BUFFERS: [Resources<'static, STREAM_BUFFER, WINDOW>; LINKS] =
    [const { Resources::new() }; LINKS];
#[no_mangle]
static mut NODE: MaybeUninit<App<'static, Link, Uart16550, LINKS>> = MaybeUninit::uninit();
// SAFETY: the only handle on the UART.
static mut SHELL: tidenet_shell::Resources<Uart16550> =
    tidenet_shell::Resources::new(unsafe { Uart16550::new(UART_BASE) });

/// Port `p`'s ringbuffers.
fn ringbuffers(p: usize) -> (MmioTx, MmioRx) {
    let base = RINGBUFFERS + p * PORT_STRIDE;
    let rx = base + 8 * DEPTH;
    let registers = rx + 8 * DEPTH;
    // SAFETY: the placeholder map gives each port its own registers.
    unsafe {
        (
            MmioTx::new(base, DEPTH, registers),
            MmioRx::new(RxMap {
                data: rx,
                depth: DEPTH,
                enable: registers + 4,
                clear_at_count: registers + 8,
                capture: Some(registers + 16),
            }),
        )
    }
}

#[riscv_rt::entry]
fn main() -> ! {
    let _ = stack::paint();
    // SAFETY: main runs once, on the only hart, and nothing else names
    // these statics.
    let (buffers, node, shell) = unsafe {
        (
            &mut *addr_of_mut!(LINK_BUFFERS),
            &mut *addr_of_mut!(NODE),
            &mut *addr_of_mut!(SHELL),
        )
    };
    // SAFETY: the CLINT is at CLINT_BASE; reading mtime changes nothing.
    let mut clint = unsafe { Clint::new(CLINT_BASE, CLINT_TICK_NS) };
    let mut dna = [0u8; 12];
    for (i, word) in dna.chunks_mut(4).enumerate() {
        // SAFETY: the DNA registers (placeholder map).
        let value = unsafe { read_volatile((DNA + 4 * i) as *const u32) };
        word.copy_from_slice(&value.to_le_bytes());
    }
    let now = clint.now();
    let boot = now.as_nanos() as u16;
    let mut buffers = buffers.iter_mut();
    let links: [Link; LINKS] = core::array::from_fn(|p| {
        let (tx, rx) = ringbuffers(p);
        let id = HardwareId { dna, port: p as u8 };
        let config = Config::new(boot.wrapping_add(p as u16));
        // Cannot fail: one buffer per link.
        let Some(resources) = buffers.next() else {
            unreachable!()
        };
        TcpIp::new(tx, rx, id, config, resources, now)
    });
    let Ok(app) = App::new(links, shell);
    let app = node.write(app);
    loop {
        let Ok(_) = app.poll(clint.now());
    }
}
