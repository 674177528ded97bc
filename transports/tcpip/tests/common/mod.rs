//! Two TCP/IP nodes on the hardware model, each on its own CPU.
#![allow(dead_code)]

use std::cell::RefCell;

use tidenet_conformance::{Conditions, Ends};
use tidenet_core::addr::HardwareId;
use tidenet_core::time::Instant;
use tidenet_core::Transport;
use tidenet_model::{Cpu, Faults, Link, LinkConfig, Pair, Port, Rx, Schedule, Side, Tx};
use tidenet_ringbuffer::Config;
use tidenet_tcpip::{Resources, TcpIp};

/// A TCP/IP node on the model.
pub type Node<'r> = TcpIp<'r, Tx<'r, 'r, 'r>, Rx<'r, 'r, 'r>>;
/// Two of them on one link.
pub type Nodes<'r> = Pair<'r, 'r, 'r, Node<'r>, Node<'r>>;

/// A hardware id for test end `n`.
pub fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

/// The default link, with 5% of writes lost and 1% corrupted when lossy.
/// Seeded, so failures reproduce.
pub fn link_config(conditions: Conditions) -> LinkConfig {
    let faults = match conditions {
        Conditions::Clean => Faults::default(),
        Conditions::Lossy => Faults {
            loss: 0.05,
            corrupt: 0.01,
            ..Faults::default()
        },
    };
    LinkConfig {
        seed: 3,
        faults,
        ..LinkConfig::default()
    }
}

/// Builds two nodes on a link made to `config` and hands them to `body`.
pub fn with_nodes<T>(config: LinkConfig, body: impl for<'r> FnOnce(&mut Nodes<'r>) -> T) -> T {
    // Everything the nodes borrow lives until they are gone: declared
    // first, dropped last.
    let mut res_a = Box::new(Resources::<8192>::new());
    let mut res_b = Box::new(Resources::<8192>::new());
    let cpus = [Cpu::new(8), Cpu::new(8)];
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).expect("a valid link"));
    let (ta, ra) = Port::pair(&link, Side::A, &cpus[0]);
    let (tb, rb) = Port::pair(&link, Side::B, &cpus[1]);
    let a = TcpIp::new(ta, ra, id(1), Config::new(1), &mut res_a, Instant::ZERO);
    let b = TcpIp::new(tb, rb, id(2), Config::new(2), &mut res_b, Instant::ZERO);
    let schedule = Schedule::new(&[&cpus[0], &cpus[1]], config.latency as u64);
    let mut nodes = Pair::new(a, b, &link, schedule);
    body(&mut nodes)
}

/// Steps until `done` holds; panics after a generous number of steps.
pub fn step_until(nodes: &mut Nodes<'_>, mut done: impl FnMut(&mut Nodes<'_>) -> bool) {
    for _ in 0..2_000_000 {
        if done(nodes) {
            return;
        }
        nodes.step();
    }
    panic!("condition not reached");
}

/// The conformance suite's view of two nodes.
pub struct Suite<'p, 'r>(pub &'p mut Nodes<'r>);

impl Ends for Suite<'_, '_> {
    fn a(&mut self) -> &mut dyn Transport {
        &mut self.0.a
    }

    fn b(&mut self) -> &mut dyn Transport {
        &mut self.0.b
    }

    fn step(&mut self) {
        self.0.step();
    }
}
