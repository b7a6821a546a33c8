//! The ABD/DED dataset in the public R2 layout (spec §3.3), read by task id.
//!
//! `affine/datasets/<name>/index.json` lists the files (`key`, or `filename` under the dataset
//! folder, with an optional `row_count`) and `total_rows`; each file is a JSON array of rows.
//! Task id `t` maps to a row by sorting the file keys, taking cumulative row counts and
//! indexing into the file whose range holds `t`. Counts come from the cached file when it is
//! there, else from `row_count`, else the file is fetched and counted: the reference used 0
//! for an uncounted file that was not downloaded yet, which shifted the mapping while its
//! background download ran (fixed upstream after v3); `af` always counts, so the mapping is
//! stable. Files are cached on disk (written atomically) and in memory.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::Mutex;

/// The dataset the affine image uses.
pub const DEFAULT_DATASET: &str = "satpalsr/rl-python";
/// The public R2 bucket the reference reads it from (`R2_PUBLIC_BASE`).
pub const DEFAULT_PUBLIC_BASE: &str = "https://pub-bf429ea7a5694b99adaf3d444cbbe64d.r2.dev";

/// Where dataset objects come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatasetSource {
    /// A public bucket URL; object `k` is at `<base>/<k>`.
    Http(String),
    /// A local directory laid out like the bucket; object `k` is `<dir>/<k>`.
    Dir(PathBuf),
}

/// Failures reading the dataset.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An object could not be fetched.
    #[error("failed to fetch dataset object {key}: {reason}")]
    Fetch {
        /// Object key.
        key: String,
        /// Why.
        reason: String,
    },
    /// An object was not the JSON it should be.
    #[error("dataset object {key} is malformed: {reason}")]
    Malformed {
        /// Object key.
        key: String,
        /// Why.
        reason: String,
    },
    /// The task id is outside the dataset.
    #[error("task_id {task_id} out of range [0, {total}). Dataset '{name}' contains {total} samples.")]
    OutOfRange {
        /// Requested id.
        task_id: i64,
        /// Rows in the dataset.
        total: u64,
        /// Dataset name.
        name: String,
    },
}

#[derive(Debug, Clone)]
struct FileEntry {
    key: String,
    row_count: Option<u64>,
}

#[derive(Debug)]
struct Index {
    total_rows: u64,
    /// Sorted by key.
    files: Vec<FileEntry>,
}

/// A dataset read by task id.
#[derive(Debug)]
pub struct Dataset {
    name: String,
    source: DatasetSource,
    cache_dir: Option<PathBuf>,
    http: reqwest::Client,
    index: tokio::sync::OnceCell<Index>,
    files: Mutex<HashMap<String, Arc<Vec<Value>>>>,
}

impl Dataset {
    /// A dataset `name` from `source`, caching downloaded files under `cache_dir`.
    #[must_use]
    pub fn new(name: &str, source: DatasetSource, cache_dir: Option<PathBuf>) -> Self {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .build()
            .unwrap_or_default();
        let cache_dir = cache_dir.map(|dir| dir.join(name.replace('/', "_")));
        Self { name: name.to_owned(), source, cache_dir, http, index: tokio::sync::OnceCell::new(), files: Mutex::new(HashMap::new()) }
    }

