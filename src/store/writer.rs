//! Writes that lose nothing: every update of a shared object is a compare-and-swap loop
//! (read with its entity tag, merge, write with `If-Match`, or `If-None-Match: *` when the
//! object did not exist; on a conflict, back off with jitter and start again).
//!
//! The reference rewrote shards and `affine/index.json` with plain read-modify-write and lost
//! updates under concurrency (spec/services.md section 3.6); the key layout and JSON stay the
//! same, so Python readers see no difference.

use std::collections::{BTreeSet, HashSet};

use serde_json::Value;

use crate::model::ResultRecord;
use crate::store::backend::{Fetched, Precondition, PutOutcome};
use crate::store::error::Error;
use crate::store::keys::{INDEX_KEY, shard_key, window_of};
use crate::store::retry::RetryPolicy;
use crate::store::{Backend, Store};

/// What a compare-and-swap update did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CasOutcome {
    /// The object was written after `conflicts` lost rounds.
    Written {
        /// Rounds lost to other writers first.
        conflicts: u32,
    },
    /// The merge left the object as it was; nothing was written.
    Unchanged,
}

/// Updates `key` with `merge(current)`, which returns the new bytes or `None` for "no change".
/// Reads and writes are retried on transient failures; conflicts restart the round.
///
/// # Errors
/// `merge` fails (the object is left untouched), the backend fails permanently, or the update
/// keeps conflicting past the retry budget ([`Error::Contended`]).
pub async fn cas_update(
    backend: &Backend,
    key: &str,
    mut merge: impl FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, Error>,
) -> Result<CasOutcome, Error> {
    let policy = RetryPolicy::CAS;
    for round in 0..policy.attempts {
        let current = match backend.get(key, None).await? {
            Fetched::Found(object) => Some(object),
            Fetched::Missing => None,
            Fetched::NotModified => unreachable!("an unconditional read never answers 304"),
        };
        let Some(next) = merge(current.as_ref().map(|o| o.bytes.as_slice()))? else {
            return Ok(CasOutcome::Unchanged);
        };
        let precondition = match &current {
            None => Precondition::IfAbsent,
            Some(object) => match &object.etag {
                Some(etag) => Precondition::IfMatch(etag),
                None => {
                    return Err(Error::Malformed { key: key.to_owned(), reason: "the backend sent no entity tag".to_owned() });
                }
            },
        };
        let outcome = backend.put(key, next.clone(), precondition).await?;
        match outcome {
            PutOutcome::Written(_) => return Ok(CasOutcome::Written { conflicts: round }),
            PutOutcome::Conflict => {
                tracing::debug!(key, round, "conditional write lost to another writer, retrying");
                tokio::time::sleep(policy.delay(round)).await;
            }
        }
    }
    Err(Error::Contended { key: key.to_owned(), attempts: policy.attempts })
}

/// What one batch write did.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteReport {
    /// The shard key written.
    pub key: String,
    /// Records appended.
    pub appended: usize,
    /// Records already present (or repeated within the batch) and not appended again.
    pub duplicates: usize,
    /// Compare-and-swap rounds lost to other writers (shard and index together).
    pub conflicts: u32,
}

/// The identity of a record: two records with the same validator hotkey, miner hotkey, env,
/// task id and timestamp are the same sample.
fn identity(record: &Value) -> String {
    let field = |value: Option<&Value>| value.map_or_else(|| "null".to_owned(), Value::to_string);
    format!(
        "{}|{}|{}|{}|{}",
        field(record.get("hotkey")),
        field(record.get("miner").and_then(|m| m.get("hotkey"))),
        field(record.get("env")),
        field(record.get("task_id")),
        record.get("timestamp").and_then(Value::as_f64).map_or(0, f64::to_bits),
    )
}

/// Appends `batch` (serialised records) to the shard at `key`, skipping records whose identity
/// is already there; returns the new shard bytes and the counts, or `None` bytes when nothing
/// is new.
fn merge_shard(key: &str, current: Option<&[u8]>, batch: &[Value]) -> Result<(Option<Vec<u8>>, usize, usize), Error> {
    let mut records: Vec<Value> = match current {
        None => Vec::new(),
        Some(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { key: key.to_owned(), reason: format!("existing shard is not a JSON array ({e})") })?,
    };
    let mut seen: HashSet<String> = records.iter().map(identity).collect();
    let before = records.len();
    for record in batch {
        if seen.insert(identity(record)) {
            records.push(record.clone());
        }
    }
    let appended = records.len() - before;
    let duplicates = batch.len() - appended;
    if appended == 0 {
        return Ok((None, 0, duplicates));
    }
    let bytes = serde_json::to_vec(&records).map_err(|e| Error::Malformed { key: key.to_owned(), reason: e.to_string() })?;
    Ok((Some(bytes), appended, duplicates))
}

