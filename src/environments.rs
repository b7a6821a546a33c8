//! The environments of the network: ids, images, task-id ranges, score ranges, payload
//! defaults, task seeds, payload and result construction, and error classification.
//!
//! Pure domain data (no I/O, no async): the scorer, the store, the runner and the
//! environment backends in [`crate::envs`] all read it from here, so none of them depends on
//! the module that owns Docker, SSH and the sandbox (`.ci/boundaries` checks it).
//!
//! The order is the reference validator's (`get_enabled_envs`): it fixes the column order of the
//! summary table and the order in which environment subsets are enumerated when scoring.
//! Everything the validator decides per environment lives here as data, so the runner, `af eval`
//! and the scorer agree.

use serde_json::{Map, Value, json};
use sha2::{Digest as _, Sha256};

use crate::model::{Miner, ResultRecord};

/// How an environment container speaks the Affinetes protocol (spec §2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvKind {
    /// `POST /call` with `{method, args, kwargs}`; the SAT/ABD/DED image.
    FunctionBased,
    /// `POST /<method>` with the kwargs as body; the `AgentGym` images.
    HttpBased,
}

/// One evaluation environment as the scorer and the sampler see it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EnvSpec {
    /// Wire identifier, e.g. `affine:sat`.
    pub id: &'static str,
    /// First valid task id (inclusive).
    pub task_start: u64,
    /// End of the valid task ids (exclusive).
    pub task_end: u64,
    /// Raw score range; scores are normalised from it to `[0, 1]`.
    pub score_range: (f64, f64),
    /// Docker image the reference validator runs.
    pub image: &'static str,
    /// Protocol flavour of the image.
    pub kind: EnvKind,
    /// Dataset length the reference declares (`data_len`).
    pub data_len: u64,
    /// Payload `temperature`.
    pub temperature: f64,
    /// Payload `timeout` in seconds (the LLM call budget inside the container).
    pub timeout_secs: u64,
    /// Payload `max_round`, for multi-turn environments.
    pub max_round: Option<u32>,
    /// Outer deadline of one `evaluate` call, in seconds (700 affine, 1300 agentgym).
    pub call_deadline_secs: u64,
}

impl EnvSpec {
    /// Number of distinct task ids (the dataset size).
    #[must_use]
    pub const fn dataset_size(&self) -> u64 {
        self.task_end - self.task_start
    }

    /// Whether `task_id` lies in `[task_start, task_end)`.
    #[must_use]
    pub const fn contains_task(&self, task_id: u64) -> bool {
        task_id >= self.task_start && task_id < self.task_end
    }

    /// Maps a raw score from this environment's range onto `[0, 1]` (not clamped).
    #[must_use]
    pub fn normalise_score(&self, raw: f64) -> f64 {
        let (low, high) = self.score_range;
        #[expect(clippy::float_cmp, reason = "the reference divides unless the bounds are exactly equal")]
        if high == low {
            return 0.0;
        }
        (raw - low) / (high - low)
    }
}

const UNIT: (f64, f64) = (0.0, 1.0);

const fn agentgym(id: &'static str, image: &'static str, range: (u64, u64), data_len: u64, score_range: (f64, f64)) -> EnvSpec {
    EnvSpec {
        id,
        task_start: range.0,
        task_end: range.1,
        score_range,
        image,
        kind: EnvKind::HttpBased,
        data_len,
        temperature: 0.7,
        timeout_secs: 1200,
        max_round: Some(10),
        call_deadline_secs: 1300,
    }
}

const fn affine(id: &'static str, task_end: u64) -> EnvSpec {
    EnvSpec {
        id,
        task_start: 0,
        task_end,
        score_range: UNIT,
        image: AFFINE_IMAGE,
        kind: EnvKind::FunctionBased,
        data_len: task_end,
        temperature: 0.0,
        timeout_secs: 600,
        max_round: None,
        call_deadline_secs: 700,
    }
}

/// The image of SAT, ABD and DED (one image for all three).
pub const AFFINE_IMAGE: &str = "bignickeye/affine:v3";

/// The eight environments scored by the network, in the reference's order.
pub const ENVIRONMENTS: [EnvSpec; 8] = [
    agentgym("agentgym:webshop", "bignickeye/agentgym:webshop-v2", (0, 500), 500, UNIT),
    agentgym("agentgym:alfworld", "bignickeye/agentgym:alfworld-v2", (2000, 2500), 2500, UNIT),
    agentgym("agentgym:babyai", "bignickeye/agentgym:babyai-v2", (0, 500), 500, UNIT),
    agentgym("agentgym:sciworld", "bignickeye/agentgym:sciworld-v2", (2000, 2500), 2500, (-100.0, 100.0)),
    agentgym("agentgym:textcraft", "bignickeye/agentgym:textcraft-v2", (0, 582), 582, UNIT),
    affine("affine:sat", 500),
    affine("affine:ded", 240),
    affine("affine:abd", 240),
];

