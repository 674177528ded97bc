//! The transport conformance suite on TCP/IP over the modelled ringbuffer.

mod common;

use common::{link_config, with_nodes, Suite};
use tidenet_conformance::{suite, Claims, Conditions, Ends};

fn harness(conditions: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    with_nodes(link_config(conditions), |nodes| case(&mut Suite(nodes)));
}

suite!(
    harness,
    Claims {
        streams: true,
        datagrams: true,
        ping: true,
    }
);