/// Adds `keys` to the sorted index; `None` when all are present already.
fn merge_index(current: Option<&[u8]>, keys: &[String]) -> Result<Option<Vec<u8>>, Error> {
    let mut index: BTreeSet<String> = match current {
        None => BTreeSet::new(),
        Some(bytes) => serde_json::from_slice(bytes)
            .map_err(|e| Error::Malformed { key: INDEX_KEY.to_owned(), reason: format!("not a JSON array of keys ({e})") })?,
    };
    let before = index.len();
    index.extend(keys.iter().cloned());
    if index.len() == before {
        return Ok(None);
    }
    let sorted: Vec<&String> = index.iter().collect();
    Ok(Some(serde_json::to_vec(&sorted).expect("a list of strings serialises")))
}

/// Ensures every key of `keys` is in `affine/index.json` (one compare-and-swap round for the
/// whole list; no write when all are present). The index is created only with
/// `If-None-Match: *`, so a writer never replaces an index it did not read.
///
/// # Errors
/// See [`cas_update`]; a malformed index is reported and left untouched.
pub async fn index_add(store: &Store, keys: &[String]) -> Result<CasOutcome, Error> {
    let backend = store.writer()?;
    cas_update(backend, INDEX_KEY, |current| merge_index(current, keys)).await
}

/// Writes a batch of signed results produced at `block` by `validator_hotkey`: appends them to
/// the window's shard (skipping duplicates), then ensures the shard is in the index. The
/// index step runs after every batch, so an interrupted earlier write is repaired by the next.
///
/// # Errors
/// See [`cas_update`].
pub async fn write_results(store: &Store, block: u64, validator_hotkey: &str, records: &[ResultRecord]) -> Result<WriteReport, Error> {
    let key = shard_key(window_of(block), validator_hotkey);
    let batch: Vec<Value> = records
        .iter()
        .map(serde_json::to_value)
        .collect::<Result<_, _>>()
        .map_err(|e| Error::Malformed { key: key.clone(), reason: format!("record does not serialise ({e})") })?;
    write_values(store, &key, &batch).await
}

/// [`write_results`] for records already in JSON form.
///
/// # Errors
/// See [`cas_update`].
pub async fn write_values(store: &Store, key: &str, batch: &[Value]) -> Result<WriteReport, Error> {
    let backend = store.writer()?;
    let mut counts = (0, batch.len());
    let shard = cas_update(backend, key, |current| {
        let (bytes, appended, duplicates) = merge_shard(key, current, batch)?;
        counts = (appended, duplicates);
        Ok(bytes)
    })
    .await?;
    let index = index_add(store, &[key.to_owned()]).await?;
    let lost = |outcome: CasOutcome| match outcome {
        CasOutcome::Written { conflicts } => conflicts,
        CasOutcome::Unchanged => 0,
    };
    let conflicts = lost(shard) + lost(index);
    tracing::info!(key, appended = counts.0, duplicates = counts.1, conflicts, "results written");
    Ok(WriteReport { key: key.to_owned(), appended: counts.0, duplicates: counts.1, conflicts })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_shard_skips_known_identities_and_keeps_unknown_fields() {
        let old = br#"[{"hotkey":"v","miner":{"hotkey":"m"},"env":"e","task_id":1,"timestamp":1.5,"x":{"k":[1]}}]"#;
        let batch: Vec<Value> = serde_json::from_str(
            r#"[{"hotkey":"v","miner":{"hotkey":"m"},"env":"e","task_id":1,"timestamp":1.5},
                {"hotkey":"v","miner":{"hotkey":"m"},"env":"e","task_id":2,"timestamp":1.5},
                {"hotkey":"v","miner":{"hotkey":"m"},"env":"e","task_id":2,"timestamp":1.5}]"#,
        )
        .expect("json");
        let (bytes, appended, duplicates) = merge_shard("k", Some(old), &batch).expect("merge");
        assert_eq!((appended, duplicates), (1, 2));
        let merged: Vec<Value> = serde_json::from_slice(&bytes.expect("changed")).expect("json");
        assert_eq!(merged.len(), 2);
        assert_eq!(merged[0]["x"]["k"][0], 1);
        let (unchanged, _, _) = merge_shard("k", Some(old), &batch[..1]).expect("merge");
        assert!(unchanged.is_none());
        assert!(merge_shard("k", Some(b"{\"not\": \"array\"}"), &batch).is_err());
    }

    #[test]
    fn merge_index_sorts_and_reports_no_change() {
        let merged = merge_index(Some(br#"["b"]"#), &["a".into(), "b".into()]).expect("merge").expect("changed");
        assert_eq!(merged, br#"["a","b"]"#);
        assert!(merge_index(Some(br#"["a","b"]"#), &["a".into()]).expect("merge").is_none());
        assert!(merge_index(Some(b"nope"), &["a".into()]).is_err());
    }
}
