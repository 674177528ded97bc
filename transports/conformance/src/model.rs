//! Harness parts for transports on the modelled ringbuffer link.

use core::cell::RefCell;

use tidenet_core::Transport;
use tidenet_ringbuffer::model::{Faults, Link, LinkConfig};

use crate::{Conditions, Ends};

/// The link a case's conditions ask for: the default link, with 5% of writes
/// lost and 1% corrupted when lossy. Seeded, so failures reproduce.
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
