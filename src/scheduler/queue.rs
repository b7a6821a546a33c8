//! One environment's task queue: bounded, with the reference's thresholds (warning at 50 %,
//! pause at 75 %, resume at 25 % of `AFFINE_QUEUE_MAX_SIZE_PER_ENV`), consumed by that
//! environment's workers. A paused queue holds back only its own producer; pushing never
//! blocks, so no environment can stall another's (the reference's single producer could).

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Instant;

use tokio::sync::Notify;

use super::miners::RunnerMiner;
use crate::environments::EnvSpec;

/// One evaluation to run.
#[derive(Debug, Clone)]
pub struct Task {
    /// The environment.
    pub env: &'static EnvSpec,
    /// The task id (its seed follows from it).
    pub task_id: u64,
    /// The miner as the table knew it when the task was created.
    pub miner: Arc<RunnerMiner>,
    /// When it was created (Unix seconds), for the pause rule.
    pub created_at: f64,
    /// When it was created, for queue latency.
    pub created: Instant,
}

/// The thresholds of one queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Capacity.
    pub capacity: usize,
    /// Warn at or above.
    pub warning: usize,
    /// Pause the producer at or above.
    pub pause: usize,
    /// Resume it at or below.
    pub resume: usize,
}

impl Thresholds {
    /// The reference's thresholds for `capacity` (`int(capacity × 0.5 / 0.75 / 0.25)`).
    #[must_use]
    pub fn of(capacity: usize) -> Self {
        Self { capacity, warning: capacity / 2, pause: capacity * 3 / 4, resume: capacity / 4 }
    }
}

/// The queue; shared by its producer and workers.
#[derive(Debug)]
pub struct EnvQueue {
    env: &'static str,
    limits: Thresholds,
    tasks: Mutex<VecDeque<Task>>,
    available: Notify,
    resumed: Notify,
    paused: AtomicBool,
    depth: AtomicUsize,
    enqueued: AtomicU64,
    dequeued: AtomicU64,
    last_warning: Mutex<Option<Instant>>,
}

impl EnvQueue {
    /// An empty queue for `env`.
    #[must_use]
    pub fn new(env: &'static str, limits: Thresholds) -> Self {
        Self {
            env,
            limits,
            tasks: Mutex::new(VecDeque::new()),
            available: Notify::new(),
            resumed: Notify::new(),
            paused: AtomicBool::new(false),
            depth: AtomicUsize::new(0),
            enqueued: AtomicU64::new(0),
            dequeued: AtomicU64::new(0),
            last_warning: Mutex::new(None),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Task>> {
        self.tasks.lock().expect("the queue lock is never held across a panic")
    }

    /// Adds a task unless the queue is at capacity (then the task is handed back).
    ///
    /// # Errors
    /// The task, when the queue is full.
    pub fn push(&self, task: Task) -> Result<(), Box<Task>> {
        let depth = {
            let mut tasks = self.lock();
            if tasks.len() >= self.limits.capacity {
                return Err(Box::new(task));
            }
            tasks.push_back(task);
            tasks.len()
        };
        self.depth.store(depth, Ordering::Relaxed);
        self.enqueued.fetch_add(1, Ordering::Relaxed);
        self.available.notify_one();
        self.check_after_push(depth);
        Ok(())
    }

    fn check_after_push(&self, depth: usize) {
        if depth >= self.limits.pause && !self.paused.swap(true, Ordering::Relaxed) {
            tracing::info!(
                env = self.env,
                size = depth,
                threshold = self.limits.pause,
                "[TaskQueue] {} PAUSED: size {depth} >= {}",
                self.env,
                self.limits.pause
            );
        } else if depth >= self.limits.warning && !self.paused.load(Ordering::Relaxed) {
            let mut last = self.last_warning.lock().expect("the warning lock is never held across a panic");
            if last.is_none_or(|at| at.elapsed().as_secs() >= 60) {
                *last = Some(Instant::now());
                tracing::warn!(env = self.env, size = depth, "[TaskQueue] {} WARNING: size {depth} >= {}", self.env, self.limits.warning);
            }
        }
    }

    fn try_pop(&self) -> Option<Task> {
        let (task, depth) = {
            let mut tasks = self.lock();
            let task = tasks.pop_front()?;
            (task, tasks.len())
        };
        self.depth.store(depth, Ordering::Relaxed);
        self.dequeued.fetch_add(1, Ordering::Relaxed);
        if depth <= self.limits.resume && self.paused.swap(false, Ordering::Relaxed) {
            tracing::info!(env = self.env, size = depth, "[TaskQueue] {} RESUMED: size {depth} <= {}", self.env, self.limits.resume);
            self.resumed.notify_waiters();
        }
        Some(task)
    }

    /// The next task, waiting for one (cancel-safe: a task is only taken when returned).
    pub async fn pop(&self) -> Task {
        loop {
            if let Some(task) = self.try_pop() {
                return task;
            }
            let notified = self.available.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(task) = self.try_pop() {
                return task;
            }
            notified.await;
        }
    }

    /// Waits until the queue is not paused.
    pub async fn wait_until_resumed(&self) {
        loop {
            let notified = self.resumed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.paused.load(Ordering::Relaxed) {
                return;
            }
            notified.await;
        }
    }

    /// Whether the producer is held back.
    #[must_use]
    pub fn is_paused(&self) -> bool {
        self.paused.load(Ordering::Relaxed)
    }

    /// Whether the queue is at or above its warning level.
    #[must_use]
    pub fn is_warning(&self) -> bool {
        self.depth() >= self.limits.warning
    }

    /// Tasks waiting.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.depth.load(Ordering::Relaxed)
    }

    /// Tasks ever added and taken.
    #[must_use]
    pub fn totals(&self) -> (u64, u64) {
        (self.enqueued.load(Ordering::Relaxed), self.dequeued.load(Ordering::Relaxed))
    }

    /// The thresholds.
    #[must_use]
    pub fn limits(&self) -> Thresholds {
        self.limits
    }

    /// Takes every waiting task (at shutdown, to remember their ids).
    pub fn drain(&self) -> Vec<Task> {
        let drained: Vec<Task> = self.lock().drain(..).collect();
        self.depth.store(0, Ordering::Relaxed);
        drained
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: u64) -> Task {
        Task {
            env: crate::environments::env_spec("affine:sat").expect("sat"),
            task_id: id,
            miner: Arc::new(RunnerMiner::for_tests(1)),
            created_at: 0.0,
            created: Instant::now(),
        }
    }

    #[tokio::test]
    async fn the_queue_pauses_at_three_quarters_and_resumes_at_a_quarter() {
        let queue = EnvQueue::new("affine:sat", Thresholds::of(8));
        assert_eq!(Thresholds::of(1000), Thresholds { capacity: 1000, warning: 500, pause: 750, resume: 250 });
        for id in 0..6 {
            queue.push(task(id)).expect("room");
        }
        assert!(queue.is_paused(), "6 >= 6");
        queue.push(task(6)).expect("room");
        queue.push(task(7)).expect("room");
        assert!(queue.push(task(8)).is_err(), "full at 8");
        for expected in 0..5 {
            assert_eq!(queue.pop().await.task_id, expected);
            assert!(queue.is_paused(), "still above the resume level");
        }
        assert_eq!(queue.pop().await.task_id, 5);
        assert!(!queue.is_paused(), "2 <= 2");
        tokio::time::timeout(std::time::Duration::from_secs(1), queue.wait_until_resumed()).await.expect("not paused");
        assert_eq!(queue.drain().len(), 2);
        assert_eq!(queue.totals(), (8, 6));
    }
}