    /// The dataset name.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    fn folder(&self) -> String {
        format!("affine/datasets/{}/", self.name)
    }

    async fn fetch(&self, key: &str) -> Result<Vec<u8>, Error> {
        let fail = |reason: String| Error::Fetch { key: key.to_owned(), reason };
        crate::names::store_key(key).map_err(|e| fail(e.to_string()))?;
        match &self.source {
            DatasetSource::Dir(dir) => {
                crate::fsio::read_regular_async(&dir.join(key), crate::fsio::DATASET_FILE_MAX_BYTES).await.map_err(|e| fail(e.to_string()))
            }
            DatasetSource::Http(base) => {
                let url = format!("{}/{key}", base.trim_end_matches('/'));
                let response = self.http.get(&url).send().await.map_err(|e| fail(e.without_url().to_string()))?;
                let status = response.status();
                if !status.is_success() {
                    return Err(fail(format!("HTTP {}", status.as_u16())));
                }
                crate::http_body::read(response, crate::http_body::BodyKind::DatasetFile)
                    .await
                    .map_err(|e| fail(crate::error::one_line(&e)))
            }
        }
    }

    async fn index(&self) -> Result<&Index, Error> {
        self.index
            .get_or_try_init(|| async {
                let key = format!("{}index.json", self.folder());
                let bytes = self.fetch(&key).await?;
                let malformed = |reason: &str| Error::Malformed { key: key.clone(), reason: reason.to_owned() };
                let value: Value = serde_json::from_slice(&bytes).map_err(|e| malformed(&e.to_string()))?;
                let total_rows = value.get("total_rows").and_then(Value::as_u64).unwrap_or(0);
                let entries = value.get("files").and_then(Value::as_array).ok_or_else(|| malformed("no files array"))?;
                let mut files: Vec<FileEntry> = entries
                    .iter()
                    .filter_map(|entry| {
                        let key = match (entry.get("key").and_then(Value::as_str), entry.get("filename").and_then(Value::as_str)) {
                            (Some(key), _) if !key.is_empty() => key.to_owned(),
                            (_, Some(name)) => format!("{}{name}", self.folder()),
                            _ => return None,
                        };
                        Some(FileEntry { key, row_count: entry.get("row_count").and_then(Value::as_u64) })
                    })
                    .collect();
                files.sort_by(|a, b| a.key.cmp(&b.key));
                Ok(Index { total_rows, files })
            })
            .await
    }

    /// Where `key` is cached: its last segment in the cache folder (`None` without a cache, or
    /// for a key that is not a safe store key).
    fn cache_path(&self, key: &str) -> Option<PathBuf> {
        let file_name = crate::names::store_key(key).ok()?.rsplit('/').next()?;
        self.cache_dir.as_ref().map(|dir| dir.join(file_name))
    }

    /// The rows of one file, from memory, the disk cache, or the source.
    async fn rows(&self, key: &str) -> Result<Arc<Vec<Value>>, Error> {
        if let Some(rows) = self.files.lock().await.get(key) {
            return Ok(Arc::clone(rows));
        }
        let cached = match self.cache_path(key) {
            Some(path) => crate::fsio::read_regular_async(&path, crate::fsio::DATASET_FILE_MAX_BYTES).await.ok(),
            None => None,
        };
        let from_cache = cached.is_some();
        let bytes = match cached {
            Some(bytes) => bytes,
            None => self.fetch(key).await?,
        };
        let rows: Vec<Value> =
            serde_json::from_slice(&bytes).map_err(|e| Error::Malformed { key: key.to_owned(), reason: e.to_string() })?;
        if !from_cache
            && let Some(path) = self.cache_path(key)
            && let Err(error) = write_atomically(&path, &bytes).await
        {
            tracing::warn!(%error, path = %path.display(), "failed to cache dataset file");
        }
        let rows = Arc::new(rows);
        self.files.lock().await.insert(key.to_owned(), Arc::clone(&rows));
        Ok(rows)
    }

    async fn count(&self, entry: &FileEntry) -> Result<u64, Error> {
        if let Some(rows) = self.files.lock().await.get(&entry.key) {
            return Ok(rows.len() as u64);
        }
        match entry.row_count {
            Some(count) => Ok(count),
            None => Ok(self.rows(&entry.key).await?.len() as u64),
        }
    }

    /// Rows in the dataset according to its index.
    ///
    /// # Errors
    /// The index cannot be fetched or parsed.
    pub async fn total_rows(&self) -> Result<u64, Error> {
        Ok(self.index().await?.total_rows)
    }

    /// The row of `task_id`.
    ///
    /// # Errors
    /// The id is out of range, or a needed object cannot be fetched or parsed.
    pub async fn get_by_id(&self, task_id: i64) -> Result<Value, Error> {
        let index = self.index().await?;
        let out_of_range = || Error::OutOfRange { task_id, total: index.total_rows, name: self.name.clone() };
        let wanted = u64::try_from(task_id).map_err(|_| out_of_range())?;
        if wanted >= index.total_rows {
            return Err(out_of_range());
        }
        let mut offset = 0u64;
        for entry in &index.files {
            let count = self.count(entry).await?;
            if wanted < offset + count {
                let rows = self.rows(&entry.key).await?;
                let local = usize::try_from(wanted - offset).map_err(|_| out_of_range())?;
                if rows.len() as u64 == count {
                    return rows.get(local).cloned().ok_or_else(out_of_range);
                }
                // The index's row_count was wrong: recount with the real file from here on.
                return Box::pin(self.get_by_id(task_id)).await;
            }
            offset += count;
        }
        Err(out_of_range())
    }
}

async fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    // Unique per call: concurrent evaluations may cache the same file at once.
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    if let Some(parent) = path.parent() {
        tokio::fs::create_dir_all(parent).await?;
    }
    let unique = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temporary = path.with_extension(format!("tmp{}-{unique}", std::process::id()));
    tokio::fs::write(&temporary, bytes).await?;
    tokio::fs::rename(&temporary, path).await
}
