//! The replay directory: a metagraph snapshot plus result shards, so any scoring pass can be
//! reproduced offline.
//!
//! ```text
//! DIR/metagraph.json          {netuid, block, tail, hotkeys, queryable, first_commit_block, burn}
//! DIR/results/WWWWWWWWW-VALIDATOR.json   shards exactly as stored in R2
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::scoring::ChainView;
use crate::store::Error;
use crate::store::keys::{scored_windows, window_of_shard_name};

/// File name of the metagraph snapshot.
pub const METAGRAPH_FILE: &str = "metagraph.json";
/// Folder of the result shards.
pub const RESULTS_DIR: &str = "results";

fn default_tail() -> u64 {
    40_000
}

/// `metagraph.json`: the chain's view of the subnet at the scored block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetagraphSnapshot {
    /// Subnet id.
    #[serde(default)]
    pub netuid: Option<u16>,
    /// The block scored (the current block when the snapshot was taken).
    pub block: u64,
    /// Blocks of history scored.
    #[serde(default = "default_tail")]
    pub tail: u64,
    /// Hotkey of each uid (index = uid).
    pub hotkeys: Vec<String>,
    /// Hotkeys that passed the miner validity checks.
    #[serde(default)]
    pub queryable: Vec<String>,
    /// Block of each hotkey's first revealed commitment.
    #[serde(default)]
    pub first_commit_block: BTreeMap<String, i64>,
    /// Share of weight burned to uid 0.
    #[serde(default)]
    pub burn: f64,
}

impl MetagraphSnapshot {
    /// Reads and checks `DIR/metagraph.json`.
    ///
    /// # Errors
    /// A missing, unreadable, malformed or inconsistent file.
    pub fn load(dir: &Path) -> Result<Self, Error> {
        if !dir.is_dir() {
            return Err(Error::ReplayDirMissing { dir: dir.to_owned() });
        }
        match Self::load_file(&dir.join(METAGRAPH_FILE)) {
            Err(Error::MetagraphFileMissing { .. }) => Err(Error::MetagraphMissing { dir: dir.to_owned() }),
            other => other,
        }
    }

    /// Reads and checks a snapshot file in the `metagraph.json` format.
    ///
    /// # Errors
    /// A missing, unreadable, malformed or inconsistent file.
    pub fn load_file(path: &Path) -> Result<Self, Error> {
        let path = path.to_owned();
        let bytes = crate::fsio::read_regular(&path, crate::fsio::METAGRAPH_MAX_BYTES).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                Error::MetagraphFileMissing { path: path.clone() }
            } else {
                Error::MetagraphRead { path: path.clone(), source }
            }
        })?;
        let snapshot: Self = serde_json::from_slice(&bytes).map_err(|source| Error::MetagraphMalformed { path: path.clone(), source })?;
        snapshot.validate().map_err(|reason| Error::MetagraphInvalid { path, reason })?;
        Ok(snapshot)
    }

    fn validate(&self) -> Result<(), String> {
        if self.hotkeys.is_empty() {
            return Err("hotkeys is empty (uid 0 must exist)".to_owned());
        }
        let mut seen = HashSet::with_capacity(self.hotkeys.len());
        for (uid, hotkey) in self.hotkeys.iter().enumerate() {
            if !seen.insert(hotkey.as_str()) {
                return Err(format!("hotkey of uid {uid} appears twice"));
            }
        }
        if !(0.0..=1.0).contains(&self.burn) {
            return Err(format!("burn {} is outside [0, 1]", self.burn));
        }
        Ok(())
    }

    /// The chain view the scorer needs.
    #[must_use]
    pub fn chain_view(&self) -> ChainView {
        let queryable: HashSet<&str> = self.queryable.iter().map(String::as_str).collect();
        ChainView {
            hotkeys: self.hotkeys.clone(),
            queryable: self.hotkeys.iter().map(|h| queryable.contains(h.as_str())).collect(),
            first_commit_block: self.hotkeys.iter().map(|h| self.first_commit_block.get(h).copied()).collect(),
            burn: self.burn,
        }
    }
}

