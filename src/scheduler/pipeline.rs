//! The two per-environment stages: a producer that hands out task ids on the environment's
//! schedule, and a pool of workers that evaluate, classify and spool.
//!
//! Producer, per event: the next id of the environment's cycle (ids in order, wrapping), the
//! same id and seed to every available miner, plus up to [`REOFFER_PER_EVENT`] ids each miner
//! missed; a paused miner's id is remembered as missed. Events come every `86400 / range`
//! seconds (the reference's rate; `--task-interval` overrides it), the first at a random point
//! of the first interval. A paused queue holds back this producer alone, and holding back burns
//! no id.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::evaluator::Backend;
use super::miners::MinerTable;
use super::missed::MissedBook;
use super::pause::{PauseBook, PauseRules};
use super::policy::{Class, Consequence, classify, error_text};
use super::queue::Task;
use super::spool::Spool;
use super::state::SamplingState;
use super::status::{RunnerStatus, unix_now};
use crate::model::ResultRecord;

/// Missed ids re-offered to a miner per event, besides the event's own id.
pub const REOFFER_PER_EVENT: usize = 1;
/// How long a producer waits when no miner is known yet.
const NO_MINERS_WAIT: Duration = Duration::from_secs(5);

/// What the stages share.
pub struct Shared {
    /// Counters.
    pub status: Arc<RunnerStatus>,
    /// The miner table.
    pub miners: watch::Receiver<Arc<MinerTable>>,
    /// Pause states.
    pub pauses: Mutex<PauseBook>,
    /// The backoff rule.
    pub pause_rules: PauseRules,
    /// Missed ids.
    pub missed: Mutex<MissedBook>,
    /// The spool (pauses are saved in it when they change).
    pub spool: Spool,
    /// Next ids; every change is sent to `saved`, whose one writer saves them in order.
    pub counters: Mutex<SamplingState>,
    /// The latest counters, for the state writer.
    pub saved: watch::Sender<SamplingState>,
    /// Tasks being evaluated, by a sequence number (remembered as missed if abandoned).
    pub in_flight: Mutex<std::collections::BTreeMap<u64, Task>>,
    /// The next in-flight sequence number.
    pub next_flight: std::sync::atomic::AtomicU64,
}

impl Shared {
    fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().expect("runner locks are never held across a panic")
    }

    /// Remembers that `task`'s miner missed its id.
    pub fn miss(&self, task: &Task) {
        Self::lock(&self.missed).add(&task.miner.key, task.env.id, task.task_id);
    }

    /// Saves the pause book in the spool (logged on failure; pauses are advisory).
    fn save_pauses(&self) {
        let json = serde_json::to_vec(&*Self::lock(&self.pauses)).unwrap_or_default();
        let spool = self.spool.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(error) = spool.put_meta(super::PAUSES_META, &json) {
                tracing::warn!(%error, "failed to save the miners' pauses");
            }
        });
    }

    fn advance(&self, env: usize) -> u64 {
        let spec = self.status.envs[env].spec;
        let (id, snapshot) = {
            let mut counters = Self::lock(&self.counters);
            let id = counters.next_id(spec);
            let next = if id + 1 >= spec.task_end { spec.task_start } else { id + 1 };
            counters.env_task_counters.insert(spec.id.to_owned(), next);
            self.status.envs[env].next_task_id.store(next, Ordering::Relaxed);
            (id, counters.clone())
        };
        // Sent under no lock; the writer saves the newest, so a file never goes back.
        self.saved.send_replace(snapshot);
        id
    }
}

async fn sleep_or_cancel(duration: Duration, token: &CancellationToken) -> bool {
    tokio::select! {
        biased;
        () = token.cancelled() => false,
        () = tokio::time::sleep(duration) => true,
    }
}

/// Waits until the environment's backend is up; false when cancelled first.
async fn backend_up(backend: &mut watch::Receiver<Option<Backend>>, token: &CancellationToken) -> Option<Backend> {
    loop {
        if let Some(backend) = backend.borrow_and_update().clone() {
            return Some(backend);
        }
        tokio::select! {
            biased;
            () = token.cancelled() => return None,
            changed = backend.changed() => if changed.is_err() { return None },
        }
    }
}

