//! The CPU-cost benchmark: the stack's instructions per payload byte on
//! riscv32imc, counted with `minstret` under QEMU's `-icount shift=0`.
//!
//! It checks the counter against a loop of known length, then, for each
//! link depth, runs a bulk TCP transfer between two nodes on a loss-free
//! modelled link, the same bytes through the link layer alone, and the
//! links idling, and counts only the stack's calls: the model behind the
//! ringbuffer traits is excluded (see `meter`). Each figure is a line
//! `cpu <what> key=value ...` on the UART, which `firmware/qemu`'s bench
//! reads; `cpu done` ends the run, `cpu error ...` stops it.
//!
//! Built only with the `cpu-bench` feature; see Cargo.toml.
#![no_std]
#![no_main]

mod meter;
mod runs;

use tidenet_firmware::uart::Uart16550;
use tidenet_firmware::{say, stop, UART_BASE};

use meter::Meter;

/// Turns of the calibration loop.
const CALIBRATION_TURNS: u32 = 10_000;
/// The link depths measured, in words.
const DEPTHS: [usize; 3] = [128, 256, 4000];

#[riscv_rt::entry]
fn main() -> ! {
    // SAFETY: the UART is at UART_BASE, and this is its only handle.
    let uart = &mut unsafe { Uart16550::new(UART_BASE) };
    uart.init();
    let c = meter::calibrate(CALIBRATION_TURNS);
    say(
        uart,
        format_args!(
            "cpu calibration turns={} short={} long={} empty={} exact={}\r\n",
            c.iterations,
            c.short,
            c.long,
            c.empty,
            c.exact()
        ),
    );
    if !c.exact() {
        say(
            uart,
            format_args!("cpu error minstret does not count instructions exactly; run QEMU with -icount shift=0\r\n"),
        );
        stop()
    }
    let (ma, mb) = (Meter::new(c.empty), Meter::new(c.empty));
    for depth in DEPTHS {
        let (tcp, idle) = match runs::tcpip(depth, [&ma, &mb]) {
            Ok(figures) => figures,
            Err(e) => fail(uart, depth, e),
        };
        let link = match runs::link(depth, [&ma, &mb]) {
            Ok(figures) => figures,
            Err(e) => fail(uart, depth, e),
        };
        let (crc, copy) = runs::crc_copy(link.mtu, &ma);
        for (what, t) in [("tcpip", &tcp), ("link", &link)] {
            say(
                uart,
                format_args!(
                    "cpu {what} depth={depth} mtu={} bytes={} sender={} receiver={} model={}\r\n",
                    t.mtu, t.bytes, t.sender, t.receiver, t.model
                ),
            );
        }
        say(
            uart,
            format_args!(
                "cpu crc_copy depth={depth} bytes={} crc={crc} copy={copy}\r\n",
                runs::BYTES
            ),
        );
        say(
            uart,
            format_args!(
                "cpu idle depth={depth} polls={} instructions={} nanos={}\r\n",
                idle.polls, idle.instructions, idle.nanos
            ),
        );
    }
    say(uart, format_args!("cpu done\r\n"));
    stop()
}

fn fail(uart: &mut Uart16550, depth: usize, why: &str) -> ! {
    say(uart, format_args!("cpu error depth={depth}: {why}\r\n"));
    stop()
}
