//! What the runner is doing, as values the workers publish and anyone may read (the `[STATUS]`
//! line, the watchdog, the monitoring API): atomic counters and timestamps, never the
//! workers' locks or queues.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::policy::Class;
use super::queue::EnvQueue;
use crate::environments::EnvSpec;

/// Unix seconds now.
#[must_use]
pub fn unix_now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A timestamp a stage bumps when it makes progress (Unix milliseconds; 0: never).
#[derive(Debug, Default)]
pub struct Progress(AtomicU64);

impl Progress {
    /// Records progress now.
    pub fn bump(&self) {
        #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "milliseconds since 1970 fit u64")]
        self.0.store((unix_now() * 1000.0) as u64, Ordering::Relaxed);
    }

    /// When progress was last made (Unix seconds; 0: never).
    #[must_use]
    pub fn last(&self) -> f64 {
        #[expect(clippy::cast_precision_loss, reason = "milliseconds since 1970 fit an f64 exactly")]
        let millis = self.0.load(Ordering::Relaxed) as f64;
        millis / 1000.0
    }
}

/// One environment's counters.
#[derive(Debug)]
pub struct EnvStatus {
    /// The environment.
    pub spec: &'static EnvSpec,
    /// The outer deadline of one of its evaluations.
    pub deadline: std::time::Duration,
    /// Its queue.
    pub queue: Arc<EnvQueue>,
    /// Tasks created (one per miner per event, re-offers included).
    pub tasks_created: AtomicU64,
    /// Evaluations finished, by [`Class::index`].
    pub results: [AtomicU64; 4],
    /// Results committed to the spool.
    pub spooled: AtomicU64,
    /// Evaluations running now.
    pub in_flight: AtomicU64,
    /// Sum and count of evaluation latencies (microseconds), for the mean.
    pub latency_micros: AtomicU64,
    /// Evaluations timed.
    pub latency_count: AtomicU64,
    /// The next task id the producer hands out.
    pub next_task_id: AtomicU64,
    /// Whether the backend is up.
    pub backend_up: std::sync::atomic::AtomicBool,
    /// Bumped by each evaluation the environment answered (or the miner's provider refused).
    pub evaluated: Progress,
    /// Bumped by each producer iteration.
    pub producer: Progress,
}

impl EnvStatus {
    /// Counters for `spec` with its `queue` and evaluation `deadline`.
    #[must_use]
    pub fn new(spec: &'static EnvSpec, queue: Arc<EnvQueue>, deadline: std::time::Duration) -> Self {
        Self {
            spec,
            deadline,
            queue,
            tasks_created: AtomicU64::new(0),
            results: Default::default(),
            spooled: AtomicU64::new(0),
            in_flight: AtomicU64::new(0),
            latency_micros: AtomicU64::new(0),
            latency_count: AtomicU64::new(0),
            next_task_id: AtomicU64::new(spec.task_start),
            backend_up: std::sync::atomic::AtomicBool::new(false),
            evaluated: Progress::default(),
            producer: Progress::default(),
        }
    }

    /// Records one finished evaluation.
    pub fn record(&self, class: Class, latency: std::time::Duration) {
        self.results[class.index()].fetch_add(1, Ordering::Relaxed);
        self.latency_micros.fetch_add(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        if class != Class::Infrastructure {
            self.evaluated.bump();
        }
    }

    /// Evaluations finished in `class`.
    #[must_use]
    pub fn results_of(&self, class: Class) -> u64 {
        self.results[class.index()].load(Ordering::Relaxed)
    }

    /// Whether the environment has work waiting or running.
    #[must_use]
    pub fn has_work(&self) -> bool {
        self.queue.depth() > 0 || self.in_flight.load(Ordering::Relaxed) > 0
    }
}

/// Upload counters, by stage.
#[derive(Debug, Default)]
pub struct UploadStatus {
    /// Batches tried.
    pub attempts: AtomicU64,
    /// Batches written.
    pub batches: AtomicU64,
    /// Results written (new to the store, or already there).
    pub results: AtomicU64,
    /// Failures reading the block.
    pub failed_chain: AtomicU64,
    /// Failures signing (remote and local).
    pub failed_sign: AtomicU64,
    /// Failures writing the store.
    pub failed_store: AtomicU64,
    /// Failures reading or writing the spool.
    pub failed_spool: AtomicU64,
    /// Bumped by every upload attempt and idle check.
    pub alive: Progress,
    /// Bumped by every batch written.
    pub written: Progress,
}

impl UploadStatus {
    /// The failure counter of `stage`.
    #[must_use]
    pub fn failures(&self, stage: UploadStage) -> &AtomicU64 {
        match stage {
            UploadStage::Chain => &self.failed_chain,
            UploadStage::Sign => &self.failed_sign,
            UploadStage::Store => &self.failed_store,
            UploadStage::Spool => &self.failed_spool,
        }
    }
}

/// Where an upload failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UploadStage {
    /// Reading the current block.
    Chain,
    /// Signing (remote and local).
    Sign,
    /// Writing the store.
    Store,
    /// Reading or updating the spool.
    Spool,
}

