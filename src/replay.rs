//! The scoring pass a validator runs at a tempo boundary, over a replay directory (offline) or
//! over the result store (`af weights -r`, and `af validate` through [`score_store`]); both go
//! through [`score_sources`], and both can keep a compact cache so that later passes read
//! only the shards that changed.

use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::scoring::{Aggregator, IngestCounters, ScoreReport, ScoringPolicy, score_window};
use crate::store::Store;
use crate::store::compact::CompactCache;
use crate::store::dataset::{LoadStats, ShardSource, fold_sources};
use crate::store::fetch::{DownloadStats, download_for_scoring, select_keys};
use crate::store::replay::{MetagraphSnapshot, list_shards};
use crate::summary::Summary;

/// What was read and what it scored to.
#[derive(Debug, Clone)]
pub struct ReplayOutcome {
    /// The metagraph snapshot.
    pub snapshot: MetagraphSnapshot,
    /// The scoring outcome.
    pub report: ScoreReport,
    /// How the input looked.
    pub input: InputStats,
}

/// How the replay input looked, for the summary line and `--json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct InputStats {
    /// Shard files in the scored windows.
    pub shards_in_window: usize,
    /// Shard files outside the scored windows (ignored).
    pub shards_outside_window: usize,
    /// Files in `results/` that are not shards (ignored); for store reads, index keys whose
    /// object does not exist (skipped).
    pub unrecognised_files: usize,
    /// Shards read, records parsed and skipped.
    #[serde(flatten)]
    pub load: LoadStats,
    /// What the scorer did with the records.
    pub ingest: IngestCounters,
}

impl InputStats {
    /// Shards and records that were skipped because they were malformed.
    #[must_use]
    pub fn malformed(&self) -> u64 {
        self.load.shards_skipped as u64 + self.load.invalid_records
    }
}

/// Scores the replay directory `dir`; `progress` is given `(total_bytes, bytes_done)` updates.
///
/// # Errors
/// A missing or malformed `metagraph.json`, or an unlistable `results/` folder. Malformed
/// shards and records are skipped and counted, never fatal.
pub fn replay_dir(
    dir: &Path,
    policy: &ScoringPolicy,
    threads: usize,
    on_total: impl FnMut(u64),
    on_progress: impl FnMut(u64) + Send,
) -> Result<ReplayOutcome, crate::store::Error> {
    replay_dir_cached(dir, policy, threads, None, on_total, on_progress)
}

/// [`replay_dir`] through a compact cache: shards whose entry matches (same file identity, or
/// same content) are not parsed again, the others are parsed and their entries written. The
/// replay directory itself is only read.
///
/// # Errors
/// As [`replay_dir`]; cache problems are logged and cost only speed.
pub fn replay_dir_cached(
    dir: &Path,
    policy: &ScoringPolicy,
    threads: usize,
    cache: Option<&CompactCache>,
    mut on_total: impl FnMut(u64),
    on_progress: impl FnMut(u64) + Send,
) -> Result<ReplayOutcome, crate::store::Error> {
    let snapshot = MetagraphSnapshot::load(dir)?;
    let listing = list_shards(dir, snapshot.block, snapshot.tail)?;
    on_total(listing.in_window.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum());
    tracing::info!(
        block = snapshot.block,
        tail = snapshot.tail,
        shards = listing.in_window.len(),
        ignored = listing.outside_window,
        cache = ?cache.map(CompactCache::dir),
        "replaying result shards"
    );
    let sources = listing.in_window.iter().cloned().map(ShardSource::File);
    let (report, load, ingest) = score_sources(&snapshot, policy, threads, cache, sources, on_progress);
    let input = InputStats {
        shards_in_window: listing.in_window.len(),
        shards_outside_window: listing.outside_window,
        unrecognised_files: listing.unrecognised,
        load,
        ingest,
    };
    Ok(ReplayOutcome { snapshot, report, input })
}

