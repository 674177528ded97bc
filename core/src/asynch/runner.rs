//! The net task: the one task that polls the transport.

use core::future::pending;

use embassy_futures::select::{select3, Either3};

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
    /// a task has used it, whichever is first; wakes the waiting tasks
    /// whenever a poll changed something.
    ///
    /// A poll that came due by its deadline wakes them too, even if it
    /// reports no progress: what time alone changes (a stream timing out)
    /// must reach the tasks waiting on it.
    pub async fn run(mut self) -> ! {
        let state = self.net.state();
        let mut deadline_passed = false;
        loop {
            let (progress, deadline) = state.poll();
            if progress || deadline_passed {
                state.wake_waiters();
            }
            let deadline = async {
                match deadline {
                    Some(at) => state.clock().at(at).await,
                    None => pending().await,
                }
            };
            let woken = select3(self.link.wait(), deadline, state.touched()).await;
            deadline_passed = matches!(woken, Either3::Second(()));
        }
    }
}
