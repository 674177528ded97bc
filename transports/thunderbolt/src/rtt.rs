//! Pings waiting for their pong, and the sockets `measure_rtt` pings from.
//!
//! A ping through the `Transport` trait goes out on the control socket. The
//! control thread receives every datagram there, pongs included, and hands
//! each pong to the one ping it answers: same timestamp, from the peer that
//! was pinged. The original DCF let its receiver thread swallow pongs, so
//! `measure_rtt` timed out while the peer answered.
//!
//! `measure_rtt` blocks, so it pings from a socket of its own and receives
//! the pong itself ([`Pinger`]). Handing the pong over from the control
//! thread instead costs a third thread wake-up per round trip, which made
//! the caller wait 1.45 to 1.85 times as long as on a plain socket. The
//! transport has one such socket, made with the others when it is built;
//! a second caller pinging at the same time takes the control thread's
//! hand-off instead.

use std::collections::HashMap;
use std::io;
use std::net::{Ipv6Addr, UdpSocket};
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

/// A ping's round trip, on its way to the one who asked.
#[derive(Debug)]
pub(crate) struct Answer {
    rtt: Duration,
    reply: SyncSender<Duration>,
}

impl Answer {
    /// Hands the round trip over; an asker that gave up does not mind.
    pub fn deliver(self) {
        let _ = self.reply.try_send(self.rtt);
    }
}

#[derive(Debug)]
struct Waiter {
    peer: Ipv6Addr,
    sent: Instant,
    reply: SyncSender<Duration>,
}

impl Pending {
    /// A timestamp for a new ping: nanoseconds since the Unix epoch, as DCF
    /// stamps them, made unique so two pings never share one, whoever sends
    /// them.
    pub fn stamp(&self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let next = |last: u64| wall.max(last.wrapping_add(1));
        let last = self
            .last_stamp
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |last| {
                Some(next(last))
            })
            .unwrap_or_else(|last| last);
        next(last)
    }

    /// Registers a ping to `peer` and returns its timestamp, and where its
    /// round-trip time will arrive. The round trip is measured on the
    /// monotonic clock, so a clock step cannot distort it.
    pub fn expect(&self, peer: Ipv6Addr) -> (u64, Receiver<Duration>) {
        let stamp = self.stamp();
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

    /// Takes the ping a pong stamped `stamp` from `from` answers, if any:
    /// a late, forged or misdirected pong answers none.
    pub fn take(&self, stamp: u64, from: Ipv6Addr) -> Option<Answer> {
        let mut waiting = self.lock();
        if waiting.get(&stamp)?.peer != from {
            return None;
        }
        let waiter = waiting.remove(&stamp)?;
        Some(Answer {
            rtt: waiter.sent.elapsed(),
            reply: waiter.reply,
        })
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Waiter>> {
        lock(&self.waiting)
    }
}

/// A socket that pings, and the receive timeout it has now.
#[derive(Debug)]
pub(crate) struct Pinger {
    pub socket: UdpSocket,
    timeout: Option<Duration>,
}

impl Pinger {
    pub fn new(socket: UdpSocket) -> Self {
        Pinger {
            socket,
            timeout: None,
        }
    }

    /// Makes the next receive wait at most `timeout` (not zero). Set only
    /// when it changes: a ping with the same timeout as the last costs no
    /// system call for it.
    pub fn wait_at_most(&mut self, timeout: Duration) -> io::Result<()> {
        if self.timeout != Some(timeout) {
            self.socket.set_read_timeout(Some(timeout))?;
            self.timeout = Some(timeout);
        }
        Ok(())
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
            pending.take(stamp, Ipv6Addr::LOCALHOST).is_none(),
            "from another peer"
        );
        assert!(pending.take(stamp ^ 1, PEER).is_none(), "another timestamp");
        pending.take(stamp, PEER).expect("the answer").deliver();
        assert!(rtt.try_recv().is_ok());
        assert!(pending.take(stamp, PEER).is_none(), "a duplicate pong");
    }

    #[test]
    fn stamps_are_unique() {
        let pending = Pending::default();
        let stamps: Vec<u64> = (0..1000).map(|_| pending.expect(PEER).0).collect();
        assert!(stamps.windows(2).all(|w| w[0] < w[1]));
    }
}
