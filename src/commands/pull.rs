//! `af pull UID --model-path DIR`: download the model a uid committed, at its revision.

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::cli::PullArgs;
use crate::error::ExitStatus;
use crate::hub::HubClient;
use crate::miners::rules::parse_commitment;
use crate::output::Printer;
use crate::settings::PullSettings;
use crate::shutdown::interruptible;

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
    let chain = interruptible(&token, ChainClient::connect(settings.chain.clone())).await?.context("failed to reach subtensor")?;
    let metagraph = interruptible(&token, chain.metagraph(netuid))
        .await?
        .with_context(|| format!("failed to read the metagraph of netuid {netuid}"))?;
    let neuron = metagraph
        .neurons
        .iter()
        .find(|n| n.uid == uid)
        .with_context(|| format!("uid {uid} is not registered on netuid {netuid} ({} uids)", metagraph.neurons.len()))?;
    let mut revealed = interruptible(&token, chain.revealed_commitments(netuid))
        .await?
        .with_context(|| format!("failed to read commitments on netuid {netuid}"))?;
    let latest = revealed
        .remove(&neuron.hotkey)
        .and_then(|mut list| list.pop())
        .with_context(|| format!("uid {uid} ({}) has no revealed commitment on netuid {netuid}", neuron.hotkey))?;
    let commitment = parse_commitment(&latest.text)
        .map_err(|reason| anyhow::anyhow!("uid {uid}'s commitment at block {} is malformed: {reason}", latest.block))?;
    tracing::info!(uid, model = %commitment.model, revision = %commitment.revision, block = latest.block, "pulling committed model");

    let client = HubClient::new(settings.hub.clone())?;
    let Some(report) =
        super::hub::download(&client, &commitment.model, &commitment.revision, &settings.dest, &settings.options, printer, &token).await?
    else {
        return Ok(ExitStatus::Interrupted);
    };
    super::hub::print(&report, Some(&format!("uid {uid}")), printer, settings.json).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}
