//! The transport under `tidenet_core::asynch` on `::1%lo`: its link signal
//! and `poll` report every change a task could see (bytes arrived, room
//! freed, acknowledgements, a datagram, a pong, a stream queued by the data
//! thread, a peer's reset), so tasks that wait are woken, and an idle
//! transport leaves its net task asleep.
//!
//! Both nodes' net tasks and the tasks that use them run on one thread,
//! driven by a minimal executor that parks the thread until a waker fires.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

use common::{free_ports, loopback_pair, pattern};
use embassy_futures::join::join;
use embassy_futures::select::{select, Either};
use tidenet_core::asynch::{self, Clock, Net, State, Stream};
use tidenet_core::time::Duration;
use tidenet_core::{Error, Transport};
use tidenet_thunderbolt::asynch::WallClock;
use tidenet_thunderbolt::Thunderbolt;

const PEER: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// How long a whole test may take before it fails instead of hanging.
const LIMIT: Duration = Duration::from_secs(20);
/// How long a peer outside the executor waits between steps, so that the
/// task it serves is asleep by then and must be woken. (No test asserts on
/// time: a slow machine only makes the task wait longer.)
const A_WHILE: std::time::Duration = std::time::Duration::from_millis(50);

/// Runs `future` on this thread, parking it until a waker fires.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

type Node<'a> = Net<'a, Thunderbolt, WallClock>;

/// Two transports on loopback, each with its net task; runs `app` with
/// both handles until it finishes. Past [`LIMIT`] the test fails: a task
/// that nothing wakes would otherwise be found only by the deadline, which
/// also polls it.
fn two_nodes<R>(app: impl AsyncFnOnce(Node<'_>, Node<'_>) -> R) -> R {
    let (mut a, mut b) = loopback_pair(|b| b, |b| b);
    let (signal_a, signal_b) = (
        a.link_signal().expect("A's link signal"),
        b.link_signal().expect("B's link signal"),
    );
    let clock = WallClock::new();
    let mut state_a = State::new(a, clock.clone());
    let mut state_b = State::new(b, clock);
    let (net_a, runner_a) = asynch::new(&mut state_a, signal_a);
    let (net_b, runner_b) = asynch::new(&mut state_b, signal_b);
    let clock = net_a.clock();
    let limit = select(clock.at(clock.now() + LIMIT), app(net_a, net_b));
    match block_on(select(join(runner_a.run(), runner_b.run()), limit)) {
        Either::First(_) => unreachable!("the net tasks never end"),
        Either::Second(Either::First(())) => panic!("the test did not finish in {LIMIT:?}"),
        Either::Second(Either::Second(result)) => result,
    }
}

async fn send_all<T: Transport, C: Clock>(stream: &Stream<'_, T, C>, mut data: &[u8]) {
    while !data.is_empty() {
        let n = stream.send(data).await.expect("send");
        data = &data[n..];
    }
}

async fn recv_exact<T: Transport, C: Clock>(stream: &Stream<'_, T, C>, len: usize) -> Vec<u8> {
    let mut got = Vec::with_capacity(len);
    let mut buf = vec![0u8; 64 << 10];
    while got.len() < len {
        let n = stream.recv(&mut buf).await.expect("recv");
        got.extend_from_slice(&buf[..n]);
    }
    got
}

#[test]
fn streams_carry_bytes_both_ways_and_close_reaches_the_peer() {
    const LEN: usize = 8 << 20;
    let port = free_ports().0;
    two_nodes(async |a, b| {
        b.with(|t| t.listen(port)).expect("listen");
        let (to_b, at_b) = join(a.connect(PEER, port), b.accept(port)).await;
        let (to_b, at_b) = (to_b.expect("connect"), at_b.expect("accept"));
        let (ab, ba) = (pattern(LEN, 1), pattern(LEN, 2));
        // Each side writes more than the socket buffers hold while the
        // other reads, so both wait for room and for bytes.
        let ((), got_at_b, (), got_at_a) = {
            let ((s1, r1), (s2, r2)) = join(
                join(send_all(&to_b, &ab), recv_exact(&at_b, LEN)),
                join(send_all(&at_b, &ba), recv_exact(&to_b, LEN)),
            )
            .await;
            (s1, r1, s2, r2)
        };
        assert!(got_at_b == ab, "A to B arrived changed");
        assert!(got_at_a == ba, "B to A arrived changed");
        // Close waits until B has every byte, then B reads the end.
        to_b.close().await.expect("close flushes");
        let mut buf = [0u8; 16];
        assert!(matches!(
            at_b.recv(&mut buf).await,
            Err(Error::StreamClosed(_))
        ));
    });
}

