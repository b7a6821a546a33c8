//! `af signer`: holds the validator's hotkey and serves `/healthz`, `/sign` and
//! `/set_weights` to the validator and runner containers.

use std::time::Duration;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::wallet;
use crate::cli::SignerArgs;
use crate::error::ExitStatus;
use crate::settings::{ConfigError, SignerSettings};
use crate::signer::server::{self, SignerState};

/// Runs `af signer` until a signal.
///
/// # Errors
/// Bad settings, no hotkey (exit 2 naming the path), or an address that cannot be bound.
///
/// # Cancellation
/// A signal stops accepting; requests in flight finish, and a weight set in flight gets the
/// stop grace period; then it exits 0 (1 when the grace period ran out).
pub async fn run(args: &SignerArgs, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = SignerSettings::resolve(args)?;
    let location = &settings.wallet.location;
    let hotkey = wallet::hotkey(location, &settings.wallet.password)
        .with_context(|| format!("failed to load hotkey {:?} of wallet {:?}", location.hotkey, location.name))?;
    let listener = match tokio::net::TcpListener::bind(settings.bind).await {
        Ok(listener) => listener,
        Err(error)
            if matches!(
                error.kind(),
                std::io::ErrorKind::AddrInUse | std::io::ErrorKind::AddrNotAvailable | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return Err(ConfigError(format!("cannot listen on {}: {error}", settings.bind)).into());
        }
        Err(error) => return Err(error).with_context(|| format!("failed to listen on {}", settings.bind)),
    };
    let address = listener.local_addr().context("failed to read the bound address")?;
    let authenticated = settings.server.token.is_some();
    tracing::warn!(
        %address,
        hotkey = %hotkey.public_key(),
        netuid = settings.server.netuid,
        token = authenticated,
        "signer listening (GET /healthz, POST /sign, POST /set_weights)"
    );
    let state = SignerState::new(settings.server.clone(), hotkey);
    let mut serving = tokio::spawn(server::serve(listener, state.clone(), token.clone()));
    tokio::select! {
        () = token.cancelled() => drain(serving, &state, settings.stop_grace).await,
        // Only a failing listener ends the server before a signal.
        ended = &mut serving => match ended {
            Ok(Ok(())) => Ok(ExitStatus::Success),
            Ok(Err(error)) => Err(error).context("signer server failed"),
            Err(join) => Err(join).context("signer server task failed"),
        },
    }
}

/// After the stop: the server finishes its requests and the sets in flight their work, within
/// `grace`.
async fn drain(serving: tokio::task::JoinHandle<std::io::Result<()>>, state: &SignerState, grace: Duration) -> anyhow::Result<ExitStatus> {
    let finished = tokio::time::timeout(grace, async {
        let ended = serving.await;
        state.tracker().close();
        state.tracker().wait().await;
        ended
    })
    .await;
    match finished {
        Ok(Ok(Ok(()))) => Ok(ExitStatus::Success),
        Ok(Ok(Err(error))) => Err(error).context("signer server failed"),
        Ok(Err(join)) => Err(join).context("signer server task failed"),
        Err(_) => {
            tracing::error!(
                grace_secs = grace.as_secs_f64(),
                sets = state.tracker().len(),
                "stop grace period over with a weight set still running"
            );
            Ok(ExitStatus::Failure)
        }
    }
}
