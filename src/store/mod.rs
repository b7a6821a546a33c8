//! Result storage: the object-key layout, window shards, the index, summaries and the replay
//! directory format, over three backends behind one interface.
//!
//! - [`s3`]: S3/R2 through `aws-sdk-s3` (the only module that imports it);
//! - [`http`]: the public read-only bucket over plain HTTP;
//! - [`local`]: a local folder with the same layout (the default without R2 credentials).
//!
//! Writes to shared objects (shards, `affine/index.json`, `latest.json`) are compare-and-swap
//! loops ([`writer`]), so concurrent writers never lose each other's updates. Reads of whole
//! windows stream into the scorer ([`fetch`], [`dataset`]), through the compact per-shard
//! cache ([`compact`]) when one is configured.

pub mod backend;
pub mod cache;
pub mod compact;
pub mod config;
pub mod dataset;
pub mod error;
pub mod fetch;
pub mod http;
pub mod keys;
pub mod local;
pub mod replay;
pub mod retry;
pub mod s3;
pub mod summary;
pub mod writer;

pub use backend::{Fetched, Object, Precondition, PutOutcome};
pub use config::{BackendConfig, S3Config, StoreConfig};
pub use error::Error;

use crate::store::http::PublicBackend;
use crate::store::local::LocalBackend;
use crate::store::retry::{RetryPolicy, retry};
use crate::store::s3::S3Backend;

/// One backend.
#[derive(Debug, Clone)]
pub enum Backend {
    /// S3/R2.
    S3(S3Backend),
    /// Public HTTP (read-only).
    Public(PublicBackend),
    /// Local folder.
    Local(LocalBackend),
}

impl Backend {
    /// Builds the backend (no request is made).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(config: &BackendConfig, timeout: std::time::Duration) -> Result<Self, Error> {
        Ok(match config {
            BackendConfig::S3(s3) => Self::S3(S3Backend::new(s3, timeout)),
            BackendConfig::Public(base) => Self::Public(PublicBackend::new(base, timeout)?),
            BackendConfig::Local(dir) => Self::Local(LocalBackend::new(dir.clone())),
        })
    }

    /// The backend as named in messages (never credentials).
    #[must_use]
    pub fn label(&self) -> &str {
        match self {
            Self::S3(b) => b.label(),
            Self::Public(b) => b.label(),
            Self::Local(b) => b.label(),
        }
    }

    /// One read attempt (no retries).
    ///
    /// # Errors
    /// See the backends.
    pub async fn get_once(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, Error> {
        match self {
            Self::S3(b) => b.get(key, if_none_match).await,
            Self::Public(b) => b.get(key, if_none_match).await,
            Self::Local(b) => b.get(key, if_none_match).await,
        }
    }

    /// A read, retried on transient failures.
    ///
    /// # Errors
    /// The last failure once retries are used up, or a permanent one.
    pub async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, Error> {
        retry(RetryPolicy::READ, self.deadline(), key, || self.get_once(key, if_none_match)).await
    }

    /// The total time of one request, retries included (`None` for the local folder).
    #[must_use]
    pub fn deadline(&self) -> Option<std::time::Duration> {
        match self {
            Self::S3(b) => Some(b.deadline()),
            Self::Public(b) => Some(b.deadline()),
            Self::Local(_) => None,
        }
    }

    /// A write, retried on transient failures (a rejected precondition is an answer, not a
    /// failure, and is returned as [`PutOutcome::Conflict`]).
    ///
    /// # Errors
    /// The last failure once retries are used up, or a permanent one.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, precondition: Precondition<'_>) -> Result<PutOutcome, Error> {
        retry(RetryPolicy::READ, self.deadline(), key, || self.put_once(key, bytes.clone(), precondition)).await
    }

    /// One write attempt (no retries).
    ///
    /// # Errors
    /// A read-only backend, or see the backends.
    pub async fn put_once(&self, key: &str, bytes: Vec<u8>, precondition: Precondition<'_>) -> Result<PutOutcome, Error> {
        match self {
            Self::S3(b) => b.put(key, bytes, precondition).await,
            Self::Local(b) => b.put(key, bytes, precondition).await,
            Self::Public(b) => Err(Error::ReadOnly { backend: b.label().to_owned() }),
        }
    }
}

/// The result store: a read backend, an optional write backend, the public fallback for
/// sparse private indexes, and the shard cache.
#[derive(Debug, Clone)]
pub struct Store {
    read: Backend,
    write: Option<Backend>,
    public_fallback: Option<Backend>,
    config: StoreConfig,
}

impl Store {
    /// Builds the store (no request is made).
    ///
    /// # Errors
    /// A backend cannot be built.
    pub fn new(config: StoreConfig) -> Result<Self, Error> {
        let timeout = config.request_timeout;
        let read = Backend::new(&config.read, timeout)?;
        let write = config.write.as_ref().map(|c| Backend::new(c, timeout)).transpose()?;
        let public_fallback = match (&config.read, &config.public_fallback) {
            (BackendConfig::S3(_), Some(base)) => Some(Backend::Public(PublicBackend::new(base, timeout)?)),
            _ => None,
        };
        Ok(Self { read, write, public_fallback, config })
    }

    /// The configuration.
    #[must_use]
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// The backend reads go to.
    #[must_use]
    pub fn reader(&self) -> &Backend {
        &self.read
    }

    /// The public fallback, when configured for an S3 reader.
    #[must_use]
    pub fn public_fallback(&self) -> Option<&Backend> {
        self.public_fallback.as_ref()
    }

    /// The backend writes go to.
    ///
    /// # Errors
    /// [`Error::ReadOnly`] when the store has no write backend.
    pub fn writer(&self) -> Result<&Backend, Error> {
        self.write.as_ref().ok_or_else(|| Error::ReadOnly { backend: self.read.label().to_owned() })
    }
}
