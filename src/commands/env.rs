//! `af env serve`: the affine environment over the Affinetes `function_based` protocol.

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::cli::{EnvArgs, EnvCommand};
use crate::envs::server;
use crate::error::ExitStatus;
use crate::output::Printer;
use crate::settings::EnvServeSettings;

/// Runs `af env ...`.
///
/// # Errors
/// Bad arguments or a port that cannot be bound.
///
/// # Cancellation
/// A signal stops accepting connections; calls in flight finish, then it returns success.
pub async fn run(args: &EnvArgs, _printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let EnvCommand::Serve(args) = &args.command;
    let settings = EnvServeSettings::resolve(args)?;
    let env = Arc::new(super::eval::affine_env(&settings.affine, settings.api_key.clone())?);
    let listener = tokio::net::TcpListener::bind(settings.bind).await.with_context(|| format!("failed to listen on {}", settings.bind))?;
    let address = listener.local_addr().context("failed to read the bound address")?;
    tracing::warn!(%address, "serving the affine environment (POST /call, GET /health, GET /methods)");
    server::serve(listener, env, token).await.context("environment server failed")?;
    Ok(ExitStatus::Success)
}