#[test]
fn datagrams_and_pings_are_futures() {
    two_nodes(async |a, b| {
        a.send_datagram(PEER, b"hello, B").await.expect("send");
        let mut buf = [0u8; 64];
        let (from, n) = b.recv_datagram(&mut buf).await.expect("recv");
        assert_eq!((from, &buf[..n]), (PEER, &b"hello, B"[..]));
        for _ in 0..10 {
            let rtt = a.ping(PEER, Duration::from_secs(5)).await.expect("ping");
            assert!(rtt > Duration::ZERO);
        }
        assert_eq!(b.with(|t| t.stats().pings_answered), 10);
    });
}

#[test]
fn a_stream_the_data_thread_queues_wakes_accept() {
    two_nodes(async |_a, b| {
        let data_port = b.with(|t| t.data_addr().expect("data port").port());
        b.with(|t| t.listen(data_port))
            .expect("listen on the data port");
        let dcf_peer = thread::spawn(move || {
            // Each step a while after the last, so that the task is
            // already waiting for it: only the link signal can wake it.
            thread::sleep(A_WHILE);
            let mut stream = TcpStream::connect(("::1", data_port)).expect("connect");
            thread::sleep(A_WHILE);
            stream.write_all(b"from a DCF peer").expect("write");
            thread::sleep(A_WHILE);
            stream.shutdown(Shutdown::Write).expect("FIN");
        });
        let stream = b.accept(data_port).await.expect("accept");
        assert_eq!(recv_exact(&stream, 15).await, b"from a DCF peer");
        let mut buf = [0u8; 1];
        assert!(matches!(
            stream.recv(&mut buf).await,
            Err(Error::StreamClosed(_))
        ));
        dcf_peer.join().expect("the peer's thread");
    });
}

#[test]
fn a_peers_reset_reaches_a_waiting_task() {
    let listener = TcpListener::bind("[::1]:0").expect("bind");
    let port = listener.local_addr().unwrap().port();
    let resetter = thread::spawn(move || {
        let (mut stream, _) = listener.accept().expect("accept");
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).expect("the task's byte");
        // A while later, so that the task already waits to receive.
        thread::sleep(A_WHILE);
        socket2::SockRef::from(&stream)
            .set_linger(Some(std::time::Duration::ZERO))
            .unwrap();
        // Dropped with a zero linger: a reset.
    });
    two_nodes(async |a, _b| {
        let stream = a.connect(PEER, port).await.expect("connect");
        send_all(&stream, b"x").await;
        let mut buf = [0u8; 16];
        assert!(matches!(
            stream.recv(&mut buf).await,
            Err(Error::StreamClosed(_))
        ));
    });
    resetter.join().expect("the resetting peer");
}

#[test]
fn an_idle_transport_leaves_its_net_task_asleep() {
    let (mut a, _b) = loopback_pair(|b| b, |b| b);
    let signal = a.link_signal().expect("link signal");
    let mut state = State::new(a, WallClock::new());
    {
        let (net, runner) = asynch::new(&mut state, signal);
        let idle = async {
            let mut buf = [0u8; 16];
            let waited = net
                .with_timeout(Duration::from_millis(200), net.recv_datagram(&mut buf))
                .await;
            assert!(matches!(waited, Err(Error::Timeout)), "nothing was sent");
        };
        match block_on(select(runner.run(), idle)) {
            Either::First(_) => unreachable!("the net task never ends"),
            Either::Second(()) => {}
        }
    }
    let polls = state.polls();
    assert!(polls <= 4, "{polls} polls while nothing happened");
}
