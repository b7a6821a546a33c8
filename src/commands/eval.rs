//! `af eval`: evaluate an OpenAI-compatible endpoint on an environment: SAT, ABD or DED
//! in-process (default), or any environment through containers (`--image`) or a running
//! server (`--env-url`).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::sync::Arc;

use anyhow::Context as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::cli::EvalArgs;
use crate::environments::{ErrorClass, classify_error};
use crate::envs::affine::{AffineEnv, TaskRequest};
use crate::envs::docker::DockerEnv;
use crate::envs::remote::RemoteEnv;
use crate::envs::url::UrlEnv;
use crate::error::ExitStatus;
use crate::model::ResultRecord;
use crate::output::{Printer, plain_table};
use crate::scoring::beta::beta_interval;
use crate::settings::{EnvRunner, EvalSettings, TaskSelection};

/// Confidence of the interval printed under the table.
const CONFIDENCE: f64 = 0.9;
/// Jeffreys prior, as the scorer uses.
const PRIOR: (f64, f64) = (0.5, 0.5);

/// The environment an evaluation goes to.
enum Evaluator {
    Local(Arc<AffineEnv>),
    Remote(RemoteEnv),
}

impl Evaluator {
    /// One record, or the text of an infrastructure failure (no record).
    async fn evaluate(&self, request: &TaskRequest<'_>) -> Result<ResultRecord, String> {
        match self {
            Self::Local(env) => Ok(env.evaluate_task(request).await),
            Self::Remote(env) => env.evaluate_task(request).await.map_err(|e| e.to_string()),
        }
    }
}

/// Runs `af eval`.
///
/// # Errors
/// Bad arguments, an environment that cannot be started or reached, evaluations that failed for
/// infrastructure reasons (their tasks have no record), or stdout failing. Evaluations the
/// environment answered, even with an error, are results, not errors.
///
/// # Cancellation
/// A signal stops scheduling, abandons evaluations in flight, removes the containers this run
/// started and returns [`ExitStatus::Interrupted`].
pub async fn run(args: &EvalArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = EvalSettings::resolve(args)?;
    let mut docker_env = None;
    let evaluator = match &settings.runner {
        EnvRunner::InProcess(affine) => Evaluator::Local(Arc::new(super::env_backends::affine_env(affine, settings.api_key.clone())?)),
        EnvRunner::Url(url) => {
            let env = UrlEnv::connect(url, None, crate::envs::client::DEFAULT_READ_TIMEOUT, settings.api_key.clone()).await?;
            Evaluator::Remote(RemoteEnv::Url(Arc::new(env)))
        }
        EnvRunner::Docker(docker) => {
            let run_id = crate::envs::docker::new_run_id();
            let spec = super::env_backends::container_spec(settings.spec, docker, settings.api_key.as_ref());
            let started = tokio::select! {
                () = token.cancelled() => {
                    crate::envs::docker::cleanup_run(&spec, &run_id).await;
                    return Ok(ExitStatus::Interrupted);
                }
                started = DockerEnv::start(&spec, &run_id) => started,
            };
            let env = Arc::new(started.with_context(|| format!("failed to start {} from image {}", settings.spec.id, docker.image))?);
            docker_env = Some(Arc::clone(&env));
            Evaluator::Remote(RemoteEnv::Docker(env))
        }
    };
    let outcome = evaluate_all(&settings, Arc::new(evaluator), &printer, &token).await;
    if let Some(env) = docker_env {
        env.shutdown().await;
    }
    let Some((records, infrastructure)) = outcome? else { return Ok(ExitStatus::Interrupted) };
    if settings.json {
        printer.json(&records).context("failed to write to stdout")?;
    } else {
        printer.raw(&render(&settings, &records)).context("failed to write to stdout")?;
    }
    if let Some(first) = infrastructure.first() {
        anyhow::bail!(
            "{} of {} evaluations failed for infrastructure reasons and have no result (first: {first})",
            infrastructure.len(),
            infrastructure.len() + records.len()
        );
    }
    Ok(ExitStatus::Success)
}

