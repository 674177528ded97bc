//! Which simulated CPU runs next, and how far.

use crate::Cpu;

/// Picks the CPU that runs next: the one whose next action is earliest
/// (the lowest index among equals), so that no CPU ever acts before
/// another has caught up with it. Returns `None` if no CPU will ever act.
///
/// `next[i]` is when CPU `i` can act next: its clock if it has work, the
/// earlier of its timer and its next landing ([`Link::next_landing`]) if
/// it sleeps, `None` if it waits for nothing. The CPU picked is moved to
/// that time, and its horizon set to where another CPU could first make a
/// difference to it: `latency` cycles (the lowest of the links') after
/// that one's next action, which is no later than when the picked CPU's
/// own writes land and wake it.
///
/// [`Link::next_landing`]: crate::Link::next_landing
pub fn pick(cpus: &[&Cpu], next: &[Option<u64>], latency: u64) -> Option<usize> {
    // A CPU cannot act before its own clock, whatever its timer says.
    let when = |i: usize| Some(next.get(i).copied()??.max(cpus.get(i)?.cycles()));
    let (index, at) = (0..next.len())
        .filter_map(|i| when(i).map(|t| (i, t)))
        .min_by_key(|&(i, t)| (t, i))?;
    let others = (0..next.len())
        .filter(|&i| i != index)
        .filter_map(when)
        .min();
    let cpu = cpus.get(index)?;
    cpu.advance_to(at);
    let woken = at + latency + 1;
    let first = others.map_or(woken, |t| t.clamp(at, woken));
    // The budget rounds down to whole words, but a poll that must make
    // progress moves one: keep a word's margin.
    cpu.set_horizon((first + latency + 1).saturating_sub(cpu.bus_cycles()));
    Some(index)
}
