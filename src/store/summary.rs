//! Weights summaries: `affine/weights/summary-{block}.json` and `affine/weights/latest.json`
//! (schema 1.0.0, 2-space indented JSON, non-finite numbers as `null`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::store::backend::Fetched;
use crate::store::error::Error;
use crate::store::keys::{LATEST_SUMMARY_KEY, summary_key};
use crate::store::writer::{CasOutcome, cas_update};
use crate::store::{Backend, Precondition, Store};

/// The schema version written and expected.
pub const SCHEMA_VERSION: &str = "1.0.0";

/// A stored summary document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryDocument {
    /// `"1.0.0"`.
    pub schema_version: String,
    /// Unix seconds when it was saved.
    pub timestamp: i64,
    /// The block it was computed at.
    pub block: u64,
    /// The summary (`header`, `rows`, `miners`, `stats`, `env_winners`, `environments`, `note`).
    pub data: Value,
}

/// What saving did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SaveReport {
    /// The per-block key written.
    pub key: String,
    /// Whether `latest.json` now points at this block (it is left alone when it already holds
    /// a newer one).
    pub latest_updated: bool,
}

fn block_of(bytes: &[u8]) -> Option<u64> {
    serde_json::from_slice::<Value>(bytes).ok()?.get("block")?.as_u64()
}

/// Saves `data` as the summary of `block`: the per-block object unconditionally, then
/// `latest.json` by compare-and-swap only when it holds an older block (two weight computers
/// finishing out of order never move it backwards).
///
/// # Errors
/// A read-only store or a failing backend.
pub async fn save_summary(store: &Store, block: u64, timestamp: i64, data: &impl Serialize) -> Result<SaveReport, Error> {
    let key = summary_key(block);
    let data = serde_json::to_value(data).map_err(|e| Error::Malformed { key: key.clone(), reason: e.to_string() })?;
    let document = SummaryDocument { schema_version: SCHEMA_VERSION.to_owned(), timestamp, block, data };
    let bytes = serde_json::to_vec_pretty(&document).map_err(|e| Error::Malformed { key: key.clone(), reason: e.to_string() })?;
    let backend = store.writer()?;
    backend.put(&key, bytes.clone(), Precondition::None).await?;
    let outcome = cas_update(backend, LATEST_SUMMARY_KEY, |current| {
        Ok(match current.and_then(block_of) {
            Some(stored) if stored >= block => None,
            _ => Some(bytes.clone()),
        })
    })
    .await?;
    Ok(SaveReport { key, latest_updated: matches!(outcome, CasOutcome::Written { .. }) })
}

/// Loads the summary of `block`, or the latest one.
///
/// # Errors
/// [`Error::NotFound`] when there is none, [`Error::Malformed`] when it is not a summary.
pub async fn load_summary(backend: &Backend, block: Option<u64>) -> Result<SummaryDocument, Error> {
    let key = block.map_or_else(|| LATEST_SUMMARY_KEY.to_owned(), summary_key);
    match backend.get(&key, None).await? {
        Fetched::Found(object) => serde_json::from_slice(&object.bytes).map_err(|e| Error::Malformed { key, reason: e.to_string() }),
        Fetched::Missing | Fetched::NotModified => Err(Error::NotFound { key, backend: backend.label().to_owned() }),
    }
}
