//! Two hosts joined by a link, as network namespaces joined by a veth pair:
//! each side's `thunderbolt0` has a real link-local address, and the
//! transports run with every default (ports 5000 and 5001, 64 MiB buffers).

mod common;

use std::net::{Ipv6Addr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::netns::{Veth, INTERFACE};
use common::{pattern, stream_through, PATIENCE};
use tidenet_thunderbolt::{Message, Thunderbolt, TransportError, DEFAULT_CONTROL_PORT};

fn transport() -> Thunderbolt {
    Thunderbolt::builder()
        .build()
        .expect("a transport with the defaults on thunderbolt0")
}

#[test]
fn defaults_bind_the_link_local_address_of_thunderbolt0() {
    let Some(veth) = Veth::new() else { return };
    veth.run(0, || {
        let t = transport();
        assert_eq!(t.interface(), INTERFACE);
        let control = t.control_addr().unwrap();
        assert_eq!(
            (*control.ip(), control.port()),
            (veth.ips[0], DEFAULT_CONTROL_PORT)
        );
        assert_ne!(control.scope_id(), 0, "a link-local address is scoped");
        assert_eq!(t.data_addr().unwrap().port(), 5001);
        assert_eq!(
            t.config().resolve("fe80::2%thunderbolt0").unwrap(),
            veth.ips[1]
        );
        let lo = t.config().resolve("fe80::2%lo").unwrap_err();
        assert!(matches!(lo, TransportError::InvalidAddress { .. }), "{lo}");
    });
}

#[test]
fn control_messages_echo_across_the_link() {
    let Some(veth) = Veth::new() else { return };
    let (ready_tx, ready) = mpsc::channel();
    let done = AtomicBool::new(false);
    std::thread::scope(|s| {
        s.spawn(|| {
            veth.run(1, || {
                let b = transport();
                ready_tx.send(()).unwrap();
                while !done.load(Ordering::Relaxed) {
                    if let Ok(Message { from, data }) = b.recv_message(Duration::from_millis(10)) {
                        assert_eq!(*from.ip(), veth.ips[0]);
                        b.send_message(*from.ip(), &data).expect("echo");
                    }
                }
            })
        });
        ready.recv().unwrap();
        veth.run(0, || {
            let a = transport();
            for (i, size) in [0, 1, 1200, 1500, 9000, 65_527].into_iter().enumerate() {
                let message = pattern(size, i as u64);
                a.send_message(veth.ips[1], &message).expect("send");
                let echo = a
                    .recv_message(PATIENCE)
                    .unwrap_or_else(|e| panic!("the echo of {size} bytes: {e}"));
                assert_eq!(*echo.from.ip(), veth.ips[1]);
                assert!(echo.data == message, "{size} bytes came back changed");
            }
        });
        done.store(true, Ordering::Relaxed);
    });
}

#[test]
fn a_64_mib_stream_and_rtt_cross_the_link() {
    let Some(veth) = Veth::new() else { return };
    let (ready_tx, ready) = mpsc::channel();
    std::thread::scope(|s| {
        let b = s.spawn(|| {
            veth.run(1, || {
                let b = transport();
                ready_tx.send(()).unwrap();
                let at_b = b.accept_data_stream(PATIENCE).expect("accept");
                (b, at_b)
            })
        });
        ready.recv().unwrap();
        veth.run(0, || {
            let a = transport();
            for _ in 0..10 {
                a.measure_rtt(veth.ips[1], PATIENCE).expect("measure_rtt");
            }
            assert_eq!(a.get_stats().pongs_rx, 10);
            let to_b = a.open_data_stream(veth.ips[1]).expect("open_data_stream");
            let (b, at_b) = b.join().unwrap();
            assert_eq!(*at_b.peer_addr().unwrap().ip(), veth.ips[0]);
            const TOTAL: usize = 64 << 20;
            let (sent, received) = stream_through(to_b, at_b, TOTAL);
            assert_eq!(sent, received, "SHA-256 of what arrived differs");
            assert_eq!(b.get_stats().stream_bytes_rx, TOTAL as u64);
            assert_eq!(b.get_stats().pings_answered, 10);
        });
    });
}

#[test]
fn a_transport_hears_only_its_interface() {
    let Some(veth) = Veth::new() else { return };
    let heard = Arc::new(Mutex::new(Vec::new()));
    let sink = heard.clone();
    let _a = veth.run(0, || {
        // Bound to every address, but tied to thunderbolt0.
        Thunderbolt::builder()
            .address(Ipv6Addr::UNSPECIFIED)
            .message_handler(move |from, data| {
                sink.lock().unwrap().push((*from.ip(), data.to_vec()))
            })
            .build()
            .expect("transport on ::")
    });
    veth.run(0, || {
        let local = UdpSocket::bind("[::1]:0").unwrap();
        local.send_to(b"from lo", "[::1]:5000").unwrap();
    });
    veth.run(1, || {
        let remote = UdpSocket::bind("[::]:0").unwrap();
        remote
            .send_to(b"over the link", veth.scoped(0, 5000))
            .unwrap();
    });
    let start = Instant::now();
    while heard.lock().unwrap().is_empty() && start.elapsed() < PATIENCE {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50)); // the lo datagram had its chance
    assert_eq!(
        *heard.lock().unwrap(),
        [(veth.ips[1], b"over the link".to_vec())],
        "what came over lo must not reach a transport tied to thunderbolt0"
    );
}

#[test]
fn the_default_ports_are_free_again_after_drop() {
    let Some(veth) = Veth::new() else { return };
    let b = veth.run(1, transport);
    for round in 0..3 {
        let a = veth.run(0, transport);
        // A stream B opened and A closed first leaves A's data port in
        // TIME_WAIT, as a real session does.
        let from_b = veth
            .run(1, || b.open_data_stream(veth.ips[0]))
            .expect("open");
        let at_a = a.accept_data_stream(PATIENCE).expect("accept");
        drop(at_a);
        drop(from_b);
        assert!(
            veth.run(1, || b.measure_rtt(veth.ips[0], PATIENCE)).is_ok(),
            "round {round}: A answers"
        );
        drop(a);
    }
}
