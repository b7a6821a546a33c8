//! Dataset streaming: which shards a scoring pass at `block` with `tail` blocks of history
//! needs, and downloading them in key order with bounded concurrency through the cache.
//!
//! Downloads run `download_concurrency` at a time but are delivered strictly in key order
//! (the scorer's result must not depend on arrival order), through a bounded channel, so at
//! most `2 x concurrency` shard bodies are in memory before the parser takes them.
//!
//! Nothing here scores a store that is not there: a local folder that does not exist, or a
//! store without an index, is an error naming what is missing; an index that exists but
//! lists nothing in the window is a genuinely empty store. Index keys are data: only keys of
//! the form `affine/results/WWWWWWWWW-HOTKEY.json` with safe segments are read, the others are
//! skipped and counted, never fatal.

use std::sync::Arc;

use futures_util::StreamExt as _;
use serde::Serialize;
use tokio::sync::mpsc;

use crate::store::backend::Fetched;
use crate::store::cache::ShardCache;
use crate::store::config::PUBLIC_FALLBACK_MIN_KEYS;
use crate::store::dataset::ShardBytes;
use crate::store::error::Error;
use crate::store::keys::{INDEX_KEY, RESULTS_PREFIX, scored_windows, window_of_key};
use crate::store::{Backend, Store};

/// The shards chosen for a pass.
#[derive(Debug, Clone)]
pub struct Selection {
    /// Shard keys in the scored windows, ascending.
    pub keys: Vec<String>,
    /// Keys in the index outside the scored windows (ignored).
    pub outside_window: usize,
    /// Whether the keys (and so the shards) come from the public fallback.
    pub from_public: bool,
    /// Index keys refused as unsafe or not shard keys (skipped).
    pub refused: usize,
}

/// What a download pass did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct DownloadStats {
    /// Shards delivered.
    pub objects: usize,
    /// Bytes delivered.
    pub bytes: u64,
    /// Shards served from the cache after a 304.
    pub cache_hits: usize,
    /// Index keys whose object does not exist (skipped).
    pub missing: usize,
    /// Objects refused unread or unparsed: too large, not a regular file (skipped).
    pub refused: usize,
}

async fn read_index(backend: &Backend) -> Result<Vec<String>, Error> {
    if let Backend::Local(local) = backend
        && !local.root().is_dir()
    {
        return Err(Error::FolderMissing { path: local.root().to_owned() });
    }
    match backend.get(INDEX_KEY, None).await? {
        Fetched::Found(object) => serde_json::from_slice(&object.bytes)
            .map_err(|e| Error::Malformed { key: INDEX_KEY.to_owned(), reason: format!("not a JSON array of keys ({e})") }),
        Fetched::Missing | Fetched::NotModified => {
            Err(Error::IndexMissing { key: INDEX_KEY.to_owned(), backend: backend.label().to_owned() })
        }
    }
}

/// Whether `key` is a result shard key whose segments are safe to use as paths.
fn is_shard_key(key: &str) -> bool {
    key.strip_prefix(RESULTS_PREFIX).is_some_and(|name| !name.contains('/')) && crate::names::store_key(key).is_ok()
}

fn select(index: Vec<String>, block: u64, tail: u64, from_public: bool) -> Selection {
    let (first, last) = scored_windows(block, tail);
    let total = index.len();
    let mut refused = crate::repeated::RepeatedWarning::new("unsafe or foreign index keys");
    let mut keys: Vec<String> = index
        .into_iter()
        .filter(|key| {
            let ok = is_shard_key(key);
            if !ok && refused.hit() {
                tracing::warn!(key = %format!("{key:?}"), "index key is not a safe result shard key, skipping");
            }
            ok
        })
        .filter(|key| window_of_key(key).is_some_and(|w| (first..=last).contains(&w)))
        .collect();
    refused.finish();
    keys.sort();
    keys.dedup();
    Selection { outside_window: total - keys.len() - refused.count(), keys, from_public, refused: refused.count() }
}

