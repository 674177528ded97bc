//! The wakers of tasks waiting for a transport to change.

use core::task::Waker;

/// Up to `N` wakers, kept without allocating.
///
/// A task registers each time it finds nothing to do, and the net task wakes
/// them all when the transport changes; each then tries again. When the set
/// is full, the caller wakes everyone in it instead of forgetting anyone: a spurious wake costs a retry, a lost one a stuck task. With
/// more than `N` tasks waiting for good, though, they keep waking each
/// other: a busy loop, as with embassy-sync's `MultiWakerRegistration`.
///
/// [`take_all`](Waiters::take_all) hands back the wakers, for the caller to
/// wake once it has let go of whatever it borrowed.
pub(super) struct Waiters<const N: usize> {
    slots: [Option<Waker>; N],
}

impl<const N: usize> Waiters<N> {
    pub(super) const fn new() -> Self {
        Waiters {
            slots: [const { None }; N],
        }
    }

    /// Adds `waker`, unless the set is full; returns whether it is in.
    #[must_use]
    pub(super) fn register(&mut self, waker: &Waker) -> bool {
        if self.slots.iter().flatten().any(|w| w.will_wake(waker)) {
            return true;
        }
        let Some(slot) = self.slots.iter_mut().find(|slot| slot.is_none()) else {
            return false;
        };
        *slot = Some(waker.clone());
        true
    }

    /// Empties the set; returns the wakers to wake.
    #[must_use]
    pub(super) fn take_all(&mut self) -> [Option<Waker>; N] {
        core::mem::replace(&mut self.slots, [const { None }; N])
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use core::task::Waker;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::Wake;

    use super::Waiters;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn wakers(n: usize) -> (std::vec::Vec<Arc<Count>>, std::vec::Vec<Waker>) {
        let counts: std::vec::Vec<_> = (0..n)
            .map(|_| Arc::new(Count(AtomicUsize::new(0))))
            .collect();
        let wakers = counts.iter().map(|c| Waker::from(c.clone())).collect();
        (counts, wakers)
    }

    fn wake<const N: usize>(wakers: [Option<Waker>; N]) {
        wakers.into_iter().flatten().for_each(Waker::wake);
    }

    fn woken(counts: &[Arc<Count>]) -> std::vec::Vec<usize> {
        counts.iter().map(|c| c.0.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn a_task_registered_twice_is_woken_once() {
        let (counts, wakers) = wakers(1);
        let mut waiters = Waiters::<2>::new();
        assert!(waiters.register(&wakers[0]));
        assert!(waiters.register(&wakers[0]));
        wake(waiters.take_all());
        wake(waiters.take_all());
        assert_eq!(woken(&counts), [1]);
    }

    #[test]
    fn a_full_set_takes_no_more() {
        let (counts, wakers) = wakers(3);
        let mut waiters = Waiters::<2>::new();
        let added: std::vec::Vec<bool> = wakers.iter().map(|w| waiters.register(w)).collect();
        assert_eq!(added, [true, true, false]);
        wake(waiters.take_all());
        assert_eq!(woken(&counts), [1, 1, 0]);
        assert!(waiters.register(&wakers[2]), "emptied, it has room again");
    }
}
