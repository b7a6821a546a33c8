//! `af hub download --repo R --revision SHA --dest DIR`: a resumable, verified snapshot
//! download of a Hugging Face repository.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::HubCommand;
use crate::error::ExitStatus;
use crate::hub::{Error, HubClient, SnapshotReport};
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
    let bar = printer.byte_progress(0, &format!("{}@{}", settings.repo, short(&settings.revision)));
    let result = client.snapshot_download(&settings.repo, &settings.revision, &settings.dest, &settings.options, &bar, &token).await;
    let report = match result {
        Ok(report) => {
            bar.finish_and_clear();
            report
        }
        Err(Error::Cancelled) => {
            bar.abandon();
            tracing::warn!("download interrupted; run the same command again to resume");
            return Ok(ExitStatus::Interrupted);
        }
        Err(error) => {
            bar.abandon();
            return Err(error).with_context(|| {
                format!("failed to download {} at {} into {}", settings.repo, settings.revision, settings.dest.display())
            });
        }
    };
    print(&report, printer, settings.json).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}

fn short(revision: &str) -> &str {
    revision.get(..12).unwrap_or(revision)
}

#[expect(clippy::cast_precision_loss, reason = "megabytes for people, rounded")]
fn print(report: &SnapshotReport, printer: Printer, json: bool) -> std::io::Result<()> {
    if json {
        return printer.json(report);
    }
    printer.raw(&format!(
        "{}@{} -> {}: {} files ({:.1} MB), {} downloaded ({:.1} MB received, {} resumed), {} already complete\n",
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
