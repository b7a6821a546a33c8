//! Settings of `af runner`.

use std::path::PathBuf;
use std::time::Duration;

use crate::chain::client::ChainConfig;
use crate::cli::{EnvBackendKind, RunnerArgs};
use crate::env_vars;
use crate::environments::{ENVIRONMENTS, EnvSpec, env_spec};
use crate::inference::ApiKey;
use crate::scheduler::pause::PauseRules;
use crate::secret::Secret;
use crate::store::StoreConfig;

use super::{AffineEnvSettings, ConfigError, DiscoverySettings, DockerRunSettings, StoreSettings, WalletSettings, resolve_chain};

/// How one environment runs.
#[derive(Debug, Clone)]
pub enum EnvPlan {
    /// In this process.
    Native(AffineEnvSettings),
    /// Behind this URL.
    Url(String),
    /// In containers of this image (and these options).
    Docker(DockerRunSettings),
}

/// `af runner` after validation.
#[derive(Debug, Clone)]
pub struct RunnerSettings {
    /// The environments that run, in the registry's order.
    pub envs: Vec<(&'static EnvSpec, EnvPlan)>,
    /// Environments left out, and why (each is warned about once at start).
    pub disabled: Vec<(&'static str, String)>,
    /// Workers per environment.
    pub workers_per_env: usize,
    /// Queue capacity per environment.
    pub queue_capacity: usize,
    /// Seconds between events, when overridden.
    pub task_interval: Option<Duration>,
    /// The outer evaluation deadline, when overridden.
    pub call_deadline: Option<Duration>,
    /// Between discovery passes.
    pub refresh_interval: Duration,
    /// The pause rule.
    pub pause: PauseRules,
    /// Results per upload.
    pub sink_batch_size: usize,
    /// Oldest result's wait before a smaller upload.
    pub sink_max_wait: Duration,
    /// The watchdog's limit.
    pub watchdog_timeout: Duration,
    /// The stop grace period.
    pub grace: Duration,
    /// The sampling state file.
    pub state_path: PathBuf,
    /// The spool.
    pub spool_path: PathBuf,
    /// The signer service and its token.
    pub signer: (String, Option<Secret>),
    /// The wallet of the local-signing fallback.
    pub wallet: WalletSettings,
    /// The node.
    pub chain: ChainConfig,
    /// The result store.
    pub store: StoreConfig,
    /// Miner discovery.
    pub discovery: DiscoverySettings,
    /// `CHUTES_API_KEY`: how the environments call the miners.
    pub api_key: Option<ApiKey>,
}

fn seconds(flag: &str, value: f64) -> Result<Duration, ConfigError> {
    if value.is_finite() && value > 0.0 && value <= 10.0 * 86_400.0 * 365.0 {
        Ok(Duration::from_secs_f64(value))
    } else {
        Err(ConfigError(format!("{flag} must be a positive number of seconds, not {value}")))
    }
}

fn home(parts: &[&str]) -> Result<PathBuf, ConfigError> {
    let home = std::env::var_os(env_vars::HOME)
        .filter(|h| !h.is_empty())
        .ok_or_else(|| ConfigError("HOME is not set; pass --spool and --state-file".to_owned()))?;
    Ok(parts.iter().fold(PathBuf::from(home), |path, part| path.join(part)))
}

/// The environments `--envs` names (ids such as `affine:sat`, or `sat`), in registry order.
fn selected_envs(list: Option<&str>) -> Result<Vec<&'static EnvSpec>, ConfigError> {
    let Some(list) = list.map(str::trim).filter(|l| !l.is_empty()) else { return Ok(ENVIRONMENTS.iter().collect()) };
    let mut chosen = Vec::new();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let spec =
            env_spec(name).or_else(|| ENVIRONMENTS.iter().find(|spec| spec.id.rsplit(':').next() == Some(name))).ok_or_else(|| {
                let known: Vec<&str> = ENVIRONMENTS.iter().map(|s| s.id).collect();
                ConfigError(format!("--envs / {}: unknown environment {name:?} (known: {})", env_vars::AF_ENVS, known.join(", ")))
            })?;
        chosen.push(spec);
    }
    Ok(ENVIRONMENTS.iter().filter(|spec| chosen.iter().any(|c| c.id == spec.id)).collect())
}