/// The producer of environment `env` (an index into the status's envs).
pub async fn produce(
    shared: Arc<Shared>,
    env: usize,
    interval: Duration,
    mut backend: watch::Receiver<Option<Backend>>,
    token: CancellationToken,
) {
    let status = &shared.status.envs[env];
    let spec = status.spec;
    let queue = Arc::clone(&status.queue);
    // The reference's random stagger: the first event somewhere in the first interval.
    if !sleep_or_cancel(interval.mul_f64(fastrand::f64()), &token).await {
        return;
    }
    loop {
        status.producer.bump();
        if backend_up(&mut backend, &token).await.is_none() {
            return;
        }
        if queue.is_paused() {
            tracing::debug!(env = spec.id, depth = queue.depth(), "queue paused; waiting for it to drain");
            tokio::select! {
                biased;
                () = token.cancelled() => return,
                () = queue.wait_until_resumed() => continue,
            }
        }
        let table = shared.miners.borrow().clone();
        let sampled: Vec<_> = table.miners.iter().filter(|m| m.base_url.is_some()).collect();
        if sampled.is_empty() {
            if !sleep_or_cancel(NO_MINERS_WAIT.min(interval), &token).await {
                return;
            }
            continue;
        }
        let event_started = Instant::now();
        let task_id = shared.advance(env);
        let now = unix_now();
        let mut created = 0_u64;
        for miner in sampled {
            if Shared::lock(&shared.pauses).is_paused(&miner.key, now) {
                Shared::lock(&shared.missed).add(&miner.key, spec.id, task_id);
                continue;
            }
            let reoffered = Shared::lock(&shared.missed).take(&miner.key, spec.id, REOFFER_PER_EVENT, task_id);
            for id in std::iter::once(task_id).chain(reoffered) {
                let task = Task { env: spec, task_id: id, miner: Arc::clone(miner), created_at: now, created: Instant::now() };
                match queue.push(task) {
                    Ok(()) => created += 1,
                    Err(full) => shared.miss(&full),
                }
            }
        }
        status.tasks_created.fetch_add(created, Ordering::Relaxed);
        tracing::debug!(env = spec.id, task_id, tasks = created, "[Sampling] {}: task_id={task_id}, miners={created}", spec.id);
        if !sleep_or_cancel(interval.saturating_sub(event_started.elapsed()), &token).await {
            return;
        }
    }
}

/// How workers hand results to the spool writer.
pub type SpoolSender = mpsc::Sender<ResultRecord>;

