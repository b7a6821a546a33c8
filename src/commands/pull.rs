//! `af pull UID --model-path DIR`: download the model a uid committed, at its revision.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::cli::PullArgs;
use crate::error::ExitStatus;
use crate::hub::{Error, HubClient};
use crate::miners::rules::parse_commitment;
use crate::output::Printer;
use crate::settings::PullSettings;

/// Runs `af pull`.
///
/// # Errors
/// Bad flags, an unreachable node, a uid that is not registered or has no (well-formed)
/// commitment, Hub errors, corrupted files, an unwritable destination.
///
/// # Cancellation
/// A signal stops the download (partial files are kept for the next run) and returns
/// [`ExitStatus::Interrupted`].
pub async fn run(args: &PullArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = PullSettings::resolve(args)?;
    let (uid, netuid) = (settings.uid, settings.netuid);
    let chain = ChainClient::connect(settings.chain.clone()).await.context("failed to reach subtensor")?;
    let metagraph = chain.metagraph(netuid).await.with_context(|| format!("failed to read the metagraph of netuid {netuid}"))?;
    let neuron = metagraph
        .neurons
        .iter()
        .find(|n| n.uid == uid)
        .with_context(|| format!("uid {uid} is not registered on netuid {netuid} ({} uids)", metagraph.neurons.len()))?;
    let mut revealed =
        chain.revealed_commitments(netuid).await.with_context(|| format!("failed to read commitments on netuid {netuid}"))?;
    let latest = revealed
        .remove(&neuron.hotkey)
        .and_then(|mut list| list.pop())
        .with_context(|| format!("uid {uid} ({}) has no revealed commitment on netuid {netuid}", neuron.hotkey))?;
    let commitment = parse_commitment(&latest.text)
        .map_err(|reason| anyhow::anyhow!("uid {uid}'s commitment at block {} is malformed: {reason}", latest.block))?;
    tracing::info!(uid, model = %commitment.model, revision = %commitment.revision, block = latest.block, "pulling committed model");

    let client = HubClient::new(settings.hub.clone())?;
    let label = format!("{}@{}", commitment.model, commitment.revision.get(..12).unwrap_or(&commitment.revision));
    let bar = printer.byte_progress(0, &label);
    let result = client.snapshot_download(&commitment.model, &commitment.revision, &settings.dest, &settings.options, &bar, &token).await;
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
                format!("failed to download {} at {} into {}", commitment.model, commitment.revision, settings.dest.display())
            });
        }
    };
    if settings.json {
        printer.json(&report).context("failed to write to stdout")?;
    } else {
        #[expect(clippy::cast_precision_loss, reason = "megabytes for people, rounded")]
        let (total, received) = (report.bytes_total as f64 / 1e6, report.bytes_downloaded as f64 / 1e6);
        printer
            .raw(&format!(
                "uid {uid}: {}@{} -> {}: {} files ({total:.1} MB), {} downloaded ({received:.1} MB received, {} resumed), {} already complete\n",
                report.repo,
                report.commit,
                report.dest.display(),
                report.files,
                report.downloaded,
                report.resumed,
                report.skipped,
            ))
            .context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}
