//! `af metagraph`: uid, hotkey, last update, validator permit and latest revealed commitment of
//! every neuron on a subnet.

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::cli::MetagraphArgs;
use crate::error::ExitStatus;
use crate::output::{Printer, plain_table};
use crate::settings::MetagraphSettings;
use crate::shutdown::interruptible;

#[derive(Debug, Serialize)]
struct Commitment {
    block: u64,
    text: String,
}

#[derive(Debug, Serialize)]
struct Row {
    uid: u16,
    hotkey: String,
    last_update: u64,
    validator_permit: bool,
    commitment: Option<Commitment>,
}

#[derive(Debug, Serialize)]
struct Document {
    netuid: u16,
    block: u64,
    tempo: u16,
    weights_version_key: u64,
    commit_reveal_enabled: bool,
    neurons: Vec<Row>,
}

/// Runs `af metagraph`.
///
/// # Errors
/// Bad flags, an unreachable node, or a node whose metadata lacks the items read.
///
/// # Cancellation
/// A signal ends any wait on the node with [`crate::shutdown::Interrupted`] (exit 130).
pub async fn run(args: &MetagraphArgs, printer: Printer, token: &CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = MetagraphSettings::resolve(args)?;
    let netuid = settings.netuid;
    let client = interruptible(token, ChainClient::connect(settings.chain.clone())).await?.context("failed to reach subtensor")?;
    let metagraph = interruptible(token, client.metagraph(netuid))
        .await?
        .with_context(|| format!("failed to read the metagraph of netuid {netuid}"))?;
    let params = interruptible(token, client.subnet_params(netuid))
        .await?
        .with_context(|| format!("failed to read the parameters of netuid {netuid}"))?;
    let mut revealed = interruptible(token, client.revealed_commitments(netuid))
        .await?
        .with_context(|| format!("failed to read commitments on netuid {netuid}"))?;
    let neurons: Vec<Row> = metagraph
        .neurons
        .iter()
        .map(|neuron| Row {
            uid: neuron.uid,
            hotkey: neuron.hotkey.to_ss58(),
            last_update: neuron.last_update,
            validator_permit: neuron.validator_permit,
            // The original takes the last entry of a hotkey's reveal list.
            commitment: revealed.get_mut(&neuron.hotkey).and_then(Vec::pop).map(|c| Commitment { block: c.block, text: c.text }),
        })
        .collect();
    let document = Document {
        netuid,
        block: metagraph.block,
        tempo: params.tempo,
        weights_version_key: params.weights_version_key,
        commit_reveal_enabled: params.commit_reveal_enabled,
        neurons,
    };
    if settings.json {
        printer.json(&document).context("failed to write to stdout")?;
        return Ok(ExitStatus::Success);
    }
    let header = ["UID", "Hotkey", "LastUpdate", "Permit", "CommitBlock", "Commitment"].map(str::to_owned).to_vec();
    let rows: Vec<Vec<String>> = document
        .neurons
        .iter()
        .map(|row| {
            let (block, text) = row.commitment.as_ref().map_or((String::new(), String::new()), |c| (c.block.to_string(), c.text.clone()));
            vec![
                row.uid.to_string(),
                row.hotkey.clone(),
                row.last_update.to_string(),
                if row.validator_permit { "yes" } else { "no" }.to_owned(),
                block,
                text,
            ]
        })
        .collect();
    let text = format!(
        "Metagraph of netuid {} at block {} (tempo {}, weights version key {}, commit-reveal {})\n{}",
        document.netuid,
        document.block,
        document.tempo,
        document.weights_version_key,
        if document.commit_reveal_enabled { "on" } else { "off" },
        plain_table(&header, &rows)
    );
    printer.raw(&text).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}
