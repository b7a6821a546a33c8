//! Wire types shared by every part of `af`.
//!
//! [`ResultRecord`] is one evaluation result exactly as the network stores it in R2 (a JSON
//! object inside a window shard). `extra` and any field this version does not know are kept
//! as JSON values so a record read and written again loses nothing.
//!
//! [`CompactRecord`] is the few fields the scorer needs. [`scan::parse_shard`] reads them
//! leniently straight from shard bytes into a [`compact::CompactShard`]: a record whose fields
//! have the wrong JSON types is counted as not usable instead of failing the whole shard, and
//! everything else (prompts, conversations) is skipped without being materialised.

pub mod compact;
pub mod scan;

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The miner a result was produced for, as recorded by the sampling validator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Miner {
    /// Miner uid on the subnet when the sample was taken.
    pub uid: i64,
    /// Miner hotkey (SS58).
    pub hotkey: String,
    /// Hugging Face repository of the committed model.
    #[serde(default)]
    pub model: Option<String>,
    /// Committed revision of the model.
    #[serde(default)]
    pub revision: Option<String>,
    /// Block of the miner's commitment.
    #[serde(default)]
    pub block: Option<i64>,
    /// Chute description as returned by the Chutes API.
    #[serde(default)]
    pub chute: Option<Value>,
    /// Chute slug.
    #[serde(default)]
    pub slug: Option<String>,
    /// SHA-256 digests of the model's weight files.
    #[serde(default)]
    pub weights_shas: Option<Vec<String>>,
    /// Fields unknown to this version, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// One signed evaluation result as stored in an R2 window shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// Producer version string.
    #[serde(default)]
    pub version: String,
    /// Hex sr25519 signature by the validator hotkey.
    #[serde(default)]
    pub signature: String,
    /// Validator hotkey (SS58) that signed the record.
    #[serde(default)]
    pub hotkey: String,
    /// The evaluated miner.
    #[serde(default)]
    pub miner: Option<Miner>,
    /// Environment id, e.g. `affine:sat`.
    pub env: String,
    /// Raw score in the environment's range.
    pub score: f64,
    /// Wall time of the evaluation.
    #[serde(default)]
    pub latency_seconds: f64,
    /// Whether the evaluation completed.
    #[serde(default)]
    pub success: bool,
    /// Error text of a failed evaluation.
    #[serde(default)]
    pub error: Option<String>,
    /// Task id; older records carry it only in `extra.request.task_id`.
    #[serde(default)]
    pub task_id: Option<i64>,
    /// Arbitrary environment output, including `request` and `image`.
    #[serde(default)]
    pub extra: Value,
    /// Unix time of the evaluation.
    #[serde(default)]
    pub timestamp: f64,
    /// Fields unknown to this version, kept verbatim.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

impl ResultRecord {
    /// The task id, falling back to `extra.request.task_id` for records that predate the
    /// top-level field.
    #[must_use]
    pub fn effective_task_id(&self) -> Option<i64> {
        self.task_id.or_else(|| self.extra.get("request").and_then(|r| r.get("task_id")).and_then(Value::as_i64))
    }
}

/// The fields of a result the scorer reads, borrowed from the shard bytes where possible.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactRecord<'a> {
    /// `miner.hotkey` (empty when absent).
    pub hotkey: Cow<'a, str>,
    /// `miner.model`.
    pub model: Option<Cow<'a, str>>,
    /// `miner.revision`.
    pub revision: Option<Cow<'a, str>>,
    /// `miner.block`, truncated to an integer; `None` when absent or not a number.
    pub block: Option<i64>,
    /// `env`.
    pub env: Cow<'a, str>,
    /// `score` (0.0 when absent).
    pub score: f64,
    /// The task id when it is an integer (top level, else `extra.request.task_id`).
    pub task_id: Option<i64>,
    /// `timestamp` (0.0 when absent or null).
    pub timestamp: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_record_round_trips_unknown_fields_losslessly() {
        let text = r#"{"version":"0.0.0","signature":"ab","hotkey":"v","miner":{"uid":3,"hotkey":"h","model":"m","revision":"r","block":9,"chute":{"x":[1,2]},"slug":"s","weights_shas":null,"future":true},"env":"affine:sat","score":0.5,"latency_seconds":1.25,"success":true,"error":null,"task_id":null,"extra":{"request":{"task_id":4,"nested":{"z":1,"a":[1.5e-7,"é"]}},"image":"img"},"timestamp":1763112872.6111987,"new_field":{"k":"v"}}"#;
        let record: ResultRecord = serde_json::from_str(text).expect("parses");
        assert_eq!(record.effective_task_id(), Some(4));
        let again = serde_json::to_value(&record).expect("serialises");
        let original: Value = serde_json::from_str(text).expect("parses");
        assert_eq!(again, original);
    }
}
