//! A small executor for async node code on the link model's virtual
//! clocks.
//!
//! Single-threaded and deterministic. Each task runs on one node's CPU; the
//! CPU whose clock is furthest behind runs next ([`VirtualTime`]), its ready
//! tasks in the order they were woken, and a CPU with none sleeps until its
//! next timer or link landing. Nothing spins, so a run costs host time in
//! proportion to the work done, and the same seed gives the same run. Every
//! poll of every task is counted, so tests can bound how often tasks wake.

use std::collections::VecDeque;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Wake, Waker};

use tidenet_core::time::Instant;

use crate::virtual_time::VirtualTime;

/// A task's index in its [`Executor`], for [`Executor::polls`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TaskId(usize);

/// Tasks on one virtual clock.
#[derive(Default)]
pub struct Executor<'a> {
    tasks: Vec<Task<'a>>,
    ready: Arc<Mutex<VecDeque<usize>>>,
}

struct Task<'a> {
    name: &'static str,
    /// The CPU it runs on.
    cpu: usize,
    /// `None` once finished.
    future: Option<Pin<Box<dyn Future<Output = ()> + 'a>>>,
    waker: Arc<TaskWaker>,
    polls: u64,
    /// Runs only while others do, like a net task; the run does not wait
    /// for it to finish.
    background: bool,
}

struct TaskWaker {
    index: usize,
    ready: Arc<Mutex<VecDeque<usize>>>,
    /// Already in the ready queue: waking it again changes nothing.
    queued: AtomicBool,
}

impl Wake for TaskWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::Relaxed) {
            let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
            ready.push_back(self.index);
        }
    }
}

/// Why [`Executor::run`] stopped before its tasks finished.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunError {
    /// No task was ready and nothing was due: the tasks wait for each other
    /// or for something that will never come.
    Stalled {
        /// When it stopped.
        at: Instant,
        /// The tasks that had not finished.
        waiting: Vec<&'static str>,
    },
    /// Virtual time reached the run's limit first.
    OutOfTime {
        /// The limit.
        limit: Instant,
        /// The tasks that had not finished.
        waiting: Vec<&'static str>,
    },
}

impl fmt::Display for RunError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunError::Stalled { at, waiting } => write!(
                f,
                "stalled: at {at} no task was ready and nothing was due; still waiting: {}",
                waiting.join(", ")
            ),
            RunError::OutOfTime { limit, waiting } => write!(
                f,
                "out-of-time: virtual time reached {limit}; still waiting: {}",
                waiting.join(", ")
            ),
        }
    }
}

impl std::error::Error for RunError {}

impl<'a> Executor<'a> {
    /// An executor with no tasks.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a task on CPU `cpu` that [`run`](Executor::run) waits for.
    pub fn spawn(
        &mut self,
        cpu: usize,
        name: &'static str,
        future: impl Future<Output = ()> + 'a,
    ) -> TaskId {
        self.add(cpu, name, Box::pin(future), false)
    }

