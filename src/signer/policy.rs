//! What the signer agrees to do, as pure functions: who may call it, which texts it signs and
//! which weight vectors it sets (spec/validator.md §9.2). No I/O.
//!
//! - Callers: without a token only loopback peers; with a token every request but the plain
//!   `/healthz` carries `Authorization: Bearer <token>`, compared in constant time.
//! - `/sign`: only result sign texts, `{env}:{miner_json}:{score:.6f}:{latency:.6f}:{ts}:{extra_json}`
//!   with a known environment, all printable ASCII (Python's `json.dumps` escapes the rest), so
//!   no `0x` hex and no binary: the signer can never be made to sign an extrinsic payload.
//! - `/set_weights`: the configured netuid only; equal, non-empty vectors of distinct uids with
//!   finite, non-negative weights, not all zero.

use std::collections::BTreeSet;
use std::net::IpAddr;

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::secret::Secret;

/// Payloads accepted in one `/sign` batch (the runner sends 300 by default).
pub const MAX_PAYLOADS: usize = 4096;
/// Bytes of one request body accepted (spec §9.2: 8-16 MiB is ample).
pub const MAX_BODY_BYTES: usize = 16 << 20;
/// Uids accepted in one `/set_weights` vector (a uid is a u16; the chain caps by `SubnetworkN`).
pub const MAX_UIDS: usize = 4096;

/// Why a caller is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token is configured and the peer is not on loopback (403).
    NotLoopback,
    /// A token is configured and the request does not carry it (401).
    Unauthenticated,
}

impl Refusal {
    /// The text of the JSON error.
    #[must_use]
    pub const fn message(self) -> &'static str {
        match self {
            Self::NotLoopback => "this signer serves loopback callers only (set SIGNER_TOKEN to serve others)",
            Self::Unauthenticated => "missing or wrong bearer token",
        }
    }
}

/// Whether `ip` is a loopback address (IPv4-mapped IPv6 included).
#[must_use]
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

/// Whether a request from `peer` with the `Authorization` header `authorization` may be
/// served, given the configured `token`.
///
/// # Errors
/// The [`Refusal`] to answer with.
pub fn admit(peer: IpAddr, token: Option<&Secret>, authorization: Option<&str>) -> Result<(), Refusal> {
    let Some(token) = token else {
        return if is_loopback(peer) { Ok(()) } else { Err(Refusal::NotLoopback) };
    };
    let given = authorization.and_then(|value| value.strip_prefix("Bearer ")).map(str::trim).unwrap_or_default();
    if constant_time_eq(given.as_bytes(), token.expose().as_bytes()) { Ok(()) } else { Err(Refusal::Unauthenticated) }
}

/// Equality whose time does not depend on where the inputs differ: both sides are hashed
/// first, so neither their content nor the position of the first difference shows.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    let (a, b) = (Sha256::digest(given), Sha256::digest(expected));
    a.iter().zip(b.iter()).fold(0_u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The first 16 hex digits of the SHA-256 of a body: what the access log shows instead of it.
#[must_use]
pub fn payload_hash(body: &[u8]) -> String {
    hex::encode(&Sha256::digest(body)[..8])
}

/// Takes the payload list of a `/sign` body as the reference does (`payloads`, else `data`;
/// a bare string is one payload).
///
/// # Errors
/// Why the body is not a sign request (an answer of 400), or that it has too many payloads
/// (`Err(None)`: 413).
pub fn sign_payloads(body: &Value) -> Result<Vec<String>, Option<String>> {
    let Some(object) = body.as_object() else { return Err(Some("the body must be a JSON object".to_owned())) };
    // Python's `payload.get("payloads") or payload.get("data") or []`: falsy values fall through.
    let list = ["payloads", "data"].iter().filter_map(|key| object.get(*key)).find(|value| super::wire::truthy(value));
    let items: Vec<&Value> = match list {
        None => Vec::new(),
        Some(Value::String(_)) => vec![list.expect("matched")],
        Some(Value::Array(items)) => items.iter().collect(),
        Some(_) => return Err(Some("payloads must be a string or a list of strings".to_owned())),
    };
    if items.len() > MAX_PAYLOADS {
        return Err(None);
    }
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| item.as_str().map(str::to_owned).ok_or_else(|| Some(format!("payload {i} is not a string"))))
        .collect()
}

