//! The net task: the one task that polls the transport.

use core::future::pending;

use embassy_futures::select::select3;
use embassy_futures::yield_now;

use super::{Clock, LinkSignal, Net};
use crate::Transport;

/// Drives a [`State`](super::State)'s transport for the tasks that share it.
pub struct Runner<'a, T, C, L> {
    net: Net<'a, T, C>,
    link: L,
}

impl<'a, T: Transport, C: Clock, L: LinkSignal> Runner<'a, T, C, L> {
    pub(super) fn new(net: Net<'a, T, C>, link: L) -> Self {
        Runner { net, link }
    }

    /// Polls the transport whenever the link signals, its deadline comes, or
    /// a task has changed it, whichever is first; wakes the waiting tasks
    /// whenever a poll changed something. The transport reports what time
    /// alone changes (a stream timing out) as progress too, so a poll that
    /// its deadline caused needs no special case.
    pub async fn run(mut self) -> ! {
        let state = self.net.state();
        let clock = self.net.clock();
        loop {
            let (progress, deadline) = state.poll();
            if progress {
                state.wake_waiters();
                // A poll that changed something may have more to do at
                // once (the bus budget ran out, a frame waits): let the
                // woken tasks run, then poll again, as a poll loop would.
                yield_now().await;
                continue;
            }
            let deadline = async {
                match deadline {
                    Some(at) => clock.at(at).await,
                    None => pending().await,
                }
            };
            select3(self.link.wait(), deadline, state.touched()).await;
        }
    }
}
