//! Helpers the transport's integration tests share.
#![allow(dead_code)] // each test file uses its own share of them

pub mod netns;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, SocketAddrV6, TcpListener, UdpSocket};
use std::thread;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tidenet_thunderbolt::{Builder, DataStream, Peer, Thunderbolt};

/// How long a test waits for anything that should come at once.
pub const PATIENCE: Duration = Duration::from_secs(5);

/// Two ports nothing on loopback holds right now: one for control, free
/// for UDP, and one for data, free for TCP. Each is looked for in its own
/// protocol: a port free for TCP may be another transport's ping socket,
/// which is UDP. (The OS may hand them out again before they are bound; it
/// picks ephemeral ports in sequence, so that takes thousands of binds.)
pub fn free_ports() -> (u16, u16) {
    let control = UdpSocket::bind("[::1]:0").expect("bind an ephemeral port");
    let data = TcpListener::bind("[::1]:0").expect("bind an ephemeral port");
    let port = |a: std::io::Result<SocketAddr>| a.expect("local address").port();
    (port(control.local_addr()), port(data.local_addr()))
}

/// A builder on `::1%lo` with the given ports and no peer.
pub fn on_loopback((control, data): (u16, u16)) -> Builder {
    Thunderbolt::builder()
        .interface("lo")
        .control_port(control)
        .data_port(data)
        .buffer_size(4 << 20)
}

/// Two transports on loopback, each configured with the other's ports. Both
/// are at `::1`, so each knows `::1` as its one peer.
pub fn loopback_pair(
    a: impl FnOnce(Builder) -> Builder,
    b: impl FnOnce(Builder) -> Builder,
) -> (Thunderbolt, Thunderbolt) {
    let (pa, pb) = (free_ports(), free_ports());
    let peer = |(control_port, data_port)| Peer {
        ip: Ipv6Addr::LOCALHOST,
        control_port,
        data_port,
    };
    let ta = a(on_loopback(pa).peer(peer(pb)))
        .build()
        .expect("transport A");
    let tb = b(on_loopback(pb).peer(peer(pa)))
        .build()
        .expect("transport B");
    (ta, tb)
}

/// `len` bytes that differ at every offset and between salts.
pub fn pattern(len: usize, salt: u64) -> Vec<u8> {
    let mut x = salt.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Streams `total` pattern bytes through `from` into `to`, the writer on its
/// own thread; returns the SHA-256 of what was sent and of what arrived.
pub fn stream_through(
    mut from: DataStream,
    mut to: DataStream,
    total: usize,
) -> ([u8; 32], [u8; 32]) {
    const CHUNK: usize = 1 << 20;
    let writer = thread::spawn(move || {
        let mut sent = Sha256::new();
        for (i, start) in (0..total).step_by(CHUNK).enumerate() {
            let chunk = pattern(CHUNK.min(total - start), i as u64);
            sent.update(&chunk);
            from.write_all(&chunk).expect("write_all");
        }
        from.flush().expect("flush");
        <[u8; 32]>::from(sent.finalize())
    });
    let mut received = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut left = total;
    while left > 0 {
        let n = CHUNK.min(left);
        to.read_exact(&mut buf[..n]).expect("read_exact");
        received.update(&buf[..n]);
        left -= n;
    }
    let sent = writer.join().expect("the writer thread");
    (sent, received.finalize().into())
}

/// The control address of `t`.
pub fn control(t: &Thunderbolt) -> SocketAddrV6 {
    t.control_addr().expect("control address")
}