/// `ENV=VALUE` pairs; `affine=` applies to SAT, ABD and DED. Later pairs win.
fn per_env(flag: &str, list: Option<&str>) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let mut pairs = Vec::new();
    for item in list.unwrap_or_default().split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let (name, value) = item.split_once('=').ok_or_else(|| ConfigError(format!("{flag}: expected ENV=VALUE, got {item:?}")))?;
        let (name, value) = (name.trim(), value.trim());
        if value.is_empty() {
            return Err(ConfigError(format!("{flag}: {name} has an empty value")));
        }
        if name == "affine" {
            pairs.extend(ENVIRONMENTS.iter().filter(|s| s.task_type().is_some()).map(|s| (s.id, value.to_owned())));
        } else {
            let spec = selected_envs(Some(name)).map_err(|_| ConfigError(format!("{flag}: unknown environment {name:?}")))?;
            pairs.extend(spec.into_iter().map(|s| (s.id, value.to_owned())));
        }
    }
    Ok(pairs)
}

fn lookup<'a>(pairs: &'a [(&'static str, String)], env: &str) -> Option<&'a str> {
    pairs.iter().rev().find(|(id, _)| *id == env).map(|(_, value)| value.as_str())
}

impl RunnerSettings {
    /// Validates the flags and variables.
    ///
    /// # Errors
    /// Any value the runner cannot use, named with its flag and variable.
    pub fn resolve(args: &RunnerArgs) -> Result<Self, ConfigError> {
        if args.window != 20 {
            return Err(ConfigError(format!(
                "{} is {}: result windows are 20 blocks on the network (scorers and other validators read 20-block shards)",
                env_vars::AFFINE_WINDOW,
                args.window
            )));
        }
        for (flag, value) in [
            ("--workers-per-env / AFFINE_WORKERS_PER_ENV", args.workers_per_env),
            ("--sink-batch-size / AFFINE_SINK_BATCH_SIZE", args.sink_batch_size),
        ] {
            if value == 0 {
                return Err(ConfigError(format!("{flag} must be at least 1")));
            }
        }
        if args.queue_max_size_per_env < 4 {
            return Err(ConfigError("--queue-max-size-per-env / AFFINE_QUEUE_MAX_SIZE_PER_ENV must be at least 4".to_owned()));
        }
        if args.max_consecutive_errors == 0 {
            return Err(ConfigError("--max-consecutive-errors / AFFINE_MAX_CONSECUTIVE_ERRORS must be at least 1".to_owned()));
        }
        let pause = PauseRules {
            base_secs: seconds("--chutes-error-pause-seconds", args.chutes_error_pause_seconds)?.as_secs_f64(),
            max_secs: seconds("--max-pause-seconds", args.max_pause_seconds)?.as_secs_f64(),
            every: args.max_consecutive_errors,
            window_secs: if args.service_error_window == 0.0 {
                0.0
            } else {
                seconds("--service-error-window", args.service_error_window)?.as_secs_f64()
            },
        };
        let api_key = args.discovery.chutes.chutes_api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).map(ApiKey::new);
        let selected = selected_envs(args.envs.as_deref())?;
        let urls = per_env("--env-url / AF_ENV_URLS", args.env_urls.as_deref())?;
        let images = per_env("--image / AF_ENV_IMAGES", args.images.as_deref())?;
        let mut envs = Vec::new();
        let mut disabled = Vec::new();
        let docker = matches!(args.env_backend, EnvBackendKind::Docker).then(|| docker_base(args)).transpose()?;
        let native = matches!(args.env_backend, EnvBackendKind::Native).then(|| AffineEnvSettings::resolve(&args.affine)).transpose()?;
        for spec in selected {
            let plan = match args.env_backend {
                EnvBackendKind::Native => {
                    let (Some(affine), Some(_)) = (&native, spec.task_type()) else {
                        disabled.push((spec.id, "it has no in-process implementation (use --env-backend docker or url)".to_owned()));
                        continue;
                    };
                    EnvPlan::Native(affine.clone())
                }
                EnvBackendKind::Url => {
                    let Some(url) = lookup(&urls, spec.id) else {
                        disabled.push((spec.id, "no --env-url names it".to_owned()));
                        continue;
                    };
                    EnvPlan::Url(crate::envs::client::normalise_url(url).map_err(|e| ConfigError(format!("--env-url {}: {e}", spec.id)))?)
                }
                EnvBackendKind::Docker => {
                    let mut plan = docker.clone().expect("resolved for the docker backend");
                    lookup(&images, spec.id).unwrap_or(spec.image).clone_into(&mut plan.image);
                    EnvPlan::Docker(plan)
                }
            };
            envs.push((spec, plan));
        }
        let state_path = match &args.state_file {
            Some(path) => path.clone(),
            None => home(&[".cache", "affine", "sampling_state.json"])?,
        };
        let spool_path = match &args.spool {
            Some(path) => path.clone(),
            None => home(&[".cache", "affine", "runner-spool.redb"])?,
        };
        let signer_url = args.signer_url.trim();
        if !(signer_url.starts_with("http://") || signer_url.starts_with("https://")) {
            return Err(ConfigError(format!("--signer-url / SIGNER_URL must be an http(s) URL, not {signer_url:?}")));
        }
        let token = std::env::var(env_vars::SIGNER_TOKEN).ok().filter(|t| !t.trim().is_empty()).map(|t| Secret::new(t.trim()));
        Ok(Self {
            envs,
            disabled,
            workers_per_env: args.workers_per_env,
            queue_capacity: args.queue_max_size_per_env,
            task_interval: args.task_interval.map(|v| seconds("--task-interval", v)).transpose()?,
            call_deadline: args.call_deadline.map(|v| seconds("--call-deadline", v)).transpose()?,
            refresh_interval: seconds("--miner-refresh-interval", args.miner_refresh_interval)?,
            pause,
            sink_batch_size: args.sink_batch_size,
            sink_max_wait: seconds("--sink-max-wait", args.sink_max_wait)?,
            watchdog_timeout: seconds("--watchdog-timeout", args.watchdog_timeout)?,
            grace: seconds("--grace", args.grace)?,
            state_path,
            spool_path,
            signer: (signer_url.to_owned(), token),
            wallet: WalletSettings::resolve(&args.wallet)?,
            chain: resolve_chain(&args.chain)?,
            store: StoreSettings::resolve(&args.store)?,
            discovery: DiscoverySettings::resolve(&args.discovery, args.netuid)?,
            api_key,
        })
    }
}

/// The container options shared by every environment (the image is set per env).
fn docker_base(args: &RunnerArgs) -> Result<DockerRunSettings, ConfigError> {
    let docker = &args.docker;
    let mem_limit = crate::envs::docker::parse_mem_limit(&docker.mem_limit).map_err(|e| ConfigError(format!("--mem-limit: {e}")))?;
    let hosts = crate::envs::docker::DockerHost::parse_list(docker.hosts.as_deref().unwrap_or_default())
        .map_err(|e| ConfigError(format!("--hosts / {}: {e}", env_vars::AFFINETES_HOSTS)))?;
    let host_keys = crate::envs::ssh::HostKeyPolicy::parse(&docker.ssh_host_keys)
        .map_err(|e| ConfigError(format!("--ssh-host-keys / {}: {e}", env_vars::AF_SSH_HOST_KEYS)))?;
    if let Some(identity) = &docker.ssh_identity
        && !identity.is_file()
    {
        return Err(ConfigError(format!("--ssh-identity / {}: no file at {}", env_vars::AF_SSH_IDENTITY, identity.display())));
    }
    Ok(DockerRunSettings {
        image: String::new(),
        network: docker.docker_network.clone().filter(|n| !n.trim().is_empty()),
        replicas: 1,
        mem_limit,
        pull: docker.pull,
        dataset_url: args.affine.dataset_url.clone(),
        agentgym_tools: super::agentgym_tools(),
        hosts,
        ssh: crate::envs::ssh::SshOptions {
            identity: docker.ssh_identity.clone(),
            host_keys,
            known_hosts: docker.ssh_known_hosts.clone(),
            ..crate::envs::ssh::SshOptions::default()
        },
    })
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;

    fn resolve(extra: &[&str]) -> Result<RunnerSettings, ConfigError> {
        let mut words = vec!["af", "runner", "--spool", "/tmp/s.redb", "--state-file", "/tmp/state.json", "--wallet.path", "/tmp/w"];
        words.extend_from_slice(extra);
        let cli = crate::cli::Cli::try_parse_from(words).expect("parses");
        let crate::cli::Command::Runner(args) = cli.command else { panic!("runner") };
        RunnerSettings::resolve(&args)
    }

    #[test]
    fn runner_settings_take_the_reference_defaults_and_pick_backends_per_env() {
        let settings = resolve(&[]).expect("defaults");
        assert_eq!(settings.envs.len(), 8);
        assert_eq!((settings.workers_per_env, settings.queue_capacity, settings.sink_batch_size), (10, 1000, 300));
        assert_eq!(settings.pause, PauseRules { base_secs: 600.0, max_secs: 86_400.0, every: 3, window_secs: 60.0 });
        assert_eq!((settings.refresh_interval.as_secs(), settings.watchdog_timeout.as_secs()), (1800, 900));
        assert!(matches!(&settings.envs[5].1, EnvPlan::Docker(d) if d.image == "bignickeye/affine:v3"));

        let images =
            resolve(&["--image", "affine=affine-env:local,agentgym:webshop=shop:1", "--envs", "sat,agentgym:webshop"]).expect("images");
        let chosen: Vec<(&str, String)> = images
            .envs
            .iter()
            .map(|(spec, plan)| {
                (
                    spec.id,
                    match plan {
                        EnvPlan::Docker(d) => d.image.clone(),
                        _ => String::new(),
                    },
                )
            })
            .collect();
        assert_eq!(chosen, [("agentgym:webshop", "shop:1".to_owned()), ("affine:sat", "affine-env:local".to_owned())]);

        let urls = resolve(&["--env-backend", "url", "--env-url", "affine=http://127.0.0.1:8000/"]).expect("urls");
        assert_eq!(urls.envs.len(), 3);
        assert_eq!(urls.disabled.len(), 5, "agentgym envs have no URL");
        let native = resolve(&["--env-backend", "native", "--python", "/usr/bin/python3"]).expect("native");
        assert_eq!(native.envs.iter().map(|(s, _)| s.id).collect::<Vec<_>>(), ["affine:sat", "affine:ded", "affine:abd"]);
    }

    #[test]
    fn runner_settings_refuse_what_the_reference_crashed_on() {
        for (extra, says) in [
            (vec!["--max-consecutive-errors", "0"], "--max-consecutive-errors"),
            (vec!["--window", "10"], "AFFINE_WINDOW"),
            (vec!["--workers-per-env", "0"], "--workers-per-env"),
            (vec!["--envs", "affine:chess"], "unknown environment"),
            (vec!["--task-interval=-1"], "--task-interval"),
            (vec!["--image", "affine"], "ENV=VALUE"),
            (vec!["--signer-url", "signer:8080"], "SIGNER_URL"),
        ] {
            let error = resolve(&extra).expect_err(says).to_string();
            assert!(error.contains(says), "{extra:?}: {error}");
        }
    }
}