/// The scoring pass shared by replays and store reads: shards (in key order) through the
/// compact reader (or the compact cache) into the aggregator, then the weights.
pub fn score_sources(
    snapshot: &MetagraphSnapshot,
    policy: &ScoringPolicy,
    threads: usize,
    cache: Option<&CompactCache>,
    sources: impl Iterator<Item = ShardSource> + Send,
    on_progress: impl FnMut(u64) + Send,
) -> (ScoreReport, LoadStats, IngestCounters) {
    let mut aggregator = Aggregator::new(policy, &snapshot.hotkeys);
    let load = fold_sources(sources, threads, cache, on_progress, |shard| aggregator.push_shard(shard));
    if load.invalid_records > 0 {
        tracing::warn!(count = load.invalid_records, "skipped malformed records (not result objects, or fields of the wrong type)");
    }
    let table = aggregator.finish();
    tracing::debug!(counters = ?table.counters, "records aggregated");
    let mut report = score_window(&table, &snapshot.chain_view(), policy);
    if load.records == 0 && report.note.is_none() {
        report.note = Some("No results collected; defaulting to uid 0".to_owned());
        report.weights = crate::scoring::WeightAssignment::all_to_base();
    }
    if load.records == 0 {
        tracing::warn!(
            shards = load.shards,
            skipped = load.shards_skipped,
            "no result records in the scored window: all weight goes to uid 0 (the reference's rule)"
        );
    }
    (report, load, table.counters)
}

/// Scores the store's shards for the snapshot's block and tail: the selected shards are
/// downloaded in key order and parsed on blocking threads as they arrive, through the same
/// path as [`replay_dir`]. With a cache folder in the store's configuration
/// (`AFFINE_CACHE_DIR`), each shard's compact entry is revalidated by entity tag and used
/// when current, so a pass over an unchanged window parses nothing; this is the pass
/// `af weights -r` and `af validate` run. `on_selected` is told the number of shards,
/// `on_shard` the bytes of each delivered shard.
///
/// # Errors
/// The index cannot be read or a shard download fails for good.
pub async fn score_store(
    store: &Store,
    snapshot: MetagraphSnapshot,
    policy: ScoringPolicy,
    threads: usize,
    on_selected: impl FnOnce(usize),
    on_shard: impl Fn(u64),
) -> Result<(ReplayOutcome, DownloadStats), crate::store::Error> {
    let selection = select_keys(store, snapshot.block, snapshot.tail).await?;
    tracing::info!(
        block = snapshot.block,
        tail = snapshot.tail,
        shards = selection.keys.len(),
        public = selection.from_public,
        "scoring shards from the store"
    );
    on_selected(selection.keys.len());
    let compact = store.config().cache_dir.as_deref().map(CompactCache::new).map(Arc::new);
    let (sender, mut receiver) = tokio::sync::mpsc::channel(store.config().download_concurrency.max(1));
    let scorer_cache = compact.clone();
    let scorer = tokio::task::spawn_blocking(move || {
        let sources = std::iter::from_fn(|| receiver.blocking_recv());
        let scored = score_sources(&snapshot, &policy, threads, scorer_cache.as_deref(), sources, |_| {});
        (snapshot, scored)
    });
    let downloaded = download_for_scoring(store, &selection, compact, sender, on_shard).await;
    let (snapshot, (report, load, ingest)) =
        scorer.await.map_err(|e| crate::store::Error::Io { path: "<scoring task>".into(), source: std::io::Error::other(e) })?;
    let stats = downloaded?;
    let input = InputStats {
        shards_in_window: selection.keys.len(),
        shards_outside_window: selection.outside_window,
        unrecognised_files: stats.missing,
        load,
        ingest,
    };
    Ok((ReplayOutcome { snapshot, report, input }, stats))
}

/// The `af weights --json` document.
#[derive(Debug, Clone, Serialize)]
pub struct WeightsDocument {
    /// The scored block.
    pub block: u64,
    /// Subnet id, when the snapshot has it.
    pub netuid: Option<u16>,
    /// Blocks of history scored.
    pub tail: u64,
    /// Uids of the weight vector (parallel to `weights`).
    pub uids: Vec<u32>,
    /// The weight vector that would be set on chain.
    pub weights: Vec<f64>,
    /// Hotkeys of eligible miners, by uid.
    pub eligible: Vec<String>,
    /// The summary (per-hotkey miners, env winners, stats, rows).
    #[serde(flatten)]
    pub summary: Summary,
    /// How the input looked.
    pub input: InputStats,
}

impl WeightsDocument {
    /// Builds the document for an outcome.
    #[must_use]
    pub fn new(outcome: &ReplayOutcome) -> Self {
        let hotkeys = &outcome.snapshot.hotkeys;
        Self {
            block: outcome.snapshot.block,
            netuid: outcome.snapshot.netuid,
            tail: outcome.snapshot.tail,
            uids: outcome.report.weights.vector.iter().map(|(uid, _)| *uid).collect(),
            weights: outcome.report.weights.vector.iter().map(|(_, weight)| *weight).collect(),
            eligible: outcome.report.eligible_uids().into_iter().filter_map(|uid| hotkeys.get(uid as usize).cloned()).collect(),
            summary: Summary::build(&outcome.report, hotkeys),
            input: outcome.input,
        }
    }
}
