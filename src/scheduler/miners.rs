//! The runner's miner table: refreshed by [`crate::miners::discover`] every
//! `AFFINE_MINER_REFRESH_INTERVAL`, published as an immutable snapshot the producers and
//! workers read (never mutated while anyone iterates it). A failed pass keeps the previous
//! table; a miner rejected only because a lookup failed (Hub or Chutes unreachable) keeps its
//! previous entry for that pass.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use crate::miners::{Discovery, Rejection, Verdict};

/// A miner the runner samples.
#[derive(Debug, Clone, PartialEq)]
pub struct RunnerMiner {
    /// Its uid.
    pub uid: u16,
    /// Its hotkey.
    pub hotkey: String,
    /// The committed model.
    pub model: String,
    /// The committed revision.
    pub revision: String,
    /// Where the environments call it (`None`: no slug, not sampled).
    pub base_url: Option<String>,
    /// `hotkey|model|revision`: what pauses and missed ids are kept under.
    pub key: String,
    /// The `miner` object of its result records.
    pub record: crate::model::Miner,
}

impl RunnerMiner {
    /// The runner's view of a valid discovered miner.
    #[must_use]
    pub fn from_discovered(miner: &crate::miners::Miner) -> Option<Self> {
        let model = miner.model.clone()?;
        let revision = miner.revision.clone()?;
        let record = crate::model::Miner {
            uid: i64::from(miner.uid),
            hotkey: miner.hotkey.clone(),
            model: Some(model.clone()),
            revision: Some(revision.clone()),
            block: miner.block.and_then(|b| i64::try_from(b).ok()),
            chute: miner.chute.as_ref().and_then(|chute| serde_json::to_value(chute).ok()),
            slug: miner.slug.clone(),
            weights_shas: (!miner.weights_shas.is_empty()).then(|| miner.weights_shas.clone()),
            other: serde_json::Map::new(),
        };
        Some(Self {
            uid: miner.uid,
            key: format!("{}|{model}|{revision}", miner.hotkey),
            hotkey: miner.hotkey.clone(),
            model,
            revision,
            base_url: miner.base_url.clone(),
            record,
        })
    }

    /// A miner for unit tests.
    #[must_use]
    pub fn for_tests(uid: u16) -> Self {
        let hotkey = format!("hotkey-{uid}");
        let model = format!("test/Affine-{uid}");
        Self {
            uid,
            key: format!("{hotkey}|{model}|rev"),
            record: crate::model::Miner {
                uid: i64::from(uid),
                hotkey: hotkey.clone(),
                model: Some(model.clone()),
                revision: Some("rev".into()),
                block: Some(1),
                chute: None,
                slug: Some(format!("slug-{uid}")),
                weights_shas: None,
                other: serde_json::Map::new(),
            },
            hotkey,
            model,
            revision: "rev".into(),
            base_url: Some(format!("http://127.0.0.1:9/slug-{uid}/v1")),
        }
    }
}

/// One snapshot of the table.
#[derive(Debug, Clone, Default)]
pub struct MinerTable {
    /// By uid, ascending.
    pub miners: Vec<Arc<RunnerMiner>>,
    /// The block of the discovery pass (0 before the first).
    pub block: u64,
}

impl MinerTable {
    /// The entry of `key`, if the table still has that exact miner.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Arc<RunnerMiner>> {
        self.miners.iter().find(|m| m.key == key)
    }
}

fn transient(reason: &Rejection) -> bool {
    matches!(reason, Rejection::ModelUnavailable { .. } | Rejection::ChuteUnavailable { .. })
}

/// The next table from a discovery pass: the valid miners, plus the previous entry of a uid
/// whose only problem this pass was a failed lookup.
#[must_use]
pub fn next_table(previous: &MinerTable, discovery: &Discovery) -> MinerTable {
    let before: BTreeMap<u16, &Arc<RunnerMiner>> = previous.miners.iter().map(|m| (m.uid, m)).collect();
    let mut miners = Vec::new();
    for miner in &discovery.miners {
        match &miner.verdict {
            Verdict::Valid => {
                if let Some(entry) = RunnerMiner::from_discovered(miner) {
                    // Keep the same Arc when nothing changed, so tasks compare cheaply.
                    match before.get(&miner.uid) {
                        Some(old) if ***old == entry => miners.push(Arc::clone(old)),
                        _ => miners.push(Arc::new(entry)),
                    }
                }
            }
            Verdict::Rejected { reason } if transient(reason) => {
                if let Some(old) = before.get(&miner.uid).filter(|old| old.hotkey == miner.hotkey) {
                    tracing::debug!(uid = miner.uid, %reason, "kept the miner through a failed lookup");
                    miners.push(Arc::clone(old));
                }
            }
            Verdict::Rejected { .. } => {}
        }
    }
    MinerTable { miners, block: discovery.block }
}

/// How long one discovery pass may take before it counts as failed.
pub const DISCOVERY_DEADLINE: Duration = Duration::from_secs(300);

/// Logs what changed between two tables, as the reference does.
pub fn log_changes(previous: &MinerTable, next: &MinerTable) {
    let before: BTreeMap<u16, &Arc<RunnerMiner>> = previous.miners.iter().map(|m| (m.uid, m)).collect();
    let after: BTreeMap<u16, &Arc<RunnerMiner>> = next.miners.iter().map(|m| (m.uid, m)).collect();
    for (uid, miner) in &after {
        match before.get(uid) {
            None => tracing::info!(uid, model = %miner.model, "[Scheduler] Added miner U{uid}"),
            Some(old) if old.key != miner.key || old.base_url != miner.base_url => {
                tracing::info!(uid, model = %miner.model, "[Scheduler] Updated miner U{uid}");
            }
            Some(_) => {}
        }
    }
    for uid in before.keys().filter(|uid| !after.contains_key(uid)) {
        tracing::info!(uid, "[Scheduler] Removed miner U{uid}");
    }
}