/// Checks that `payload` is a result sign text.
///
/// # Errors
/// What is wrong with it.
pub fn check_sign_payload(payload: &str) -> Result<(), String> {
    if payload.starts_with("0x") {
        return Err("hex (0x) payloads are not signed: only result texts are".to_owned());
    }
    if let Some(position) = payload.bytes().position(|b| !(b' '..=b'~').contains(&b)) {
        return Err(format!("byte {position} is not printable ASCII: only result texts are signed"));
    }
    let rest = crate::environments::ENVIRONMENTS
        .iter()
        .find_map(|env| payload.strip_prefix(env.id).and_then(|rest| rest.strip_prefix(':')))
        .ok_or_else(|| "not a result text: it does not start with a known environment".to_owned())?;
    // {miner_json}
    let mut miner = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
    match miner.next() {
        Some(Ok(Value::Object(_))) => {}
        _ => return Err("not a result text: no miner object after the environment".to_owned()),
    }
    let rest = rest[miner.byte_offset()..].strip_prefix(':').ok_or_else(|| "not a result text: nothing after the miner".to_owned())?;
    // :{score:.6f}:{latency:.6f}:{int(timestamp)}:{extra_json}
    let mut parts = rest.splitn(4, ':');
    let (score, latency, timestamp, extra) = (parts.next(), parts.next(), parts.next(), parts.next());
    let (Some(score), Some(latency), Some(timestamp), Some(extra)) = (score, latency, timestamp, extra) else {
        return Err("not a result text: score, latency, timestamp or extra missing".to_owned());
    };
    if !is_fixed6(score) || !is_fixed6(latency) {
        return Err("not a result text: score and latency must have six decimals".to_owned());
    }
    if timestamp.parse::<i64>().is_err() {
        return Err("not a result text: the timestamp is not an integer".to_owned());
    }
    if serde_json::from_str::<Value>(extra).is_err() {
        return Err("not a result text: extra is not JSON".to_owned());
    }
    Ok(())
}

/// Python's `f"{x:.6f}"`: digits, a point and six decimals, or `nan`/`inf`/`-inf`.
fn is_fixed6(text: &str) -> bool {
    if matches!(text, "nan" | "inf" | "-inf") {
        return true;
    }
    let digits = text.strip_prefix('-').unwrap_or(text);
    let Some((whole, decimals)) = digits.split_once('.') else { return false };
    !whole.is_empty() && whole.bytes().all(|b| b.is_ascii_digit()) && decimals.len() == 6 && decimals.bytes().all(|b| b.is_ascii_digit())
}

/// A `/set_weights` request that passed the checks.
#[derive(Debug, Clone, PartialEq)]
pub struct WeightsOrder {
    /// The subnet (the configured one).
    pub netuid: u16,
    /// `(uid, weight)` pairs.
    pub vector: Vec<(u32, f64)>,
}

