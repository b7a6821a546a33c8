//! `af devnet`: starts the local network, prints its endpoints and accounts, and runs until
//! Ctrl-C or SIGTERM, saving the chain state on the way out.

use std::fmt::Write as _;
use std::time::Duration;

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::DevnetArgs;
use crate::devnet::{DevMiner, Devnet, ENV_FILE};
use crate::error::ExitStatus;
use crate::output::{Printer, plain_table};
use crate::settings::DevnetSettings;

/// How often the chain state is saved while running (besides on exit).
const SAVE_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Serialize)]
struct Account<'a> {
    uid: u16,
    role: &'static str,
    policy: Option<String>,
    hotkey: String,
    wallet: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    miner: Option<&'a DevMiner>,
}

#[derive(Debug, Serialize)]
struct Endpoint {
    name: &'static str,
    url: String,
}

#[derive(Debug, Serialize)]
struct Banner<'a> {
    dir: String,
    env_file: String,
    netuid: u16,
    tempo: u16,
    block_time_seconds: f64,
    commit_reveal: bool,
    resumed: bool,
    best_block: u64,
    startup_seconds: f64,
    endpoints: Vec<Endpoint>,
    env: std::collections::BTreeMap<&'static str, String>,
    accounts: Vec<Account<'a>>,
}

fn banner(devnet: &Devnet) -> Banner<'_> {
    let config = devnet.config();
    let validator = devnet.validator();
    let mut accounts = vec![Account {
        uid: 0,
        role: "validator",
        policy: None,
        hotkey: validator.hotkey.public_key().to_ss58(),
        wallet: format!("{}/{}", validator.name, crate::devnet::wallets::HOTKEY_NAME),
        miner: None,
    }];
    accounts.extend(devnet.miners().iter().map(|miner| Account {
        uid: miner.uid,
        role: "miner",
        policy: Some(miner.policy.to_string()),
        hotkey: miner.hotkey.clone(),
        wallet: format!("{}/{}", miner.wallet, crate::devnet::wallets::HOTKEY_NAME),
        miner: Some(miner),
    }));
    Banner {
        dir: config.dir.display().to_string(),
        env_file: config.dir.join(ENV_FILE).display().to_string(),
        netuid: config.netuid,
        tempo: config.tempo,
        block_time_seconds: config.block_time.as_secs_f64(),
        commit_reveal: config.commit_reveal,
        resumed: devnet.resumed(),
        best_block: devnet.node().best_block(),
        startup_seconds: devnet.startup_time().as_secs_f64(),
        endpoints: devnet.endpoints().into_iter().map(|(name, url)| Endpoint { name, url }).collect(),
        env: devnet.env_vars().into_iter().collect(),
        accounts,
    }
}

fn banner_text(banner: &Banner<'_>) -> String {
    let mut text = format!(
        "af devnet: netuid {}, tempo {} blocks, a block every {}s, {} weights\n\n",
        banner.netuid,
        banner.tempo,
        banner.block_time_seconds,
        if banner.commit_reveal { "commit-reveal" } else { "plain" }
    );
    let width = banner.endpoints.iter().map(|e| e.name.len()).max().unwrap_or(0);
    for Endpoint { name, url } in &banner.endpoints {
        let _ = writeln!(text, "  {name:<width$}  {url}");
    }
    text.push('\n');
    let header = ["UID", "Role", "Policy", "Hotkey", "Wallet", "Model"].map(str::to_owned).to_vec();
    let rows: Vec<Vec<String>> = banner
        .accounts
        .iter()
        .map(|a| {
            vec![
                a.uid.to_string(),
                a.role.to_owned(),
                a.policy.clone().unwrap_or_else(|| "-".to_owned()),
                a.hotkey.clone(),
                a.wallet.clone(),
                a.miner.map_or_else(|| "-".to_owned(), |m| m.model.clone()),
            ]
        })
        .collect();
    text.push_str(&plain_table(&header, &rows));
    let _ = writeln!(
        text,
        "\nChain: {} at block {} (saved to {}/chain.json on exit; --fresh starts over)",
        if banner.resumed { "resumed" } else { "new" },
        banner.best_block,
        banner.dir
    );
    let _ = writeln!(text, "Settings for af: set -a; . {}; set +a", banner.env_file);
    let _ = writeln!(text, "Ready in {:.1} s. Ctrl-C stops it.", banner.startup_seconds);
    text
}

/// Runs `af devnet` until `token` is cancelled.
///
/// # Errors
/// Bad flags, a taken port, an unusable directory or saved state (exit 2), or a failure while
/// setting up the miners.
pub async fn run(args: &DevnetArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = DevnetSettings::resolve(args)?;
    let devnet = Devnet::start(settings.config).await.context("failed to start the devnet")?;
    let document = banner(&devnet);
    if settings.json {
        printer.json(&document).context("failed to write to stdout")?;
    } else {
        printer.raw(&banner_text(&document)).context("failed to write to stdout")?;
    }
    tracing::info!(startup_ms = devnet.startup_time().as_millis(), "devnet ready");
    let mut saves = tokio::time::interval(SAVE_EVERY);
    saves.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    saves.tick().await;
    loop {
        tokio::select! {
            biased;
            () = token.cancelled() => break,
            _ = saves.tick() => {
                if let Err(error) = devnet.save() {
                    tracing::warn!(%error, "failed to save the devnet chain state");
                }
            }
        }
    }
    devnet.save().context("failed to save the devnet chain state")?;
    tracing::info!(block = devnet.node().best_block(), "devnet stopped; chain state saved");
    drop(devnet);
    Ok(ExitStatus::Success)
}
