//! `af runner`: the sampling engine. It discovers miners, hands every available miner the same
//! task ids of each environment on the reference's schedule, evaluates them on the environment
//! backends, classifies each outcome with one error policy, commits results to a durable spool
//! and uploads them, signed, into the result store.
//!
//! - [`miners`]: the miner table, refreshed by discovery, published as snapshots.
//! - [`pipeline`]: per environment, the producer and the workers; the spool writer.
//! - [`queue`]: one bounded queue per environment with the reference's thresholds.
//! - [`evaluator`]: the backends (in process, Docker, URL) behind one [`policy::Evaluation`].
//! - [`policy`]: the error policy table (what is stored, what pauses a miner, what is retried).
//! - [`pause`], [`missed`]: pauses by time, and task ids re-offered to miners that missed them.
//! - [`spool`]: the crash-safe spool (an embedded database); [`uploader`]: signing and upload.
//! - [`state`]: the reference's `sampling_state.json`.
//! - [`status`], [`watchdog`]: what the runner is doing, and the watchdog that reads it.
//!
//! Lifecycle: SIGTERM stops the producers, lets evaluations in flight finish within the grace
//! period, remembers every unfinished task id, commits what the workers produced, tries one
//! last upload, saves the counters, pauses and missed ids, and removes the containers it
//! started. Nothing committed to the spool is ever lost; a `kill -9` only loses work that was
//! not committed yet, whose ids come round again.

pub mod evaluator;
pub mod miners;
pub mod missed;
pub mod pause;
pub mod pipeline;
pub mod policy;
pub mod queue;
pub mod spool;
pub mod state;
pub mod status;
pub mod uploader;
pub mod watchdog;

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use self::evaluator::Backend;
use self::miners::{MinerTable, next_table};
use self::missed::MissedBook;
use self::pause::{PauseBook, PauseRules};
use self::pipeline::Shared;
use self::queue::{EnvQueue, Thresholds};
use self::spool::Spool;
use self::state::SamplingState;
use self::status::{EnvStatus, RunnerStatus, StatusMemory, unix_now};
use self::uploader::{Signing, Uploader};
use crate::environments::EnvSpec;
use crate::envs::docker::{ContainerSpec, DockerEnv};
use crate::envs::remote::RemoteEnv;
use crate::miners::{DiscoveryOptions, Sources, discover};

/// The spool entry holding the pause book.
pub const PAUSES_META: &str = "pauses";
/// The spool entry holding the missed ids.
pub const MISSED_META: &str = "missed";
/// How often the `[STATUS]` line is logged and the missed ids are saved.
const STATUS_EVERY: Duration = Duration::from_secs(30);
/// How long a failed container start waits before it is tried again.
const BACKEND_RETRY: Duration = Duration::from_secs(60);
/// Results waiting between the workers and the spool writer.
const SPOOL_CHANNEL: usize = 1024;

/// How an environment's backend comes up.
#[derive(Debug, Clone)]
pub enum BackendSpec {
    /// Ready now (in process, or a URL already connected).
    Ready(Backend),
    /// A URL to connect to (retried until it answers).
    Url {
        /// The base URL.
        url: String,
        /// Bearer key the server should use with miners.
        api_key: Option<crate::inference::ApiKey>,
    },
    /// Containers to start and own (retried until they start).
    Docker(Box<ContainerSpec>),
}

