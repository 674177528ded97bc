//! The clock of an image that runs its nodes on the link model.

use tidenet_core::time::{Duration, Instant};
use tidenet_model::{Cpu, CYCLE_NS};
use tidenet_node::Clock;

use crate::clint::Clint;

/// The modelled CPU's clock. Its time moves with every bus access (the
/// model charges each one) and is advanced here towards the CLINT whenever
/// it falls behind, as it does when the CPU is slower than the charge, so
/// the nodes' timeouts take as long as they say.
///
/// It moves at most [`MAX_STEP`] per reading. Both nodes share this CPU
/// and take turns; had the emulator been descheduled for longer than a
/// link's silence timeout (10 ms, which a loaded host does), the node
/// polled first would find its peer silent, the peer never having had a
/// turn in that time. A stall looks like a slow CPU instead: time catches
/// up over the next turns, each node hearing from the other on the way.
pub struct CpuClock<'c> {
    /// The real clock.
    pub clint: Clint,
    /// The model's CPU, which both nodes share.
    pub cpu: &'c Cpu,
}

/// The most a reading of [`CpuClock`] moves time on: a link's heartbeat.
pub const MAX_STEP: Duration = Duration::from_millis(1);

impl Clock for CpuClock<'_> {
    fn now(&mut self) -> Instant {
        let clint = self.clint.now().as_nanos() / CYCLE_NS;
        let most = self.cpu.cycles() + MAX_STEP.as_nanos() as u64 / CYCLE_NS;
        self.cpu.advance_to(clint.min(most));
        self.cpu.instant()
    }
}
