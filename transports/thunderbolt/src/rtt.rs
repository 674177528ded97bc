//! Pings waiting for their pong.
//!
//! The control thread receives every datagram, pongs included, and hands
//! each pong to the one ping it answers: same timestamp, from the peer that
//! was pinged. The original DCF let its receiver thread swallow pongs, so
//! `measure_rtt` timed out while the peer answered.

use std::collections::HashMap;
use std::net::Ipv6Addr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::thunderbolt::lock;

/// Pings sent and not yet answered, by timestamp.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    waiting: Mutex<HashMap<u64, Waiter>>,
    last_stamp: AtomicU64,
}

#[derive(Debug)]
struct Waiter {
    peer: Ipv6Addr,
    sent: Instant,
    reply: SyncSender<Duration>,
}

impl Pending {
    /// Registers a ping to `peer` and returns its timestamp, and where its
    /// round-trip time will arrive.
    ///
    /// The timestamp is nanoseconds since the Unix epoch, as DCF stamps them,
    /// made unique so two pings never share one. The round trip is measured
    /// on the monotonic clock, so a clock step cannot distort it.
    pub fn expect(&self, peer: Ipv6Addr) -> (u64, Receiver<Duration>) {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let next = |last: u64| wall.max(last + 1);
        let last = self
            .last_stamp
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(next(last))
            })
            .unwrap_or_else(|last| last);
        let stamp = next(last);
        let (reply, rtt) = mpsc::sync_channel(1);
        let waiter = Waiter {
            peer,
            sent: Instant::now(),
            reply,
        };
        self.lock().insert(stamp, waiter);
        (stamp, rtt)
    }

    /// Gives up on the ping stamped `stamp`.
    pub fn forget(&self, stamp: u64) {
        self.lock().remove(&stamp);
    }

    /// Delivers a pong stamped `stamp` from `from`. Returns false if it
    /// answers none of our pings: late, forged, or from another peer.
    pub fn answer(&self, stamp: u64, from: Ipv6Addr) -> bool {
        let mut waiting = self.lock();
        match waiting.get(&stamp) {
            Some(waiter) if waiter.peer == from => {}
            _ => return false,
        }
        let Some(waiter) = waiting.remove(&stamp) else {
            return false;
        };
        // A full or dropped receiver means the asker gave up: still ours.
        let _ = waiter.reply.try_send(waiter.sent.elapsed());
        true
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Waiter>> {
        lock(&self.waiting)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2);

    #[test]
    fn a_pong_reaches_the_ping_it_answers_once() {
        let pending = Pending::default();
        let (stamp, rtt) = pending.expect(PEER);
        assert!(
            !pending.answer(stamp, Ipv6Addr::LOCALHOST),
            "from another peer"
        );
        assert!(!pending.answer(stamp ^ 1, PEER), "another timestamp");
        assert!(pending.answer(stamp, PEER));
        assert!(rtt.try_recv().is_ok());
        assert!(!pending.answer(stamp, PEER), "a duplicate pong");
    }

    #[test]
    fn stamps_are_unique() {
        let pending = Pending::default();
        let stamps: Vec<u64> = (0..1000).map(|_| pending.expect(PEER).0).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }
}
