//! The transport conformance suite on the bespoke stub: it must claim
//! nothing it cannot do, and say `Unsupported` for all of it.

use core::cell::RefCell;

use tidenet_bespoke::Bespoke;
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::addr::HardwareId;
use tidenet_core::Transport;
use tidenet_ringbuffer::model::{align, Faults, Link, LinkConfig};

struct Pair<'x, A, B> {
    a: A,
    b: B,
    link: &'x RefCell<Link<'x>>,
}

impl<A: Transport, B: Transport> Ends for Pair<'_, A, B> {
    fn a(&mut self) -> &mut dyn Transport {
        &mut self.a
    }

    fn b(&mut self) -> &mut dyn Transport {
        &mut self.b
    }

    fn step(&mut self) {
        let now = self.link.borrow().instant();
        self.a.poll(now);
        self.b.poll(now);
    }
}

fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

fn harness(conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    let faults = match conditions {
        Conditions::Clean => Faults::default(),
        Conditions::Lossy => Faults {
            loss: 0.05,
            corrupt: 0.01,
            ..Faults::default()
        },
    };
    let config = LinkConfig {
        seed: 3,
        faults,
        ..LinkConfig::default()
    };
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).expect("a valid link"));
    let (ra, rb) = align(&link, 10_000).expect("the link aligns");
    let a = Bespoke::new(ra, id(1));
    let b = Bespoke::new(rb, id(2));
    case(&mut Pair { a, b, link: &link });
}

suite!(
    harness,
    Claims {
        streams: false,
        datagrams: false,
        ping: false,
    }
);
