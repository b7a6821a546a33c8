//! `af chutes-push --repo R --revision SHA`: deploy a model as a Chutes chute natively (the
//! reference shelled out to the chutes CLI and could not run), accept the fee, and confirm the
//! deterministic chute id with a get.

use std::sync::Arc;

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::chain::signing::Keypair;
use crate::cli::ChutesPushArgs;
use crate::error::ExitStatus;
use crate::inference::chutes::{Chute, ChutesAuth, ChutesClient, HotkeyAuth, check_repo, check_revision, chute_id, deploy_request};
use crate::inference::chutes_config::ChutesCredentials;
use crate::output::{Printer, plain_table};
use crate::settings::{ChutesPushSettings, ConfigError};

#[derive(Debug, Serialize)]
struct Pushed<'a> {
    success: bool,
    chute_id: &'a str,
    chute: &'a Chute,
    repo: &'a str,
    revision: &'a str,
}

/// Runs `af chutes-push`.
///
/// # Errors
/// A repo or revision the server would refuse (exit 2), missing credentials, or the server's
/// refusal (402 fee, 403 name, 409 same version, 429 rate limit) as one line.
///
/// # Cancellation
/// A signal before the deploy is sent stops with [`crate::shutdown::Interrupted`]; a deploy in
/// flight is awaited (it has its own deadline), the read-back after it is interruptible.
pub async fn run(args: &ChutesPushArgs, printer: Printer, token: &CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = ChutesPushSettings::resolve(args)?;
    check_repo(&settings.repo)?;
    check_revision(&settings.revision)?;
    let has_key = matches!(settings.chutes.auth, ChutesAuth::ApiKey(_));
    let needs_file = settings.chute_user.is_none() || (!has_key && !settings.dry_run);
    let credentials = if needs_file {
        let why =
            if settings.chute_user.is_none() { "no --chute-user/CHUTE_USER given" } else { "no CHUTES_API_KEY given (hotkey signing)" };
        Some(ChutesCredentials::load(&settings.config_path).with_context(|| format!("{why}, so the chutes config is needed"))?)
    } else {
        None
    };
    let user = settings.chute_user.clone().or_else(|| credentials.as_ref().map(|c| c.username.clone())).unwrap_or_default();
    let request = deploy_request(&user, &settings.repo, &settings.revision, &settings.deploy)?;
    if settings.dry_run {
        printer.json(&request).context("failed to write to stdout")?;
        return Ok(ExitStatus::Success);
    }
    let mut config = settings.chutes.clone();
    if !has_key && let Some(credentials) = &credentials {
        config.auth = ChutesAuth::Hotkey(hotkey_auth(credentials)?);
    }
    let client = ChutesClient::new(config)?;
    let expected = chute_id(&user, &settings.repo).to_string();
    tracing::info!(repo = %settings.repo, revision = %settings.revision, user, chute_id = %expected, "deploying chute");
    if token.is_cancelled() {
        return Err(crate::shutdown::Interrupted.into());
    }
    let deployed = client.deploy(&request, true).await.with_context(|| format!("failed to deploy {}", settings.repo))?;
    if deployed.chute_id != expected {
        tracing::warn!(expected, answered = %deployed.chute_id, "the server assigned another chute id than uuid5(user::chute::repo)");
    }
    let chute = crate::shutdown::interruptible(token, client.get_chute(&deployed.chute_id))
        .await?
        .with_context(|| format!("deployed, but chute {} could not be read back", deployed.chute_id))?;
    let pushed = Pushed { success: true, chute_id: &chute.chute_id, chute: &chute, repo: &settings.repo, revision: &settings.revision };
    if settings.json {
        printer.json(&pushed).context("failed to write to stdout")?;
    } else {
        let header = ["Field", "Value"].map(str::to_owned).to_vec();
        let rows = vec![
            vec!["success".to_owned(), "true".to_owned()],
            vec!["chute_id".to_owned(), chute.chute_id.clone()],
            vec!["chute".to_owned(), chute.slug.clone().unwrap_or_else(|| chute.name.clone())],
            vec!["repo".to_owned(), settings.repo.clone()],
            vec!["revision".to_owned(), settings.revision.clone()],
        ];
        printer
            .raw(&format!(
                "{}next: af commit --repo {} --revision {} --chute-id {}\n",
                plain_table(&header, &rows),
                settings.repo,
                settings.revision,
                chute.chute_id
            ))
            .context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}

/// Hotkey signing with the seed `chutes register` stored, checked against the address stored
/// beside it.
fn hotkey_auth(credentials: &ChutesCredentials) -> anyhow::Result<HotkeyAuth> {
    let seed =
        hex::decode(credentials.hotkey_seed.expose()).map_err(|_| ConfigError("chutes config: hotkey_seed is not hex".to_owned()))?;
    let keypair = Keypair::from_seed(&seed).map_err(|e| ConfigError(format!("chutes config: hotkey_seed: {e}")))?;
    if keypair.public_key().to_ss58() != credentials.hotkey_ss58 {
        return Err(ConfigError(format!(
            "chutes config: hotkey_seed belongs to {}, not hotkey_ss58address {}",
            keypair.public_key(),
            credentials.hotkey_ss58
        ))
        .into());
    }
    let signer = move |message: &[u8]| hex::encode(keypair.sign(message));
    Ok(credentials.hotkey_auth(Arc::new(signer)))
}
