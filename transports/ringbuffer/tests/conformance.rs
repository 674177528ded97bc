//! The transport conformance suite on TCP/IP over the modelled ringbuffer.

use core::cell::RefCell;

use tidenet_conformance::model::{self, Pair};
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::addr::{self, HardwareId};
use tidenet_ringbuffer::link::Mailbox;
use tidenet_ringbuffer::model::{align, Link};
use tidenet_ringbuffer::{Resources, TcpIp};

fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

fn harness(conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    let config = model::link_config(conditions);
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
