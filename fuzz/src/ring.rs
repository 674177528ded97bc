//! A ringbuffer pair in RAM: the link's transmit memory, which the target
//! reads to learn the link's session, and its receive memory, whose words
//! the fuzzer writes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use tidenet_core::ringbuffer::{ReceiveRingbuffer, TransmitRingbuffer};

/// One direction's memory, shared between the link and the target.
#[derive(Clone)]
pub struct Memory {
    words: Rc<RefCell<Vec<u64>>>,
    /// Words the link may move per poll, as the hardware model limits it.
    budget: Rc<Cell<usize>>,
}

impl Memory {
    /// `depth` words of zeros, and no limit on bursts.
    pub fn new(depth: usize) -> Self {
        Memory {
            words: Rc::new(RefCell::new(vec![0; depth])),
            budget: Rc::new(Cell::new(usize::MAX)),
        }
    }

    /// The word at `index`.
    pub fn word(&self, index: usize) -> u64 {
        self.words.borrow()[index]
    }

    /// Puts `word` at `index`, as the peer's hardware would.
    pub fn set(&self, index: usize, word: u64) {
        self.words.borrow_mut()[index] = word;
    }

    /// Limits each poll's bursts to `words`.
    pub fn set_budget(&self, words: usize) {
        self.budget.set(words);
    }

    fn check(&self, offset: usize, len: usize) {
        let depth = self.words.borrow().len();
        assert!(
            offset + len <= depth,
            "the link moved words {offset}..{} of a {depth}-word ringbuffer",
            offset + len
        );
    }
}

impl TransmitRingbuffer for Memory {
    fn data_len(&self) -> usize {
        self.words.borrow().len()
    }

    fn write_slice(&mut self, src: &[u64], offset: usize) {
        self.check(offset, src.len());
        self.words.borrow_mut()[offset..offset + src.len()].copy_from_slice(src);
    }

    fn set_enabled(&mut self, _enabled: bool) {}

    fn burst_budget(&self) -> usize {
        self.budget.get()
    }
}

impl ReceiveRingbuffer for Memory {
    fn data_len(&self) -> usize {
        self.words.borrow().len()
    }

    fn read_slice(&mut self, dst: &mut [u64], offset: usize) {
        self.check(offset, dst.len());
        dst.copy_from_slice(&self.words.borrow()[offset..offset + dst.len()]);
    }

    fn set_enabled(&mut self, _enabled: bool) {}

    fn set_clear_at_count(&mut self, _count: usize) {}

    fn burst_budget(&self) -> usize {
        self.budget.get()
    }
}
