//! The transport conformance suite on TCP/IP over the modelled ringbuffer.

use tidenet_conformance::model::{self, Pair};
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_ringbuffer::{Resources, TcpIp};

fn harness(conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    model::on_link(conditions, |ra, rb, link| {
        let (id_a, id_b) = (model::id(1), model::id(2));
        let mut res_a = Box::new(Resources::<8192>::new());
        let mut res_b = Box::new(Resources::<8192>::new());
        let now = link.borrow().instant();
        let a = TcpIp::new(ra, id_a, &mut res_a, now);
        let b = TcpIp::new(rb, id_b, &mut res_b, now);
        case(&mut Pair { a, b, link });
    });
}

suite!(
    harness,
    Claims {
        streams: true,
        datagrams: true,
        ping: true,
    }
);
