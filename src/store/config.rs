//! Which backend the store uses, resolved by `settings` from flags and the original's
//! environment variables (`R2_*`, `AFFINE_R2_PUBLIC`, `AFFINE_CACHE_DIR`).

use std::path::PathBuf;
use std::time::Duration;

use crate::secret::Secret;

/// The public r2.dev base URL of the original (serves the bucket root).
pub const DEFAULT_PUBLIC_URL: &str = "https://pub-bf429ea7a5694b99adaf3d444cbbe64d.r2.dev";
/// The Cloudflare account id the original uses when `R2_BUCKET_ID` is unset.
pub const DEFAULT_R2_ACCOUNT: &str = "00523074f51300584834607253cae0fa";
/// The bucket name the original uses when `R2_FOLDER` is unset.
pub const DEFAULT_R2_BUCKET: &str = "affine";
/// Shard downloads in flight at once.
pub const DEFAULT_DOWNLOAD_CONCURRENCY: usize = 8;
/// Total time one store request may take, retries and `Retry-After` waits included.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(300);
/// Below this many index keys in the private bucket, readers fall back to the public bucket
/// (as the original does).
pub const PUBLIC_FALLBACK_MIN_KEYS: usize = 50;

/// S3/R2 connection settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Config {
    /// Endpoint URL: `https://{account}.r2.cloudflarestorage.com` or an explicit one.
    pub endpoint: String,
    /// Whether the endpoint was given explicitly (then path-style addressing is used).
    pub explicit_endpoint: bool,
    /// Bucket name (`R2_FOLDER`).
    pub bucket: String,
    /// Access key id.
    pub access_key_id: String,
    /// Secret access key (redacted in `Debug`).
    pub secret_access_key: Secret,
}

/// Where reads and writes go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BackendConfig {
    /// S3/R2 with credentials.
    S3(S3Config),
    /// Read-only public HTTP at this base URL.
    Public(String),
    /// A local directory with the same key layout.
    Local(PathBuf),
}

/// The resolved store configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreConfig {
    /// Backend for reads.
    pub read: BackendConfig,
    /// Backend for writes (`None`: read-only).
    pub write: Option<BackendConfig>,
    /// Public base URL to read from when the private index has too few keys (`None`: never).
    pub public_fallback: Option<String>,
    /// Shard cache folder (`None`: no cache).
    pub cache_dir: Option<PathBuf>,
    /// Shard downloads in flight at once.
    pub download_concurrency: usize,
    /// Total time one request may take, retries and `Retry-After` waits included.
    pub request_timeout: Duration,
}

impl StoreConfig {
    /// A configuration that reads and writes one local directory, without cache.
    #[must_use]
    pub fn local(dir: PathBuf) -> Self {
        Self {
            read: BackendConfig::Local(dir.clone()),
            write: Some(BackendConfig::Local(dir)),
            public_fallback: None,
            cache_dir: None,
            download_concurrency: DEFAULT_DOWNLOAD_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// A configuration that reads and writes one S3 bucket.
    #[must_use]
    pub fn s3(config: S3Config) -> Self {
        Self {
            read: BackendConfig::S3(config.clone()),
            write: Some(BackendConfig::S3(config)),
            public_fallback: None,
            cache_dir: None,
            download_concurrency: DEFAULT_DOWNLOAD_CONCURRENCY,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }
}
