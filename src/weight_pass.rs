//! The validator's weight pass, shared by `af weights -r` and `af validate`: the scoring
//! snapshot as the chain is now (metagraph, queryable miners, commitment blocks), the store's
//! window scored against it, and the summary saved.
//!
//! The steps are separate functions so a caller can stop between them (a signal, a deadline)
//! and so a failed summary upload never decides whether weights are set.

use indicatif::ProgressBar;

use crate::miners::{DiscoveryOptions, Sources, discover};
use crate::replay::{ReplayOutcome, score_store};
use crate::scoring::ScoringPolicy;
use crate::store::Store;
use crate::store::fetch::DownloadStats;
use crate::store::replay::MetagraphSnapshot;
use crate::store::summary::{SaveReport, save_summary};
use crate::summary::Summary;

/// The scored window.
#[derive(Debug, Clone)]
pub struct Pass {
    /// The snapshot, the scores and how the input looked.
    pub outcome: ReplayOutcome,
    /// What was downloaded.
    pub download: DownloadStats,
}

impl Pass {
    /// The weight vector to set: `(uid, weight)` pairs.
    #[must_use]
    pub fn vector(&self) -> &[(u32, f64)] {
        &self.outcome.report.weights.vector
    }

    /// The scored block.
    #[must_use]
    pub fn block(&self) -> u64 {
        self.outcome.snapshot.block
    }

    /// The summary (table, per-miner details) of this pass.
    #[must_use]
    pub fn summary(&self) -> Summary {
        Summary::build(&self.outcome.report, &self.outcome.snapshot.hotkeys)
    }
}

/// The scoring snapshot as the validator sees the chain now: one discovery pass (keep
/// `sources` alive across passes so its lookup caches are reused), scored over `tail` blocks.
///
/// # Errors
/// The metagraph or the commitments cannot be read.
pub async fn chain_snapshot(
    sources: &Sources,
    options: &DiscoveryOptions,
    tail: u64,
    progress: &ProgressBar,
) -> Result<MetagraphSnapshot, crate::miners::Error> {
    let discovery = discover(sources, options, progress).await?;
    let snapshot = discovery.scoring_snapshot(tail);
    tracing::info!(
        netuid = options.netuid,
        block = snapshot.block,
        uids = snapshot.hotkeys.len(),
        queryable = snapshot.queryable.len(),
        "metagraph read from the chain"
    );
    Ok(snapshot)
}

/// Scores the store's shards of the snapshot's window with the reference policy.
/// `progress` counts shards; its message shows the bytes downloaded.
///
/// # Errors
/// The index cannot be read, or a shard download fails for good.
pub async fn compute(
    store: &Store,
    snapshot: MetagraphSnapshot,
    threads: usize,
    progress: &ProgressBar,
) -> Result<Pass, crate::store::Error> {
    let bytes = std::sync::atomic::AtomicU64::new(0);
    let (outcome, download) = score_store(
        store,
        snapshot,
        ScoringPolicy::reference(),
        threads,
        |count| progress.set_length(count as u64),
        |size| {
            progress.inc(1);
            let total = bytes.fetch_add(size, std::sync::atomic::Ordering::Relaxed) + size;
            progress.set_message(crate::output::transfer_message(total));
        },
    )
    .await?;
    Ok(Pass { outcome, download })
}

/// Saves the pass's summary as `summary-{block}.json` and, unless a newer one is there,
/// `latest.json`. Run it to completion once started (both objects, or no `latest.json`
/// change).
///
/// # Errors
/// The store refuses the writes.
pub async fn save(store: &Store, pass: &Pass, timestamp: i64) -> Result<SaveReport, crate::store::Error> {
    let report = save_summary(store, pass.block(), timestamp, &pass.summary()).await?;
    tracing::info!(key = report.key, latest = report.latest_updated, "summary saved");
    Ok(report)
}

/// Seconds since the Unix epoch (0 before it), the summaries' `timestamp`.
#[must_use]
pub fn unix_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0))
}
