//! Evaluation through an environment server outside this process (a URL or Docker containers),
//! producing the same R2 result record as the validator and as in-process evaluation.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use super::affine::TaskRequest;
use super::client::CallError;
use super::docker::DockerEnv;
use super::url::UrlEnv;
use crate::environments::{EvalOutcome, build_result};
use crate::model::ResultRecord;

/// An environment reached over the Affinetes protocol.
#[derive(Debug, Clone)]
pub enum RemoteEnv {
    /// A server at a fixed URL.
    Url(Arc<UrlEnv>),
    /// Containers this process started and owns.
    Docker(Arc<DockerEnv>),
}

impl RemoteEnv {
    /// The name errors mention (`url-…` or the container name prefix).
    #[must_use]
    pub fn name(&self) -> &str {
        match self {
            Self::Url(env) => env.name(),
            Self::Docker(env) => env.name(),
        }
    }

    /// Calls `method` with `kwargs` on the environment.
    ///
    /// # Errors
    /// See [`super::client::ProtocolClient::call`].
    pub async fn call(&self, method: &str, kwargs: Map<String, Value>) -> Result<Value, CallError> {
        match self {
            Self::Url(env) => env.call(method, kwargs).await,
            Self::Docker(env) => env.call(method, kwargs).await,
        }
    }

    /// Calls `evaluate` with `payload` under the outer per-call `deadline` and says how it
    /// ended, keeping the environment's own failures apart from ours.
    pub async fn call_evaluate(&self, payload: Map<String, Value>, deadline: Duration) -> RemoteOutcome {
        match tokio::time::timeout(deadline, self.call("evaluate", payload)).await {
            Ok(Ok(result)) => RemoteOutcome::Answered(result),
            Ok(Err(CallError::Answered(inner))) => {
                RemoteOutcome::Failed(format!("Method 'evaluate' failed on environment '{}': Method call failed: {inner}", self.name()))
            }
            Ok(Err(infrastructure)) => RemoteOutcome::Unreachable(infrastructure),
            Err(_) => RemoteOutcome::TimedOut(format!(
                "Method 'evaluate' on environment '{}' timed out after {}s",
                self.name(),
                deadline.as_secs()
            )),
        }
    }

    /// Evaluates one task and builds its R2 record as the validator does: the reference
    /// payload, the outer per-call deadline of the environment, the error text
    /// `Method 'evaluate' failed on environment '<name>': Method call failed: <inner>` for an
    /// answered failure.
    ///
    /// # Errors
    /// An infrastructure failure ([`CallError::Infrastructure`]): there is no result to record.
    pub async fn evaluate_task(&self, task: &TaskRequest<'_>) -> Result<ResultRecord, CallError> {
        let spec = task.spec;
        let payload = task.payload();
        let started = Instant::now();
        let outcome = match self.call_evaluate(payload.clone(), Duration::from_secs(spec.call_deadline_secs)).await {
            RemoteOutcome::Answered(result) => EvalOutcome::Answered(result),
            RemoteOutcome::Failed(text) | RemoteOutcome::TimedOut(text) => EvalOutcome::Failed(text),
            RemoteOutcome::Unreachable(infrastructure) => return Err(infrastructure),
        };
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        Ok(build_result(spec, None, &payload, outcome, started.elapsed().as_secs_f64(), timestamp))
    }
}

/// How one remote `evaluate` call ended.
#[derive(Debug)]
pub enum RemoteOutcome {
    /// The environment answered with a result object.
    Answered(Value),
    /// It answered with its own failure (the text the validator records).
    Failed(String),
    /// It gave no answer within the outer deadline.
    TimedOut(String),
    /// It could not be reached or its answer was unusable.
    Unreachable(CallError),
}