/// What the runner runs with.
#[derive(Debug, Clone)]
pub struct RunnerConfig {
    /// The environments and their backends, in the registry's order.
    pub envs: Vec<(&'static EnvSpec, BackendSpec)>,
    /// Workers per environment (`AFFINE_WORKERS_PER_ENV`).
    pub workers_per_env: usize,
    /// Queue capacity per environment (`AFFINE_QUEUE_MAX_SIZE_PER_ENV`).
    pub queue_capacity: usize,
    /// Seconds between events, overriding `86400 / range` (`--task-interval`).
    pub task_interval: Option<Duration>,
    /// The outer deadline of one evaluation, overriding the reference's 700/1300 s.
    pub call_deadline: Option<Duration>,
    /// Between discovery passes (`AFFINE_MINER_REFRESH_INTERVAL`).
    pub refresh_interval: Duration,
    /// The pause rule.
    pub pause: PauseRules,
    /// Results per upload (`AFFINE_SINK_BATCH_SIZE`).
    pub sink_batch_size: usize,
    /// Oldest result's wait before a smaller upload (`AFFINE_SINK_MAX_WAIT`).
    pub sink_max_wait: Duration,
    /// No progress for this long fires the watchdog (`AFFINE_WATCHDOG_TIMEOUT`).
    pub watchdog_timeout: Duration,
    /// How long in-flight evaluations may finish after SIGTERM (`--grace`).
    pub grace: Duration,
    /// The sampling state file.
    pub state_path: PathBuf,
    /// The spool.
    pub spool_path: PathBuf,
}

/// The runner's I/O handles.
pub struct RunnerDeps {
    /// Chain, Chutes and Hub clients with discovery's caches.
    pub sources: Arc<Sources>,
    /// Discovery's options.
    pub discovery: DiscoveryOptions,
    /// The result store.
    pub store: crate::store::Store,
    /// How results are signed.
    pub signing: Signing,
}

/// Why the runner stopped with a failure.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The spool cannot be opened.
    #[error(transparent)]
    Spool(#[from] spool::Error),
    /// No environment has a backend.
    #[error("no environment to run: {0}")]
    NoEnvironment(String),
    /// The watchdog fired.
    #[error("watchdog: {0}")]
    Watchdog(String),
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        match self {
            Self::Spool(error) => error.kind(),
            Self::NoEnvironment(_) => crate::error::Kind::Usage,
            Self::Watchdog(_) => crate::error::Kind::Runtime,
        }
    }
}

/// What a run did, for the closing log line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunSummary {
    /// Tasks created.
    pub tasks: u64,
    /// Results committed to the spool.
    pub spooled: u64,
    /// Results uploaded.
    pub uploaded: u64,
    /// Rows left in the spool for the next start.
    pub left_in_spool: u64,
}

/// The runner's handles, for a status API.
#[derive(Clone)]
pub struct RunnerView {
    /// Counters.
    pub status: Arc<RunnerStatus>,
    /// The miner table.
    pub miners: watch::Receiver<Arc<MinerTable>>,
    /// Pauses, missed ids, the spool.
    pub shared: Arc<Shared>,
}

fn default_interval(spec: &EnvSpec) -> Duration {
    #[expect(clippy::cast_precision_loss, reason = "range sizes are small")]
    Duration::from_secs_f64(86_400.0 / spec.dataset_size().max(1) as f64)
}

/// The outer deadline of one evaluation of `spec`: the override, else the reference's.
fn call_deadline(config: &RunnerConfig, spec: &EnvSpec) -> Duration {
    config.call_deadline.unwrap_or_else(|| Duration::from_secs(spec.call_deadline_secs))
}

fn load_meta<T: serde::de::DeserializeOwned + Default>(spool: &Spool, name: &str) -> T {
    match spool.get_meta(name) {
        Ok(Some(bytes)) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
            tracing::warn!(name, %error, "saved runner state does not parse; starting it fresh");
            T::default()
        }),
        Ok(None) => T::default(),
        Err(error) => {
            tracing::warn!(name, %error, "cannot read saved runner state; starting it fresh");
            T::default()
        }
    }
}

