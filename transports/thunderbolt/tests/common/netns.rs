//! Two network namespaces joined by a veth pair, as two hosts joined by a
//! Thunderbolt cable: each side's end is called `thunderbolt0` and has a
//! real link-local address, `fe80::1` and `fe80::2`.
//!
//! The test makes them itself and removes them when done. Where the kernel
//! forbids it (no CAP_SYS_ADMIN, say), [`Veth::new`] says so loudly on
//! stderr and the test skips; with `TIDENET_REQUIRE_NETNS` set, it fails
//! instead. Any other setup failure fails the test.

use std::fs::File;
use std::io::Write;
use std::net::{Ipv6Addr, SocketAddrV6};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::thread;

use nix::net::if_::if_nametoindex;
use nix::sched::{setns, CloneFlags};

/// The interface name on both sides.
pub const INTERFACE: &str = "thunderbolt0";

/// The pair of namespaces; dropping it removes both and the link.
pub struct Veth {
    names: [String; 2],
    /// One pair at a time per test binary: setting one up forks `ip`, and a
    /// forked child holds every socket of the process until it execs, which
    /// would keep another test's dropped ports bound for a moment.
    _alone: MutexGuard<'static, ()>,
    /// Side 0's and side 1's address.
    pub ips: [Ipv6Addr; 2],
}

fn ip_cmd(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run 'ip' (iproute2): {e}"));
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).trim().to_string())
    }
}

impl Veth {
    /// Makes the namespaces and the link, both ends up; `None` if the
    /// kernel forbids it here.
    pub fn new() -> Option<Veth> {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        static ALONE: Mutex<()> = Mutex::new(());
        let alone = ALONE.lock().unwrap_or_else(|e| e.into_inner());
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let names = ["a", "b"].map(|side| format!("tidenet-{}-{n}-{side}", std::process::id()));
        if let Err(e) = ip_cmd(&["netns", "add", &names[0]]) {
            let forbidden =
                e.contains("Operation not permitted") || e.contains("Permission denied");
            if forbidden && std::env::var_os("TIDENET_REQUIRE_NETNS").is_none() {
                // Straight to stderr, past the test harness's capture.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n*** SKIPPED: this kernel forbids creating network namespaces here ({e}).\n\
                     *** The veth tests did not run. Run them as root, or set TIDENET_REQUIRE_NETNS=1 to fail instead.\n"
                );
                return None;
            }
            panic!("cannot create a network namespace: {e}");
        }
        // From here on, Drop removes whatever was made.
        let veth = Veth {
            names,
            _alone: alone,
            ips: [
                Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1),
                Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 2),
            ],
        };
        let [a, b] = &veth.names;
        let setup = || -> Result<(), String> {
            ip_cmd(&["netns", "add", b])?;
            ip_cmd(&[
                "link", "add", INTERFACE, "netns", a, "type", "veth", "peer", "name", INTERFACE,
                "netns", b,
            ])?;
            for (ns, addr) in [(a, "fe80::1/64"), (b, "fe80::2/64")] {
                ip_cmd(&["-n", ns, "link", "set", "lo", "up"])?;
                // Only the address we give it, without the kernel's own
                // link-local one that would wait out duplicate detection.
                ip_cmd(&["-n", ns, "link", "set", INTERFACE, "addrgenmode", "none"])?;
                ip_cmd(&["-n", ns, "addr", "add", addr, "dev", INTERFACE, "nodad"])?;
                ip_cmd(&["-n", ns, "link", "set", INTERFACE, "up"])?;
            }
            Ok(())
        };
        if let Err(e) = setup() {
            panic!("cannot set up the veth pair between {a} and {b}: {e}");
        }
        Some(veth)
    }

    /// Gives side `side`'s `thunderbolt0` one more address, `ip`, usable at
    /// once: a second host on the same link, for a stranger to send from.
    pub fn add_address(&self, side: usize, ip: Ipv6Addr) {
        let cidr = format!("{ip}/64");
        let ns = &self.names[side];
        ip_cmd(&["-n", ns, "addr", "add", &cidr, "dev", INTERFACE, "nodad"])
            .unwrap_or_else(|e| panic!("cannot add {cidr} in {ns}: {e}"));
    }

    /// Moves the calling thread into side `side`'s namespace: sockets it
    /// makes from now on live there.
    pub fn enter(&self, side: usize) {
        enter(&format!("/run/netns/{}", self.names[side]));
    }

    /// Side `side`'s address and `port`, scoped to the calling thread's
    /// `thunderbolt0`.
    pub fn scoped(&self, side: usize, port: u16) -> SocketAddrV6 {
        self.scoped_addr(self.ips[side], port)
    }

    /// `ip` and `port`, scoped to the calling thread's `thunderbolt0`.
    pub fn scoped_addr(&self, ip: Ipv6Addr, port: u16) -> SocketAddrV6 {
        let index = if_nametoindex(INTERFACE).expect("thunderbolt0 in this namespace");
        SocketAddrV6::new(ip, port, 0, index)
    }

    /// Runs `f` on a thread of its own inside side `side`'s namespace.
    pub fn run<T: Send>(&self, side: usize, f: impl FnOnce() -> T + Send) -> T {
        thread::scope(|s| {
            s.spawn(|| {
                self.enter(side);
                f()
            })
            .join()
            .unwrap_or_else(|e| std::panic::resume_unwind(e))
        })
    }
}

impl Drop for Veth {
    fn drop(&mut self) {
        for name in &self.names {
            let _ = ip_cmd(&["netns", "del", name]);
        }
    }
}

/// Moves the calling thread into the network namespace at `path`.
pub fn enter(path: &str) {
    let ns = File::open(path).unwrap_or_else(|e| panic!("cannot open {path}: {e}"));
    setns(ns, CloneFlags::CLONE_NEWNET).unwrap_or_else(|e| panic!("cannot enter {path}: {e}"));
}

/// Puts the calling thread back in its original namespace when dropped.
pub struct Home(File);

impl Home {
    /// Remembers the calling thread's namespace.
    pub fn here() -> Home {
        Home(File::open("/proc/thread-self/ns/net").expect("this thread's network namespace"))
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = setns(&self.0, CloneFlags::CLONE_NEWNET);
    }
}
