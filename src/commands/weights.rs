//! `af weights`: show the latest saved summary (or the one at `-b BLOCK`), recompute the
//! weights from the result store (`-r --metagraph FILE [--save]`), or score a replay directory
//! offline (`--replay DIR`); with `-r --set`, also set the recomputed weights on chain.

mod set;

use std::fmt::Write as _;

use anyhow::Context as _;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::cli::WeightsArgs;
use crate::error::ExitStatus;
use crate::output::{Printer, plain_table, transfer_message};
use crate::replay::{ReplayOutcome, WeightsDocument, replay_dir_cached};
use crate::scoring::ScoringPolicy;
use crate::settings::{ChainSnapshotSettings, SetWeightsSettings, WeightsMode, WeightsSettings};
use crate::store::Store;
use crate::store::compact::CompactCache;
use crate::store::fetch::DownloadStats;
use crate::store::replay::MetagraphSnapshot;
use crate::store::summary::{SummaryDocument, load_summary};
use crate::summary::Summary;
use crate::weight_pass;

/// Model names longer than this are cut in the printed table.
const TABLE_MODEL_WIDTH: usize = 30;

/// Runs `af weights`.
///
/// # Errors
/// Bad arguments, an unusable replay directory or store, or stdout failing.
///
/// # Cancellation
/// A signal stops the wait for the scoring pass and returns [`ExitStatus::Interrupted`]; a
/// summary save that has started runs to completion.
pub async fn run(args: &WeightsArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = WeightsSettings::resolve(args)?;
    let set = SetWeightsSettings::resolve(&args.onchain)?;
    match settings.mode.clone() {
        WeightsMode::Replay(dir) => replay(&settings, dir, printer, token).await,
        WeightsMode::Show(block) => show(&settings, block, printer, token).await,
        WeightsMode::Recompute { metagraph, save } => {
            let snapshot = if let Some(path) = metagraph {
                MetagraphSnapshot::load_file(&path)?
            } else {
                let source = ChainSnapshotSettings::resolve(args)?;
                let Some(snapshot) = snapshot_from_chain(&source, printer, &token).await? else {
                    return Ok(ExitStatus::Interrupted);
                };
                snapshot
            };
            recompute(&settings, set.as_ref(), snapshot, save, printer, token).await
        }
    }
}

async fn replay(
    settings: &WeightsSettings,
    dir: std::path::PathBuf,
    printer: Printer,
    token: CancellationToken,
) -> anyhow::Result<ExitStatus> {
    let threads = settings.parse_threads.get();
    let cache = settings.replay_cache.as_deref().map(CompactCache::new);
    let bar = printer.byte_progress(0, "reading shards");
    let task_bar = bar.clone();
    let task_dir = dir.clone();
    let task = tokio::task::spawn_blocking(move || {
        let policy = ScoringPolicy::reference();
        replay_dir_cached(&task_dir, &policy, threads, cache.as_ref(), |total| task_bar.set_length(total), |bytes| task_bar.inc(bytes))
    });
    let outcome = tokio::select! {
        biased;
        () = token.cancelled() => {
            bar.abandon();
            return Ok(ExitStatus::Interrupted);
        }
        joined = task => joined.context("scoring task failed")?,
    };
    bar.finish_and_clear();
    let outcome = outcome.with_context(|| format!("failed to replay {}", dir.display()))?;
    print_outcome(&outcome, None, printer, settings.json).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}

