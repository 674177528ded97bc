//! The async suite (feature `async`): the same promises kept through
//! `tidenet_core::asynch`, whose futures wait until the transport's `poll`
//! reports a change and whose net task waits for the link signal. A
//! transport that forgets to report a change leaves a task here waiting,
//! and so does a missed link signal where no deadline of the transport's
//! has it polled anyway. The harness then fails the case.
//!
//! A transport's crate runs it from a test file with
//! [`async_suite!`](crate::async_suite), handing in a [`Harness`]. The
//! harness builds two nodes, each a transport with its clock, link signal
//! and net task. It runs a [`Case`]'s two tasks on its own executor: node
//! A's task beside A's net task, node B's beside B's. The simulator runs
//! TCP/IP in virtual time; the Thunderbolt transport runs on loopback by the
//! wall clock. A case is written once, against [`Net`], for any transport
//! and any clock. So it checks what arrived and which error was named,
//! never how long anything took. Where the two tasks must act in order
//! (B listens before A connects, B waits before A wakes it), one tells the
//! other with a flag outside the transport, never with a timer.
//!
//! Claims work as in the blocking suite: every future of an unclaimed
//! feature answers [`Error::Unsupported`].

use std::cell::Cell;
use std::future::poll_fn;
use std::net::IpAddr;
use std::task::{Poll, Waker};
use std::vec::Vec;

use embassy_futures::join::{join, join3};
use embedded_io_async::{Error as _, ErrorKind, Read, Write};
use tidenet_core::asynch::{Clock, Net, Stream};
use tidenet_core::time::Duration;
use tidenet_core::{Error, LinkState, Transport};

use crate::{Claims, Conditions};

/// Node A's task and node B's, for any transport and clock.
// As in `tidenet_core::asynch`: the tasks run on one executor on one
// thread, so their futures need not be `Send`.
#[allow(async_fn_in_trait)]
pub trait Case {
    /// Node A's task, with A's handle.
    async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>);
    /// Node B's task, with B's handle.
    async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>);
}

/// Two nodes on one link and the executor their tasks run on.
pub trait Harness {
    /// Two different ports that nothing on either node listens on.
    fn ports(&self) -> (u16, u16);

    /// Bytes a stream case moves each way. It must be more than the two ends
    /// can buffer between them. Then a sender must wait for room, and a
    /// stream finishes only if its peer reads while it writes.
    fn bulk(&self) -> usize;

    /// Builds two fresh nodes under `conditions`, each with its clock, link
    /// signal and net task. Runs `case.a` on node A and `case.b` on node B
    /// until both finish. Panics if they have not finished by the harness's
    /// limit, so that a task nothing wakes fails the case instead of
    /// hanging it.
    ///
    /// The executor must poll a task only when that task's own waker fires,
    /// as a real one does. One that polls every task whenever any is woken
    /// lets a task find what it waits for without being woken, and hides
    /// the wake-up that the transport forgot.
    fn run(&self, conditions: Conditions, case: &impl Case);
}

/// Runs every case as its own `#[test]`: `async_suite!(harness, CLAIMS);`
#[macro_export]
macro_rules! async_suite {
    ($harness:expr, $claims:expr) => {
        $crate::async_suite!(@cases $harness, $claims;
            link_up_names_the_peer, streams_carry_bytes_both_ways_at_once,
            streams_carry_bytes_both_ways_over_a_lossy_link,
            waiting_tasks_are_woken_by_a_connect_bytes_and_a_close,
            a_cancelled_recv_leaves_the_stream_usable,
            a_cancelled_send_loses_no_byte_it_reported,
            a_refused_connect_says_stream_closed, a_dropped_stream_reads_to_the_end_then_ok_0,
            an_aborted_stream_reads_as_a_reset, datagrams_cross_with_their_sender,
            pings_take_turns_and_each_gets_a_round_trip);
    };
    (@cases $harness:expr, $claims:expr; $($case:ident),*) => {
        $(
            #[test]
            fn $case() {
                $crate::asynch::$case(&$harness, $claims);
            }
        )*
    };
}

