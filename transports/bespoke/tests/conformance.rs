//! The transport conformance suite on the bespoke stub: it must claim
//! nothing it cannot do, and say `Unsupported` for all of it.

use tidenet_bespoke::Bespoke;
use tidenet_conformance::model::{self, Pair};
use tidenet_conformance::{suite, Claims, Conditions, Ends};

fn harness(conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    model::on_link(conditions, |ra, rb, link| {
        let a = Bespoke::new(ra, model::id(1));
        let b = Bespoke::new(rb, model::id(2));
        case(&mut Pair { a, b, link });
    });
}

suite!(
    harness,
    Claims {
        streams: false,
        datagrams: false,
        ping: false,
    }
);
