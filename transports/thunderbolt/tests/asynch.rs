//! The transport under `tidenet_core::asynch` on `::1%lo`. The async
//! conformance suite runs here, claiming streams, datagrams and ping. Here
//! besides are the wake paths only this transport has: a stream its data
//! thread queues wakes `accept`, a peer's reset reaches a task waiting in
//! `recv`, and an idle transport leaves its net task asleep.
//!
//! Both nodes' net tasks and the tasks that use them run on one thread,
//! each polled only when its own waker fires, as on a real executor.

mod common;

use std::future::Future;
use std::io::{Read, Write};
use std::net::{IpAddr, Ipv6Addr, Shutdown, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::Arc;
use std::task::{Context, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Instant;

use common::loopback_pair;
use tidenet_conformance::asynch::{Case, Harness};
use tidenet_conformance::{async_suite, Claims, Conditions};
use tidenet_core::asynch::{self, Clock, Net, State, Stream};
use tidenet_core::time::Duration;
use tidenet_core::{Error, Transport};
use tidenet_thunderbolt::asynch::WallClock;
use tidenet_thunderbolt::Thunderbolt;

const PEER: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// How long a whole test may take before it fails instead of hanging.
const LIMIT: std::time::Duration = std::time::Duration::from_secs(20);
/// How long a peer outside the executor waits between steps, so that the
/// task it serves is asleep by then and must be woken. (No test asserts on
/// time: a slow machine only makes the task wait longer.)
const A_WHILE: std::time::Duration = std::time::Duration::from_millis(50);

type Task<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// `future` as a task for [`run`], its output dropped: a net task has none.
fn task<'a>(future: impl Future + 'a) -> Task<'a> {
    Box::pin(async move {
        future.await;
    })
}

/// A task's waker: marks the task ready and unparks the executor.
struct Ready {
    ready: AtomicBool,
    executor: Thread,
}

impl Wake for Ready {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.ready.store(true, Ordering::Release);
        self.executor.unpark();
    }
}

/// Runs `apps` to their end on this thread, with `nets`, which never end,
/// beside them; parks the thread while no task is ready.
///
/// Each task is polled only when its own waker fires. A wake-up that the
/// transport or its link signal forgets then leaves the task that needed it
/// waiting, and past [`LIMIT`] the test fails. With one waker for all, any
/// wake-up would poll every task and hide the one forgotten.
fn run(nets: Vec<Task<'_>>, apps: Vec<Task<'_>>) {
    let executor = thread::current();
    let apps_from = nets.len();
    let mut tasks: Vec<_> = nets
        .into_iter()
        .chain(apps)
        .map(|future| {
            let ready = Arc::new(Ready {
                ready: AtomicBool::new(true),
                executor: executor.clone(),
            });
            (Some(future), ready)
        })
        .collect();
    let deadline = Instant::now() + LIMIT;
    loop {
        for (future, ready) in &mut tasks {
            let Some(running) = future else { continue };
            if !ready.ready.swap(false, Ordering::AcqRel) {
                continue;
            }
            let waker = Waker::from(ready.clone());
            if running
                .as_mut()
                .poll(&mut Context::from_waker(&waker))
                .is_ready()
            {
                *future = None;
            }
        }
        if tasks[apps_from..]
            .iter()
            .all(|(future, _)| future.is_none())
        {
            return;
        }
        if tasks
            .iter()
            .any(|(_, ready)| ready.ready.load(Ordering::Acquire))
        {
            continue;
        }
        let now = Instant::now();
        assert!(
            now < deadline,
            "the test did not finish in {LIMIT:?}: a task waits for a wake-up that never came"
        );
        thread::park_timeout(deadline - now);
    }
}

type Node<'a> = Net<'a, Thunderbolt, WallClock>;

/// Two transports on loopback, each with its net task; runs `a` with A's
/// handle and `b` with B's, each its own task, until both finish.
fn two_nodes(a: impl AsyncFnOnce(Node<'_>), b: impl AsyncFnOnce(Node<'_>)) {
    let (mut ta, mut tb) = loopback_pair(|b| b, |b| b);
    let (signal_a, signal_b) = (
        ta.link_signal().expect("A's link signal"),
        tb.link_signal().expect("B's link signal"),
    );
    let clock = WallClock::new();
    let mut state_a = State::new(ta, clock.clone());
    let mut state_b = State::new(tb, clock);
    let (net_a, runner_a) = asynch::new(&mut state_a, signal_a);
    let (net_b, runner_b) = asynch::new(&mut state_b, signal_b);
    run(
        vec![task(runner_a.run()), task(runner_b.run())],
        vec![task(a(net_a)), task(b(net_b))],
    );
}

/// The suite's harness: [`two_nodes`], each case on fresh transports and
/// fresh ports. The kernel's TCP recovers any loss on loopback, so the
/// lossy cases run on the clean link, as in the blocking suite.
struct OnLoopback;

impl Harness for OnLoopback {
    /// Ports below the kernel's ephemeral range (32768 and up), which the
    /// OS never hands out itself. A port `free_ports` found free could be
    /// handed to another test's transport before B listens on it; these
    /// cannot. Each call gets two of its own. The process id picks where
    /// they start, so that two test processes at once seldom share them.
    fn ports(&self) -> (u16, u16) {
        static NEXT: AtomicU16 = AtomicU16::new(0);
        let base = 20_000 + (std::process::id() % 600) as u16 * 20;
        let n = NEXT.fetch_add(2, Ordering::Relaxed) % 20;
        (base + n, base + n + 1)
    }

    /// Each end asks for 4 MiB socket buffers, which the kernel doubles:
    /// 16 MiB between them, at most.
    fn bulk(&self) -> usize {
        32 << 20
    }

    fn run(&self, _: Conditions, case: &impl Case) {
        two_nodes(async |a| case.a(a).await, async |b| case.b(b).await);
    }
}

async_suite!(
    OnLoopback,
    Claims {
        streams: true,
        datagrams: true,
        ping: true,
    }
);

/// Receives until the peer closes; returns what arrived.
async fn recv_to_end<T: Transport, C: Clock>(stream: &Stream<'_, T, C>) -> Vec<u8> {
    let (mut got, mut buf) = (Vec::new(), [0u8; 64]);
    loop {
        match stream.recv(&mut buf).await {
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(Error::StreamClosed(_)) => return got,
            Err(e) => panic!("recv before the end of the stream: {e}"),
        }
    }
}

#[test]
fn a_stream_the_data_thread_queues_wakes_accept() {
    two_nodes(
        async |_| {},
        async |b| {
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
            assert_eq!(recv_to_end(&stream).await, b"from a DCF peer");
            dcf_peer.join().expect("the peer's thread");
        },
    );
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
    two_nodes(
        async |a| {
            let stream = a.connect(PEER, port).await.expect("connect");
            assert_eq!(stream.send(b"x").await, Ok(1));
            let mut buf = [0u8; 16];
            // A reset, not the clean end a FIN gives.
            assert_eq!(
                stream.recv(&mut buf).await,
                Err(Error::StreamReset(stream.id().0))
            );
        },
        async |_| {},
    );
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
        run(vec![task(runner.run())], vec![task(idle)]);
    }
    let polls = state.polls();
    assert!(polls <= 4, "{polls} polls while nothing happened");
}