/// How long a case lets a task wait before it cancels it. Only a task
/// that cannot go on is cancelled, so a slow machine changes nothing.
const A_WHILE: Duration = Duration::from_millis(10);
/// A ping's timeout: long enough for any round trip.
const PING_TIMEOUT: Duration = Duration::from_secs(5);
/// Bytes moved per `send` or `recv` call, at most.
const CHUNK: usize = 64 * 1024;
/// What the short-message cases send.
const MESSAGE: &[u8] = b"high water at the bittide";

/// One task telling the other's that it has got somewhere: how a case
/// orders what the two nodes do without a timer.
#[derive(Default)]
struct Flag {
    set: Cell<bool>,
    waiter: Cell<Option<Waker>>,
}

impl Flag {
    fn set(&self) {
        self.set.set(true);
        if let Some(waker) = self.waiter.take() {
            waker.wake();
        }
    }

    async fn wait(&self) {
        poll_fn(|cx| {
            if self.set.get() {
                return Poll::Ready(());
            }
            self.waiter.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// Checks that every future of an unclaimed feature said `Unsupported`.
fn unsupported(what: &str, answers: &[Option<Error>]) {
    for (i, answer) in answers.iter().enumerate() {
        assert_eq!(
            *answer,
            Some(Error::Unsupported),
            "{what}: future {i} must say it is unsupported"
        );
    }
}

/// Byte `offset` of stream `salt`. Each salt gives its own sequence, and
/// none repeats within a case's reach, so a lost, repeated or reordered
/// chunk reads wrong.
fn byte(salt: u64, offset: usize) -> u8 {
    // splitmix64 of the 8-byte word the offset falls in.
    let mut z = ((offset as u64 / 8) ^ (salt << 56)).wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    (z ^ (z >> 31)).to_le_bytes()[offset % 8]
}

/// Bytes `offset..offset + len` of stream `salt`.
fn pattern(salt: u64, offset: usize, len: usize) -> Vec<u8> {
    (offset..offset + len).map(|i| byte(salt, i)).collect()
}

/// The bytes of stream `salt` that have arrived so far, checked as they
/// come, so that a case of many MiB keeps none of them.
struct Arriving {
    salt: u64,
    len: usize,
    what: &'static str,
}

impl Arriving {
    fn new(salt: u64, what: &'static str) -> Self {
        Arriving { salt, len: 0, what }
    }

    fn take(&mut self, bytes: &[u8]) {
        for (i, &b) in bytes.iter().enumerate() {
            assert!(
                b == byte(self.salt, self.len + i),
                "{}: byte {} arrived changed or out of order",
                self.what,
                self.len + i
            );
        }
        self.len += bytes.len();
    }
}

/// Sends the first `len` bytes of stream `salt` with `Stream::send`, which
/// takes `&self`, so that the task can receive on the stream at the same
/// time.
async fn send_stream<T: Transport, C: Clock>(stream: &Stream<'_, T, C>, salt: u64, len: usize) {
    let (mut chunk, mut start, mut sent) = (Vec::new(), 0, 0);
    while sent < len {
        if sent == start + chunk.len() {
            start = sent;
            chunk = pattern(salt, start, CHUNK.min(len - start));
        }
        sent += stream.send(&chunk[sent - start..]).await.expect("send");
    }
}

/// Receives the first `len` bytes of stream `salt`, checking each.
async fn recv_stream<T: Transport, C: Clock>(
    stream: &Stream<'_, T, C>,
    salt: u64,
    len: usize,
    what: &'static str,
) {
    let mut buf = std::vec![0u8; CHUNK];
    let mut arriving = Arriving::new(salt, what);
    while arriving.len < len {
        let n = stream.recv(&mut buf).await.expect(what);
        arriving.take(&buf[..n]);
    }
}

/// Receives until the peer closes; returns what arrived.
async fn recv_to_end<T: Transport, C: Clock>(stream: &Stream<'_, T, C>) -> Vec<u8> {
    let (mut got, mut buf) = (Vec::new(), std::vec![0u8; CHUNK]);
    loop {
        match stream.recv(&mut buf).await {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Error::StreamClosed(_)) => return got,
            Err(e) => panic!("recv before the end of the stream: {e}"),
        }
    }
}

/// Listens on `port`, then tells A so; A may connect from then on.
fn listen<T: Transport, C: Clock>(net: Net<'_, T, C>, port: u16, listening: &Flag) {
    net.with(|t| t.listen(port)).expect("listen");
    listening.set();
}

/// Waits until B listens, then connects to it.
async fn connect<'a, T: Transport, C: Clock>(
    net: Net<'a, T, C>,
    port: u16,
    listening: &Flag,
) -> Stream<'a, T, C> {
    let peer = net.link_up().await;
    listening.wait().await;
    net.connect(peer, port).await.expect("connect")
}

/// The link comes up on both ends, each learns the other's address from
/// it, and says the link is up. The stub's link does too.
pub fn link_up_names_the_peer(harness: &impl Harness, _claims: Claims) {
    struct LinkUp {
        /// Each node's own address and the peer's that `link_up` gave.
        seen: [Cell<Option<(IpAddr, IpAddr)>>; 2],
    }
    impl LinkUp {
        async fn up<T: Transport, C: Clock>(&self, node: usize, net: Net<'_, T, C>) {
            let peer = net.link_up().await;
            assert_eq!(net.with(|t| t.link_state()), LinkState::Up);
            self.seen[node].set(Some((net.with(|t| t.local_addr()), peer)));
        }
    }
    impl Case for LinkUp {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            self.up(0, net).await;
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            self.up(1, net).await;
        }
    }
    let case = LinkUp {
        seen: Default::default(),
    };
    harness.run(Conditions::Clean, &case);
    let [a, b] = case.seen.map(|s| s.get().expect("the link came up"));
    assert_eq!(a.1, b.0, "A's link_up must give B's address");
    assert_eq!(b.1, a.0, "B's link_up must give A's address");
}

