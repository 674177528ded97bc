//! Counters shared by the transport's threads and its data streams.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use tidenet_core::Stats;

use crate::thunderbolt::lock;

/// What the transport turned away, lost or failed at, each counted apart
/// from the traffic it served. A refused or dropped thing is logged too, but
/// only now and then (see [`LOG_INTERVAL`](crate::LOG_INTERVAL)); these count
/// every one.
///
/// `tidenet_core::Stats` has the same fields on every transport, so these
/// are the host transport's own, from [`Thunderbolt::drops`](crate::Thunderbolt::drops).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Drops {
    /// Control datagrams from a host that is not the peer: dropped under
    /// [`Strangers::Refuse`](crate::Strangers::Refuse), delivered (and
    /// counted here too) under `Accept`.
    pub stranger_datagrams: u64,
    /// Data streams opened by a host that is not the peer: closed at once
    /// under `Refuse`, taken under `Accept`.
    pub stranger_streams: u64,
    /// Streams closed at once because [`STREAM_QUEUE`](crate::STREAM_QUEUE)
    /// accepted streams already waited unclaimed.
    pub streams_unclaimed: u64,
    /// Messages dropped because [`MESSAGE_QUEUE`](crate::MESSAGE_QUEUE)
    /// already waited unread. (`datagrams_rx` does not count them.)
    pub messages_dropped: u64,
    /// Pongs that answer no ping of ours: late (after `measure_rtt` gave
    /// up), duplicated or forged; and anything else that reaches a ping's
    /// own socket.
    pub pongs_unmatched: u64,
    /// Socket operations that failed, on the transport's threads or in a
    /// call: a receive, an accept, a send, a connect. Timeouts are not
    /// errors.
    pub errors: u64,
    /// Log lines held back by the rate limit.
    pub log_lines_suppressed: u64,
}

/// Every counter the transport keeps, shared by its threads, its calls and
/// its data streams.
#[derive(Debug)]
pub(crate) struct Counters {
    pub stream_bytes_tx: AtomicU64,
    pub stream_bytes_rx: AtomicU64,
    pub datagrams_tx: AtomicU64,
    pub datagrams_rx: AtomicU64,
    pub message_bytes_tx: AtomicU64,
    pub message_bytes_rx: AtomicU64,
    pub pings_tx: AtomicU64,
    pub pings_answered: AtomicU64,
    pub pongs_rx: AtomicU64,
    pub streams_opened: AtomicU64,
    pub streams_accepted: AtomicU64,
    pub stranger_datagrams: AtomicU64,
    pub stranger_streams: AtomicU64,
    pub streams_unclaimed: AtomicU64,
    pub messages_dropped: AtomicU64,
    pub pongs_unmatched: AtomicU64,
    pub errors: AtomicU64,
    pub log_lines_suppressed: AtomicU64,
    /// When the counters started from zero.
    since: Mutex<Instant>,
}

impl Default for Counters {
    fn default() -> Self {
        let zero = || AtomicU64::new(0);
        Counters {
            stream_bytes_tx: zero(),
            stream_bytes_rx: zero(),
            datagrams_tx: zero(),
            datagrams_rx: zero(),
            message_bytes_tx: zero(),
            message_bytes_rx: zero(),
            pings_tx: zero(),
            pings_answered: zero(),
            pongs_rx: zero(),
            streams_opened: zero(),
            streams_accepted: zero(),
            stranger_datagrams: zero(),
            stranger_streams: zero(),
            streams_unclaimed: zero(),
            messages_dropped: zero(),
            pongs_unmatched: zero(),
            errors: zero(),
            log_lines_suppressed: zero(),
            since: Mutex::new(Instant::now()),
        }
    }
}

/// Reads a counter.
pub(crate) fn get(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

impl Counters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// The counters every tidenet transport has. A host transport has no
    /// link layer of its own, so the frame and drop counters stay at zero.
    pub fn snapshot(&self) -> Stats {
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

    pub fn drops(&self) -> Drops {
        Drops {
            stranger_datagrams: get(&self.stranger_datagrams),
            stranger_streams: get(&self.stranger_streams),
            streams_unclaimed: get(&self.streams_unclaimed),
            messages_dropped: get(&self.messages_dropped),
            pongs_unmatched: get(&self.pongs_unmatched),
            errors: get(&self.errors),
            log_lines_suppressed: get(&self.log_lines_suppressed),
        }
    }

    /// How long the counters have been counting.
    pub fn counting_for(&self) -> Duration {
        lock(&self.since).elapsed()
    }

    pub fn reset(&self) {
        for counter in [
            &self.stream_bytes_tx,
            &self.stream_bytes_rx,
            &self.datagrams_tx,
            &self.datagrams_rx,
            &self.message_bytes_tx,
            &self.message_bytes_rx,
            &self.pings_tx,
            &self.pings_answered,
            &self.pongs_rx,
            &self.streams_opened,
            &self.streams_accepted,
            &self.stranger_datagrams,
            &self.stranger_streams,
            &self.streams_unclaimed,
            &self.messages_dropped,
            &self.pongs_unmatched,
            &self.errors,
            &self.log_lines_suppressed,
        ] {
            counter.store(0, Ordering::Relaxed);
        }
        *lock(&self.since) = Instant::now();
    }
}
