//! The transport conformance suite on TCP/IP over the modelled ringbuffer.

use core::cell::RefCell;

use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::addr::{self, HardwareId};
use tidenet_core::Transport;
use tidenet_ringbuffer::link::Mailbox;
use tidenet_ringbuffer::model::{align, Faults, Link, LinkConfig};
use tidenet_ringbuffer::{Resources, TcpIp};

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
    let mut res_a = Box::new(Resources::<8192>::new());
    let mut res_b = Box::new(Resources::<8192>::new());
    let now = link.borrow().instant();
    let a = TcpIp::new(
        Mailbox::new(ra, addr::host_part(id(1).link_local())),
        id(1),
        &mut res_a,
        now,
    );
    let b = TcpIp::new(
        Mailbox::new(rb, addr::host_part(id(2).link_local())),
        id(2),
        &mut res_b,
        now,
    );
    case(&mut Pair { a, b, link: &link });
}

suite!(
    harness,
    Claims {
        streams: true,
        datagrams: true,
        ping: true,
    }
);