/// Three flows at once on two streams. One stream carries `bulk` bytes
/// each way, sent and received by one task on each end. The other carries
/// `bulk` bytes from A to B through embedded-io-async's `Write` and `Read`,
/// and its close reads as the end. Every sender writes more than the ends
/// can buffer, so no flow finishes unless its peer reads while it writes.
struct BothWays {
    claims: Claims,
    ports: (u16, u16),
    bulk: usize,
    listening: Flag,
}

/// The salts of the three flows.
const A_TO_B: u64 = 1;
const B_TO_A: u64 = 2;
const ONE_WAY: u64 = 3;

impl Case for BothWays {
    async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
        let (two, one) = self.ports;
        if !self.claims.streams {
            let peer = net.link_up().await;
            unsupported(
                "streams",
                &[
                    net.with(|t| t.listen(two)).err(),
                    net.connect(peer, two).await.err(),
                    net.accept(two).await.err(),
                ],
            );
            return;
        }
        let both_ways = connect(net, two, &self.listening).await;
        let mut one_way = connect(net, one, &self.listening).await;
        let bulk = self.bulk;
        let write = async {
            for start in (0..bulk).step_by(CHUNK) {
                let chunk = pattern(ONE_WAY, start, CHUNK.min(bulk - start));
                one_way.write_all(&chunk).await.expect("write_all");
            }
            one_way.close().await.expect("close once B has every byte");
        };
        join3(
            send_stream(&both_ways, A_TO_B, bulk),
            recv_stream(&both_ways, B_TO_A, bulk, "B to A"),
            write,
        )
        .await;
        both_ways
            .close()
            .await
            .expect("close once B has every byte");
        let stats = net.with(|t| t.stats());
        let bulk = bulk as u64;
        assert_eq!(
            (stats.stream_bytes_tx, stats.stream_bytes_rx),
            (2 * bulk, bulk)
        );
    }

    async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
        if !self.claims.streams {
            return;
        }
        let (two, one) = self.ports;
        net.with(|t| t.listen(two)).expect("listen");
        listen(net, one, &self.listening);
        let (both_ways, one_way) = join(net.accept(two), net.accept(one)).await;
        let (both_ways, mut one_way) = (both_ways.expect("accept"), one_way.expect("accept"));
        let bulk = self.bulk;
        let read = async {
            let mut arriving = Arriving::new(ONE_WAY, "A to B, one way");
            let mut buf = std::vec![0u8; CHUNK];
            loop {
                match one_way.read(&mut buf).await.expect("read") {
                    0 => break,
                    n => arriving.take(&buf[..n]),
                }
            }
            assert_eq!(arriving.len, bulk, "A to B, one way: bytes before the end");
        };
        join3(
            send_stream(&both_ways, B_TO_A, bulk),
            recv_stream(&both_ways, A_TO_B, bulk, "A to B"),
            read,
        )
        .await;
        both_ways
            .close()
            .await
            .expect("close once A has every byte");
        let stats = net.with(|t| t.stats());
        let bulk = bulk as u64;
        assert_eq!(
            (stats.stream_bytes_tx, stats.stream_bytes_rx),
            (bulk, 2 * bulk)
        );
    }
}

