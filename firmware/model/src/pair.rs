//! Two transports on one modelled link, each on its own CPU: what a test of
//! a transport needs from the model.

use core::cell::RefCell;

use tidenet_core::ringbuffer::CYCLE_NS;
use tidenet_core::Transport;

use crate::{Cpu, Link, Schedule, Side};

/// Two nodes, `a` on side A of `link` and `b` on side B, stepped in
/// virtual-time order by a [`Schedule`] of their two CPUs.
pub struct Pair<'l, 'm, 'c, A, B> {
    /// The node on side A.
    pub a: A,
    /// The node on side B.
    pub b: B,
    link: &'l RefCell<Link<'m>>,
    schedule: Schedule<'c>,
}

impl<'l, 'm, 'c, A: Transport, B: Transport> Pair<'l, 'm, 'c, A, B> {
    /// `a` and `b` on `link`, driven by `schedule`, whose CPUs 0 and 1 are
    /// theirs.
    pub fn new(a: A, b: B, link: &'l RefCell<Link<'m>>, schedule: Schedule<'c>) -> Self {
        Pair {
            a,
            b,
            link,
            schedule,
        }
    }

    /// The link.
    pub fn link(&self) -> &'l RefCell<Link<'m>> {
        self.link
    }

    /// Polls whichever node's turn it is, once. Returns which, or `None` if
    /// neither will ever act again.
    pub fn step(&mut self) -> Option<Side> {
        let Pair {
            a,
            b,
            link,
            schedule,
        } = self;
        let side = |i| if i == 0 { Side::A } else { Side::B };
        let i = schedule.step(
            |i| link.borrow().next_landing(side(i)),
            |i, now| {
                link.borrow_mut()
                    .take_landed(side(i), now.as_nanos() / CYCLE_NS);
                let node: &mut dyn Transport = if i == 0 { a } else { b };
                if node.poll(now) {
                    Some(now)
                } else {
                    node.poll_at(now)
                }
            },
        )?;
        Some(side(i))
    }

    /// The CPU a node runs on.
    pub fn cpu(&self, side: Side) -> &'c Cpu {
        // Cannot fail: a pair's schedule holds its two CPUs.
        self.schedule
            .cpu(index(side))
            .unwrap_or_else(|| unreachable!())
    }

    /// Gives a node work now: after it was replaced, say, as a reboot
    /// does.
    pub fn wake(&mut self, side: Side) {
        self.schedule.wake(index(side));
    }

    /// Switches a node's CPU off (it does nothing; its memories stream on)
    /// or on again.
    pub fn set_off(&mut self, side: Side, off: bool) {
        self.schedule.set_off(index(side), off);
    }
}

fn index(side: Side) -> usize {
    match side {
        Side::A => 0,
        Side::B => 1,
    }
}