/// Position of `id` in [`ENVIRONMENTS`], if it is a known environment.
#[must_use]
pub fn env_index(id: &str) -> Option<usize> {
    ENVIRONMENTS.iter().position(|spec| spec.id == id)
}

/// The spec of `id`, if it is a known environment.
#[must_use]
pub fn env_spec(id: &str) -> Option<&'static EnvSpec> {
    ENVIRONMENTS.iter().find(|spec| spec.id == id)
}

impl EnvSpec {
    /// The `task_type` an affine environment sends (`sat`, `abd`, `ded`); `None` for agentgym.
    #[must_use]
    pub fn task_type(&self) -> Option<&'static str> {
        match self.kind {
            EnvKind::FunctionBased => self.id.split_once(':').map(|(_, name)| name),
            EnvKind::HttpBased => None,
        }
    }

    /// The `evaluate` payload the reference validator sends (`EvaluatorConfig.to_payload`):
    /// `temperature`, `timeout`, then `model` and `base_url` when known, then `seed`,
    /// `task_id` and `task_type` (affine) or `max_round` (agentgym), in that key order.
    #[must_use]
    pub fn payload(&self, target: Option<(&str, &str)>, seed: u32, task_id: u64) -> Map<String, Value> {
        let mut payload = Map::new();
        payload.insert("temperature".into(), python_number(self.temperature));
        payload.insert("timeout".into(), json!(self.timeout_secs));
        if let Some((model, base_url)) = target {
            payload.insert("model".into(), json!(model));
            payload.insert("base_url".into(), json!(base_url));
        }
        payload.insert("seed".into(), json!(seed));
        payload.insert("task_id".into(), json!(task_id));
        if let Some(task_type) = self.task_type() {
            payload.insert("task_type".into(), json!(task_type));
        }
        if let Some(max_round) = self.max_round {
            payload.insert("max_round".into(), json!(max_round));
        }
        payload
    }
}

/// `temperature: 0` is an integer in the reference payload (`EvaluatorConfig.temperature = 0`).
fn python_number(value: f64) -> Value {
    #[expect(clippy::cast_possible_truncation, reason = "only integral values in i64 range take this branch")]
    if value.fract() == 0.0 && value.abs() < 1e15 { json!(value as i64) } else { json!(value) }
}

/// Per-miner seed of a task: the first four bytes, big-endian, of `sha256("{env}:{task_id}")`.
#[must_use]
pub fn task_seed(env: &str, task_id: u64) -> u32 {
    let digest = Sha256::digest(format!("{env}:{task_id}").as_bytes());
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// What one `evaluate` call produced, before it becomes a [`ResultRecord`].
#[derive(Debug, Clone)]
pub enum EvalOutcome {
    /// The environment answered with a result object (`score`, `success`, `error`, `extra`).
    Answered(Value),
    /// The call failed; the text is `str(exception)` as the validator would record it.
    Failed(String),
}

/// The `version` of every result record, as the reference writes it.
pub const RESULT_VERSION: &str = "0.0.0";

/// Builds the R2 result record of one evaluation (`_parse_evaluation_result` /
/// `_create_error_result`): `extra` is the response's `extra` plus `image` and `request` (the
/// payload sent); a failed call scores 0 with `extra = {image, request}`. The record is
/// unsigned (`signature` and `hotkey` empty); signing is the runner's job.
#[must_use]
pub fn build_result(
    spec: &EnvSpec,
    miner: Option<Miner>,
    payload: &Map<String, Value>,
    outcome: EvalOutcome,
    latency_seconds: f64,
    timestamp: f64,
) -> ResultRecord {
    let task_id = payload.get("task_id").and_then(Value::as_i64);
    let (score, success, error, mut extra) = match outcome {
        EvalOutcome::Answered(result) => {
            let score = result.get("score").and_then(Value::as_f64).unwrap_or(0.0);
            let success = result.get("success").and_then(Value::as_bool).unwrap_or(false);
            let error = result.get("error").and_then(Value::as_str).map(str::to_owned);
            let extra = match result.get("extra") {
                Some(Value::Object(extra)) => extra.clone(),
                _ => Map::new(),
            };
            (score, success, error, extra)
        }
        EvalOutcome::Failed(error) => (0.0, false, Some(error), Map::new()),
    };
    extra.insert("image".into(), json!(spec.image));
    extra.insert("request".into(), Value::Object(payload.clone()));
    ResultRecord {
        version: RESULT_VERSION.to_owned(),
        signature: String::new(),
        hotkey: String::new(),
        miner,
        env: spec.id.to_owned(),
        score,
        latency_seconds,
        success,
        error,
        task_id,
        extra: Value::Object(extra),
        timestamp,
        other: Map::new(),
    }
}

/// Substrings that make an error a service error (reference `CHUTES_SERVICE_ERROR_PATTERNS`,
/// spec §4.5). Such results are dropped, not uploaded, and count toward pausing the miner.
/// `HTTP 400` is in the list although the reference's comment says it should not be: kept for
/// identical scheduling.
pub const SERVICE_ERROR_PATTERNS: [&str; 17] = [
    "Invalid API key",
    "No instances available",
    "HTTP 503",
    "HTTP 500",
    "HTTP 429",
    "HTTP 402",
    "Error code: 429",
    "Error code: 402",
    "Error code: 401",
    "Error code: 503",
    "Error code: 500",
    "CHUTES_API_KEY",
    "maximum capacity",
    "try again later",
    "zero balance",
    "HTTP 400",
    "400 Bad Request",
];

/// Whether a result's error is the service's fault (dropped) rather than the model's (scored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorClass {
    /// No error.
    None,
    /// Infrastructure or provider failure: drop the result, count toward a pause.
    Service,
    /// Anything else: the model failed; the result counts with its score.
    Model,
}