impl UploadStage {
    /// Every stage.
    pub const ALL: [Self; 4] = [Self::Chain, Self::Sign, Self::Store, Self::Spool];

    /// The label (`chain`, `sign`, `store`, `spool`).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Chain => "chain",
            Self::Sign => "sign",
            Self::Store => "store",
            Self::Spool => "spool",
        }
    }
}

/// The whole runner's status.
#[derive(Debug)]
pub struct RunnerStatus {
    /// When the runner started.
    pub started: Instant,
    /// Per environment, in the registry's order.
    pub envs: Vec<EnvStatus>,
    /// The uploader.
    pub upload: UploadStatus,
    /// Bumped by every discovery pass that finished (or failed within its deadline).
    pub discovery: Progress,
    /// Miners in the table, and paused among them (as of the last change).
    pub miners: AtomicU64,
    /// Paused miners now.
    pub paused: AtomicU64,
}

impl RunnerStatus {
    /// Empty counters for `envs`.
    #[must_use]
    pub fn new(envs: Vec<EnvStatus>) -> Self {
        Self {
            started: Instant::now(),
            envs,
            upload: UploadStatus::default(),
            discovery: Progress::default(),
            miners: AtomicU64::new(0),
            paused: AtomicU64::new(0),
        }
    }

    /// The counters of `env`.
    #[must_use]
    pub fn env(&self, env: &str) -> Option<&EnvStatus> {
        self.envs.iter().find(|status| status.spec.id == env)
    }
}

/// The previous `[STATUS]` figures, for the deltas of the next line.
#[derive(Debug, Default, Clone)]
pub struct StatusMemory {
    totals: Vec<(u64, u64)>,
    at: Option<Instant>,
}

/// The reference's `[STATUS]` line (spec §8.4): samplers, paused, queue totals with the
/// enqueue (↓) and dequeue (↑) deltas since the last line per env, and each env's next id.
#[must_use]
pub fn status_line(status: &RunnerStatus, spooled_pending: u64, memory: &mut StatusMemory) -> String {
    let totals: Vec<(u64, u64)> = status.envs.iter().map(|env| env.queue.totals()).collect();
    let queue: usize = status.envs.iter().map(|env| env.queue.depth()).sum();
    let enqueued: u64 = totals.iter().map(|t| t.0).sum();
    let dequeued: u64 = totals.iter().map(|t| t.1).sum();
    let head = format!(
        "[STATUS] samplers={} (paused={}) total_queue={queue}",
        status.miners.load(Ordering::Relaxed),
        status.paused.load(Ordering::Relaxed)
    );
    let line = match memory.at {
        None => format!("{head} result_queue={spooled_pending} enqueued={enqueued} dequeued={dequeued} (tracking initialized)"),
        Some(at) => {
            let before_e: u64 = memory.totals.iter().map(|t| t.0).sum();
            let before_d: u64 = memory.totals.iter().map(|t| t.1).sum();
            let per_env: Vec<String> = status
                .envs
                .iter()
                .zip(&totals)
                .zip(memory.totals.iter().chain(std::iter::repeat(&(0, 0))))
                .map(|((env, now), before)| {
                    format!(
                        "{}={}(↓{} ↑{})",
                        env.spec.id,
                        env.queue.depth(),
                        now.0.saturating_sub(before.0),
                        now.1.saturating_sub(before.1)
                    )
                })
                .collect();
            let cycle: Vec<String> = status
                .envs
                .iter()
                .map(|env| {
                    let next = env.next_task_id.load(Ordering::Relaxed);
                    let spec = env.spec;
                    #[expect(clippy::cast_precision_loss, reason = "task ids are small")]
                    let pct = next.saturating_sub(spec.task_start) as f64 / spec.dataset_size().max(1) as f64 * 100.0;
                    format!("{}@{next}({pct:.0}%)", spec.id.rsplit(':').next().unwrap_or(spec.id))
                })
                .collect();
            format!(
                "{head}(↓{} ↑{} in {:.0}s) ({}) result_queue={spooled_pending} enqueued={enqueued} dequeued={dequeued} [{}]",
                enqueued.saturating_sub(before_e),
                dequeued.saturating_sub(before_d),
                at.elapsed().as_secs_f64(),
                per_env.join(" "),
                cycle.join(" ")
            )
        }
    };
    memory.totals = totals;
    memory.at = Some(Instant::now());
    line
}