    /// Adds a task on CPU `cpu` that runs only as long as the others do,
    /// such as a net task, which never finishes.
    pub fn spawn_background<F: Future + 'a>(
        &mut self,
        cpu: usize,
        name: &'static str,
        future: F,
    ) -> TaskId {
        self.add(
            cpu,
            name,
            Box::pin(async move {
                future.await;
            }),
            true,
        )
    }

    fn add(
        &mut self,
        cpu: usize,
        name: &'static str,
        future: Pin<Box<dyn Future<Output = ()> + 'a>>,
        background: bool,
    ) -> TaskId {
        let index = self.tasks.len();
        let waker = Arc::new(TaskWaker {
            index,
            ready: self.ready.clone(),
            queued: AtomicBool::new(false),
        });
        waker.wake_by_ref();
        self.tasks.push(Task {
            name,
            cpu,
            future: Some(future),
            waker,
            polls: 0,
            background,
        });
        TaskId(index)
    }

    /// How many times a task has been polled.
    pub fn polls(&self, task: TaskId) -> u64 {
        self.tasks[task.0].polls
    }

    /// Runs until every task not in the background has finished, letting
    /// virtual time pass whenever a CPU has no ready task, up to `limit`.
    pub fn run(&mut self, time: &VirtualTime<'_>, limit: Instant) -> Result<(), RunError> {
        loop {
            if self
                .tasks
                .iter()
                .all(|t| t.background || t.future.is_none())
            {
                return Ok(());
            }
            if time.now() >= limit {
                return Err(RunError::OutOfTime {
                    limit,
                    waiting: self.waiting(),
                });
            }
            // A task woken from another CPU (by shared state, not by the
            // link) makes its own CPU ready.
            for cpu in self.ready_cpus() {
                time.has_work(cpu);
            }
            // A CPU's turn runs its ready tasks back to back, as a real
            // executor's loop does, until none is left or the CPU has run
            // as far ahead of the others as it may; a task that wakes
            // itself at once waits for the next turn.
            let stepped = time.step(|cpu| {
                for _ in 0..self.tasks.len() {
                    let Some(index) = self.next_ready(cpu) else {
                        break;
                    };
                    self.poll(index);
                    if time.must_yield(cpu) {
                        break;
                    }
                }
                self.ready_cpus().contains(&cpu)
            });
            if !stepped {
                return Err(RunError::Stalled {
                    at: time.now(),
                    waiting: self.waiting(),
                });
            }
        }
    }

    /// The CPUs with a task ready.
    fn ready_cpus(&self) -> Vec<usize> {
        let ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        ready.iter().map(|&i| self.tasks[i].cpu).collect()
    }

    /// The first ready task on `cpu`, taken off the ready queue.
    fn next_ready(&self, cpu: usize) -> Option<usize> {
        let mut ready = self.ready.lock().unwrap_or_else(|e| e.into_inner());
        let at = ready.iter().position(|&i| self.tasks[i].cpu == cpu)?;
        let index = ready.remove(at)?;
        self.tasks[index]
            .waker
            .queued
            .store(false, Ordering::Relaxed);
        Some(index)
    }

    fn poll(&mut self, index: usize) {
        let task = &mut self.tasks[index];
        let Some(future) = &mut task.future else {
            return;
        };
        task.polls += 1;
        let waker = Waker::from(task.waker.clone());
        if future
            .as_mut()
            .poll(&mut Context::from_waker(&waker))
            .is_ready()
        {
            task.future = None;
        }
    }

    fn waiting(&self) -> Vec<&'static str> {
        let pending = self.tasks.iter().filter(|t| t.future.is_some());
        pending.map(|t| t.name).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use tidenet_core::asynch::Clock;
    use tidenet_core::time::{Duration, Instant};
    use tidenet_model::{Cpu, Link, LinkConfig};

    use super::{Executor, RunError};
    use crate::virtual_time::VirtualTime;

    #[test]
    fn sleeping_tasks_wake_in_deadline_order_without_spinning() {
        let config = LinkConfig::default();
        let mut memory = vec![0; config.memory_words()];
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let cpus = [Cpu::new(8), Cpu::new(8)];
        let time = VirtualTime::new(vec![&link], vec![&cpus[0], &cpus[1]]);
        let order = RefCell::new(Vec::new());
        let mut executor = Executor::new();
        let mut ids = Vec::new();
        for (cpu, name, micros) in [(0, "late", 300), (1, "early", 100), (0, "middle", 200)] {
            let (clock, order) = (time.clock(cpu), &order);
            ids.push(executor.spawn(cpu, name, async move {
                clock.at(Instant::from_micros(micros)).await;
                order.borrow_mut().push((name, clock.now()));
            }));
        }
        executor.run(&time, Instant::from_micros(1000)).unwrap();
        assert_eq!(
            *order.borrow(),
            [
                ("early", Instant::from_micros(100)),
                ("middle", Instant::from_micros(200)),
                ("late", Instant::from_micros(300)),
            ]
        );
        // Once to start and once when due: no polling in between.
        assert!(ids.iter().all(|&id| executor.polls(id) == 2));
        // Each CPU's clock went as far as its own tasks took it.
        assert_eq!(cpus[0].instant(), Instant::from_micros(300));
        assert_eq!(cpus[1].instant(), Instant::from_micros(100));
    }

    #[test]
    fn a_task_waiting_for_nothing_is_named_as_stalled() {
        let config = LinkConfig::default();
        let mut memory = vec![0; config.memory_words()];
        let link = RefCell::new(Link::new(&config, &mut memory).unwrap());
        let cpu = Cpu::new(8);
        let time = VirtualTime::new(vec![&link], vec![&cpu]);
        let mut executor = Executor::new();
        executor.spawn(0, "forever", std::future::pending());
        let clock = time.clock(0);
        executor.spawn_background(0, "ticker", async move {
            clock.at(Instant::ZERO + Duration::from_millis(5)).await;
        });
        let err = executor
            .run(&time, Instant::from_micros(1_000_000))
            .unwrap_err();
        assert_eq!(
            err,
            RunError::Stalled {
                at: Instant::from_micros(5000),
                waiting: vec!["forever"],
            }
        );
    }
}