fn both_ways(harness: &impl Harness, claims: Claims, conditions: Conditions) {
    harness.run(
        conditions,
        &BothWays {
            claims,
            ports: harness.ports(),
            bulk: harness.bulk(),
            listening: Flag::default(),
        },
    );
}

/// Streams carry bytes intact and in order, both ways at once, and a
/// close flushes and reads as the end.
pub fn streams_carry_bytes_both_ways_at_once(harness: &impl Harness, claims: Claims) {
    both_ways(harness, claims, Conditions::Clean);
}

/// The same over a link that loses and corrupts writes.
pub fn streams_carry_bytes_both_ways_over_a_lossy_link(harness: &impl Harness, claims: Claims) {
    both_ways(harness, claims, Conditions::Lossy);
}

/// B waits in `accept` before A connects, in `recv` before A sends, and in
/// `recv` again before A closes. Only the transport's `poll` reporting the
/// change, after the link signal woke the net task, can wake it each time.
pub fn waiting_tasks_are_woken_by_a_connect_bytes_and_a_close(
    harness: &impl Harness,
    claims: Claims,
) {
    struct Woken {
        port: u16,
        listening: Flag,
        reading: Flag,
        reading_again: Flag,
    }
    impl Case for Woken {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let mut stream = connect(net, self.port, &self.listening).await;
            self.reading.wait().await;
            stream.write_all(MESSAGE).await.expect("write_all");
            self.reading_again.wait().await;
            stream.close().await.expect("close once B has every byte");
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            listen(net, self.port, &self.listening);
            let stream = net.accept(self.port).await.expect("accept");
            self.reading.set();
            let mut got = std::vec![0u8; MESSAGE.len()];
            let mut len = 0;
            while len < got.len() {
                len += stream.recv(&mut got[len..]).await.expect("recv");
            }
            assert_eq!(got, MESSAGE);
            self.reading_again.set();
            assert!(
                matches!(stream.recv(&mut [0; 16]).await, Err(Error::StreamClosed(_))),
                "after the message, the peer's close reads as the end"
            );
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Clean,
        &Woken {
            port: harness.ports().0,
            listening: Flag::default(),
            reading: Flag::default(),
            reading_again: Flag::default(),
        },
    );
}

