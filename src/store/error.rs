//! Errors of the result store.

use std::path::PathBuf;

/// Failures reading or writing results.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The replay directory has no `metagraph.json`.
    #[error("no metagraph.json in replay directory {}", dir.display())]
    MetagraphMissing {
        /// The replay directory.
        dir: PathBuf,
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
    /// The shard folder could not be listed.
    #[error("failed to list shards in {}", dir.display())]
    ListShards {
        /// The folder.
        dir: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Whether the error is caused by what the user supplied (exit code 2) rather than by a
    /// failure while running (exit code 1).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::MetagraphMissing { .. } | Self::MetagraphMalformed { .. } | Self::MetagraphInvalid { .. } | Self::ReplayDirMissing { .. }
        )
    }
}