/// The shards of a replay directory that fall in the scored windows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ShardListing {
    /// Shards in the scored windows, in ascending key (file name) order.
    pub in_window: Vec<PathBuf>,
    /// Shards outside the scored windows (ignored).
    pub outside_window: usize,
    /// Files whose names are not shard names (ignored).
    pub unrecognised: usize,
}

/// Lists `DIR/results/*.json` shards whose window lies in `[window(block - tail), window(block)]`.
///
/// # Errors
/// [`Error::ResultsMissing`] without a `results/` folder (scoring nothing would give all
/// weight to uid 0), or the folder cannot be listed. An empty folder is an empty listing.
pub fn list_shards(dir: &Path, block: u64, tail: u64) -> Result<ShardListing, Error> {
    let results = dir.join(RESULTS_DIR);
    let (first, last) = scored_windows(block, tail);
    let mut listing = ShardListing::default();
    let entries = match std::fs::read_dir(&results) {
        Ok(entries) => entries,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => return Err(Error::ResultsMissing { dir: dir.to_owned() }),
        Err(source) => return Err(Error::ListShards { dir: results, source }),
    };
    let mut named: Vec<(String, PathBuf)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::ListShards { dir: results.clone(), source })?;
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()).map(str::to_owned) else {
            listing.unrecognised += 1;
            continue;
        };
        let window = Path::new(&name).extension().is_some_and(|e| e == "json").then(|| window_of_shard_name(&name)).flatten();
        match window {
            Some(window) if (first..=last).contains(&window) => named.push((name, path)),
            Some(_) => listing.outside_window += 1,
            None => listing.unrecognised += 1,
        }
    }
    named.sort_by(|a, b| a.0.cmp(&b.0));
    listing.in_window = named.into_iter().map(|(_, path)| path).collect();
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).expect("write");
    }

    #[test]
    fn metagraph_errors_name_the_problem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = MetagraphSnapshot::load(dir.path()).expect_err("missing");
        assert!(matches!(missing, Error::MetagraphMissing { .. }) && missing.is_user_input());
        write(dir.path(), METAGRAPH_FILE, "{not json");
        assert!(matches!(MetagraphSnapshot::load(dir.path()), Err(Error::MetagraphMalformed { .. })));
        write(dir.path(), METAGRAPH_FILE, r#"{"block": 5, "hotkeys": ["a", "a"]}"#);
        let dup = MetagraphSnapshot::load(dir.path()).expect_err("duplicate");
        assert!(dup.to_string().contains("appears twice"), "{dup}");
        write(dir.path(), METAGRAPH_FILE, r#"{"block": 5, "hotkeys": ["a"], "burn": 2}"#);
        assert!(MetagraphSnapshot::load(dir.path()).is_err());
        assert!(matches!(MetagraphSnapshot::load(&dir.path().join("nope")), Err(Error::ReplayDirMissing { .. })));
    }

    #[test]
    fn list_shards_keeps_the_tail_window_in_key_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let results = dir.path().join(RESULTS_DIR);
        std::fs::create_dir(&results).expect("mkdir");
        for name in
            ["000001000-b.json", "000000980-a.json", "000001000-a.json", "000000960-a.json", "000001020-a.json", "notes.txt", "x-a.json"]
        {
            write(&results, name, "[]");
        }
        let listing = list_shards(dir.path(), 1_010, 30).expect("list");
        let names: Vec<String> =
            listing.in_window.iter().map(|p| p.file_name().and_then(|n| n.to_str()).unwrap_or("").to_owned()).collect();
        assert_eq!(names, vec!["000000980-a.json", "000001000-a.json", "000001000-b.json"]);
        assert_eq!((listing.outside_window, listing.unrecognised), (2, 2));
    }
}
