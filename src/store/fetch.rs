//! Dataset streaming: which shards a scoring pass at `block` with `tail` blocks of history
//! needs, and downloading them in key order with bounded concurrency through the cache.
//!
//! Downloads run `download_concurrency` at a time but are delivered strictly in key order
//! (the scorer's result must not depend on arrival order), through a bounded channel, so at
//! most `2 x concurrency` shard bodies are in memory before the parser takes them. A scoring
//! pass with a compact cache revalidates each shard's compact entry instead of its body.
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
use crate::store::compact::{CompactCache, Entry};
use crate::store::config::PUBLIC_FALLBACK_MIN_KEYS;
use crate::store::dataset::{ShardBytes, ShardSource};
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

/// One delivered shard: the bytes (with the object's entity tag), or a compact cache entry
/// the store confirmed as current.
enum Fetch {
    Missing,
    /// Too large, or not a regular file in a local store: this shard only is skipped.
    Refused(String),
    Bytes {
        bytes: Vec<u8>,
        etag: Option<String>,
        from_cache: bool,
    },
    Compact(Box<Entry>),
}

/// The compact entry of `key` when it was built from a store object (it has an entity tag).
async fn compact_entry(compact: Option<&Arc<CompactCache>>, key: &str) -> Option<Entry> {
    let (compact, key) = (Arc::clone(compact?), key.to_owned());
    tokio::task::spawn_blocking(move || compact.load(&key)).await.ok().flatten().filter(|entry| entry.source.etag.is_some())
}

async fn fetch_one(backend: &Backend, cache: Option<&ShardCache>, compact: Option<&Arc<CompactCache>>, key: &str) -> Result<Fetch, Error> {
    // A compact entry revalidated by its entity tag needs neither the body nor the raw copy.
    let entry = compact_entry(compact, key).await;
    let cached = match (&entry, cache) {
        (None, Some(cache)) => {
            let (cache, key) = (cache.clone(), key.to_owned());
            tokio::task::spawn_blocking(move || cache.lookup(&key)).await.ok().flatten()
        }
        _ => None,
    };
    let if_none_match = entry.as_ref().and_then(|e| e.source.etag.clone()).or_else(|| cached.as_ref().map(|c| c.etag.clone()));
    match backend.get(key, if_none_match.as_deref()).await? {
        Fetched::NotModified => Ok(match (entry, cached) {
            (Some(entry), _) => Fetch::Compact(Box::new(entry)),
            (None, Some(cached)) => Fetch::Bytes { bytes: cached.bytes, etag: Some(cached.etag), from_cache: true },
            // A 304 to an unconditional GET: a broken server; the shard cannot be read.
            (None, None) => Fetch::Missing,
        }),
        Fetched::Missing => Ok(Fetch::Missing),
        Fetched::Found(object) => {
            if let (Some(cache), Some(etag)) = (cache, object.etag.as_deref()) {
                let (cache, key, etag, bytes) = (cache.clone(), key.to_owned(), etag.to_owned(), object.bytes.clone());
                let stored = tokio::task::spawn_blocking(move || cache.store(&key, &etag, &bytes)).await;
                if let Ok(Err(error)) = stored {
                    tracing::warn!(error = %crate::error::one_line(&error), "cannot write the shard cache");
                }
            }
            Ok(Fetch::Bytes { bytes: object.bytes, etag: object.etag, from_cache: false })
        }
    }
}

/// Downloads the selected shards in key order, with bounded concurrency, and sends what
/// `wrap` makes of each to `sink`; stops early when `sink` is closed.
async fn fetch_all<T>(
    store: &Store,
    selection: &Selection,
    compact: Option<Arc<CompactCache>>,
    sink: mpsc::Sender<T>,
    on_shard: impl Fn(u64),
    wrap: impl Fn(String, Fetch) -> Option<T>,
) -> Result<DownloadStats, Error> {
    let backend = if selection.from_public { store.public_fallback().unwrap_or(store.reader()) } else { store.reader() };
    let cache = store.config().cache_dir.clone().map(ShardCache::new).map(Arc::new);
    let concurrency = store.config().download_concurrency.max(1);
    let mut stats = DownloadStats::default();
    let mut missing = crate::repeated::RepeatedWarning::new("listed shards that do not exist");
    let mut refused = crate::repeated::RepeatedWarning::new("refused shards");
    let mut results = futures_util::stream::iter(selection.keys.iter())
        .map(|key| {
            let (cache, compact) = (cache.clone(), compact.clone());
            async move { (key, fetch_one(backend, cache.as_deref(), compact.as_ref(), key).await) }
        })
        .buffered(concurrency);
    while let Some((key, result)) = results.next().await {
        let fetched = match result {
            Ok(fetched) => fetched,
            Err(error @ Error::Malformed { .. }) => {
                if refused.hit() {
                    tracing::warn!(key, error = %crate::error::one_line(&error), "skipping a shard that cannot be read");
                }
                stats.refused += 1;
                Fetch::Refused(error.to_string())
            }
            Err(error) => return Err(error),
        };
        let (size, hit) = match &fetched {
            Fetch::Missing => {
                if missing.hit() {
                    tracing::warn!(key, "index lists a shard that does not exist, skipping");
                }
                stats.missing += 1;
                continue;
            }
            Fetch::Refused(_) => (0, false),
            Fetch::Bytes { bytes, from_cache, .. } => (bytes.len() as u64, *from_cache),
            Fetch::Compact(entry) => (entry.source.len, true),
        };
        if !matches!(fetched, Fetch::Refused(_)) {
            stats.objects += 1;
            stats.bytes += size;
            stats.cache_hits += usize::from(hit);
            on_shard(size);
        }
        if let Some(item) = wrap(key.clone(), fetched)
            && sink.send(item).await.is_err()
        {
            break;
        }
    }
    missing.finish();
    refused.finish();
    Ok(stats)
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
    fetch_all(store, selection, None, sink, on_shard, |name, fetched| match fetched {
        Fetch::Bytes { bytes, .. } => Some(ShardBytes { name, bytes: Ok(bytes) }),
        Fetch::Refused(reason) => Some(ShardBytes { name, bytes: Err(reason) }),
        Fetch::Missing | Fetch::Compact(_) => None,
    })
    .await
}

/// [`download`] for a scoring pass: with a `compact` cache, a shard whose compact entry the
/// store confirms as current (304 to the entry's entity tag) is delivered as that entry, and
/// its body is neither downloaded nor read from the raw cache.
///
/// # Errors
/// A shard download fails permanently or keeps failing.
pub async fn download_for_scoring(
    store: &Store,
    selection: &Selection,
    compact: Option<Arc<CompactCache>>,
    sink: mpsc::Sender<ShardSource>,
    on_shard: impl Fn(u64),
) -> Result<DownloadStats, Error> {
    fetch_all(store, selection, compact, sink, on_shard, |name, fetched| match fetched {
        Fetch::Bytes { bytes, etag, .. } => Some(ShardSource::Fetched { name, bytes: Ok(bytes), etag }),
        Fetch::Refused(reason) => Some(ShardSource::Fetched { name, bytes: Err(reason), etag: None }),
        Fetch::Compact(entry) => Some(ShardSource::Cached { name, entry }),
        Fetch::Missing => None,
    })
    .await
}
