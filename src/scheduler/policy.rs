//! The error policy as data: what each evaluation outcome is, and what the runner does about
//! it. One table, one place; everything else asks it.
//!
//! | class | when | stored? | the miner | the task id |
//! | --- | --- | --- | --- | --- |
//! | `success` | the environment answered without an error | yes | error count reset | done |
//! | `model_failure` | it answered with an error the model caused (a wrong or empty reply, context overflow, a timeout inside the environment) | yes, with its score | error count reset | done |
//! | `service_unavailable` | the miner's provider was unavailable: the reference's substrings (`HTTP 503`, `Error code: 429`, `No instances available`, `zero balance`, ...) | no | counts toward a pause (at most once per window) | re-offered later |
//! | `infrastructure` | our side failed: the environment's own 5xx, a dead or restarted container, a transport error, our deadline | no | untouched | re-offered later |
//!
//! The reference stored container crashes and transport failures as zero scores and paused
//! miners for an environment's own HTTP 500; here neither is charged to the miner.

use crate::environments::SERVICE_ERROR_PATTERNS;
use crate::model::ResultRecord;

/// What one evaluation produced, before classification.
#[derive(Debug, Clone)]
pub enum Evaluation {
    /// The environment answered with a result (its `error` may say the model failed).
    Answered(Box<ResultRecord>),
    /// The environment answered with its own failure (HTTP 5xx, an exception): the text.
    EnvironmentFailed(String),
    /// No answer: transport, a dead container, our deadline.
    Unreachable(String),
}

/// The class of an outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// Answered without an error.
    Success,
    /// Answered; the model failed.
    ModelFailure,
    /// The miner's provider was unavailable.
    ServiceUnavailable,
    /// Our side failed.
    Infrastructure,
}

impl Class {
    /// Every class, in a fixed order (for counters and metrics).
    pub const ALL: [Self; 4] = [Self::Success, Self::ModelFailure, Self::ServiceUnavailable, Self::Infrastructure];

    /// The class's label (`success`, `model_failure`, `service_unavailable`, `infrastructure`).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::ModelFailure => "model_failure",
            Self::ServiceUnavailable => "service_unavailable",
            Self::Infrastructure => "infrastructure",
        }
    }

    /// Index into [`Self::ALL`].
    #[must_use]
    pub const fn index(self) -> usize {
        match self {
            Self::Success => 0,
            Self::ModelFailure => 1,
            Self::ServiceUnavailable => 2,
            Self::Infrastructure => 3,
        }
    }

    /// What the runner does with an outcome of this class.
    #[must_use]
    pub const fn consequence(self) -> Consequence {
        match self {
            Self::Success | Self::ModelFailure => Consequence::Store,
            Self::ServiceUnavailable => Consequence::SkipAndPause,
            Self::Infrastructure => Consequence::RetryLater,
        }
    }
}

/// What the runner does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Consequence {
    /// Spool the record (it is uploaded and scored); reset the miner's error count.
    Store,
    /// Drop the record, count toward the miner's pause, re-offer the task id later.
    SkipAndPause,
    /// Drop the record, leave the miner alone, re-offer the task id later.
    RetryLater,
}

/// Whether `text` carries one of the reference's service-unavailable substrings.
fn names_unavailable_service(text: &str) -> bool {
    SERVICE_ERROR_PATTERNS.iter().any(|pattern| text.contains(pattern))
}

/// The part of an environment failure after its own status (`HTTP 500: {"detail": ...}` ->
/// `{"detail": ...}`), so the environment's own status line is not read as the miner's.
fn detail_of(text: &str) -> &str {
    let after_call = text.rsplit_once("Method call failed: ").map_or(text, |(_, rest)| rest);
    match after_call.strip_prefix("HTTP ") {
        Some(rest) => rest.split_once(": ").map_or(rest, |(_, detail)| detail),
        None => after_call,
    }
}

/// Classifies an outcome.
#[must_use]
pub fn classify(evaluation: &Evaluation) -> Class {
    match evaluation {
        Evaluation::Answered(record) => match record.error.as_deref() {
            None | Some("") => Class::Success,
            Some(text) if names_unavailable_service(text) => Class::ServiceUnavailable,
            Some(_) => Class::ModelFailure,
        },
        // The environment relayed the miner's unavailability (an agentgym pre-check's 401
        // "Invalid API key", a 429 inside the detail): the miner's; anything else is ours.
        Evaluation::EnvironmentFailed(text) if names_unavailable_service(detail_of(text)) => Class::ServiceUnavailable,
        Evaluation::EnvironmentFailed(_) | Evaluation::Unreachable(_) => Class::Infrastructure,
    }
}

/// The error text of an outcome, for logs (`None` for a clean answer).
#[must_use]
pub fn error_text(evaluation: &Evaluation) -> Option<&str> {
    match evaluation {
        Evaluation::Answered(record) => record.error.as_deref().filter(|e| !e.is_empty()),
        Evaluation::EnvironmentFailed(text) | Evaluation::Unreachable(text) => Some(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answered(error: Option<&str>) -> Evaluation {
        let record: ResultRecord = serde_json::from_value(serde_json::json!({
            "version": "0.0.0", "signature": "", "hotkey": "", "miner": null, "env": "affine:sat", "score": 0.0,
            "latency_seconds": 1.0, "success": error.is_none(), "error": error, "task_id": 1, "extra": {}, "timestamp": 1.0
        }))
        .expect("record");
        Evaluation::Answered(Box::new(record))
    }

    #[test]
    fn the_table_sorts_real_error_texts() {
        let cases = [
            (answered(None), Class::Success),
            (answered(Some("")), Class::Success),
            (answered(Some("InternalServerError: Error code: 503 - {'detail': 'No instances available'}")), Class::ServiceUnavailable),
            (answered(Some("RateLimitError: Error code: 429 - busy")), Class::ServiceUnavailable),
            (answered(Some("BadRequestError: Error code: 400 - context length exceeded")), Class::ModelFailure),
            (answered(Some("APITimeoutError: Request timed out.")), Class::ModelFailure),
            (
                Evaluation::EnvironmentFailed(
                    "Method 'evaluate' failed on environment 'affine-abd': Method call failed: HTTP 500: {\"detail\":\"failed to fetch dataset object\"}".into(),
                ),
                Class::Infrastructure,
            ),
            (
                Evaluation::EnvironmentFailed(
                    "Method call failed: HTTP 401: {\"detail\":\"Invalid API key for https://x.chutes.ai/v1\"}".into(),
                ),
                Class::ServiceUnavailable,
            ),
            (Evaluation::EnvironmentFailed("HTTP 500: {\"detail\": \"sandbox failed\"}".into()), Class::Infrastructure),
            (Evaluation::Unreachable("connection refused".into()), Class::Infrastructure),
            (Evaluation::Unreachable("evaluate did not answer within 700 s".into()), Class::Infrastructure),
        ];
        for (evaluation, class) in cases {
            assert_eq!(classify(&evaluation), class, "{:?}", error_text(&evaluation));
        }
        assert_eq!(Class::ServiceUnavailable.consequence(), Consequence::SkipAndPause);
        assert_eq!(Class::Infrastructure.consequence(), Consequence::RetryLater);
        assert!(Class::ALL.iter().enumerate().all(|(i, c)| c.index() == i));
    }
}
