//! The wakers of tasks waiting for a transport to change.

use core::task::Waker;

/// Up to `N` wakers, kept without allocating.
///
/// A task registers each time it finds nothing to do, and the net task wakes
/// them all when the transport changes; each then tries again. When the set
/// is full, everyone in it is woken at once instead of anyone being
/// forgotten: a spurious wake costs a retry, a lost one a stuck task.
pub(super) struct Waiters<const N: usize> {
    slots: [Option<Waker>; N],
}

impl<const N: usize> Waiters<N> {
    pub(super) const fn new() -> Self {
        Waiters {
            slots: [const { None }; N],
        }
    }

    pub(super) fn register(&mut self, waker: &Waker) {
        if self.slots.iter().flatten().any(|w| w.will_wake(waker)) {
            return;
        }
        if let Some(slot) = self.slots.iter_mut().find(|slot| slot.is_none()) {
            *slot = Some(waker.clone());
            return;
        }
        self.wake_all();
        self.slots[0] = Some(waker.clone());
    }

    pub(super) fn wake_all(&mut self) {
        for waker in self.slots.iter_mut().filter_map(Option::take) {
            waker.wake();
        }
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

    fn woken(counts: &[Arc<Count>]) -> std::vec::Vec<usize> {
        counts.iter().map(|c| c.0.load(Ordering::Relaxed)).collect()
    }

    #[test]
    fn a_task_registered_twice_is_woken_once() {
        let (counts, wakers) = wakers(1);
        let mut waiters = Waiters::<2>::new();
        waiters.register(&wakers[0]);
        waiters.register(&wakers[0]);
        waiters.wake_all();
        waiters.wake_all();
        assert_eq!(woken(&counts), [1]);
    }

    #[test]
    fn a_full_set_wakes_everyone_rather_than_forget_anyone() {
        let (counts, wakers) = wakers(3);
        let mut waiters = Waiters::<2>::new();
        for waker in &wakers {
            waiters.register(waker);
        }
        // The third registration woke the first two; it waits on its own.
        assert_eq!(woken(&counts), [1, 1, 0]);
        waiters.wake_all();
        assert_eq!(woken(&counts), [1, 1, 1]);
    }
}