/// Brings up one environment's backend, retrying until it is up or `token` is cancelled.
async fn bring_up(
    spec: &'static EnvSpec,
    backend: BackendSpec,
    run_id: String,
    slot: watch::Sender<Option<Backend>>,
    owned: Arc<Mutex<Vec<Arc<DockerEnv>>>>,
    status: Arc<RunnerStatus>,
    token: CancellationToken,
) {
    let mut warned = false;
    loop {
        let attempt = async {
            match &backend {
                BackendSpec::Ready(backend) => Ok(backend.clone()),
                BackendSpec::Url { url, api_key } => {
                    crate::envs::url::UrlEnv::connect(url, Some(spec.kind), crate::envs::client::DEFAULT_READ_TIMEOUT, api_key.clone())
                        .await
                        .map(|env| Backend::Remote(RemoteEnv::Url(Arc::new(env))))
                        .map_err(|e| crate::error::one_line(&e))
                }
                BackendSpec::Docker(container) => match DockerEnv::start(container, &run_id).await {
                    Ok(env) => {
                        let env = Arc::new(env);
                        owned.lock().expect("never held across a panic").push(Arc::clone(&env));
                        Ok(Backend::Remote(RemoteEnv::Docker(env)))
                    }
                    Err(error) => {
                        crate::envs::docker::cleanup_run(container, &run_id).await;
                        Err(crate::error::one_line(&error))
                    }
                },
            }
        };
        let result = tokio::select! {
            biased;
            () = token.cancelled() => return,
            result = attempt => result,
        };
        match result {
            Ok(backend) => {
                tracing::info!(env = spec.id, backend = backend.name(), "environment ready");
                if let Some(env) = status.env(spec.id) {
                    env.backend_up.store(true, Ordering::Relaxed);
                }
                let _ = slot.send(Some(backend));
                return;
            }
            Err(error) => {
                if warned {
                    tracing::debug!(env = spec.id, %error, "environment still unavailable");
                } else {
                    tracing::warn!(env = spec.id, %error, "environment unavailable; it is disabled until it comes up (retried every {} s)", BACKEND_RETRY.as_secs());
                    warned = true;
                }
            }
        }
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(BACKEND_RETRY) => {}
        }
    }
}

/// Refreshes the miner table every `interval` until cancelled; a failed pass keeps the table.
async fn refresh(
    sources: Arc<Sources>,
    options: DiscoveryOptions,
    interval: Duration,
    table: watch::Sender<Arc<MinerTable>>,
    shared: Arc<Shared>,
    token: CancellationToken,
) {
    loop {
        let progress = indicatif::ProgressBar::hidden();
        let pass = tokio::time::timeout(miners::DISCOVERY_DEADLINE, discover(&sources, &options, &progress));
        let outcome = tokio::select! {
            biased;
            () = token.cancelled() => return,
            outcome = pass => outcome,
        };
        match outcome {
            Ok(Ok(discovery)) => {
                let previous = table.borrow().clone();
                let next = next_table(&previous, &discovery);
                miners::log_changes(&previous, &next);
                let keys: std::collections::BTreeSet<String> = next.miners.iter().map(|m| m.key.clone()).collect();
                let now = unix_now();
                Shared::lock_pub(&shared.pauses).retain(&keys, now);
                Shared::lock_pub(&shared.missed).retain(&keys);
                shared.status.miners.store(next.miners.len() as u64, Ordering::Relaxed);
                tracing::info!(miners = next.miners.len(), block = discovery.block, "miner table refreshed");
                let _ = table.send(Arc::new(next));
            }
            Ok(Err(error)) => tracing::warn!(error = %crate::error::one_line(&error), "miner discovery failed; keeping the previous table"),
            Err(_) => tracing::warn!(
                "miner discovery did not finish within {} s; keeping the previous table",
                miners::DISCOVERY_DEADLINE.as_secs()
            ),
        }
        shared.status.discovery.bump();
        tokio::select! {
            biased;
            () = token.cancelled() => return,
            () = tokio::time::sleep(interval) => {}
        }
    }
}

impl Shared {
    /// Locks one of the shared books.
    pub fn lock_pub<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
        mutex.lock().expect("runner locks are never held across a panic")
    }
}

fn save_books(shared: &Shared) {
    let pauses = serde_json::to_vec(&*Shared::lock_pub(&shared.pauses)).unwrap_or_default();
    let missed = serde_json::to_vec(&*Shared::lock_pub(&shared.missed)).unwrap_or_default();
    for (name, bytes) in [(PAUSES_META, pauses), (MISSED_META, missed)] {
        if let Err(error) = shared.spool.put_meta(name, &bytes) {
            tracing::warn!(name, %error, "failed to save runner state");
        }
    }
}

