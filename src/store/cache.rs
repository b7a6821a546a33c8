//! The local shard cache (`AFFINE_CACHE_DIR`, default `~/.cache/affine/blocks`): one file per
//! shard with the bytes exactly as downloaded, plus a `.meta` file holding the entity tag and a
//! content fingerprint. A cached shard is revalidated with a conditional GET
//! (`If-None-Match`); a changed object is downloaded again, and a cache file whose fingerprint
//! does not match (truncated, edited) is discarded and replaced.
//!
//! File names differ from the reference's `.jsonl`/`.modified` pair, so both can share a folder.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::store::backend::content_tag;
use crate::store::error::Error;
use crate::store::local::{remove_logged, write_atomically};

/// A cache folder.
#[derive(Debug, Clone)]
pub struct ShardCache {
    dir: PathBuf,
}

#[derive(Debug, Serialize, Deserialize)]
struct Meta {
    etag: String,
    fingerprint: String,
}

/// A cached shard.
#[derive(Debug)]
pub struct Cached {
    /// The entity tag it was downloaded with.
    pub etag: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
}

impl ShardCache {
    /// A cache in `dir` (created on first store).
    #[must_use]
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    /// The data and meta files of `key`: its last segment in the cache folder (`None` for a
    /// key that is not a safe store key, which is never cached).
    fn paths(&self, key: &str) -> Option<(PathBuf, PathBuf)> {
        let name = crate::names::store_key(key).ok()?.rsplit('/').next()?;
        Some((self.dir.join(name), self.dir.join(format!("{name}.meta"))))
    }

    /// The cached copy of `key`, if present and intact; a corrupt copy is removed.
    #[must_use]
    pub fn lookup(&self, key: &str) -> Option<Cached> {
        let (data, meta) = self.paths(key)?;
        let meta_bytes = crate::fsio::read_regular(&meta, crate::fsio::STATE_MAX_BYTES).ok()?;
        let bytes = crate::fsio::read_regular(&data, crate::fsio::SHARD_MAX_BYTES).ok();
        let parsed: Option<Meta> = serde_json::from_slice(&meta_bytes).ok();
        match (parsed, bytes) {
            (Some(meta), Some(bytes)) if content_tag(&bytes) == meta.fingerprint => Some(Cached { etag: meta.etag, bytes }),
            _ => {
                tracing::warn!(key, cache = %data.display(), "discarding corrupt cache entry");
                remove_logged(&data, "cache file");
                remove_logged(&meta, "cache file");
                None
            }
        }
    }

    /// Stores `bytes` downloaded with `etag`.
    ///
    /// # Errors
    /// The cache folder cannot be written.
    pub fn store(&self, key: &str, etag: &str, bytes: &[u8]) -> Result<(), Error> {
        let Some((data, meta)) = self.paths(key) else { return Ok(()) };
        // Data first, then meta: a crash in between leaves a fingerprint mismatch, which the
        // next lookup detects.
        write_atomically(&data, bytes)?;
        let meta_bytes =
            serde_json::to_vec(&Meta { etag: etag.to_owned(), fingerprint: content_tag(bytes) }).expect("two strings serialise");
        write_atomically(&meta, &meta_bytes)
    }

    /// The folder.
    #[must_use]
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_round_trips_and_discards_corrupt_entries() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cache = ShardCache::new(dir.path().join("c"));
        assert!(cache.lookup("affine/results/000000020-a.json").is_none());
        cache.store("affine/results/000000020-a.json", "\"e1\"", b"[1,2]").expect("store");
        let hit = cache.lookup("affine/results/000000020-a.json").expect("hit");
        assert_eq!((hit.etag.as_str(), hit.bytes.as_slice()), ("\"e1\"", b"[1,2]".as_slice()));
        std::fs::write(dir.path().join("c/000000020-a.json"), b"[1,").expect("corrupt");
        assert!(cache.lookup("affine/results/000000020-a.json").is_none());
        assert!(!dir.path().join("c/000000020-a.json").exists());
    }
}
