//! Counters shared by the transport's threads and its data streams.

use std::sync::atomic::{AtomicU64, Ordering};

use tidenet_core::Stats;

/// The [`Stats`] counters a host transport has: it has no link layer of its
/// own, so the frame and drop counters stay at zero.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub stream_bytes_tx: AtomicU64,
    pub stream_bytes_rx: AtomicU64,
    pub datagrams_tx: AtomicU64,
    pub datagrams_rx: AtomicU64,
    pub pings_tx: AtomicU64,
    pub pings_answered: AtomicU64,
    pub pongs_rx: AtomicU64,
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Stats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Stats {
            stream_bytes_tx: get(&self.stream_bytes_tx),
            stream_bytes_rx: get(&self.stream_bytes_rx),
            datagrams_tx: get(&self.datagrams_tx),
            datagrams_rx: get(&self.datagrams_rx),
            pings_tx: get(&self.pings_tx),
            pings_answered: get(&self.pings_answered),
            pongs_rx: get(&self.pongs_rx),
            ..Stats::default()
        }
    }

    pub fn reset(&self) {
        for counter in [
            &self.stream_bytes_tx,
            &self.stream_bytes_rx,
            &self.datagrams_tx,
            &self.datagrams_rx,
            &self.pings_tx,
            &self.pings_answered,
            &self.pongs_rx,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
