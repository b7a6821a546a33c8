//! R2-weights mode: the weight vector taken from a published `latest.json` instead of being
//! computed (`USE_R2_WEIGHTS`), with the reference's shape checks and what it lacked
//! (spec/validator.md §3.2, §9.2): the schema version, freshness against the head, and each
//! entry mapped to a uid by its **hotkey** in the live metagraph (the file's uid is ignored, so
//! a re-registered uid is never paid for its previous owner).
//!
//! A file that is stale, malformed or names no registered hotkey is refused with a reason; the
//! caller warns and sets nothing from it (never zero weights). A fresh file whose weights are
//! all zero (the publisher had nobody eligible) gives `[0], [1.0]`, as local mode does.

use std::collections::BTreeMap;

use serde_json::Value;

/// The official `latest.json` the reference reads (`validate_from_r2.py`).
pub const DEFAULT_URL: &str = "https://pub-bf429ea7a5694b99adaf3d444cbbe64d.r2.dev/affine/weights/latest.json";

/// A vector taken from a published summary.
#[derive(Debug, Clone, PartialEq)]
pub struct Published {
    /// The block the publisher scored.
    pub block: u64,
    /// `(uid, weight)` by the live metagraph's uids, ascending.
    pub vector: Vec<(u32, f64)>,
    /// Entries dropped because their hotkey is not registered now.
    pub unregistered: usize,
    /// Entries whose file uid differs from the hotkey's uid now.
    pub moved: usize,
}

/// Checks a `latest.json` body against the head and maps it onto `hotkeys` (by uid).
///
/// # Errors
/// Why the file is not used: not JSON, a missing or wrong-typed field, another major
/// schema version, older than `max_age` blocks behind `head` (or from the future), a negative
/// or non-finite weight, or no entry whose hotkey is registered.
pub fn published_vector(body: &[u8], head: u64, max_age: u64, hotkeys: &[String]) -> Result<Published, String> {
    let document: Value = serde_json::from_slice(body).map_err(|error| format!("not JSON: {error}"))?;
    let schema = document.get("schema_version").and_then(Value::as_str).ok_or("no schema_version")?;
    if schema.split('.').next() != Some("1") {
        return Err(format!("schema_version {schema:?} is not 1.x"));
    }
    let block = document.get("block").and_then(Value::as_u64).ok_or("no block")?;
    let data = document.get("data").ok_or("Summary missing 'data' key")?;
    let miners = data.get("miners").ok_or("Summary data missing 'miners' key")?;
    let miners = miners.as_object().ok_or_else(|| format!("Expected 'miners' to be a dict, got {}", kind(miners)))?;
    if block > head.saturating_add(max_age) {
        return Err(format!("block {block} is ahead of the head {head}"));
    }
    if head.saturating_sub(block) > max_age {
        return Err(format!("stale: scored at block {block}, {} blocks behind the head {head} (at most {max_age})", head - block));
    }
    let uid_of: BTreeMap<&str, u32> = hotkeys.iter().zip(0_u32..).map(|(hotkey, uid)| (hotkey.as_str(), uid)).collect();
    let mut weights: BTreeMap<u32, f64> = BTreeMap::new();
    let (mut unregistered, mut moved) = (0, 0);
    for (key, entry) in miners {
        // The reference skips non-dicts and entries without uid or weight.
        let Some(entry) = entry.as_object() else { continue };
        let (Some(file_uid), Some(weight)) = (entry.get("uid").filter(|v| !v.is_null()), entry.get("weight").filter(|v| !v.is_null()))
        else {
            continue;
        };
        let weight = weight
            .as_f64()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| format!("weight {weight} of {key} is not a number >= 0"))?;
        let hotkey = entry.get("hotkey").and_then(Value::as_str).unwrap_or(key);
        let Some(&uid) = uid_of.get(hotkey) else {
            unregistered += 1;
            continue;
        };
        if file_uid.as_u64() != Some(u64::from(uid)) {
            moved += 1;
        }
        *weights.entry(uid).or_default() += weight;
    }
    if weights.is_empty() {
        return Err(format!("no entry names a hotkey registered now ({unregistered} unregistered)"));
    }
    let mut vector: Vec<(u32, f64)> = weights.into_iter().filter(|(_, w)| *w > 0.0).collect();
    if vector.is_empty() {
        // The publisher had nobody eligible: uid 0 gets everything, as in local mode.
        vector = vec![(0, 1.0)];
    }
    Ok(Published { block, vector, unregistered, moved })
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "None",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "str",
        Value::Array(_) => "list",
        Value::Object(_) => "dict",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(block: u64, miners: &Value) -> Vec<u8> {
        serde_json::to_vec(&json!({"schema_version": "1.0.0", "timestamp": 1, "block": block, "data": {"miners": miners}})).expect("json")
    }

    fn hotkeys() -> Vec<String> {
        ["5Zero", "5One", "5Two"].map(str::to_owned).to_vec()
    }

    #[test]
    fn fresh_files_map_by_hotkey_and_drop_unregistered_entries() {
        let miners = json!({
            "5Two": {"uid": 1, "hotkey": "5Two", "weight": 0.75},
            "5One": {"uid": 2, "hotkey": "5One", "weight": 0.25},
            "5Gone": {"uid": 3, "hotkey": "5Gone", "weight": 0.5},
            "5Zero": {"uid": 0, "hotkey": "5Zero", "weight": 0.0},
            "junk": 7,
        });
        let published = published_vector(&body(1000, &miners), 1100, 360, &hotkeys()).expect("fresh");
        assert_eq!(published.vector, vec![(1, 0.25), (2, 0.75)], "by the live metagraph's uids, zero weights dropped");
        assert_eq!((published.block, published.unregistered, published.moved), (1000, 1, 2));
    }

    #[test]
    fn stale_malformed_and_unknown_files_are_refused() {
        let miners = json!({"5One": {"uid": 1, "weight": 1.0}});
        for (text, says) in [
            (body(1000, &miners), "stale"),
            (b"{not json".to_vec(), "not JSON"),
            (serde_json::to_vec(&json!({"schema_version": "2.0.0", "block": 1500, "data": {}})).expect("json"), "not 1.x"),
            (serde_json::to_vec(&json!({"schema_version": "1.0.0", "block": 1500})).expect("json"), "missing 'data'"),
            (serde_json::to_vec(&json!({"schema_version": "1.0.0", "block": 1500, "data": {"miners": []}})).expect("json"), "got list"),
            (body(1500, &json!({"5Nobody": {"uid": 1, "weight": 1.0}})), "no entry names a hotkey"),
            (body(1500, &json!({"5One": {"uid": 1, "weight": -1.0}})), "not a number >= 0"),
            (body(9000, &miners), "ahead of the head"),
        ] {
            let error = published_vector(&text, 1500, 360, &hotkeys()).expect_err(says);
            assert!(error.contains(says), "{says}: {error}");
        }
    }

    #[test]
    fn nobody_eligible_gives_uid_zero_everything() {
        let miners = json!({"5One": {"uid": 1, "weight": 0.0}, "5Two": {"uid": 2, "weight": 0.0}});
        let published = published_vector(&body(1500, &miners), 1500, 360, &hotkeys()).expect("fresh");
        assert_eq!(published.vector, vec![(0, 1.0)]);
    }
}
