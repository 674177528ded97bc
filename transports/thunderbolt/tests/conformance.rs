//! The transport conformance suite, through the `Transport` trait, between
//! two network namespaces joined by a veth pair (see `common::netns`).
//!
//! The suite drives both ends from one thread. Sockets belong to the
//! namespace of the thread that makes them, so handing out an end moves the
//! thread into that end's namespace first; the thread goes home afterwards.
//!
//! `Conditions::Lossy` runs on the clean link: the kernel here has no netem
//! to lose packets with, and TCP's recovery is the kernel's, not ours.

mod common;

use std::thread;

use common::netns::{Home, Veth};
use tidenet_conformance::{suite, Claims, Conditions, Ends};
use tidenet_core::Transport;
use tidenet_thunderbolt::{Peer, Thunderbolt, DEFAULT_CONTROL_PORT, DEFAULT_DATA_PORT};

struct OnVeth<'v> {
    veth: &'v Veth,
    ends: [Thunderbolt; 2],
}

impl Ends for OnVeth<'_> {
    fn a(&mut self) -> &mut dyn Transport {
        self.veth.enter(0);
        &mut self.ends[0]
    }

    fn b(&mut self) -> &mut dyn Transport {
        self.veth.enter(1);
        &mut self.ends[1]
    }

    fn step(&mut self) {
        for end in &mut self.ends {
            end.poll(Default::default());
        }
        thread::yield_now();
    }
}

fn harness(_: Conditions, case: &mut dyn FnMut(&mut dyn Ends)) {
    let Some(veth) = Veth::new() else { return };
    let _home = Home::here();
    let end = |side: usize| {
        veth.run(side, || {
            Thunderbolt::builder()
                .peer(Peer {
                    ip: veth.ips[1 - side],
                    control_port: DEFAULT_CONTROL_PORT,
                    data_port: DEFAULT_DATA_PORT,
                })
                .build()
                .expect("a transport on thunderbolt0")
        })
    };
    let ends = [end(0), end(1)];
    case(&mut OnVeth { veth: &veth, ends });
}

suite!(
    harness,
    Claims {
        streams: true,
        datagrams: true,
        ping: true,
    }
);