async fn show(settings: &WeightsSettings, block: Option<u64>, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let config = settings.store.clone().expect("resolve sets the store for every mode but replays");
    let store = Store::new(config).context("failed to set up the result store")?;
    let what = block.map_or_else(|| "the latest weights summary".to_owned(), |b| format!("the weights summary of block {b}"));
    let document = tokio::select! {
        biased;
        () = token.cancelled() => return Ok(ExitStatus::Interrupted),
        loaded = load_summary(store.reader(), block) => loaded.with_context(|| format!("failed to load {what}"))?,
    };
    if settings.json {
        printer.json(&document).context("failed to write to stdout")?;
    } else {
        printer.raw(&summary_text(&document)).context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}

fn cell_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The text form of a stored summary: the table, the counts and the weight vector.
fn summary_text(document: &SummaryDocument) -> String {
    let data = &document.data;
    let header: Vec<String> = data["header"].as_array().map(|h| h.iter().map(cell_text).collect()).unwrap_or_default();
    let model_column = header.iter().position(|h| h == "Model");
    let rows: Vec<Vec<String>> = data["rows"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter_map(Value::as_array)
                .map(|row| {
                    row.iter()
                        .enumerate()
                        .map(|(i, v)| {
                            let text = cell_text(v);
                            if Some(i) == model_column { text.chars().take(TABLE_MODEL_WIDTH).collect() } else { text }
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = format!("Weights summary at block {} (saved at unix time {}):\n", document.block, document.timestamp);
    text.push_str(&plain_table(&header, &rows));
    let stats = &data["stats"];
    if stats.is_object() {
        let _ = writeln!(
            text,
            "\n{} eligible, {} active, {} queryable of {} uids",
            cell_text(&stats["eligible_count"]),
            cell_text(&stats["active_count"]),
            cell_text(&stats["queryable_count"]),
            cell_text(&stats["total_miners"])
        );
    }
    if let Some(note) = data["note"].as_str() {
        let _ = writeln!(text, "note: {note}");
    }
    let mut weights: Vec<(u64, f64)> = data["miners"]
        .as_object()
        .map(|miners| miners.values().filter_map(|m| Some((m["uid"].as_u64()?, m["weight"].as_f64()?))).filter(|(_, w)| *w > 0.0).collect())
        .unwrap_or_default();
    weights.sort_by_key(|(uid, _)| *uid);
    let vector: Vec<String> = weights.iter().map(|(uid, weight)| format!("{uid}:{weight:.6}")).collect();
    let _ = writeln!(text, "weights: {}", vector.join(" "));
    text
}

/// The scoring snapshot as the validator sees the chain now ([`weight_pass::chain_snapshot`]);
/// `None` when interrupted. Written to `--save-metagraph` when asked, so the pass can be
/// replayed offline.
async fn snapshot_from_chain(
    source: &ChainSnapshotSettings,
    printer: Printer,
    token: &CancellationToken,
) -> anyhow::Result<Option<MetagraphSnapshot>> {
    let netuid = source.discovery.options.netuid;
    let sources = super::miners::sources(&source.chain, &source.discovery).await?;
    let bar = printer.count_progress(0, "checking miners");
    let snapshot = tokio::select! {
        biased;
        () = token.cancelled() => return Ok(None),
        snapshot = weight_pass::chain_snapshot(&sources, &source.discovery.options, source.tail, &bar) => {
            snapshot.with_context(|| format!("failed to discover the miners of netuid {netuid}"))?
        }
    };
    bar.finish_and_clear();
    if let Some(path) = &source.save_to {
        let text = serde_json::to_vec_pretty(&snapshot).context("failed to serialise the metagraph snapshot")?;
        std::fs::write(path, text).map_err(|error| {
            crate::settings::ConfigError(format!("cannot write the metagraph snapshot to {} (--save-metagraph): {error}", path.display()))
        })?;
    }
    Ok(Some(snapshot))
}

async fn recompute(
    settings: &WeightsSettings,
    set: Option<&SetWeightsSettings>,
    snapshot: MetagraphSnapshot,
    save: bool,
    printer: Printer,
    token: CancellationToken,
) -> anyhow::Result<ExitStatus> {
    let config = settings.store.clone().expect("resolve sets the store for every mode but replays");
    let store = Store::new(config).context("failed to set up the result store")?;
    let block = snapshot.block;
    let bar = printer.object_progress(0, "downloading shards");
    let pass = tokio::select! {
        biased;
        () = token.cancelled() => {
            bar.abandon();
            return Ok(ExitStatus::Interrupted);
        }
        scored = weight_pass::compute(&store, snapshot, settings.parse_threads.get(), &bar) => {
            scored.with_context(|| format!("failed to score block {block} from {}", store.reader().label()))?
        }
    };
    bar.finish_and_clear();
    if let Some(set) = set
        && pass.outcome.input.load.records == 0
        && !set.allow_empty
    {
        return Err(crate::settings::ConfigError(format!(
            "refusing to set weights computed from zero result records on {} (everything would go to uid 0); \
             check the store settings, or pass --allow-empty to set them anyway",
            store.reader().label()
        ))
        .into());
    }
    let saved = if save {
        // Not raced against the token: a save that started completes (both objects or none of
        // latest.json's update).
        let report = weight_pass::save(&store, &pass, weight_pass::unix_now())
            .await
            .with_context(|| format!("failed to save the summary of block {block}"))?;
        Some(report)
    } else {
        None
    };
    let weight_pass::Pass { outcome, download: stats } = pass;
    // Set on chain (or dry-run) after the save; the outcome is printed with the weights.
    let mut set_report = crate::weights_set::SetReport::default();
    let set_result = match set {
        None => None,
        Some(set_settings) => {
            let setting = set::set_weights(set_settings, &outcome.snapshot, &outcome.report.weights.vector, &mut set_report);
            let result = tokio::select! {
                biased;
                () = token.cancelled() => return Ok(ExitStatus::Interrupted),
                result = setting => result,
            };
            if let Err(error) = &result {
                set_report.error = Some(format!("{error:#}"));
            }
            Some(result)
        }
    };
    if settings.json {
        let mut document = serde_json::to_value(WeightsDocument::new(&outcome)).context("failed to serialise the result")?;
        if set_result.is_some() {
            document["set_weights"] = serde_json::to_value(&set_report).context("failed to serialise the result")?;
        }
        document["download"] = serde_json::to_value(stats).context("failed to serialise the result")?;
        if let Some(saved) = &saved {
            document["saved"] = serde_json::to_value(saved).context("failed to serialise the result")?;
        }
        printer.json(&document).context("failed to write to stdout")?;
    } else {
        let mut text = String::new();
        if let Some(saved) = &saved {
            let latest = if saved.latest_updated { "latest.json updated" } else { "latest.json already newer, left alone" };
            let _ = writeln!(text, "summary saved to {} ({latest})", saved.key);
        }
        print_outcome(&outcome, Some(&stats), printer, false).context("failed to write to stdout")?;
        if set_result.is_some() {
            text.push_str(&set_report.text());
        }
        if !text.is_empty() {
            printer.raw(&text).context("failed to write to stdout")?;
        }
    }
    match set_result {
        Some(Err(error)) => Err(error),
        _ => Ok(ExitStatus::Success),
    }
}

fn print_outcome(outcome: &ReplayOutcome, download: Option<&DownloadStats>, printer: Printer, json: bool) -> std::io::Result<()> {
    if json {
        return printer.json(&WeightsDocument::new(outcome));
    }
    let summary = Summary::build(&outcome.report, &outcome.snapshot.hotkeys);
    let mut text = format!("Validator summary at block {} (tail {}):\n", outcome.snapshot.block, outcome.snapshot.tail);
    text.push_str(&plain_table(&summary.header, &summary.table_rows()));
    let input = &outcome.input;
    let _ = write!(
        text,
        "\n{} records from {} shards ({} outside the window ignored); {} malformed skipped ({} shards, {} records)\n",
        input.load.records,
        input.load.shards,
        input.shards_outside_window,
        input.malformed(),
        input.load.shards_skipped,
        input.load.invalid_records,
    );
    if input.load.shards_cached > 0 {
        let _ = writeln!(text, "{} of {} shards read from the compact cache", input.load.shards_cached, input.load.shards);
    }
    if let Some(download) = download {
        let _ = writeln!(
            text,
            "downloaded {} shards ({}), {} from cache, {} listed but missing",
            download.objects,
            transfer_message(download.bytes),
            download.cache_hits,
            download.missing
        );
    }
    let _ = writeln!(
        text,
        "{} eligible, {} active, {} queryable of {} uids",
        summary.stats.eligible_count, summary.stats.active_count, summary.stats.queryable_count, summary.stats.total_miners
    );
    if let Some(note) = &summary.note {
        let _ = writeln!(text, "note: {note}");
    }
    let vector: Vec<String> = outcome.report.weights.vector.iter().map(|(uid, weight)| format!("{uid}:{weight:.6}")).collect();
    let _ = writeln!(text, "weights: {}", vector.join(" "));
    printer.raw(&text)
}
