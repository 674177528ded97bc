//! Board support shared by the images: QEMU virt's UART and CLINT, stack
//! painting, bittide ringbuffers as memory-mapped registers, and what to do
//! on a panic or a trap.
#![no_std]

pub mod clint;
pub mod mmio;
pub mod model_clock;
pub mod sleep;
pub mod stack;
pub mod uart;

use embedded_io::Write;

use uart::Uart16550;

/// QEMU virt's 16550.
pub const UART_BASE: usize = 0x1000_0000;
/// QEMU virt's CLINT, whose `mtime` counts at 10 MHz.
pub const CLINT_BASE: usize = 0x0200_0000;
/// Nanoseconds per CLINT tick.
pub const CLINT_TICK_NS: u64 = 100;

/// Prints a boot message. The UART cannot fail; a message that cannot be
/// formatted is cut short, which is all that can be done with it.
pub fn say(uart: &mut Uart16550, message: core::fmt::Arguments<'_>) {
    let _ = uart.write_fmt(message);
}

/// Stops the boot with a message saying what failed, and halts.
pub fn halt(uart: &mut Uart16550, what: &str, why: impl core::fmt::Display) -> ! {
    say(uart, format_args!("error: boot: {what}: {why}\r\n"));
    stop()
}

/// Stops this hart for good, but leaves it answering a debugger.
pub fn stop() -> ! {
    loop {
        riscv::asm::wfi();
    }
}

/// Prints where the panic happened and halts: a panic is a bug, and a
/// halted node with a message says so more plainly than a reset loop.
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    // SAFETY: nothing runs after this; the shell's UART handle is abandoned.
    let mut uart = unsafe { Uart16550::new(UART_BASE) };
    say(&mut uart, format_args!("\r\npanic: {info}\r\nhalted\r\n"));
    stop()
}

/// Prints the trap's cause and address and halts: a bad access or an
/// illegal instruction is a bug, like a panic.
#[export_name = "ExceptionHandler"]
fn exception(frame: &riscv_rt::TrapFrame) -> ! {
    // SAFETY: as in `panic`.
    let mut uart = unsafe { Uart16550::new(UART_BASE) };
    say(
        &mut uart,
        format_args!(
            "\r\ntrap: mcause={:#x} mepc={:#x} mtval={:#x} ra={:#x}\r\nhalted\r\n",
            riscv::register::mcause::read().bits(),
            riscv::register::mepc::read(),
            riscv::register::mtval::read(),
            frame.ra,
        ),
    );
    stop()
}
