//! The transport conformance suite on the bespoke stub: its link comes up,
//! it claims nothing above it, and it says `Unsupported` for all of that.

use std::cell::RefCell;

use tidenet_bespoke::Bespoke;
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::addr::HardwareId;
use tidenet_core::Transport;
use tidenet_model::{Cpu, Link, LinkConfig, Pair, Port, Rx, Schedule, Side, Tx};
use tidenet_ringbuffer::Config;

type Node<'r> = Bespoke<'r, Tx<'r, 'r, 'r>, Rx<'r, 'r, 'r>>;

struct Suite<'p, 'r>(&'p mut Pair<'r, 'r, 'r, Node<'r>, Node<'r>>);

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

fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

/// The stub does nothing a lossy link could hurt: both conditions get a
/// clean one.
fn harness(_conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    let config = LinkConfig::default();
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).expect("a valid link"));
    let cpus = [Cpu::new(8), Cpu::new(8)];
    let (ta, ra) = Port::pair(&link, Side::A, &cpus[0]);
    let (tb, rb) = Port::pair(&link, Side::B, &cpus[1]);
    let (mut wa, mut wb) = (vec![0; 4096], vec![0; 4096]);
    let a = Bespoke::new(ta, ra, id(1), Config::new(1), &mut wa);
    let b = Bespoke::new(tb, rb, id(2), Config::new(2), &mut wb);
    let schedule = Schedule::new(&[&cpus[0], &cpus[1]], config.latency as u64);
    let mut nodes = Pair::new(a, b, &link, schedule);
    case(&mut Suite(&mut nodes));
}

suite!(
    harness,
    Claims {
        streams: false,
        datagrams: false,
        ping: false,
    }
);