/// Parses and checks a `/set_weights` body as the reference reads it (`netuid` defaults to
/// 120, missing vectors are empty, `wait_for_inclusion` is ignored: confirmation is by
/// `LastUpdate`), for the signer serving `allowed_netuid`.
///
/// # Errors
/// What is wrong (an answer of 400).
pub fn weights_order(body: &Value, allowed_netuid: u16) -> Result<WeightsOrder, String> {
    let Some(object) = body.as_object() else { return Err("the body must be a JSON object".to_owned()) };
    let netuid = match object.get("netuid") {
        None | Some(Value::Null) => 120,
        Some(value) => value.as_u64().and_then(|n| u16::try_from(n).ok()).ok_or_else(|| format!("netuid {value} is not a subnet id"))?,
    };
    if netuid != allowed_netuid {
        return Err(format!("netuid {netuid} is not served by this signer (it sets weights on netuid {allowed_netuid} only)"));
    }
    let list = |key: &str| -> Result<Vec<Value>, String> {
        match object.get(key) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(items)) => Ok(items.clone()),
            Some(_) => Err(format!("{key} must be a list")),
        }
    };
    let (uids, weights) = (list("uids")?, list("weights")?);
    if uids.len() != weights.len() {
        return Err(format!("{} uids but {} weights", uids.len(), weights.len()));
    }
    if uids.is_empty() {
        return Err("no uids to weight".to_owned());
    }
    if uids.len() > MAX_UIDS {
        return Err(format!("{} uids: at most {MAX_UIDS}", uids.len()));
    }
    let mut seen = BTreeSet::new();
    let mut vector = Vec::with_capacity(uids.len());
    for (uid, weight) in uids.iter().zip(&weights) {
        let uid = uid.as_u64().and_then(|u| u16::try_from(u).ok()).ok_or_else(|| format!("uid {uid} is not a uid (0..65535)"))?;
        if !seen.insert(uid) {
            return Err(format!("uid {uid} appears twice"));
        }
        let weight = weight
            .as_f64()
            .filter(|w| w.is_finite() && *w >= 0.0)
            .ok_or_else(|| format!("weight {weight} of uid {uid} is not a finite number >= 0"))?;
        vector.push((u32::from(uid), weight));
    }
    if vector.iter().all(|(_, weight)| *weight == 0.0) {
        return Err("every weight is zero".to_owned());
    }
    Ok(WeightsOrder { netuid, vector })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const TEXT: &str = r#"affine:sat:{"block": 7, "chute": null, "hotkey": "5H", "model": "m/affine", "revision": "r", "slug": "s", "uid": 1, "weights_shas": null}:1.000000:2.500000:1700000000:{"image": "x", "request": {"a": "\u00e9"}}"#;

    #[test]
    fn only_result_texts_are_signed() {
        assert_eq!(check_sign_payload(TEXT), Ok(()));
        let refused = [
            ("0x0700", "hex"),
            ("affine:sat:{\"a\": 1}:1.0:2.000000:17:{}", "six decimals"),
            ("wizard:env:{}:1.000000:1.000000:1:{}", "known environment"),
            ("affine:sat:{}:1.000000:1.000000:1", "missing"),
            ("affine:sat:[1]:1.000000:1.000000:1:{}", "miner object"),
            ("affine:sat:{}:1.000000:1.000000:x:{}", "integer"),
            ("affine:sat:{}:1.000000:1.000000:1:{not json", "not JSON"),
            ("affine:sat:{\"a\": \"é\"}:1.000000:1.000000:1:{}", "printable ASCII"),
            ("affine:sat:{}:1.000000:1.000000:1:{}\n", "printable ASCII"),
        ];
        for (payload, says) in refused {
            let error = check_sign_payload(payload).expect_err(payload);
            assert!(error.contains(says), "{payload}: {error}");
        }
        assert_eq!(check_sign_payload("affine:ded:{}:nan:-0.500000:-3:null"), Ok(()), "Python renders these too");
    }

    #[test]
    fn the_golden_sign_texts_pass() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/golden/signing/sign-data.jsonl");
        let text = std::fs::read_to_string(path).expect("golden vectors");
        let mut count = 0;
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let vector: Value = serde_json::from_str(line).expect("json line");
            let data = vector["sign_data"].as_str().expect("sign_data");
            assert_eq!(check_sign_payload(data), Ok(()), "{data}");
            count += 1;
        }
        assert!(count >= 60, "{count} vectors");
    }

    #[test]
    fn payload_lists_follow_the_reference() {
        assert_eq!(sign_payloads(&json!({"payloads": ["a", "b"]})), Ok(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(sign_payloads(&json!({"payloads": [], "data": "c"})), Ok(vec!["c".to_owned()]));
        assert_eq!(sign_payloads(&json!({})), Ok(vec![]));
        assert!(sign_payloads(&json!(["a"])).is_err());
        assert!(matches!(sign_payloads(&json!({"payloads": [1]})), Err(Some(e)) if e.contains("payload 0")));
        assert_eq!(sign_payloads(&json!({"payloads": vec!["x"; MAX_PAYLOADS + 1]})), Err(None));
    }

    #[test]
    fn callers_are_admitted_by_loopback_or_token() {
        let local: IpAddr = "127.0.0.1".parse().expect("ip");
        let mapped: IpAddr = "::ffff:127.0.0.1".parse().expect("ip");
        let remote: IpAddr = "10.1.2.3".parse().expect("ip");
        assert_eq!(admit(local, None, None), Ok(()));
        assert_eq!(admit(mapped, None, None), Ok(()));
        assert_eq!(admit(remote, None, None), Err(Refusal::NotLoopback));
        let token = Secret::new("s3cret");
        assert_eq!(admit(remote, Some(&token), Some("Bearer s3cret")), Ok(()));
        assert_eq!(admit(local, Some(&token), None), Err(Refusal::Unauthenticated), "a token binds loopback callers too");
        assert_eq!(admit(remote, Some(&token), Some("Bearer s3cre")), Err(Refusal::Unauthenticated));
        assert_eq!(admit(remote, Some(&token), Some("s3cret")), Err(Refusal::Unauthenticated));
    }

    #[test]
    fn weight_orders_are_checked() {
        let order = weights_order(&json!({"netuid": 120, "uids": [0, 3], "weights": [0.25, 0.75], "wait_for_inclusion": false}), 120);
        assert_eq!(order, Ok(WeightsOrder { netuid: 120, vector: vec![(0, 0.25), (3, 0.75)] }));
        assert!(weights_order(&json!({"uids": [1], "weights": [1.0]}), 120).is_ok(), "netuid defaults to 120");
        for (body, says) in [
            (json!({"netuid": 1, "uids": [1], "weights": [1.0]}), "not served"),
            (json!({"uids": [1, 2], "weights": [1.0]}), "2 uids but 1 weights"),
            (json!({"uids": [], "weights": []}), "no uids"),
            (json!({"uids": [1, 1], "weights": [1.0, 1.0]}), "twice"),
            (json!({"uids": [-1], "weights": [1.0]}), "not a uid"),
            (json!({"uids": [1], "weights": [-0.5]}), ">= 0"),
            (json!({"uids": [1], "weights": ["NaN"]}), ">= 0"),
            (json!({"uids": [1, 2], "weights": [0, 0.0]}), "every weight is zero"),
            (json!({"uids": "1", "weights": [1.0]}), "must be a list"),
            (json!([1]), "JSON object"),
        ] {
            let error = weights_order(&body, 120).expect_err("refused");
            assert!(error.contains(says), "{body}: {error}");
        }
    }

    #[test]
    fn payload_hashes_are_short_and_stable() {
        assert_eq!(payload_hash(b"abc"), "ba7816bf8f01cfea");
    }
}
