//! The affine environment (SAT, ABD, DED) in-process: the `evaluate` of the reference image
//! (spec §3.1), used by `af env serve` and `af eval`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::dataset::Dataset;
use super::protocol::{EvaluateKwargs, EvaluateResult};
use super::sandbox::Sandbox;
use super::{Error, abd, ded, sat};
use crate::inference::{ApiKey, ChatRequest, InferenceClient};

/// A generated task: its prompt and what scoring needs.
#[derive(Debug, Clone)]
enum Challenge {
    Sat(sat::SatInstance),
    Abd(abd::AbdChallenge),
    Ded { prompt: String, row: Value },
}

impl Challenge {
    fn prompt(&self) -> &str {
        match self {
            Self::Sat(instance) => &instance.prompt,
            Self::Abd(challenge) => &challenge.prompt,
            Self::Ded { prompt, .. } => prompt,
        }
    }
}

/// The SAT/ABD/DED environment: dataset, sandbox and the default LLM key.
#[derive(Debug, Clone)]
pub struct AffineEnv {
    dataset: Arc<Dataset>,
    sandbox: Sandbox,
    api_key: Option<ApiKey>,
}

impl AffineEnv {
    /// An environment reading ABD/DED rows from `dataset`, running programs in `sandbox`, and
    /// calling models with `api_key` unless a call brings its own.
    #[must_use]
    pub fn new(dataset: Arc<Dataset>, sandbox: Sandbox, api_key: Option<ApiKey>) -> Self {
        Self { dataset, sandbox, api_key }
    }

    async fn generate(&self, task_type: &str, task_id: Option<i64>) -> Result<Challenge, Error> {
        match task_type {
            "sat" => {
                let seed = task_id.map_or_else(|| i128::from(random_u64()), i128::from);
                Ok(Challenge::Sat(sat::generate(seed)))
            }
            "abd" | "ded" => {
                let task_id = if let Some(id) = task_id {
                    id
                } else {
                    let total = self.dataset.total_rows().await?.max(1);
                    i64::try_from(random_u64() % total).unwrap_or(0)
                };
                let row = self.dataset.get_by_id(task_id).await?;
                if task_type == "abd" {
                    Ok(Challenge::Abd(abd::generate(&row, &self.sandbox).await?))
                } else {
                    Ok(Challenge::Ded { prompt: ded::prompt(&row), row })
                }
            }
            other => Err(Error::UnknownTask(other.to_owned())),
        }
    }

    async fn score(&self, response: &str, challenge: &Challenge) -> Result<f64, Error> {
        Ok(match challenge {
            Challenge::Sat(instance) => sat::score(response, &instance.clauses),
            Challenge::Abd(challenge) => abd::score(response, challenge, &self.sandbox).await?,
            Challenge::Ded { row, .. } => ded::score(response, row, &self.sandbox).await?,
        })
    }

    /// Generates the task, asks the model once, scores the reply.
    ///
    /// An LLM failure is part of the result (`error`, `error_type: "llm_failure"`, score 0);
    /// an unknown task type, a dataset failure or a broken sandbox is an [`Error`] (the
    /// reference's HTTP 500).
    pub async fn evaluate(&self, kwargs: EvaluateKwargs) -> Result<EvaluateResult, Error> {
        let seed = kwargs.seed.unwrap_or_else(|| random_u64() & 0xffff_ffff);
        let started = Instant::now();
        let challenge = self.generate(&kwargs.task_type, kwargs.task_id).await?;
        let api_key = kwargs.api_key.clone().map(ApiKey::new).or_else(|| self.api_key.clone());
        let request = ChatRequest {
            model: kwargs.model.clone(),
            prompt: challenge.prompt().to_owned(),
            temperature: kwargs.temperature,
            seed: Some(seed),
            timeout: Duration::try_from_secs_f64(kwargs.timeout).unwrap_or(Duration::from_secs(600)),
        };
        let reply = match InferenceClient::new(&kwargs.base_url, api_key) {
            Ok(client) => client.chat(&request).await,
            Err(error) => Err(error),
        };
        let (response, error) = match reply {
            Ok(text) => (Some(text), None),
            Err(error) => {
                tracing::debug!(%error, model = %kwargs.model, "llm call failed");
                (None, Some(format!("{}: {error}", error.class_name())))
            }
        };
        let score = match response.as_deref() {
            Some(text) if !text.is_empty() => self.score(text, &challenge).await?,
            _ => 0.0,
        };
        let error_type = error.as_ref().map(|_| "llm_failure".to_owned());
        Ok(EvaluateResult {
            task_name: format!("affine:{}", kwargs.task_type),
            score,
            success: score > 0.0,
            time_taken: started.elapsed().as_secs_f64(),
            extra: json!({
                "conversation": [
                    {"role": "user", "content": challenge.prompt()},
                    {"role": "assistant", "content": response},
                ],
                "seed": seed,
            }),
            error,
            error_type,
        })
    }
}

