//! Harness parts for transports on the modelled ringbuffer link.

use core::cell::RefCell;

use tidenet_core::addr::HardwareId;
use tidenet_core::Transport;
use tidenet_ringbuffer::model::{align, Aligned, Faults, Link, LinkConfig};

use crate::{Conditions, Ends};

/// A hardware id for test end `n`.
pub fn id(n: u8) -> HardwareId {
    HardwareId {
        dna: [n; 12],
        port: 0,
    }
}

/// Builds the link `conditions` ask for, aligns it, and hands `f` both
/// aligned ends and the link.
pub fn on_link(
    conditions: Conditions,
    f: impl for<'l, 'm> FnOnce(Aligned<'l, 'm>, Aligned<'l, 'm>, &'l RefCell<Link<'m>>),
) {
    let config = link_config(conditions);
    let mut memory = vec![0; config.memory_words()];
    let link = RefCell::new(Link::new(&config, &mut memory).expect("a valid link"));
    let (a, b) = align(&link, 10_000).expect("the link aligns");
    f(a, b, &link);
}

/// The default link, with 5% of writes lost and 1% corrupted when lossy.
/// Seeded, so failures reproduce.
fn link_config(conditions: Conditions) -> LinkConfig {
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

/// Two transports on one modelled link; a step polls both at the link's time.
pub struct Pair<'x, 'm, A, B> {
    /// One end.
    pub a: A,
    /// The other.
    pub b: B,
    /// The link both run on.
    pub link: &'x RefCell<Link<'m>>,
}

impl<A: Transport, B: Transport> Ends for Pair<'_, '_, A, B> {
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
