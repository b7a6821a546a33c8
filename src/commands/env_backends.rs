//! How commands build environment backends from resolved settings: the in-process affine
//! environment and the container spec of an environment (shared by `af eval`, `af env serve`
//! and `af runner`).

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context as _;

use crate::environments::EnvSpec;
use crate::envs::affine::AffineEnv;
use crate::envs::dataset::Dataset;
use crate::envs::docker::ContainerSpec;
use crate::envs::sandbox::{Limits, Sandbox};
use crate::inference::ApiKey;
use crate::secret::Secret;
use crate::settings::{AffineEnvSettings, DockerRunSettings};

/// Builds the in-process affine environment from resolved settings.
///
/// # Errors
/// The running executable cannot be located (it is the sandbox helper).
pub fn affine_env(settings: &AffineEnvSettings, api_key: Option<ApiKey>) -> anyhow::Result<AffineEnv> {
    let helper: PathBuf = std::env::current_exe().context("failed to locate the af executable (the sandbox helper)")?;
    let python = real_interpreter(&settings.python);
    if nix::unistd::Uid::effective().is_root() && python.starts_with("/root") {
        tracing::warn!(python = %python.display(), "as root the sandbox runs programs as an unprivileged uid, which cannot read an interpreter under /root; use --python /usr/bin/python3");
    }
    let sandbox = Sandbox::new(helper, python, Limits::default());
    let dataset = Dataset::new(&settings.dataset, settings.source.clone(), Some(settings.cache_dir.clone()));
    Ok(AffineEnv::new(Arc::new(dataset), sandbox, api_key))
}

/// The interpreter's own path (`sys.executable`), so launcher shims such as pyenv's, which
/// need environment variables the sandbox clears, are bypassed.
fn real_interpreter(python: &std::path::Path) -> PathBuf {
    let asked = std::process::Command::new(python).args(["-c", "import sys; print(sys.executable)"]).output();
    match asked {
        Ok(output) if output.status.success() => {
            let path = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
            if path.is_file() { path } else { python.to_path_buf() }
        }
        _ => python.to_path_buf(),
    }
}

/// The containers of `spec` as the reference starts them: `CHUTES_API_KEY` for the miners'
/// calls, `ENV_NAME` (affine) or the `AgentGym` tool keys, the dataset bucket when given.
#[must_use]
pub fn container_spec(spec: &EnvSpec, docker: &DockerRunSettings, api_key: Option<&ApiKey>) -> ContainerSpec {
    let mut env_vars = Vec::new();
    if let Some(key) = api_key {
        env_vars.push((crate::env_vars::CHUTES_API_KEY.to_owned(), Secret::new(key.expose())));
    }
    match spec.task_type() {
        Some(task_type) => env_vars.push((crate::env_vars::ENV_NAME.to_owned(), Secret::new(task_type))),
        None => env_vars.extend(docker.agentgym_tools.iter().cloned()),
    }
    if let Some(url) = &docker.dataset_url {
        env_vars.push((crate::env_vars::R2_PUBLIC_BASE.to_owned(), Secret::new(url.as_str())));
    }
    ContainerSpec {
        env_id: spec.id.to_owned(),
        image: docker.image.clone(),
        name_prefix: spec.id.replace(':', "-"),
        env_vars,
        mem_limit: docker.mem_limit,
        network: docker.network.clone(),
        replicas: docker.replicas,
        pull: docker.pull,
        kind: None,
        read_timeout: crate::envs::client::DEFAULT_READ_TIMEOUT,
        ready_timeout: None,
        hosts: docker.hosts.clone(),
        ssh: docker.ssh.clone(),
    }
}