/// Evaluates every selected task; `None` when cancelled. Returns the records in task order
/// and the infrastructure failures.
async fn evaluate_all(
    settings: &EvalSettings,
    evaluator: Arc<Evaluator>,
    printer: &Printer,
    token: &CancellationToken,
) -> anyhow::Result<Option<(Vec<ResultRecord>, Vec<String>)>> {
    let task_ids = match &settings.tasks {
        TaskSelection::Ids(ids) => ids.clone(),
        TaskSelection::Samples(count) => random_ids(settings.spec.task_start, settings.spec.task_end, *count),
    };
    let bar = printer.count_progress(task_ids.len() as u64, settings.spec.id);
    let semaphore = Arc::new(tokio::sync::Semaphore::new(settings.concurrency));
    let mut tasks = JoinSet::new();
    for (position, task_id) in task_ids.iter().copied().enumerate() {
        let evaluator = Arc::clone(&evaluator);
        let semaphore = Arc::clone(&semaphore);
        let (spec, model, base_url, timeout_secs) =
            (settings.spec, settings.model.clone(), settings.base_url.clone(), settings.timeout_secs);
        tasks.spawn(async move {
            let _permit = semaphore.acquire_owned().await.expect("the semaphore is never closed");
            let request = TaskRequest { spec, model: &model, base_url: &base_url, task_id, timeout_secs };
            (position, evaluator.evaluate(&request).await)
        });
    }
    let mut records: Vec<Option<ResultRecord>> = vec![None; task_ids.len()];
    let mut infrastructure = Vec::new();
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => {
                tasks.abort_all();
                bar.abandon();
                return Ok(None);
            }
            joined = tasks.join_next() => {
                let Some(joined) = joined else { break };
                match joined.context("evaluation task failed")? {
                    (position, Ok(record)) => {
                        tracing::info!(env = %record.env, task_id = ?record.task_id, score = record.score, "evaluated");
                        records[position] = Some(record);
                    }
                    (position, Err(error)) => {
                        tracing::warn!(task_id = task_ids[position], %error, "infrastructure failure; no result");
                        infrastructure.push(format!("task {}: {error}", task_ids[position]));
                    }
                }
                bar.inc(1);
            }
        }
    }
    bar.finish_and_clear();
    Ok(Some((records.into_iter().flatten().collect(), infrastructure)))
}

fn random_ids(start: u64, end: u64, count: u64) -> Vec<u64> {
    use std::hash::{BuildHasher as _, Hasher as _};
    let state = std::collections::hash_map::RandomState::new();
    let mut chosen = HashSet::new();
    let mut ids = Vec::new();
    let mut counter = 0u64;
    while (ids.len() as u64) < count {
        let mut hasher = state.build_hasher();
        hasher.write_u64(counter);
        counter += 1;
        let id = start + hasher.finish() % (end - start);
        if chosen.insert(id) {
            ids.push(id);
        }
    }
    ids.sort_unstable();
    ids
}

fn short(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    if line.chars().count() > 60 { format!("{}…", line.chars().take(59).collect::<String>()) } else { line.to_owned() }
}

fn render(settings: &EvalSettings, records: &[ResultRecord]) -> String {
    let header: Vec<String> = ["task_id", "score", "latency_s", "class", "error"].iter().map(|s| (*s).to_owned()).collect();
    let rows: Vec<Vec<String>> = records
        .iter()
        .map(|record| {
            let class = match classify_error(record.error.as_deref()) {
                ErrorClass::None => "ok",
                ErrorClass::Service => "service",
                ErrorClass::Model => "model",
            };
            vec![
                record.task_id.map_or_else(String::new, |id| id.to_string()),
                format!("{:.1}", record.score),
                format!("{:.2}", record.latency_seconds),
                class.to_owned(),
                record.error.as_deref().map(short).unwrap_or_default(),
            ]
        })
        .collect();
    let mut text = format!("{} on {} ({})\n", settings.spec.id, settings.model, settings.base_url);
    text.push_str(&plain_table(&header, &rows));
    let scored: Vec<&ResultRecord> = records.iter().filter(|r| classify_error(r.error.as_deref()) != ErrorClass::Service).collect();
    let dropped = records.len() - scored.len();
    let sum: f64 = scored.iter().map(|r| settings.spec.normalise_score(r.score)).sum();
    let count = u32::try_from(scored.len()).unwrap_or(u32::MAX);
    if count == 0 {
        let _ = writeln!(text, "\nno scored samples ({dropped} service errors dropped)");
    } else {
        let (lower, upper) = beta_interval(sum, count, PRIOR, CONFIDENCE);
        let mean = sum / f64::from(count);
        let _ = writeln!(
            text,
            "\nmean {mean:.4} over {count} samples, {:.0}% interval [{lower:.4}, {upper:.4}]; {dropped} service errors dropped",
            CONFIDENCE * 100.0
        );
    }
    text
}