/// One worker of environment `env`: evaluates until cancelled (finishing the evaluation in
/// hand), classifying each outcome with the error policy.
pub async fn work(
    shared: Arc<Shared>,
    env: usize,
    deadline: Duration,
    mut backend: watch::Receiver<Option<Backend>>,
    results: SpoolSender,
    token: CancellationToken,
) {
    let status = &shared.status.envs[env];
    let spec = status.spec;
    let queue = Arc::clone(&status.queue);
    loop {
        let Some(evaluator) = backend_up(&mut backend, &token).await else { return };
        let task = tokio::select! {
            biased;
            () = token.cancelled() => return,
            task = queue.pop() => task,
        };
        // A task whose miner changed or left the table is dropped; a paused miner's is kept
        // for later (the reference evaluated both).
        if shared.miners.borrow().get(&task.miner.key).is_none() {
            continue;
        }
        if Shared::lock(&shared.pauses).is_paused(&task.miner.key, unix_now()) {
            shared.miss(&task);
            continue;
        }
        let flight = shared.next_flight.fetch_add(1, Ordering::Relaxed);
        Shared::lock(&shared.in_flight).insert(flight, task.clone());
        status.in_flight.fetch_add(1, Ordering::Relaxed);
        let started = Instant::now();
        let evaluation = evaluator.evaluate(spec, &task.miner, task.task_id, deadline).await;
        status.in_flight.fetch_sub(1, Ordering::Relaxed);
        Shared::lock(&shared.in_flight).remove(&flight);
        let class = classify(&evaluation);
        status.record(class, started.elapsed());
        let uid = task.miner.uid;
        match (class.consequence(), evaluation) {
            (Consequence::Store, super::policy::Evaluation::Answered(record)) => {
                tracing::debug!(
                    uid,
                    env = spec.id,
                    score = record.score,
                    task_id = task.task_id,
                    "[RESULT] U{uid:>3} │ {:<20} │ {:>6.4} │ task_id={} │ {:>6.3}s",
                    spec.id,
                    record.score,
                    task.task_id,
                    record.latency_seconds
                );
                if Shared::lock(&shared.pauses).record_success(&task.miner.key, task.created_at) {
                    tracing::info!(uid, "[Miner U{uid}] Reset error state");
                    shared.save_pauses();
                }
                if results.send(*record).await.is_err() {
                    // The spool writer is gone only when the runner is stopping.
                    shared.miss(&task);
                    return;
                }
            }
            (consequence, evaluation) => {
                let text = error_text(&evaluation).unwrap_or_default().chars().take(500).collect::<String>();
                shared.miss(&task);
                if consequence == Consequence::SkipAndPause {
                    tracing::debug!(uid, env = spec.id, error = %text, "[SKIP]   U{uid:>3} │ {:<20} │ Service error (skipped): {text}", spec.id);
                    let paused = Shared::lock(&shared.pauses).record_service_error(&shared.pause_rules, &task.miner.key, unix_now(), &text);
                    if let Some(paused) = paused {
                        tracing::warn!(
                            uid,
                            seconds = paused.duration_secs,
                            level = paused.level,
                            errors = paused.errors,
                            "[Miner U{uid}] Paused for {}s (level {}, errors: {})",
                            paused.duration_secs,
                            paused.level,
                            paused.errors
                        );
                    }
                    shared.save_pauses();
                } else {
                    debug_assert_eq!(class, Class::Infrastructure);
                    tracing::warn!(uid, env = spec.id, task_id = task.task_id, backend = evaluator.name(), error = %text, "infrastructure failure; the task is offered again later, nothing is stored");
                }
            }
        }
    }
}

/// Saves the sampling state after each change, one save at a time (the newest wins); when
/// `stop` is cancelled, saves the newest once more and returns.
pub async fn state_writer(mut saved: watch::Receiver<SamplingState>, path: std::path::PathBuf, stop: CancellationToken) {
    let save = |snapshot: SamplingState| {
        let path = path.clone();
        async move {
            match tokio::task::spawn_blocking(move || snapshot.save(&path)).await {
                Ok(Err(error)) => tracing::warn!(%error, "failed to save the sampling state"),
                Err(error) => tracing::warn!(%error, "the sampling state save failed"),
                Ok(Ok(())) => {}
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => {
                let snapshot = saved.borrow_and_update().clone();
                save(snapshot).await;
                return;
            }
            changed = saved.changed() => {
                if changed.is_err() {
                    return;
                }
                let snapshot = saved.borrow_and_update().clone();
                save(snapshot).await;
            }
        }
    }
}

/// Commits what the workers produce to the spool in groups (one fsync per group), until every
/// worker has hung up; a failed commit is retried, never dropped.
pub async fn spool_writer(shared: Arc<Shared>, mut results: mpsc::Receiver<ResultRecord>) {
    const GROUP: usize = 512;
    let mut batch: Vec<ResultRecord> = Vec::with_capacity(GROUP);
    while results.recv_many(&mut batch, GROUP).await > 0 {
        let encoded: Vec<Vec<u8>> = batch.iter().filter_map(|record| serde_json::to_vec(record).ok()).collect();
        let mut delay = Duration::from_millis(100);
        loop {
            let spool = shared.spool.clone();
            let rows = encoded.clone();
            match tokio::task::spawn_blocking(move || spool.append(&rows, unix_now())).await {
                Ok(Ok(_)) => break,
                Ok(Err(error)) => tracing::error!(%error, "failed to commit results to the spool; retrying"),
                Err(error) => tracing::error!(%error, "the spool commit task failed; retrying"),
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
        for record in &batch {
            if let Some(env) = shared.status.env(&record.env) {
                env.spooled.fetch_add(1, Ordering::Relaxed);
            }
        }
        batch.clear();
    }
}