/// Classifies an error text with [`SERVICE_ERROR_PATTERNS`].
#[must_use]
pub fn classify_error(error: Option<&str>) -> ErrorClass {
    match error {
        None | Some("") => ErrorClass::None,
        Some(text) if SERVICE_ERROR_PATTERNS.iter().any(|pattern| text.contains(pattern)) => ErrorClass::Service,
        Some(_) => ErrorClass::Model,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_seed_matches_reference_examples() {
        assert_eq!(task_seed("affine:sat", 0), 1_800_179_350);
        assert_eq!(task_seed("affine:sat", 17), 1_239_519_876);
        assert_eq!(task_seed("affine:abd", 0), 906_760_895);
        assert_eq!(task_seed("agentgym:sciworld", 2000), 2_738_744_124);
    }

    #[test]
    fn payload_has_reference_keys_in_order() {
        let sat = env_spec("affine:sat").expect("sat");
        let payload = sat.payload(Some(("alice/Affine-7B", "https://alice-affine-7b.chutes.ai/v1")), 1_800_179_350, 0);
        assert_eq!(
            serde_json::to_string(&payload).expect("json"),
            r#"{"temperature":0,"timeout":600,"model":"alice/Affine-7B","base_url":"https://alice-affine-7b.chutes.ai/v1","seed":1800179350,"task_id":0,"task_type":"sat"}"#
        );
        let web = env_spec("agentgym:webshop").expect("webshop");
        let payload = web.payload(None, 1, 2);
        assert_eq!(
            serde_json::to_string(&payload).expect("json"),
            r#"{"temperature":0.7,"timeout":1200,"seed":1,"task_id":2,"max_round":10}"#
        );
    }

    #[test]
    fn build_result_merges_extra_with_image_and_request() {
        let sat = env_spec("affine:sat").expect("sat");
        let payload = sat.payload(None, 5, 3);
        let answered = json!({"score": 1.0, "success": true, "extra": {"seed": 5, "conversation": []}});
        let record = build_result(sat, None, &payload, EvalOutcome::Answered(answered), 1.5, 10.0);
        assert_eq!(record.task_id, Some(3));
        assert!(record.success);
        assert_eq!(record.extra["image"], json!(AFFINE_IMAGE));
        assert_eq!(record.extra["request"]["task_type"], json!("sat"));
        assert_eq!(record.extra["seed"], json!(5));
        let failed = build_result(sat, None, &payload, EvalOutcome::Failed("HTTP 500: boom".into()), 0.1, 10.0);
        assert!(failed.score.abs() < f64::EPSILON);
        assert_eq!(failed.extra.as_object().map(Map::len), Some(2));
    }

    #[test]
    fn classify_error_uses_reference_substrings() {
        assert_eq!(classify_error(None), ErrorClass::None);
        assert_eq!(classify_error(Some("RateLimitError: Error code: 429 - x")), ErrorClass::Service);
        assert_eq!(classify_error(Some("Method call failed: HTTP 500: {}")), ErrorClass::Service);
        assert_eq!(classify_error(Some("APITimeoutError: Request timed out.")), ErrorClass::Model);
    }

    #[test]
    fn registry_ranges_match_the_wire_table() {
        let sizes: Vec<(&str, u64)> = ENVIRONMENTS.iter().map(|e| (e.id, e.dataset_size())).collect();
        assert_eq!(
            sizes,
            vec![
                ("agentgym:webshop", 500),
                ("agentgym:alfworld", 500),
                ("agentgym:babyai", 500),
                ("agentgym:sciworld", 500),
                ("agentgym:textcraft", 582),
                ("affine:sat", 500),
                ("affine:ded", 240),
                ("affine:abd", 240),
            ]
        );
        assert!(env_spec("agentgym:alfworld").is_some_and(|e| e.contains_task(2000) && !e.contains_task(2500)));
        assert_eq!(env_index("nope"), None);
    }

    #[test]
    fn sciworld_scores_normalise_from_plus_minus_hundred() {
        let sci = env_spec("agentgym:sciworld").expect("sciworld is registered");
        assert!((sci.normalise_score(-100.0) - 0.0).abs() < 1e-15);
        assert!((sci.normalise_score(0.0) - 0.5).abs() < 1e-15);
        assert!((sci.normalise_score(100.0) - 1.0).abs() < 1e-15);
    }
}
