//! The transport's threads telling whoever polls it that something changed.
//!
//! The control and data threads count a change whenever they leave
//! something a caller of the `Transport` trait could see: a message queued,
//! a pong handed to its ping, a stream queued, the peer learned. `poll`
//! reports progress when the count moved since it last looked.
//!
//! With feature `async`, the count also wakes the net task, and so does a
//! nudge from the watch thread when a socket has news (see `asynch`). A
//! nudge is only a reason to poll: `poll` itself finds out whether the news
//! is anything a task could see.

use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "async")]
use std::sync::{atomic::AtomicBool, Mutex};
#[cfg(feature = "async")]
use std::task::{Context, Poll, Waker};

#[cfg(feature = "async")]
use crate::thunderbolt::lock;

/// A count of changes, and (feature `async`) of reasons to poll, with the
/// one task waiting for the latter.
#[derive(Debug, Default)]
pub(crate) struct Activity {
    changes: AtomicU64,
    /// Changes and nudges.
    #[cfg(feature = "async")]
    wakes: AtomicU64,
    /// A waker is stored: the next wake must wake it.
    #[cfg(feature = "async")]
    waiting: AtomicBool,
    #[cfg(feature = "async")]
    waker: Mutex<Option<Waker>>,
}

impl Activity {
    /// Something a task could see changed.
    pub fn bump(&self) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        #[cfg(feature = "async")]
        self.nudge();
    }

    /// The count of changes now.
    pub fn changes(&self) -> u64 {
        self.changes.load(Ordering::SeqCst)
    }

    /// Something may have changed: wakes the waiting task to poll.
    #[cfg(feature = "async")]
    pub fn nudge(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        if self.waiting.swap(false, Ordering::SeqCst) {
            // Taken out first: the waker runs executor code.
            let waker = lock(&self.waker).take();
            if let Some(waker) = waker {
                waker.wake();
            }
        }
    }

    /// The count of wakes now.
    #[cfg(feature = "async")]
    pub fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::SeqCst)
    }

    /// Ready once the count of wakes differs from `seen`, which it then
    /// becomes; until then the task in `cx` is woken by the next wake.
    #[cfg(feature = "async")]
    pub fn poll_wake(&self, seen: &mut u64, cx: &mut Context<'_>) -> Poll<()> {
        let now = self.wakes();
        if now != *seen {
            *seen = now;
            return Poll::Ready(());
        }
        *lock(&self.waker) = Some(cx.waker().clone());
        self.waiting.store(true, Ordering::SeqCst);
        // A wake between the first look and `waiting` being set saw no
        // waiter: look again, so that it is not lost.
        let now = self.wakes();
        if now != *seen {
            *seen = now;
            return Poll::Ready(());
        }
        Poll::Pending
    }
}
