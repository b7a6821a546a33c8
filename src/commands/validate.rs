//! `af validate`: the validator loop ([`crate::validator`]) wired to its settings: the
//! weights source, the signer and the local wallet, and what is printed each tempo.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::signing::{Keypair, PublicKey};
use crate::chain::wallet;
use crate::cli::ValidateArgs;
use crate::error::ExitStatus;
use crate::output::Printer;
use crate::settings::{ConfigError, ValidateSettings, WeightsSourceSettings};
use crate::signer::client::SignerClient;
use crate::validator::setter::Setter;
use crate::validator::source::{LocalSource, R2Source, WeightSource};
use crate::validator::{Error, TempoReport, Validator, ValidatorConfig};

/// Pause between two attempts to learn the signer's hotkey at start-up.
const SIGNER_HOTKEY_RETRY: Duration = Duration::from_secs(2);

/// Runs `af validate` until a signal.
///
/// # Errors
/// Bad settings, no wallet and no signer (exit 2 naming the keyfile), a hotkey that is not
/// registered (exit 2), or a chain that cannot be reached at start.
///
/// # Cancellation
/// A signal lets the step in flight finish (a weight set is never torn) within the stop grace
/// period, then exits 0; 1 when the grace period ran out. The watchdog exits 1 at once.
pub async fn run(args: &ValidateArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = ValidateSettings::resolve(args)?;
    let local = local_hotkey(&settings)?;
    let signer = SignerClient::new(&settings.signer.url, settings.signer.token.clone())?;
    let sources = Arc::new(super::miners::sources(&settings.chain, &settings.discovery).await?);
    let Some(hotkey) = validator_hotkey(local.as_ref(), &signer, &settings, &token).await? else {
        return Ok(ExitStatus::Success);
    };
    let source = match &settings.source {
        WeightsSourceSettings::Local { store, tail, parse_threads, allow_empty } => WeightSource::Local(Box::new(LocalSource {
            store: crate::store::Store::new((**store).clone()).context("failed to set up the result store")?,
            discovery: settings.discovery.options.clone(),
            tail: *tail,
            threads: parse_threads.get(),
            allow_empty: *allow_empty,
        })),
        WeightsSourceSettings::R2 { url, max_age } => {
            tracing::warn!(url, max_age, "VALIDATOR MODE: R2 WEIGHTS");
            WeightSource::R2(R2Source::new(url, *max_age, settings.netuid)?)
        }
    };
    let setter = Setter { signer: Some(signer), local, netuid: settings.netuid, policy: settings.policy, beacon: settings.beacon };
    let config = ValidatorConfig {
        netuid: settings.netuid,
        interval: settings.interval,
        watchdog_timeout: settings.watchdog_timeout,
        retry_delay: settings.policy.retry_delay,
        dry_run: settings.dry_run,
    };
    let validator = Validator::start(config, sources, source, setter, hotkey).await?;
    let json = settings.json;
    let on_tempo = move |report: &TempoReport| {
        let written = if json { printer.json(report) } else { printer.raw(&report.text()) };
        if let Err(error) = written {
            tracing::warn!(%error, "failed to write the tempo report to stdout");
        }
    };
    let running = validator.run(on_tempo, token.clone());
    tokio::pin!(running);
    let outcome = tokio::select! {
        outcome = &mut running => outcome,
        () = token.cancelled() => {
            let Ok(outcome) = tokio::time::timeout(settings.stop_grace, &mut running).await else {
                tracing::error!(grace_secs = settings.stop_grace.as_secs_f64(), "stop grace period over; abandoning the step in flight");
                return Ok(ExitStatus::Failure);
            };
            outcome
        }
    };
    match outcome {
        Ok(()) => Ok(ExitStatus::Success),
        // Exit 1 (main does not wait for the runtime, so a stuck blocking task cannot hold the
        // exit up): Docker's restart policy brings the validator back.
        Err(error @ Error::Stalled(_)) => {
            tracing::error!(error = %error, "[WATCHDOG] process stalled");
            Err(error.into())
        }
        Err(error) => Err(error.into()),
    }
}

/// The local wallet's hotkey: required unless a signer is configured (`SIGNER_URL`).
fn local_hotkey(settings: &ValidateSettings) -> anyhow::Result<Option<Keypair>> {
    let location = &settings.wallet.location;
    match wallet::hotkey(location, &settings.wallet.password) {
        Ok(keypair) => Ok(Some(keypair)),
        Err(crate::chain::Error::KeyfileMissing { path }) if settings.signer.explicit => {
            tracing::info!(path = %path.display(), "no local hotkey: weights are set through the signer only");
            Ok(None)
        }
        Err(error) => Err(error).with_context(|| {
            format!(
                "failed to load hotkey {:?} of wallet {:?} (or set SIGNER_URL to set weights through a signer)",
                location.hotkey, location.name
            )
        }),
    }
}

/// The hotkey weights are set for: the local wallet's, else the signer's (asked with an empty
/// `/sign` batch until it answers). Both present must agree. `None` when stopped first.
async fn validator_hotkey(
    local: Option<&Keypair>,
    signer: &SignerClient,
    settings: &ValidateSettings,
    token: &CancellationToken,
) -> anyhow::Result<Option<PublicKey>> {
    if let Some(local) = local {
        // A signer that holds another hotkey would set weights for someone else: refuse. An
        // unreachable signer is checked again at each set.
        match tokio::time::timeout(Duration::from_secs(10), signer.hotkey()).await {
            Ok(Ok(remote)) if remote != local.public_key().to_ss58() => {
                return Err(ConfigError(format!(
                    "the signer at {} holds hotkey {remote}, but the local wallet's is {}: point both at the same hotkey",
                    signer.base_url(),
                    local.public_key()
                ))
                .into());
            }
            Ok(Err(error)) if error.is_user_input() => return Err(error).context("the signer refused the validator"),
            _ => {}
        }
        return Ok(Some(local.public_key()));
    }
    let deadline = tokio::time::Instant::now() + settings.watchdog_timeout;
    loop {
        match signer.hotkey().await {
            Ok(hotkey) => return Ok(Some(PublicKey::from_ss58(&hotkey)?)),
            Err(error) if error.is_unreachable() && tokio::time::Instant::now() < deadline => {
                tracing::warn!(error = %crate::error::one_line(&error), "waiting for the signer");
            }
            Err(error) => return Err(Error::Signer(error).into()),
        }
        tokio::select! {
            () = token.cancelled() => return Ok(None),
            () = tokio::time::sleep(SIGNER_HOTKEY_RETRY) => {}
        }
    }
}