/// A `recv` cancelled while it waits for bytes takes none, and leaves the
/// stream as it was: what the peer sends afterwards arrives whole.
pub fn a_cancelled_recv_leaves_the_stream_usable(harness: &impl Harness, claims: Claims) {
    struct CancelledRecv {
        port: u16,
        listening: Flag,
        cancelled: Flag,
    }
    impl Case for CancelledRecv {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let mut stream = connect(net, self.port, &self.listening).await;
            self.cancelled.wait().await;
            stream.write_all(MESSAGE).await.expect("write_all");
            stream.close().await.expect("close once B has every byte");
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            listen(net, self.port, &self.listening);
            let stream = net.accept(self.port).await.expect("accept");
            let mut buf = [0u8; 16];
            for _ in 0..3 {
                // A sends nothing until told, so each waits until cancelled.
                let waited = net.with_timeout(A_WHILE, stream.recv(&mut buf)).await;
                assert!(matches!(waited, Err(Error::Timeout)), "{waited:?}");
            }
            self.cancelled.set();
            assert_eq!(recv_to_end(&stream).await, MESSAGE);
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Clean,
        &CancelledRecv {
            port: harness.ports().0,
            listening: Flag::default(),
            cancelled: Flag::default(),
        },
    );
}

/// A `send` cancelled while it waits for room loses none of the bytes
/// `send` reported taken, and queues none it did not. B reads nothing
/// until A has cancelled, so A's sends fill both ends' buffers, and one
/// then waits until it is cancelled. Some of the reported bytes are still
/// unacknowledged at that point. Then B reads to the end, and exactly the
/// reported bytes arrive, in order.
pub fn a_cancelled_send_loses_no_byte_it_reported(harness: &impl Harness, claims: Claims) {
    struct CancelledSend {
        port: u16,
        bulk: usize,
        listening: Flag,
        cancelled: Flag,
        reported: Cell<usize>,
    }
    impl Case for CancelledSend {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let stream = connect(net, self.port, &self.listening).await;
            let (mut chunk, mut start, mut sent) = (Vec::new(), 0, 0);
            loop {
                if sent == start + chunk.len() {
                    start = sent;
                    chunk = pattern(A_TO_B, start, CHUNK);
                }
                match net
                    .with_timeout(A_WHILE, stream.send(&chunk[sent - start..]))
                    .await
                {
                    Ok(n) => sent += n.expect("send"),
                    // It waited for room: dropped unfinished.
                    Err(_) => break,
                }
                assert!(
                    sent <= self.bulk,
                    "{sent} bytes taken while B read none: the harness's bulk must be more \
                     than the ends buffer"
                );
            }
            let unacknowledged = net.with(|t| t.send_queue(stream.id())).expect("send_queue");
            assert!(
                unacknowledged > 0 && unacknowledged < sent,
                "{unacknowledged} of {sent} bytes unacknowledged when the send was cancelled"
            );
            self.reported.set(sent);
            self.cancelled.set();
            stream.close().await.expect("close once B has every byte");
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            listen(net, self.port, &self.listening);
            let stream = net.accept(self.port).await.expect("accept");
            self.cancelled.wait().await;
            let mut arriving = Arriving::new(A_TO_B, "A to B");
            arriving.take(&recv_to_end(&stream).await);
            assert_eq!(
                arriving.len,
                self.reported.get(),
                "exactly the bytes send reported must arrive"
            );
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Lossy,
        &CancelledSend {
            port: harness.ports().0,
            bulk: harness.bulk(),
            listening: Flag::default(),
            cancelled: Flag::default(),
            reported: Cell::new(0),
        },
    );
}

/// A connect to a port nobody listens on gives `StreamClosed`.
pub fn a_refused_connect_says_stream_closed(harness: &impl Harness, claims: Claims) {
    struct Refused {
        port: u16,
    }
    impl Case for Refused {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let peer = net.link_up().await;
            let refused = net.connect(peer, self.port).await.err();
            assert!(
                matches!(refused, Some(Error::StreamClosed(_))),
                "{refused:?}"
            );
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            net.link_up().await;
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Clean,
        &Refused {
            port: harness.ports().0,
        },
    );
}

