//! Where an environment runs for the runner: in this process (SAT, ABD, DED), in containers
//! the runner owns (Docker, local or `ssh://` hosts), or behind a URL. Every backend gives the
//! same [`Evaluation`], so the error policy sees the environment's own failures apart from
//! the model's and from ours.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::miners::RunnerMiner;
use super::policy::Evaluation;
use crate::environments::{EnvSpec, EvalOutcome, build_result, task_seed};
use crate::envs::affine::AffineEnv;
use crate::envs::protocol::EvaluateKwargs;
use crate::envs::remote::{RemoteEnv, RemoteOutcome};

/// One environment's backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// SAT, ABD and DED in this process.
    Native(Arc<AffineEnv>),
    /// A server at a URL, or containers this process owns.
    Remote(RemoteEnv),
}

fn now_unix() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// The reference's payload for `miner` on `task_id` of `spec`.
#[must_use]
pub fn payload(spec: &EnvSpec, miner: &RunnerMiner, task_id: u64) -> Map<String, Value> {
    let target = miner.base_url.as_deref().map(|url| (miner.model.as_str(), url));
    spec.payload(target, task_seed(spec.id, task_id), task_id)
}

impl Backend {
    /// A short name for logs (`native`, `url-…`, the container prefix).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Native(_) => "native",
            Self::Remote(env) => env.name(),
        }
    }

    /// Evaluates `miner` on `task_id` of `spec`, giving up after `deadline`.
    pub async fn evaluate(&self, spec: &'static EnvSpec, miner: &RunnerMiner, task_id: u64, deadline: Duration) -> Evaluation {
        let payload = payload(spec, miner, task_id);
        let started = Instant::now();
        let record = |outcome: EvalOutcome, started: Instant| {
            build_result(spec, Some(miner.record.clone()), &payload, outcome, started.elapsed().as_secs_f64(), now_unix())
        };
        match self {
            Self::Native(env) => {
                let kwargs = match serde_json::from_value::<EvaluateKwargs>(Value::Object(payload.clone())) {
                    Ok(kwargs) => kwargs,
                    Err(error) => return Evaluation::EnvironmentFailed(format!("HTTP 500: {{\"detail\": \"bad payload: {error}\"}}")),
                };
                match tokio::time::timeout(deadline, env.evaluate(kwargs)).await {
                    Ok(Ok(result)) => Evaluation::Answered(Box::new(record(
                        EvalOutcome::Answered(serde_json::to_value(result).unwrap_or(Value::Null)),
                        started,
                    ))),
                    Ok(Err(error)) => {
                        Evaluation::EnvironmentFailed(format!("HTTP 500: {}", serde_json::json!({"detail": error.to_string()})))
                    }
                    Err(_) => Evaluation::Unreachable(format!("evaluate did not finish within {} s", deadline.as_secs())),
                }
            }
            Self::Remote(env) => match env.call_evaluate(payload.clone(), deadline).await {
                RemoteOutcome::Answered(result) => Evaluation::Answered(Box::new(record(EvalOutcome::Answered(result), started))),
                RemoteOutcome::Failed(text) => Evaluation::EnvironmentFailed(text),
                RemoteOutcome::TimedOut(text) => Evaluation::Unreachable(text),
                RemoteOutcome::Unreachable(error) => Evaluation::Unreachable(error.to_string()),
            },
        }
    }
}
