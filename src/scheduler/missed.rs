//! Task ids a miner missed (paused, briefly out of the table, or an evaluation our side could
//! not complete), kept per (miner, environment) and re-offered, a few per sampling event, once
//! the miner is available again: the reference burned them until the cycle came round a day
//! later. Bounded: the most recent ids are kept.

use std::collections::{BTreeMap, VecDeque};

use serde::{Deserialize, Serialize};

/// Ids kept per (miner, env).
pub const KEPT_PER_MINER_ENV: usize = 64;

/// The missed ids of every miner.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MissedBook {
    /// `"{miner key}\n{env}"` -> ids, oldest first.
    entries: BTreeMap<String, VecDeque<u64>>,
}

fn entry_key(miner: &str, env: &str) -> String {
    format!("{miner}\n{env}")
}

impl MissedBook {
    /// Records that `miner` missed `task_id` of `env` (once).
    pub fn add(&mut self, miner: &str, env: &str, task_id: u64) {
        let ids = self.entries.entry(entry_key(miner, env)).or_default();
        if !ids.contains(&task_id) {
            ids.push_back(task_id);
            while ids.len() > KEPT_PER_MINER_ENV {
                ids.pop_front();
            }
        }
    }

    /// Takes up to `count` of `miner`'s missed ids of `env`, oldest first, skipping `current`.
    pub fn take(&mut self, miner: &str, env: &str, count: usize, current: u64) -> Vec<u64> {
        let key = entry_key(miner, env);
        let Some(ids) = self.entries.get_mut(&key) else { return Vec::new() };
        ids.retain(|id| *id != current);
        let taken: Vec<u64> = ids.drain(..count.min(ids.len())).collect();
        if ids.is_empty() {
            self.entries.remove(&key);
        }
        taken
    }

    /// Forgets miners not in `keep`.
    pub fn retain(&mut self, keep: &std::collections::BTreeSet<String>) {
        self.entries.retain(|key, _| key.split_once('\n').is_some_and(|(miner, _)| keep.contains(miner)));
    }

    /// Ids held in all.
    #[must_use]
    pub fn len(&self) -> usize {
        self.entries.values().map(VecDeque::len).sum()
    }

    /// Whether no id is held.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missed_ids_are_bounded_deduplicated_and_taken_oldest_first() {
        let mut book = MissedBook::default();
        for id in 0..100 {
            book.add("m", "affine:sat", id);
        }
        book.add("m", "affine:sat", 99);
        assert_eq!(book.len(), KEPT_PER_MINER_ENV);
        assert_eq!(book.take("m", "affine:sat", 2, 36), vec![37, 38], "36 is the current id");
        assert_eq!(book.take("m", "affine:abd", 2, 0), Vec::<u64>::new());
        book.retain(&std::collections::BTreeSet::new());
        assert!(book.is_empty());
    }
}