/// A stream dropped straight after its last write, with bytes still in
/// flight, is the clean end at the peer: `Read::read` gives every byte, in
/// order, and only then `Ok(0)`.
pub fn a_dropped_stream_reads_to_the_end_then_ok_0(harness: &impl Harness, claims: Claims) {
    struct Dropped {
        port: u16,
        bulk: usize,
        listening: Flag,
    }
    impl Case for Dropped {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let mut stream = connect(net, self.port, &self.listening).await;
            for start in (0..self.bulk).step_by(CHUNK) {
                let chunk = pattern(ONE_WAY, start, CHUNK.min(self.bulk - start));
                stream.write_all(&chunk).await.expect("write_all");
            }
            // Closes without waiting for the peer's acknowledgements.
            drop(stream);
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            listen(net, self.port, &self.listening);
            let mut stream = net.accept(self.port).await.expect("accept");
            let mut arriving = Arriving::new(ONE_WAY, "A to B before the close");
            let mut buf = std::vec![0u8; CHUNK];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) => break,
                    Ok(n) => arriving.take(&buf[..n]),
                    Err(e) => panic!("a close must read as Ok(0), not {e}"),
                }
            }
            assert_eq!(arriving.len, self.bulk, "bytes before Ok(0)");
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Clean,
        &Dropped {
            port: harness.ports().0,
            bulk: harness.bulk(),
            listening: Flag::default(),
        },
    );
}

/// A stream aborted mid-transfer is an error at the peer, never `Ok(0)`:
/// `Read::read` gives `StreamReset`, of kind `ConnectionReset`, after a
/// part of what was sent, intact. A `read_to_end` loop therefore fails
/// rather than taking the part for the whole. B's own bytes that A never
/// acknowledged (B wrote until A's buffers were full) make B's `flush`
/// fail with `StreamReset` too.
pub fn an_aborted_stream_reads_as_a_reset(harness: &impl Harness, claims: Claims) {
    struct Aborted {
        port: u16,
        bulk: usize,
        listening: Flag,
        /// B has read the message.
        read: Flag,
        /// B has written until it had to wait for room.
        full: Flag,
    }
    impl Case for Aborted {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let mut stream = connect(net, self.port, &self.listening).await;
            stream.write_all(MESSAGE).await.expect("write_all");
            self.read.wait().await;
            // Bytes in flight, which the abort drops.
            let rest = pattern(A_TO_B, 0, self.bulk.min(CHUNK));
            stream.send(&rest).await.expect("send");
            self.full.wait().await;
            stream.abort().map_err(|(_, e)| e).expect("abort");
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            listen(net, self.port, &self.listening);
            let mut stream = net.accept(self.port).await.expect("accept");
            let mut got = std::vec![0u8; MESSAGE.len()];
            stream.read_exact(&mut got).await.expect("read_exact");
            assert_eq!(got, MESSAGE);
            self.read.set();
            // A reads nothing, so a send comes to wait for room.
            let chunk = pattern(B_TO_A, 0, CHUNK);
            let mut sent = 0;
            while let Ok(n) = net.with_timeout(A_WHILE, stream.send(&chunk)).await {
                sent += n.expect("send");
                assert!(
                    sent <= self.bulk,
                    "the harness's bulk must be more than the ends buffer"
                );
            }
            let unacknowledged = net.with(|t| t.send_queue(stream.id())).expect("send_queue");
            assert!(unacknowledged > 0, "B's bytes wait for A's room");
            self.full.set();
            let mut arriving = Arriving::new(A_TO_B, "A to B before the reset");
            let mut buf = std::vec![0u8; CHUNK];
            let end = loop {
                match stream.read(&mut buf).await {
                    Ok(0) => panic!("an abort read as the clean end, Ok(0)"),
                    Ok(n) => arriving.take(&buf[..n]),
                    Err(e) => break e,
                }
            };
            let id = stream.id().0;
            assert_eq!(end, Error::StreamReset(id));
            assert_eq!(end.kind(), ErrorKind::ConnectionReset);
            assert_eq!(
                stream.flush().await,
                Err(Error::StreamReset(id)),
                "bytes A never acknowledged are lost to a reset"
            );
        }
    }
    if !claims.streams {
        return; // streams_carry_bytes_both_ways_at_once checks they say unsupported
    }
    harness.run(
        Conditions::Clean,
        &Aborted {
            port: harness.ports().0,
            bulk: harness.bulk(),
            listening: Flag::default(),
            read: Flag::default(),
            full: Flag::default(),
        },
    );
}

