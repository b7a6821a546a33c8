//! `af miners`: every committed miner with its model, revision, chute and verdict.

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::chain::client::{ChainClient, ChainConfig};
use crate::cli::MinersArgs;
use crate::error::ExitStatus;
use crate::hub::HubClient;
use crate::inference::chutes::ChutesClient;
use crate::miners::{Discovery, Miner, Sources, Verdict, discover};
use crate::output::{Printer, plain_table};
use crate::settings::{DiscoverySettings, MinersSettings};

#[derive(Debug, Serialize)]
struct Document<'a> {
    netuid: u16,
    block: u64,
    valid: usize,
    rejected: &'a std::collections::BTreeMap<&'static str, usize>,
    miners: Vec<&'a Miner>,
}

/// Runs `af miners`.
///
/// # Errors
/// Bad flags, an unreachable node, or a uid that is not registered; Hub and Chutes failures
/// only reject the miners concerned.
///
/// # Cancellation
/// A signal ends the discovery with [`crate::shutdown::Interrupted`] (exit 130).
pub async fn run(args: &MinersArgs, printer: Printer, token: &CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = MinersSettings::resolve(args)?;
    let netuid = settings.discovery.options.netuid;
    let discovery = crate::shutdown::interruptible(token, discover_miners(&settings.chain, &settings.discovery, printer)).await??;
    if let Some(uid) = settings.uid
        && usize::from(uid) >= discovery.hotkeys.len()
    {
        anyhow::bail!("uid {uid} is not registered on netuid {netuid} ({} uids)", discovery.hotkeys.len());
    }
    // Duplicates are judged against every miner, so --uid filters the output, not the checks.
    let shown: Vec<&Miner> = discovery
        .miners
        .iter()
        .filter(|m| settings.uid.is_none_or(|uid| m.uid == uid))
        .filter(|m| settings.all || settings.uid.is_some() || m.first_block.is_some())
        .collect();
    let valid = discovery.valid().count();
    if settings.json {
        let document = Document { netuid, block: discovery.block, valid, rejected: &discovery.rejected, miners: shown };
        printer.json(&document).context("failed to write to stdout")?;
        return Ok(ExitStatus::Success);
    }
    let header = ["UID", "Hotkey", "Model", "Revision", "Block", "Chute", "Status"].map(str::to_owned).to_vec();
    let rows: Vec<Vec<String>> = shown
        .iter()
        .map(|m| {
            vec![
                m.uid.to_string(),
                short(&m.hotkey, 10),
                m.model.clone().unwrap_or_default(),
                m.revision.as_deref().map(|r| short(r, 12)).unwrap_or_default(),
                m.block.map(|b| b.to_string()).unwrap_or_default(),
                m.slug.clone().unwrap_or_default(),
                match &m.verdict {
                    Verdict::Valid => "valid".to_owned(),
                    Verdict::Rejected { reason } => format!("rejected: {reason}"),
                },
            ]
        })
        .collect();
    let counts: Vec<String> = discovery.rejected.iter().map(|(kind, n)| format!("{kind} {n}")).collect();
    let text = format!(
        "Miners of netuid {netuid} at block {}: {valid} valid, {} rejected{}\n{}",
        discovery.block,
        discovery.rejected.values().sum::<usize>(),
        if counts.is_empty() { String::new() } else { format!(" ({})", counts.join(", ")) },
        plain_table(&header, &rows)
    );
    printer.raw(&text).context("failed to write to stdout")?;
    Ok(ExitStatus::Success)
}

/// One discovery pass with a progress bar: connects to the node, reads the metagraph and the
/// commitments, and checks every miner.
pub(super) async fn discover_miners(chain: &ChainConfig, settings: &DiscoverySettings, printer: Printer) -> anyhow::Result<Discovery> {
    let sources = sources(chain, settings).await?;
    let bar = printer.count_progress(0, "checking miners");
    let discovery = discover(&sources, &settings.options, &bar).await;
    bar.finish_and_clear();
    Ok(discovery?)
}

/// The clients miner discovery reads from (shared by `af miners`, `af weights -r` and
/// `af validate`): connects to the node and builds the Chutes and Hub clients.
pub(super) async fn sources(chain: &ChainConfig, settings: &DiscoverySettings) -> anyhow::Result<Sources> {
    let chain = ChainClient::connect(chain.clone()).await.context("failed to reach subtensor")?;
    Ok(Sources::new(chain, ChutesClient::new(settings.chutes.clone())?, HubClient::new(settings.hub.clone())?))
}

fn short(text: &str, chars: usize) -> String {
    if text.chars().count() <= chars { text.to_owned() } else { format!("{}…", text.chars().take(chars).collect::<String>()) }
}
