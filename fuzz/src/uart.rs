//! An in-memory UART: clones share the same wires, so a target keeps one
//! while the shell owns another.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::rc::Rc;

/// Bytes in, for the shell to read, and bytes out, as it wrote them.
#[derive(Clone, Default)]
pub struct Uart {
    input: Rc<RefCell<VecDeque<u8>>>,
    output: Rc<RefCell<Vec<u8>>>,
}

impl Uart {
    /// Queues `bytes` for the shell to read.
    pub fn feed(&self, bytes: &[u8]) {
        self.input.borrow_mut().extend(bytes.iter().copied());
    }

    /// Whether the shell has read everything fed.
    pub fn drained(&self) -> bool {
        self.input.borrow().is_empty()
    }

    /// What the shell wrote since the last call.
    pub fn take_output(&self) -> Vec<u8> {
        std::mem::take(&mut *self.output.borrow_mut())
    }
}

impl embedded_io::ErrorType for Uart {
    type Error = Infallible;
}

impl embedded_io::Read for Uart {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, Infallible> {
        let mut input = self.input.borrow_mut();
        let n = buf.len().min(input.len());
        for (slot, byte) in buf.iter_mut().zip(input.drain(..n)) {
            *slot = byte;
        }
        Ok(n)
    }
}

impl embedded_io::ReadReady for Uart {
    fn read_ready(&mut self) -> Result<bool, Infallible> {
        Ok(!self.input.borrow().is_empty())
    }
}

impl embedded_io::Write for Uart {
    fn write(&mut self, buf: &[u8]) -> Result<usize, Infallible> {
        self.output.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> Result<(), Infallible> {
        Ok(())
    }
}
