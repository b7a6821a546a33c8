//! `af env serve`: the affine environment over the Affinetes `function_based` protocol;
//! `af env image build`: the container image of `af env serve`, built without a registry.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use crate::cli::{EnvArgs, EnvCommand, EnvImageBuildArgs, EnvImageCommand};
use crate::envs::{docker, image, server};
use crate::error::ExitStatus;
use crate::output::Printer;
use crate::settings::EnvServeSettings;

/// Runs `af env ...`.
///
/// # Errors
/// Bad arguments, a port that cannot be bound, or an image that cannot be built.
///
/// # Cancellation
/// A signal stops accepting connections; calls in flight finish, then it returns success.
pub async fn run(args: &EnvArgs, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let args = match &args.command {
        EnvCommand::Serve(args) => args,
        EnvCommand::Image(EnvImageCommand::Build(args)) => return image_build(args, &printer).await,
    };
    let settings = EnvServeSettings::resolve(args)?;
    let env = Arc::new(super::env_backends::affine_env(&settings.affine, settings.api_key.clone())?);
    let listener = tokio::net::TcpListener::bind(settings.bind).await.with_context(|| format!("failed to listen on {}", settings.bind))?;
    let address = listener.local_addr().context("failed to read the bound address")?;
    tracing::warn!(%address, "serving the affine environment (POST /call, GET /health, GET /methods)");
    server::serve(listener, env, settings.limits, token).await.context("environment server failed")?;
    Ok(ExitStatus::Success)
}

/// What `af env image build --json` prints.
#[derive(Debug, Serialize)]
struct BuildReport {
    tag: String,
    content_hash: String,
    cached: bool,
    files: usize,
    seconds: f64,
}

async fn image_build(args: &EnvImageBuildArgs, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let started = Instant::now();
    let af = std::env::current_exe().context("failed to locate the af executable")?;
    let python = args.python.clone();
    let plan = tokio::task::spawn_blocking(move || image::plan(&af, &python)).await.context("image planning panicked")??;
    let engine = docker::connect().await?;
    let existing = docker::image_label(&engine, &args.tag, docker::CONTENT_LABEL).await?;
    let cached = !args.force && existing.as_deref() == Some(plan.content_hash.as_str());
    if cached {
        tracing::info!(tag = args.tag, "image content unchanged; keeping it");
    } else {
        let for_tar = plan.clone();
        let tarball = tokio::task::spawn_blocking(move || image::write_tar(&for_tar)).await.context("tar writer panicked")??;
        tracing::info!(bytes = tarball.len(), files = plan.file_count(), "importing the root filesystem");
        let spec = docker::ImportSpec { tag: args.tag.clone(), changes: image::image_changes(&plan.content_hash) };
        docker::import_image(&engine, tarball, &spec).await.with_context(|| format!("failed to import image {}", args.tag))?;
    }
    let report = BuildReport {
        tag: args.tag.clone(),
        content_hash: plan.content_hash.clone(),
        cached,
        files: plan.file_count(),
        seconds: started.elapsed().as_secs_f64(),
    };
    if args.json {
        printer.json(&report).context("failed to write to stdout")?;
    } else {
        let how = if cached { "unchanged, reused" } else { "built" };
        printer
            .raw(&format!(
                "{} {how} ({} files, content {}, {:.1} s)\n",
                report.tag,
                report.files,
                &report.content_hash[..12],
                report.seconds
            ))
            .context("failed to write to stdout")?;
    }
    Ok(ExitStatus::Success)
}
