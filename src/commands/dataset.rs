//! `af dataset pull`: download the shards of a scoring window from the result store into a
//! replay directory, so the scoring pass can be reproduced offline with `af weights --replay`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{DatasetCommand, DatasetPullArgs};
use crate::error::ExitStatus;
use crate::output::{Printer, transfer_message};
use crate::settings::DatasetPullSettings;
use crate::store::Store;
use crate::store::dataset::ShardBytes;
use crate::store::fetch::{DownloadStats, download, select_keys};
use crate::store::local::write_atomically;
use crate::store::replay::{METAGRAPH_FILE, MetagraphSnapshot, RESULTS_DIR};

/// Runs `af dataset ...`.
///
/// # Errors
/// See the subcommands.
pub async fn run(command: &DatasetCommand, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    match command {
        DatasetCommand::Pull(args) => pull(args, printer, token).await,
    }
}

/// The `af dataset pull --json` document.
#[derive(Debug, Serialize)]
struct PullReport {
    dest: PathBuf,
    block: u64,
    tail: u64,
    shards: usize,
    shards_outside_window: usize,
    keys_refused: usize,
    from_public: bool,
    metagraph_written: bool,
    #[serde(flatten)]
    download: DownloadStats,
}

/// Writes each received shard into `results` as it arrives (temp file + rename, so a file is
/// either whole or absent).
fn write_shards(results: &Path, mut receiver: tokio::sync::mpsc::Receiver<ShardBytes>) -> Result<(), crate::store::Error> {
    while let Some(shard) = receiver.blocking_recv() {
        let Ok(bytes) = shard.bytes else { continue };
        let name = shard.name.rsplit('/').next().unwrap_or(&shard.name);
        write_atomically(&results.join(name), &bytes)?;
    }
    Ok(())
}

async fn pull(args: &DatasetPullArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = DatasetPullSettings::resolve(args)?;
    let snapshot = settings.metagraph.as_deref().map(MetagraphSnapshot::load_file).transpose()?;
    let block = settings.block.or(snapshot.as_ref().map(|s| s.block)).expect("resolve requires --block or --metagraph");
    let store = Store::new(settings.store.clone()).context("failed to set up the result store")?;
    let results = settings.dest.join(RESULTS_DIR);
    super::create_destination(&results)?;

    let selection = select_keys(&store, block, settings.tail)
        .await
        .with_context(|| format!("failed to read the index of {}", store.reader().label()))?;
    let bar = printer.object_progress(selection.keys.len() as u64, "downloading shards");
    let bytes = AtomicU64::new(0);
    let (sender, receiver) = tokio::sync::mpsc::channel(settings.store.download_concurrency.max(1));
    let writer_dir = results.clone();
    let writer = tokio::task::spawn_blocking(move || write_shards(&writer_dir, receiver));
    let downloading = download(&store, &selection, sender, |size| {
        bar.inc(1);
        bar.set_message(transfer_message(bytes.fetch_add(size, Ordering::Relaxed) + size));
    });
    let stats = tokio::select! {
        biased;
        () = token.cancelled() => {
            bar.abandon();
            return Ok(ExitStatus::Interrupted);
        }
        stats = downloading => stats,
    };
    let written = writer.await.context("shard writer failed")?;
    bar.finish_and_clear();
    let stats = stats.with_context(|| format!("failed to download the shards of block {block}"))?;
    written.with_context(|| format!("failed to write shards into {}", results.display()))?;

    let metagraph_written = if let Some(mut snapshot) = snapshot {
        snapshot.block = block;
        snapshot.tail = settings.tail;
        let text = serde_json::to_vec_pretty(&snapshot).context("failed to serialise the metagraph snapshot")?;
        let path = settings.dest.join(METAGRAPH_FILE);
        write_atomically(&path, &text).with_context(|| format!("failed to write {}", path.display()))?;
        true
    } else {
        tracing::warn!(
            "no {METAGRAPH_FILE} written: no chain connection is configured; pass --metagraph FILE or copy a snapshot into the directory"
        );
        false
    };
    let report = PullReport {
        dest: settings.dest.clone(),
        block,
        tail: settings.tail,
        shards: selection.keys.len(),
        shards_outside_window: selection.outside_window,
        keys_refused: selection.refused,
        from_public: selection.from_public,
        metagraph_written,
        download: stats,
    };
    if settings.json {
        printer.json(&report).context("failed to write to stdout")?;
    } else {
        let mut text = format!(
            "pulled {} shards ({}) for block {block}, tail {} into {}\n{} from cache, {} listed but missing{}\n",
            stats.objects,
            transfer_message(stats.bytes),
            settings.tail,
            settings.dest.display(),
            stats.cache_hits,
            stats.missing,
            if selection.from_public { ", read from the public bucket" } else { "" },
        );
        if !metagraph_written {
            let _ = writeln!(
                text,
                "no {METAGRAPH_FILE} written (no chain connection is configured): pass --metagraph FILE, or copy a snapshot to {}",
                settings.dest.join(METAGRAPH_FILE).display()
            );
        }
        printer.raw(&text).context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}
