//! The chain state `af devnet` saves on shutdown and resumes from: storage, nonces and what
//! is waiting to be revealed, as one versioned JSON document written atomically. Block
//! hashes follow from block numbers and are not stored; per-block events and extrinsics are
//! not kept across a restart.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::chain::{Chain, PendingReveal, PendingWeights};

/// The `format` field of a snapshot.
pub const FORMAT: &str = "af-devnet-chain";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;
/// A snapshot larger than this is refused rather than read (the devnet's own state is a few
/// hundred kilobytes).
pub const MAX_BYTES: u64 = 512 * 1024 * 1024;

/// The saved chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainSnapshot {
    /// Always [`FORMAT`].
    pub format: String,
    /// Always [`VERSION`].
    pub version: u32,
    /// The best block when saved.
    pub best: u64,
    /// Storage, hex key to hex value.
    pub storage: BTreeMap<String, String>,
    /// Next nonce per account (hex public key).
    pub nonces: BTreeMap<String, u64>,
    /// Timelocked commitment fields not yet revealed.
    pub pending_reveals: Vec<PendingReveal>,
    /// Timelocked weight commits not yet revealed.
    pub pending_weights: Vec<PendingWeights>,
    /// Commitment space used: `(netuid, hotkey hex, epoch, bytes)`.
    pub used_space: Vec<(u16, String, u64, u64)>,
}

/// Why a snapshot could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// Reading or writing the file failed.
    #[error("failed to {action} {path}: {source}")]
    Io {
        /// `read` or `write`.
        action: &'static str,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot this build can use.
    #[error("saved chain state {path} is corrupt: {reason}")]
    Corrupt {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
    },
}

impl ChainSnapshot {
    /// Captures `chain`.
    #[must_use]
    pub fn capture(chain: &Chain) -> Self {
        Self {
            format: FORMAT.to_owned(),
            version: VERSION,
            best: chain.best(),
            storage: chain.storage.iter().map(|(k, v)| (hex::encode(k), hex::encode(v))).collect(),
            nonces: chain.nonces.iter().map(|(k, v)| (hex::encode(k), *v)).collect(),
            pending_reveals: chain.pending_reveals.clone(),
            pending_weights: chain.pending_weights.clone(),
            used_space: chain
                .used_space
                .iter()
                .map(|((netuid, hotkey), (epoch, used))| (*netuid, hex::encode(hotkey), *epoch, *used))
                .collect(),
        }
    }

    /// Puts this state into `chain` (whose best block becomes [`Self::best`]).
    ///
    /// # Errors
    /// Hex that does not decode.
    pub fn restore(&self, chain: &mut Chain) -> Result<(), String> {
        let bytes = |text: &str| hex::decode(text).map_err(|_| format!("{text:.16}... is not hex"));
        let account = |text: &str| bytes(text)?.try_into().map_err(|_| format!("{text:.16}... is not a 32-byte account"));
        chain.storage = self.storage.iter().map(|(k, v)| Ok((bytes(k)?, bytes(v)?))).collect::<Result<_, String>>()?;
        chain.nonces = self.nonces.iter().map(|(k, v)| Ok((account(k)?, *v))).collect::<Result<_, String>>()?;
        chain.pending_reveals.clone_from(&self.pending_reveals);
        chain.pending_weights.clone_from(&self.pending_weights);
        chain.used_space = self.used_space.iter().map(|(n, h, e, u)| Ok(((*n, account(h)?), (*e, *u)))).collect::<Result<_, String>>()?;
        chain.set_best(self.best);
        Ok(())
    }

    /// Writes the snapshot to `path` atomically (a temporary file beside it, then a rename).
    ///
    /// # Errors
    /// I/O failures.
    pub fn save(&self, path: &Path) -> Result<(), SnapshotError> {
        let io = |source| SnapshotError::Io { action: "write", path: path.display().to_string(), source };
        let bytes = serde_json::to_vec(self).map_err(|e| io(std::io::Error::other(e)))?;
        let temporary = path.with_extension("json.tmp");
        std::fs::write(&temporary, bytes).map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)
    }

    /// Reads a snapshot from `path`; `Ok(None)` when there is none.
    ///
    /// # Errors
    /// An unreadable file, one that is not a regular file or is too large, or contents that are
    /// not a snapshot of this version.
    pub fn load(path: &Path) -> Result<Option<Self>, SnapshotError> {
        let shown = path.display().to_string();
        let corrupt = |reason: String| SnapshotError::Corrupt { path: shown.clone(), reason };
        let metadata = match std::fs::symlink_metadata(path) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(SnapshotError::Io { action: "read", path: shown, source }),
        };
        if !metadata.is_file() {
            return Err(corrupt("not a regular file".to_owned()));
        }
        if metadata.len() > MAX_BYTES {
            return Err(corrupt(format!("{} bytes is more than the {MAX_BYTES} a snapshot may have", metadata.len())));
        }
        let bytes = std::fs::read(path).map_err(|source| SnapshotError::Io { action: "read", path: shown.clone(), source })?;
        let snapshot: Self = serde_json::from_slice(&bytes).map_err(|e| corrupt(format!("not a snapshot ({e})")))?;
        if snapshot.format != FORMAT || snapshot.version != VERSION {
            return Err(corrupt(format!("format {} v{}, this build reads {FORMAT} v{VERSION}", snapshot.format, snapshot.version)));
        }
        Ok(Some(snapshot))
    }
}
