//! The signer's JSON shapes, as the reference's `af signer` speaks them, shared by the server
//! and [`super::client`]: `POST /sign` `{"payloads": [...]}` -> `{"success", "signatures",
//! "hotkey"}`, `POST /set_weights` `{"netuid", "weights", "uids", "wait_for_inclusion"}` ->
//! `{"success"}` or `{"success": false, "error"}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The body of `POST /sign`.
#[derive(Debug, Clone, Serialize)]
pub struct SignRequest<'a> {
    /// The texts to sign, in order.
    pub payloads: &'a [String],
}

/// The answer to `POST /sign`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignResponse {
    /// `true` on success.
    pub success: bool,
    /// Lowercase hex signatures without `0x`, in request order (`[]` for an empty batch,
    /// as the reference answers).
    #[serde(default)]
    pub signatures: Vec<String>,
    /// The signing hotkey (SS58).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hotkey: Option<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The body of `POST /set_weights`; fields in the reference validator's order.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetWeightsRequest {
    /// The subnet.
    pub netuid: u16,
    /// Float weights, parallel to `uids`.
    pub weights: Vec<f64>,
    /// The uids weighted.
    pub uids: Vec<u16>,
    /// Always `false` from the validator (confirmation is by `LastUpdate`).
    pub wait_for_inclusion: bool,
}

/// The answer to `POST /set_weights`: the reference's `success`/`error`, plus what `af signer`
/// adds (the reference's clients ignore unknown fields).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SetWeightsResponse {
    /// `true` when the weights were confirmed on chain.
    pub success: bool,
    /// Why not (`confirmation failed` or the failure).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The block `LastUpdate` reached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block: Option<u64>,
    /// Attempts the signer made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
}

/// Python's truthiness of a JSON value, as the reference's `body.get("success")` tests it.
#[must_use]
pub fn truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|x| x != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_weights_request_has_the_reference_field_order() {
        let request = SetWeightsRequest { netuid: 120, weights: vec![0.5, 0.25], uids: vec![1, 2], wait_for_inclusion: false };
        assert_eq!(
            serde_json::to_string(&request).expect("json"),
            r#"{"netuid":120,"weights":[0.5,0.25],"uids":[1,2],"wait_for_inclusion":false}"#
        );
    }

    #[test]
    fn truthiness_follows_python() {
        for (value, expected) in [
            (serde_json::json!(true), true),
            (serde_json::json!(1), true),
            (serde_json::json!("yes"), true),
            (serde_json::json!(false), false),
            (serde_json::json!(0), false),
            (serde_json::json!(""), false),
            (serde_json::json!(null), false),
            (serde_json::json!([]), false),
        ] {
            assert_eq!(truthy(&value), expected, "{value}");
        }
    }
}