/// Picks the shard keys for `block` and `tail` from the index. Like the reference, a private
/// (S3) index with fewer than 50 matching keys, or one that cannot be read, falls back to the
/// public bucket's index when a public URL is configured; if that fails too, the private keys
/// are kept.
///
/// # Errors
/// The index cannot be read (and no fallback applies) or is not a JSON array.
pub async fn select_keys(store: &Store, block: u64, tail: u64) -> Result<Selection, Error> {
    let private = read_index(store.reader()).await.map(|index| select(index, block, tail, false));
    let Some(public) = store.public_fallback() else { return private };
    match &private {
        Ok(selection) if selection.keys.len() >= PUBLIC_FALLBACK_MIN_KEYS => return private,
        Ok(selection) => tracing::info!(keys = selection.keys.len(), "private index is sparse, reading the public bucket"),
        Err(error) => tracing::warn!(error = %crate::error::one_line(error), "private index unreadable, reading the public bucket"),
    }
    match read_index(public).await {
        Ok(index) => Ok(select(index, block, tail, true)),
        Err(error) => {
            tracing::warn!(error = %crate::error::one_line(&error), "public index unreadable too, keeping the private one");
            private
        }
    }
}

async fn fetch_one(backend: &Backend, cache: Option<&ShardCache>, key: &str) -> Result<(Option<Vec<u8>>, bool), Error> {
    let cached = match cache {
        Some(cache) => {
            let (cache, key) = (cache.clone(), key.to_owned());
            tokio::task::spawn_blocking(move || cache.lookup(&key)).await.ok().flatten()
        }
        None => None,
    };
    match backend.get(key, cached.as_ref().map(|c| c.etag.as_str())).await? {
        Fetched::NotModified => Ok((cached.map(|c| c.bytes), true)),
        Fetched::Missing => Ok((None, false)),
        Fetched::Found(object) => {
            if let (Some(cache), Some(etag)) = (cache, object.etag.as_deref()) {
                let (cache, key, etag, bytes) = (cache.clone(), key.to_owned(), etag.to_owned(), object.bytes.clone());
                let stored = tokio::task::spawn_blocking(move || cache.store(&key, &etag, &bytes)).await;
                if let Ok(Err(error)) = stored {
                    tracing::warn!(error = %crate::error::one_line(&error), "cannot write the shard cache");
                }
            }
            Ok((Some(object.bytes), false))
        }
    }
}

/// Downloads the selected shards in key order and sends each to `sink`; `on_shard` is told
/// the bytes of every delivered shard. Missing objects are skipped and counted; a shard that
/// still fails after retries stops the pass with its error. A closed `sink` ends the pass early.
///
/// # Errors
/// A shard download fails permanently or keeps failing.
pub async fn download(
    store: &Store,
    selection: &Selection,
    sink: mpsc::Sender<ShardBytes>,
    on_shard: impl Fn(u64),
) -> Result<DownloadStats, Error> {
    let backend = if selection.from_public { store.public_fallback().unwrap_or(store.reader()) } else { store.reader() };
    let cache = store.config().cache_dir.clone().map(ShardCache::new).map(Arc::new);
    let concurrency = store.config().download_concurrency.max(1);
    let mut stats = DownloadStats::default();
    let mut missing = crate::repeated::RepeatedWarning::new("listed shards that do not exist");
    let mut refused = crate::repeated::RepeatedWarning::new("refused shards");
    let mut results = futures_util::stream::iter(selection.keys.iter())
        .map(|key| {
            let cache = cache.clone();
            async move { (key, fetch_one(backend, cache.as_deref(), key).await) }
        })
        .buffered(concurrency);
    while let Some((key, result)) = results.next().await {
        let (bytes, hit) = match result {
            Ok(fetched) => fetched,
            // Too large, or not a regular file in a local store: this shard only is skipped.
            Err(error @ Error::Malformed { .. }) => {
                if refused.hit() {
                    tracing::warn!(key, error = %crate::error::one_line(&error), "skipping a shard that cannot be read");
                }
                stats.refused += 1;
                if sink.send(ShardBytes { name: key.clone(), bytes: Err(error.to_string()) }).await.is_err() {
                    break;
                }
                continue;
            }
            Err(error) => return Err(error),
        };
        let Some(bytes) = bytes else {
            if missing.hit() {
                tracing::warn!(key, "index lists a shard that does not exist, skipping");
            }
            stats.missing += 1;
            continue;
        };
        stats.objects += 1;
        stats.bytes += bytes.len() as u64;
        stats.cache_hits += usize::from(hit);
        on_shard(bytes.len() as u64);
        if sink.send(ShardBytes { name: key.clone(), bytes: Ok(bytes) }).await.is_err() {
            break;
        }
    }
    missing.finish();
    refused.finish();
    Ok(stats)
}