/// Runs the runner until `token` is cancelled (or the watchdog fires); `on_start` receives its
/// handles once everything is started (for a monitoring API).
///
/// # Errors
/// The spool cannot be opened, no environment is configured, or the watchdog fired.
pub async fn run(
    config: RunnerConfig,
    deps: RunnerDeps,
    token: CancellationToken,
    on_start: impl FnOnce(RunnerView),
) -> Result<RunSummary, Error> {
    if config.envs.is_empty() {
        return Err(Error::NoEnvironment("every environment is disabled".to_owned()));
    }
    let spool = Spool::open(&config.spool_path)?;
    let left = spool.stats();
    if left.rows > 0 {
        tracing::info!(rows = left.rows, bytes = left.bytes, path = %spool.path().display(), "the spool holds results from a previous run; uploading them");
    }
    let (counters, warning) = SamplingState::load(&config.state_path);
    if let Some(warning) = warning {
        tracing::warn!("{warning}");
    }
    let envs: Vec<EnvStatus> = config
        .envs
        .iter()
        .map(|(spec, _)| {
            let queue = Arc::new(EnvQueue::new(spec.id, Thresholds::of(config.queue_capacity)));
            let status = EnvStatus::new(spec, queue, call_deadline(&config, spec));
            status.next_task_id.store(counters.next_id(spec), Ordering::Relaxed);
            status
        })
        .collect();
    for env in &envs {
        let spec = env.spec;
        let interval = config.task_interval.unwrap_or_else(|| default_interval(spec));
        tracing::info!(
            env = spec.id,
            "[Scheduler] {}: range=[{}, {}), daily_rate={}, next_task_id={}, interval={:.2}s",
            spec.id,
            spec.task_start,
            spec.task_end,
            spec.dataset_size(),
            env.next_task_id.load(Ordering::Relaxed),
            interval.as_secs_f64()
        );
    }
    let status = Arc::new(RunnerStatus::new(envs));
    let (table_tx, table_rx) = watch::channel(Arc::new(MinerTable::default()));
    let (saved_tx, saved_rx) = watch::channel(counters.clone());
    let state_stop = CancellationToken::new();
    let state_writer = tokio::spawn(pipeline::state_writer(saved_rx, config.state_path.clone(), state_stop.clone()));
    let shared = Arc::new(Shared {
        status: Arc::clone(&status),
        miners: table_rx.clone(),
        pauses: Mutex::new(load_meta::<PauseBook>(&spool, PAUSES_META)),
        pause_rules: config.pause,
        missed: Mutex::new(load_meta::<MissedBook>(&spool, MISSED_META)),
        spool: spool.clone(),
        counters: Mutex::new(counters),
        saved: saved_tx,
        in_flight: Mutex::new(std::collections::BTreeMap::new()),
        next_flight: std::sync::atomic::AtomicU64::new(0),
    });

    let stop = token.child_token();
    let fired = Arc::new(AtomicBool::new(false));
    let run_id = crate::envs::docker::new_run_id();
    let owned: Arc<Mutex<Vec<Arc<DockerEnv>>>> = Arc::new(Mutex::new(Vec::new()));
    let (results_tx, results_rx) = mpsc::channel(SPOOL_CHANNEL);
    let mut services = JoinSet::new();
    let mut workers = JoinSet::new();
    let mut producers = JoinSet::new();

    services.spawn(refresh(
        Arc::clone(&deps.sources),
        deps.discovery.clone(),
        config.refresh_interval,
        table_tx,
        Arc::clone(&shared),
        stop.clone(),
    ));
    for (index, (spec, backend)) in config.envs.iter().enumerate() {
        let (slot_tx, slot_rx) = watch::channel(None);
        services.spawn(bring_up(spec, backend.clone(), run_id.clone(), slot_tx, Arc::clone(&owned), Arc::clone(&status), stop.clone()));
        let interval = config.task_interval.unwrap_or_else(|| default_interval(spec));
        producers.spawn(pipeline::produce(Arc::clone(&shared), index, interval, slot_rx.clone(), stop.clone()));
        let deadline = call_deadline(&config, spec);
        for _ in 0..config.workers_per_env.max(1) {
            workers.spawn(pipeline::work(Arc::clone(&shared), index, deadline, slot_rx.clone(), results_tx.clone(), stop.clone()));
        }
    }
    drop(results_tx);
    let writer = tokio::spawn(pipeline::spool_writer(Arc::clone(&shared), results_rx));
    let uploader = Arc::new(Uploader {
        spool: spool.clone(),
        store: deps.store.clone(),
        sources: Arc::clone(&deps.sources),
        signing: Arc::new(deps.signing),
        batch_size: config.sink_batch_size.max(1),
        max_wait: config.sink_max_wait,
        status: Arc::clone(&status),
    });
    let upload_stop = CancellationToken::new();
    let upload_task = {
        let uploader = Arc::clone(&uploader);
        let upload_stop = upload_stop.clone();
        tokio::spawn(async move { uploader.run(upload_stop).await })
    };
    services.spawn(watchdog::watch(
        Arc::clone(&status),
        spool.clone(),
        config.watchdog_timeout,
        config.grace,
        Arc::clone(&fired),
        stop.clone(),
    ));
    on_start(RunnerView { status: Arc::clone(&status), miners: table_rx.clone(), shared: Arc::clone(&shared) });

    let mut memory = StatusMemory::default();
    let mut ticks = tokio::time::interval(STATUS_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            () = stop.cancelled() => break,
            _ = ticks.tick() => {
                status.paused.store(Shared::lock_pub(&shared.pauses).paused_count(unix_now()) as u64, Ordering::Relaxed);
                tracing::info!("{}", status::status_line(&status, spool.stats().rows, &mut memory));
                let shared = Arc::clone(&shared);
                let _ = tokio::task::spawn_blocking(move || save_books(&shared)).await;
            }
        }
    }

    // Shutdown: producers stop at once; workers finish what they hold within the grace.
    tracing::info!("stopping: no new tasks; finishing evaluations in flight (grace {} s)", config.grace.as_secs());
    let deadline = tokio::time::Instant::now() + config.grace;
    producers.shutdown().await;
    if tokio::time::timeout_at(deadline, async { while workers.join_next().await.is_some() {} }).await.is_err() {
        let abandoned = Shared::lock_pub(&shared.in_flight).len();
        tracing::warn!(abandoned, "evaluations still running after the grace period; their task ids are kept for later");
        workers.shutdown().await;
    }
    for task in Shared::lock_pub(&shared.in_flight).values() {
        shared.miss(task);
    }
    for env in &status.envs {
        for task in env.queue.drain() {
            shared.miss(&task);
        }
    }
    // Every worker has hung up: the writer commits what it holds and ends.
    if tokio::time::timeout(Duration::from_secs(30), writer).await.is_err() {
        tracing::error!("the spool writer did not finish; results it held may be lost");
    }
    upload_stop.cancel();
    let _ = upload_task.await;
    uploader.flush(deadline.max(tokio::time::Instant::now() + Duration::from_secs(5))).await;
    {
        let shared = Arc::clone(&shared);
        let _ = tokio::task::spawn_blocking(move || save_books(&shared)).await;
    }
    services.shutdown().await;
    // The last counters, saved by the one writer.
    state_stop.cancel();
    let _ = state_writer.await;
    let containers: Vec<Arc<DockerEnv>> = owned.lock().expect("never held across a panic").drain(..).collect();
    for env in containers {
        env.shutdown().await;
    }
    let summary = RunSummary {
        tasks: status.envs.iter().map(|e| e.tasks_created.load(Ordering::Relaxed)).sum(),
        spooled: status.envs.iter().map(|e| e.spooled.load(Ordering::Relaxed)).sum(),
        uploaded: status.upload.results.load(Ordering::Relaxed),
        left_in_spool: spool.stats().rows,
    };
    tracing::info!(
        tasks = summary.tasks,
        spooled = summary.spooled,
        uploaded = summary.uploaded,
        left_in_spool = summary.left_in_spool,
        "runner stopped"
    );
    if fired.load(Ordering::SeqCst) {
        return Err(Error::Watchdog("no progress; see the log above".to_owned()));
    }
    Ok(summary)
}
