//! `af runner`: wires the resolved settings to the sampling engine ([`crate::scheduler`]) and
//! runs it until SIGTERM/SIGINT (exit 0 after a clean stop) or the watchdog fires (exit 1).

use std::sync::Arc;

use anyhow::Context as _;
use tokio_util::sync::CancellationToken;

use crate::chain::client::ChainClient;
use crate::cli::RunnerArgs;
use crate::error::ExitStatus;
use crate::hub::HubClient;
use crate::inference::chutes::ChutesClient;
use crate::miners::Sources;
use crate::scheduler::evaluator::Backend;
use crate::scheduler::uploader::Signing;
use crate::scheduler::{BackendSpec, RunnerConfig, RunnerDeps};
use crate::settings::{EnvPlan, RunnerSettings};
use crate::signer::client::SignerClient;
use crate::store::{BackendConfig, Store};

/// Runs `af runner`.
///
/// # Errors
/// Bad settings, a spool that cannot be opened (exit 2), an unreachable node at start, or the
/// watchdog firing (exit 1).
pub async fn run(args: &RunnerArgs, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let settings = RunnerSettings::resolve(args)?;
    for (env, reason) in &settings.disabled {
        tracing::warn!(env, "{env} is disabled: {reason}");
    }
    if settings.envs.is_empty() {
        return Err(
            crate::scheduler::Error::NoEnvironment("every selected environment is disabled (see the warnings above)".to_owned()).into()
        );
    }
    if let Some(BackendConfig::Local(dir)) = &settings.store.write {
        tracing::warn!(dir = %dir.display(), "no R2 write keys: results go to the local store at {}", dir.display());
    }
    let store = Store::new(settings.store.clone()).context("failed to set up the result store")?;
    let chain =
        crate::shutdown::interruptible(&token, ChainClient::connect(settings.chain.clone())).await?.context("failed to reach subtensor")?;
    let sources = Arc::new(Sources::new(
        chain,
        ChutesClient::new(settings.discovery.chutes.clone())?,
        HubClient::new(settings.discovery.hub.clone())?,
    ));
    let remote = SignerClient::new(&settings.signer.0, settings.signer.1.clone()).context("failed to set up the signer client")?;
    let signing = Signing::new(Some(remote), Some((settings.wallet.location.clone(), settings.wallet.password.clone())));

    let mut native: Option<Backend> = None;
    let mut envs = Vec::new();
    for (spec, plan) in &settings.envs {
        let backend = match plan {
            EnvPlan::Native(affine) => {
                if native.is_none() {
                    let env = super::env_backends::affine_env(affine, settings.api_key.clone())?;
                    native = Some(Backend::Native(Arc::new(env)));
                }
                BackendSpec::Ready(native.clone().expect("built just above"))
            }
            EnvPlan::Url(url) => BackendSpec::Url { url: url.clone(), api_key: settings.api_key.clone() },
            EnvPlan::Docker(docker) => {
                let mut docker = docker.clone();
                docker.replicas = docker.hosts.len().max(1);
                BackendSpec::Docker(Box::new(super::env_backends::container_spec(spec, &docker, settings.api_key.as_ref())))
            }
        };
        envs.push((*spec, backend));
    }
    if settings.api_key.is_none() {
        tracing::warn!("CHUTES_API_KEY is not set: the environments call miners without a key");
    }
    let config = RunnerConfig {
        envs,
        workers_per_env: settings.workers_per_env,
        queue_capacity: settings.queue_capacity,
        task_interval: settings.task_interval,
        call_deadline: settings.call_deadline,
        refresh_interval: settings.refresh_interval,
        pause: settings.pause,
        sink_batch_size: settings.sink_batch_size,
        sink_max_wait: settings.sink_max_wait,
        watchdog_timeout: settings.watchdog_timeout,
        grace: settings.grace,
        state_path: settings.state_path.clone(),
        spool_path: settings.spool_path.clone(),
    };
    let deps = RunnerDeps { sources, discovery: settings.discovery.options.clone(), store, signing };
    crate::scheduler::run(config, deps, token, |_| {}).await?;
    Ok(ExitStatus::Success)
}
