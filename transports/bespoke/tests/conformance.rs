//! The transport conformance suite on the bespoke stub: it must claim
//! nothing it cannot do, and say `Unsupported` for all of it.

use core::cell::RefCell;

use tidenet_bespoke::Bespoke;
use tidenet_conformance::model::{self, Pair};
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::addr::HardwareId;
use tidenet_ringbuffer::model::{align, Link};

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
