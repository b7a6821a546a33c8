//! Request and response bodies of the Affinetes HTTP protocol (spec §2), shared by the native
//! environment server and the container clients.
//!
//! `function_based` images serve `POST /call` (`{method, args, kwargs}` -> `{status, result,
//! error}`), `GET /health` (`{"status":"ok"}`) and `GET /methods`; failures are FastAPI-style
//! `{"detail": ...}` bodies with status 404 (unknown method), 422 (malformed body) or 500 (the
//! method raised).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `POST /call` body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallRequest {
    /// Method name, e.g. `evaluate`.
    pub method: String,
    /// Positional arguments.
    #[serde(default)]
    pub args: Vec<Value>,
    /// Keyword arguments.
    #[serde(default)]
    pub kwargs: Map<String, Value>,
}

/// `POST /call` success body (200).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CallResponse {
    /// `"success"` on success; anything else is an error.
    pub status: String,
    /// The method's return value.
    pub result: Value,
    /// Error text, `null` on success.
    pub error: Option<String>,
}

/// A `FastAPI` error body: `{"detail": "..."}` (or a list of validation errors for 422).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// The message or validation errors.
    pub detail: Value,
}

/// `GET /health` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResponse {
    /// `"ok"`.
    pub status: String,
}

/// One entry of `GET /methods`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodInfo {
    /// Method name.
    pub name: String,
    /// Python-style signature text.
    pub signature: String,
    /// `"Actor"` or `"module"`.
    pub source: String,
}

/// `GET /methods` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MethodsResponse {
    /// Callable methods.
    pub methods: Vec<MethodInfo>,
}

/// Keyword arguments of the affine image's `evaluate` (spec §3.1), with its defaults.
/// `Debug` redacts `api_key`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvaluateKwargs {
    /// `sat`, `abd` or `ded`.
    #[serde(default = "default_task_type")]
    pub task_type: String,
    /// Model name.
    #[serde(default = "default_model")]
    pub model: String,
    /// OpenAI-compatible base URL.
    #[serde(default = "default_base_url")]
    pub base_url: String,
    /// LLM call timeout in seconds.
    #[serde(default = "default_timeout")]
    pub timeout: f64,
    /// Sampling temperature.
    #[serde(default = "default_temperature")]
    pub temperature: f64,
    /// Bearer key overriding the server's `CHUTES_API_KEY`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// LLM sampling seed; random when absent.
    #[serde(default)]
    pub seed: Option<u64>,
    /// Task id; random when absent.
    #[serde(default)]
    pub task_id: Option<i64>,
}

impl std::fmt::Debug for EvaluateKwargs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvaluateKwargs")
            .field("task_type", &self.task_type)
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("temperature", &self.temperature)
            .field("api_key", &self.api_key.as_ref().map(|_| "***"))
            .field("seed", &self.seed)
            .field("task_id", &self.task_id)
            .finish()
    }
}

/// The positional order of `evaluate`'s parameters, for `args` in a `/call`.
pub const EVALUATE_PARAMETERS: [&str; 8] = ["task_type", "model", "base_url", "timeout", "temperature", "api_key", "seed", "task_id"];

/// The Python signature `GET /methods` reports for `evaluate`.
pub const EVALUATE_SIGNATURE: &str = "(task_type='sat', model='deepseek-ai/DeepSeek-V3', base_url='https://llm.chutes.ai/v1', timeout=600, temperature=0.7, api_key: str = None, seed: int = None, task_id: int = None)";

fn default_task_type() -> String {
    "sat".to_owned()
}
fn default_model() -> String {
    "deepseek-ai/DeepSeek-V3".to_owned()
}
fn default_base_url() -> String {
    "https://llm.chutes.ai/v1".to_owned()
}
fn default_timeout() -> f64 {
    600.0
}
fn default_temperature() -> f64 {
    0.7
}

impl EvaluateKwargs {
    /// Merges positional `args` (in [`EVALUATE_PARAMETERS`] order) with `kwargs` and parses
    /// them, rejecting unknown or duplicated names the way Python does (a `TypeError`).
    ///
    /// # Errors
    /// Too many positional arguments, a name given twice, an unknown name or a wrong type.
    pub fn from_call(args: &[Value], kwargs: &Map<String, Value>) -> Result<Self, String> {
        if args.len() > EVALUATE_PARAMETERS.len() {
            return Err(format!(
                "evaluate() takes at most {} positional arguments but {} were given",
                EVALUATE_PARAMETERS.len(),
                args.len()
            ));
        }
        let mut merged = Map::new();
        for (name, value) in EVALUATE_PARAMETERS.iter().zip(args) {
            merged.insert((*name).to_owned(), value.clone());
        }
        for (name, value) in kwargs {
            if merged.contains_key(name) {
                return Err(format!("evaluate() got multiple values for argument '{name}'"));
            }
            if !EVALUATE_PARAMETERS.contains(&name.as_str()) {
                return Err(format!("evaluate() got an unexpected keyword argument '{name}'"));
            }
            merged.insert(name.clone(), value.clone());
        }
        // Python passes `None` for an explicit null, which means "use the default" only for the
        // parameters whose default is None; for the others the null is kept and fails later.
        merged.retain(|name, value| !(value.is_null() && matches!(name.as_str(), "api_key" | "seed" | "task_id")));
        serde_json::from_value(Value::Object(merged)).map_err(|e| format!("evaluate() argument error: {e}"))
    }
}

/// The result object of the affine image's `evaluate` (spec §3.1 step 5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvaluateResult {
    /// `affine:<task_type>`.
    pub task_name: String,
    /// 0.0 or 1.0.
    pub score: f64,
    /// `score > 0`.
    pub success: bool,
    /// Seconds from task generation to the end of scoring.
    pub time_taken: f64,
    /// `{conversation, seed}`.
    pub extra: Value,
    /// LLM failure text (`"<Class>: <message>"`), present only on failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// `"llm_failure"` when `error` is present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_type: Option<String>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn evaluate_kwargs_defaults_and_python_errors() {
        let kwargs = EvaluateKwargs::from_call(&[], &Map::new()).expect("defaults");
        assert_eq!(kwargs.task_type, "sat");
        assert!((kwargs.temperature - 0.7).abs() < f64::EPSILON);
        let mut extra = Map::new();
        extra.insert("bogus".into(), json!(1));
        assert!(EvaluateKwargs::from_call(&[], &extra).unwrap_err().contains("unexpected keyword argument 'bogus'"));
        let mut dup = Map::new();
        dup.insert("task_type".into(), json!("abd"));
        assert!(EvaluateKwargs::from_call(&[json!("sat")], &dup).is_err());
        let positional = EvaluateKwargs::from_call(&[json!("ded"), json!("m")], &Map::new()).expect("positional");
        let mut keyed = Map::new();
        keyed.insert("api_key".into(), json!("sk-hidden"));
        let keyed = EvaluateKwargs::from_call(&[], &keyed).expect("api_key");
        assert!(!format!("{keyed:?}").contains("sk-hidden"));
        assert_eq!((positional.task_type.as_str(), positional.model.as_str()), ("ded", "m"));
    }

    #[test]
    fn call_request_parses_with_missing_args() {
        let request: CallRequest = serde_json::from_str(r#"{"method":"evaluate","kwargs":{"task_id":3}}"#).expect("parse");
        assert!(request.args.is_empty());
        assert_eq!(request.kwargs["task_id"], json!(3));
    }
}
