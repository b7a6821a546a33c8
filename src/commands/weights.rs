//! `af weights --replay DIR`: score a replay directory and print the summary or JSON.

use std::fmt::Write as _;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::WeightsArgs;
use crate::error::ExitStatus;
use crate::output::{Printer, plain_table};
use crate::replay::{ReplayOutcome, WeightsDocument, replay_dir};
use crate::scoring::ScoringPolicy;
use crate::settings::WeightsSettings;
use crate::summary::Summary;

/// Runs `af weights`.
///
/// # Errors
/// Bad arguments, an unusable replay directory, or stdout failing.
///
/// # Cancellation
/// A signal stops the wait for the scoring pass and returns [`ExitStatus::Interrupted`].
pub async fn run(args: &WeightsArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = WeightsSettings::resolve(args)?;
    let dir = settings.replay_dir.clone();
    let bar = printer.byte_progress(0, "reading shards");
    let task_bar = bar.clone();
    let task = tokio::task::spawn_blocking(move || {
        replay_dir(
            &settings.replay_dir,
            &ScoringPolicy::reference(),
            settings.parse_threads.get(),
            |total| task_bar.set_length(total),
            |bytes| task_bar.inc(bytes),
        )
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
    print(&outcome, printer, args.json).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}

fn print(outcome: &ReplayOutcome, printer: Printer, json: bool) -> std::io::Result<()> {
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
