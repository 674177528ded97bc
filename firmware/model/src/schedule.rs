//! Which simulated CPU runs next, and how far: the loop that keeps a
//! simulation of several nodes exact.

use heapless::Vec;
use tidenet_core::ringbuffer::CYCLE_NS;
use tidenet_core::time::Instant;

use crate::Cpu;

/// The most CPUs one [`Schedule`] runs: bittide's largest topologies.
pub const MAX_CPUS: usize = 64;

/// The fewest words a step lets a CPU access, however short the link's
/// latency: a link's handshake reads three words at once, and steps that
/// allowed fewer would never let it finish. With a latency shorter than
/// this many accesses, a CPU may run a few words past another; a write
/// that lands late for it is counted (`Link::late_writes`).
pub const STEP_WORDS: usize = 4;

/// Runs simulated CPUs one step at a time, always the one whose next action
/// is earliest (the lowest index among equals), so that no CPU acts before
/// another has caught up with it.
///
/// Each CPU either has work (it runs at its clock) or sleeps until a time
/// or until a write burst lands in one of its receive memories. The CPU
/// picked is moved to its time and given a horizon ([`Cpu::set_horizon`]):
/// where another CPU could first make a difference to it, `latency` cycles
/// (the lowest of the links') after that one's next action, which is no
/// later than when the picked CPU's own writes land and wake it. Within it,
/// the model's reads are exact.
pub struct Schedule<'c> {
    cpus: Vec<&'c Cpu, MAX_CPUS>,
    /// Per CPU: `None` while it has work; else when its timer fires
    /// (`u64::MAX` for none), a landing may wake it sooner.
    sleep: Vec<Option<u64>, MAX_CPUS>,
    /// CPUs that are switched off: they do nothing until switched on.
    off: Vec<bool, MAX_CPUS>,
    latency: u64,
}

impl<'c> Schedule<'c> {
    /// A schedule for `cpus`, all with work at first, on links whose
    /// lowest latency is `latency` cycles. CPUs past [`MAX_CPUS`] are left
    /// out.
    pub fn new(cpus: &[&'c Cpu], latency: u64) -> Self {
        let mut schedule = Schedule {
            cpus: Vec::new(),
            sleep: Vec::new(),
            off: Vec::new(),
            latency,
        };
        for &cpu in cpus.iter().take(MAX_CPUS) {
            // Cannot fail: as many as the capacity.
            let _ = schedule.cpus.push(cpu);
            let _ = schedule.sleep.push(None);
            let _ = schedule.off.push(false);
        }
        schedule
    }

    /// Switches CPU `i` off (a hung node: its memories stream on, it does
    /// nothing) or on again, with work, from where its clock stands or
    /// from the others' time, whichever is later.
    pub fn set_off(&mut self, i: usize, off: bool) {
        if let Some(slot) = self.off.get_mut(i) {
            let was = core::mem::replace(slot, off);
            if was && !off {
                let now = self.cpus.iter().map(|c| c.cycles()).max().unwrap_or(0);
                if let Some(cpu) = self.cpus.get(i) {
                    cpu.advance_to(now);
                }
                if let Some(sleep) = self.sleep.get_mut(i) {
                    *sleep = None;
                }
            }
        }
    }

    /// CPU `i`, if there is one.
    pub fn cpu(&self, i: usize) -> Option<&'c Cpu> {
        self.cpus.get(i).copied()
    }

    /// Gives CPU `i` work now: something outside its steps (another CPU's
    /// task, say) made it ready.
    pub fn wake(&mut self, i: usize) {
        if let Some(sleep) = self.sleep.get_mut(i) {
            *sleep = None;
        }
    }

    /// When CPU `i` acts next: not before its own clock.
    fn next(&self, i: usize, landing: &impl Fn(usize) -> Option<u64>) -> Option<u64> {
        if self.off[i] {
            return None;
        }
        let clock = self.cpus[i].cycles();
        let at = match self.sleep[i] {
            None => clock,
            Some(timer) => match landing(i) {
                Some(l) => timer.min(l),
                None if timer == u64::MAX => return None,
                None => timer,
            },
        };
        Some(at.max(clock))
    }

    /// When the next step would run, and on which CPU; `None` if no CPU
    /// will ever act again. For a simulation paced by a wall clock, which
    /// runs only what is due.
    pub fn peek(&self, landing: impl Fn(usize) -> Option<u64>) -> Option<(usize, u64)> {
        (0..self.cpus.len())
            .filter_map(|i| self.next(i, &landing).map(|t| (i, t)))
            .min_by_key(|&(i, t)| (t, i))
    }

    /// Runs one step of the CPU whose turn it is: `run(i, now)` does its
    /// work and returns when it wants to run again (`now` if it has more,
    /// `None` for only when a write lands). `landing(i)` is when the next
    /// write burst lands in one of CPU `i`'s receive memories. Returns the
    /// CPU that ran, or `None` if none will ever act again.
    pub fn step(
        &mut self,
        landing: impl Fn(usize) -> Option<u64>,
        run: impl FnOnce(usize, Instant) -> Option<Instant>,
    ) -> Option<usize> {
        let (index, at) = self.peek(&landing)?;
        let others = (0..self.cpus.len())
            .filter(|&i| i != index)
            .filter_map(|i| self.next(i, &landing))
            .min();
        let cpu = self.cpus[index];
        cpu.advance_to(at);
        let woken = at + self.latency + 1;
        let first = others.map_or(woken, |t| t.clamp(at, woken));
        // The budget rounds down to whole words, but a poll that must make
        // progress moves one: keep a word's margin. However short the
        // latency, a step gets STEP_WORDS words.
        let horizon = (first + self.latency + 1).saturating_sub(cpu.bus_cycles());
        cpu.set_horizon(horizon.max(at + STEP_WORDS as u64 * cpu.bus_cycles()));
        let wake = run(index, cpu.instant());
        if cpu.cycles() == at && wake.is_some_and(|t| t <= cpu.instant()) {
            // A step that did no bus work and wants to go on at once would
            // never let time move: a loop costs some time, so charge it a
            // bus access's worth.
            cpu.advance_to(at + cpu.bus_cycles());
        }
        self.sleep[index] = match wake {
            Some(t) if t <= cpu.instant() => None,
            Some(t) => Some(t.as_nanos().div_ceil(CYCLE_NS)),
            None => Some(u64::MAX),
        };
        Some(index)
    }
}