/// A datagram goes from A to B and an answer comes back, each whole and
/// from the peer that sent it.
pub fn datagrams_cross_with_their_sender(harness: &impl Harness, claims: Claims) {
    struct Datagrams {
        claims: Claims,
    }
    impl Case for Datagrams {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let peer = net.link_up().await;
            let mut buf = [0u8; 64];
            if !self.claims.datagrams {
                unsupported(
                    "datagrams",
                    &[
                        net.send_datagram(peer, b"x").await.err(),
                        net.recv_datagram(&mut buf).await.err(),
                    ],
                );
                return;
            }
            net.send_datagram(peer, b"flood")
                .await
                .expect("send_datagram");
            let (from, n) = net.recv_datagram(&mut buf).await.expect("recv_datagram");
            assert_eq!((from, &buf[..n]), (peer, &b"ebb"[..]));
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let peer = net.link_up().await;
            if !self.claims.datagrams {
                return;
            }
            let mut buf = [0u8; 64];
            let (from, n) = net.recv_datagram(&mut buf).await.expect("recv_datagram");
            assert_eq!((from, &buf[..n]), (peer, &b"flood"[..]));
            net.send_datagram(from, b"ebb")
                .await
                .expect("send_datagram");
        }
    }
    harness.run(Conditions::Clean, &Datagrams { claims });
}

/// Two tasks ping three times each at once: they take turns, and each
/// ping gets its round trip. A third, given no time, gives up with
/// `Timeout`, unless its round trip is back when it first looks: on a host
/// the pong can come before the pinging thread runs again. Either way it
/// gives its turn back, and a last ping gets its round trip. The peer
/// answered every ping sent.
pub fn pings_take_turns_and_each_gets_a_round_trip(harness: &impl Harness, claims: Claims) {
    struct Pings {
        claims: Claims,
        /// A has its last pong.
        pinged: Flag,
        /// A's pings sent, and B's answered.
        sent: Cell<u64>,
        answered: Cell<u64>,
    }
    impl Case for Pings {
        async fn a<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            let peer = net.link_up().await;
            if !self.claims.ping {
                unsupported("ping", &[net.ping(peer, PING_TIMEOUT).await.err()]);
                return;
            }
            let pinger = || async move {
                for _ in 0..3 {
                    let rtt = net.ping(peer, PING_TIMEOUT).await.expect("ping");
                    assert!(rtt > Duration::ZERO);
                }
            };
            let impatient = async {
                let rtt = net.ping(peer, Duration::ZERO).await;
                assert!(matches!(rtt, Ok(_) | Err(Error::Timeout)), "{rtt:?}");
            };
            join3(pinger(), pinger(), impatient).await;
            // Its pong comes after the peer has answered every ping before
            // it, so the peer's count is final.
            net.ping(peer, PING_TIMEOUT).await.expect("the last ping");
            self.sent.set(net.with(|t| t.stats().pings_tx));
            self.pinged.set();
        }
        async fn b<T: Transport, C: Clock>(&self, net: Net<'_, T, C>) {
            if !self.claims.ping {
                return;
            }
            self.pinged.wait().await;
            self.answered.set(net.with(|t| t.stats().pings_answered));
        }
    }
    let case = Pings {
        claims,
        pinged: Flag::default(),
        sent: Cell::new(0),
        answered: Cell::new(0),
    };
    harness.run(Conditions::Clean, &case);
    if claims.ping {
        // The impatient ping sends its probe if it finds the turn free.
        let sent = case.sent.get();
        assert!(sent == 7 || sent == 8, "{sent} pings sent");
        assert_eq!(case.answered.get(), sent, "pings answered");
    }
}
