//! The UART, shared between the line editor and the binary framing.

use core::cell::RefCell;
use core::fmt;

use embedded_io::{ErrorType, Write};

/// The UART and what the shell needs to know about writes to it.
///
/// embedded-cli owns its writer for good, but binary replies must reach the
/// same UART without its prompt around them. So the writer it owns is a
/// [`Tx`] handle onto this, and the shell keeps another.
pub(crate) struct Port<U> {
    pub(crate) uart: U,
    /// Drop what the line editor writes: its prompt after a command whose
    /// reply comes later, when the shell writes the prompt itself.
    pub(crate) muted: bool,
    /// Bytes the line editor has written, muted or not: an unechoed key means
    /// the line is full.
    pub(crate) written: usize,
}

/// The line editor's writer.
pub(crate) struct Tx<'a, U>(pub(crate) &'a RefCell<Port<U>>);

impl<U: ErrorType> ErrorType for Tx<'_, U> {
    type Error = U::Error;
}

impl<U: Write> Write for Tx<'_, U> {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Self::Error> {
        // The shell never holds the port across a call into the editor.
        let Ok(mut port) = self.0.try_borrow_mut() else {
            return Ok(buf.len());
        };
        port.written += buf.len();
        if port.muted {
            return Ok(buf.len());
        }
        port.uart.write(buf)
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        match self.0.try_borrow_mut() {
            Ok(mut port) => port.uart.flush(),
            Err(_) => Ok(()),
        }
    }
}

/// Text straight to the UART, with `\n` sent as `\r\n` as the editor does.
/// The first write error is kept, since `fmt::Error` cannot carry it.
pub(crate) struct Lines<'p, U: ErrorType> {
    pub(crate) uart: &'p mut U,
    pub(crate) error: Option<U::Error>,
}

impl<U: Write> fmt::Write for Lines<'_, U> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for (i, line) in s.split('\n').enumerate() {
            let result = if i > 0 {
                self.uart.write_all(b"\r\n")
            } else {
                Ok(())
            }
            .and_then(|()| self.uart.write_all(line.as_bytes()));
            if let Err(e) = result {
                self.error = Some(e);
                return Err(fmt::Error);
            }
        }
        Ok(())
    }
}
