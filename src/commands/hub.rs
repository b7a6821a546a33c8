//! `af hub download --repo R --revision SHA --dest DIR`: a resumable, verified snapshot
//! download of a Hugging Face repository.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::HubCommand;
use crate::error::ExitStatus;
use std::path::Path;

use crate::hub::{Error, HubClient, SnapshotOptions, SnapshotReport};
use crate::output::Printer;
use crate::settings::HubDownloadSettings;

/// Runs `af hub ...`.
///
/// # Errors
/// Bad arguments, Hub errors (401/403/404 as typed errors with hints), corrupted files, or a
/// destination that cannot be written.
///
/// # Cancellation
/// A signal stops the download (partial files are kept for the next run) and returns
/// [`ExitStatus::Interrupted`].
pub async fn run(command: HubCommand, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let HubCommand::Download(args) = command;
    let settings = HubDownloadSettings::resolve(&args)?;
    let client = HubClient::new(settings.hub.clone())?;
    let Some(report) = download(&client, &settings.repo, &settings.revision, &settings.dest, &settings.options, printer, &token).await?
    else {
        return Ok(ExitStatus::Interrupted);
    };
    print(&report, None, printer, settings.json).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}

/// Downloads `repo` at `revision` into `dest` with a byte progress bar (shared by `af hub
/// download` and `af pull`). `None` when a signal stopped it; partial files stay for a resume.
pub(super) async fn download(
    client: &HubClient,
    repo: &str,
    revision: &str,
    dest: &Path,
    options: &SnapshotOptions,
    printer: Printer,
    token: &CancellationToken,
) -> anyhow::Result<Option<SnapshotReport>> {
    super::create_destination(dest)?;
    let bar = printer.byte_progress(0, &format!("{repo}@{}", short(revision)));
    match client.snapshot_download(repo, revision, dest, options, &bar, token).await {
        Ok(report) => {
            bar.finish_and_clear();
            Ok(Some(report))
        }
        Err(Error::Cancelled) => {
            bar.abandon();
            tracing::warn!("download interrupted; run the same command again to resume");
            Ok(None)
        }
        Err(error) => {
            bar.abandon();
            Err(error).with_context(|| format!("failed to download {repo} at {revision} into {}", dest.display()))
        }
    }
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

/// Prints a download report: the JSON document, or one line (prefixed with `label`, e.g. the
/// uid `af pull` resolved).
#[expect(clippy::cast_precision_loss, reason = "megabytes for people, rounded")]
pub(super) fn print(report: &SnapshotReport, label: Option<&str>, printer: Printer, json: bool) -> std::io::Result<()> {
    if json {
        return printer.json(report);
    }
    printer.raw(&format!(
        "{}{}@{} -> {}: {} files ({:.1} MB), {} downloaded ({:.1} MB received, {} resumed), {} already complete\n",
        label.map(|l| format!("{l}: ")).unwrap_or_default(),
        report.repo,
        report.commit,
        report.dest.display(),
        report.files,
        report.bytes_total as f64 / 1e6,
        report.downloaded,
        report.bytes_downloaded as f64 / 1e6,
        report.resumed,
        report.skipped,
    ))
}
