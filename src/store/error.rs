//! Errors of the result store.

use std::path::PathBuf;
use std::time::Duration;

/// A boxed cause from a client library.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a backend reported, for retries and exit codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// 429 or 503 "slow down": retry after the given delay, or with backoff.
    Throttled {
        /// The server's `Retry-After`, when it sent one.
        retry_after: Option<Duration>,
    },
    /// A 5xx, a refused or reset connection, a timeout or a truncated body: retry.
    Unavailable,
    /// Credentials rejected (401/403).
    Denied,
    /// Anything else (a 4xx, a malformed request): retrying will not help.
    Other,
}

/// Failures reading or writing results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The replay directory has no `metagraph.json`.
    #[error("no metagraph.json in replay directory {}", dir.display())]
    MetagraphMissing {
        /// The replay directory.
        dir: PathBuf,
    },
    /// A metagraph snapshot file does not exist.
    #[error("metagraph snapshot {} does not exist", path.display())]
    MetagraphFileMissing {
        /// The path given.
        path: PathBuf,
    },
    /// `metagraph.json` could not be read.
    #[error("failed to read {}", path.display())]
    MetagraphRead {
        /// Its path.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// `metagraph.json` is not valid JSON of the expected shape.
    #[error("malformed {}", path.display())]
    MetagraphMalformed {
        /// Its path.
        path: PathBuf,
        /// What was wrong.
        #[source]
        source: serde_json::Error,
    },
    /// `metagraph.json` parsed but its content is inconsistent.
    #[error("invalid {}: {reason}", path.display())]
    MetagraphInvalid {
        /// Its path.
        path: PathBuf,
        /// What is inconsistent.
        reason: String,
    },
    /// The replay directory does not exist or is not a directory.
    #[error("replay directory {} does not exist", dir.display())]
    ReplayDirMissing {
        /// The path given.
        dir: PathBuf,
    },
    /// The replay directory has no `results/` folder.
    #[error("no results/ folder in replay directory {}", dir.display())]
    ResultsMissing {
        /// The replay directory.
        dir: PathBuf,
    },
    /// The local store folder to read from does not exist.
    #[error("store folder {} does not exist", path.display())]
    FolderMissing {
        /// The folder.
        path: PathBuf,
    },
    /// The store has no index of its shards (a wrong folder, bucket or endpoint).
    #[error("{backend} has no {key}: no results can be found there")]
    IndexMissing {
        /// The index key.
        key: String,
        /// The backend.
        backend: String,
    },
    /// An operation ran out of its total time, retries and `Retry-After` waits included.
    #[error("gave up on {key} after the {seconds} s store deadline (retries and Retry-After waits included)")]
    Deadline {
        /// The object key.
        key: String,
        /// The deadline.
        seconds: u64,
        /// The last failure, when there was one.
        #[source]
        source: Option<Box<Error>>,
    },
    /// The shard folder could not be listed.
    #[error("failed to list shards in {}", dir.display())]
    ListShards {
        /// The folder.
        dir: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A backend request failed.
    #[error("failed to {op} {key} on {backend}")]
    Backend {
        /// The operation (`get`, `put`, `head`).
        op: &'static str,
        /// The object key.
        key: String,
        /// The backend, with its endpoint (never credentials).
        backend: String,
        /// How the failure is classified.
        kind: FailureKind,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// A compare-and-swap update kept losing to other writers.
    #[error("gave up updating {key} after {attempts} conflicting attempts")]
    Contended {
        /// The object key.
        key: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A write was asked of a read-only store.
    #[error("the store is read-only ({backend})")]
    ReadOnly {
        /// The read backend.
        backend: String,
    },
    /// An object the operation needs does not exist.
    #[error("{key} does not exist on {backend}")]
    NotFound {
        /// The object key.
        key: String,
        /// The backend.
        backend: String,
    },
    /// A stored object is not the JSON the layout prescribes; it is left untouched.
    #[error("{key} is not valid: {reason}")]
    Malformed {
        /// The object key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The store could not be set up (bad endpoint, unusable folder).
    #[error("failed to set up the store: {reason}")]
    Setup {
        /// What is wrong.
        reason: String,
        /// The cause.
        #[source]
        source: Option<BoxError>,
    },
    /// A local file (store folder, cache, destination) could not be written or read.
    #[error("failed to access {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether retrying the same request may succeed (throttling, 5xx, connection trouble).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Backend { kind: FailureKind::Throttled { .. } | FailureKind::Unavailable, .. })
    }

    /// The delay the server asked for, if any.
    #[must_use]
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Backend { kind: FailureKind::Throttled { retry_after }, .. } => *retry_after,
            _ => None,
        }
    }

    /// Whether the error is caused by what the user supplied (exit code 2) rather than by a
    /// failure while running (exit code 1).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::MetagraphMissing { .. }
                | Self::MetagraphFileMissing { .. }
                | Self::MetagraphMalformed { .. }
                | Self::MetagraphInvalid { .. }
                | Self::ReplayDirMissing { .. }
                | Self::ResultsMissing { .. }
                | Self::FolderMissing { .. }
                | Self::IndexMissing { .. }
                | Self::ReadOnly { .. }
                | Self::Setup { .. }
                | Self::Backend { kind: FailureKind::Denied, .. }
        ) || matches!(self, Self::MetagraphRead { source, .. } if crate::fsio::is_refused(source))
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::MetagraphMissing { .. } | Self::ReplayDirMissing { .. } | Self::ResultsMissing { .. } => {
                Some("a replay directory holds metagraph.json and results/*.json shards (see README, \"Replay directories\")")
            }
            Self::MetagraphFileMissing { .. } => {
                Some("pass a metagraph.json snapshot: {block, hotkeys, queryable, first_commit_block, burn}")
            }
            Self::ReadOnly { .. } => {
                Some("writes need R2_WRITE_ACCESS_KEY_ID and R2_WRITE_SECRET_ACCESS_KEY; AFFINE_R2_PUBLIC=1 alone is read-only")
            }
            Self::Backend { kind: FailureKind::Denied, .. } => {
                Some("check R2_WRITE_ACCESS_KEY_ID, R2_WRITE_SECRET_ACCESS_KEY and R2_FOLDER (the bucket)")
            }
            Self::Backend { kind: FailureKind::Unavailable | FailureKind::Throttled { .. }, .. } => {
                Some("the store did not answer after retries; check R2_ENDPOINT_URL / the network, then run again")
            }
            Self::NotFound { .. } => Some("no summary saved yet: compute one with `af weights -r --save`"),
            Self::FolderMissing { .. } | Self::IndexMissing { .. } => {
                Some("check AF_STORE_DIR / --store-dir, or R2_ENDPOINT_URL, R2_FOLDER and AFFINE_R2_PUBLIC: this store holds no results")
            }
            Self::Deadline { .. } => Some("the store kept failing or asked to wait too long; raise AF_STORE_TIMEOUT or try later"),
            Self::MetagraphMalformed { .. } | Self::MetagraphInvalid { .. } => {
                Some("metagraph.json needs block, hotkeys (index = uid), and optionally tail, queryable, first_commit_block, burn")
            }
            _ => None,
        }
    }
}