/// A random number for the cases where the reference draws one (no task id, no seed).
fn random_u64() -> u64 {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    hasher.finish()
}

/// One evaluation the way the validator records it.
#[derive(Debug, Clone)]
pub struct TaskRequest<'a> {
    /// The environment (must be an affine one).
    pub spec: &'static crate::environments::EnvSpec,
    /// Model name.
    pub model: &'a str,
    /// Endpoint base URL.
    pub base_url: &'a str,
    /// Task id.
    pub task_id: u64,
    /// Model call timeout in seconds (the payload's `timeout`).
    pub timeout_secs: f64,
}

impl TaskRequest<'_> {
    /// The `evaluate` kwargs the validator sends for this task: the environment's payload
    /// (seed from the task id) with `timeout` set to the requested model call budget.
    #[must_use]
    pub fn payload(&self) -> serde_json::Map<String, Value> {
        let spec = self.spec;
        let mut payload =
            spec.payload(Some((self.model, self.base_url)), crate::environments::task_seed(spec.id, self.task_id), self.task_id);
        if let Some(timeout) = serde_json::Number::from_f64(self.timeout_secs) {
            let integral = self.timeout_secs.fract() == 0.0;
            #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "a positive integral timeout")]
            let value = if integral { json!(self.timeout_secs as u64) } else { Value::Number(timeout) };
            payload.insert("timeout".into(), value);
        }
        payload
    }
}

impl AffineEnv {
    /// Evaluates one task in-process and builds its R2 [`ResultRecord`](crate::model::ResultRecord)
    /// exactly as the validator would from a container: the reference payload (seed from the
    /// task id), `extra` with `image` and `request`, the outer call deadline of the spec. An environment failure becomes a failed
    /// record whose error reads like the container's (`HTTP 500: {"detail": ...}`), so it
    /// classifies as a service error the same way.
    pub async fn evaluate_task(&self, task: &TaskRequest<'_>) -> crate::model::ResultRecord {
        use crate::environments::{EvalOutcome, build_result};
        let spec = task.spec;
        let payload = task.payload();
        let started = Instant::now();
        let outcome = match serde_json::from_value::<EvaluateKwargs>(Value::Object(payload.clone())) {
            // The validator's outer deadline on the whole call (700 s for affine).
            Ok(kwargs) => match tokio::time::timeout(Duration::from_secs(spec.call_deadline_secs), self.evaluate(kwargs)).await {
                Ok(Ok(result)) => EvalOutcome::Answered(serde_json::to_value(result).unwrap_or(Value::Null)),
                Ok(Err(error)) => EvalOutcome::Failed(format!("HTTP 500: {}", json!({"detail": error.to_string()}))),
                Err(_) => EvalOutcome::Failed(format!("evaluate did not finish within {} s", spec.call_deadline_secs)),
            },
            Err(error) => EvalOutcome::Failed(format!("TypeError: {error}")),
        };
        let timestamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        build_result(spec, None, &payload, outcome, started.elapsed().as_secs_f64(), timestamp)
    }
}
