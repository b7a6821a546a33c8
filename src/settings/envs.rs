//! Settings of the environment commands: `af eval` and `af env serve`.

use std::path::PathBuf;

use crate::cli::{AffineEnvArgs, EnvRunnerArgs, EnvServeArgs, EvalArgs};
use crate::env_vars;
use crate::environments::EnvSpec;
use crate::envs::dataset::{DEFAULT_DATASET, DEFAULT_PUBLIC_BASE, DatasetSource};
use crate::inference::ApiKey;
use crate::secret::Secret;

use super::ConfigError;

/// Where ABD/DED rows come from and which interpreter runs programs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AffineEnvSettings {
    /// Dataset name.
    pub dataset: String,
    /// Bucket URL or local directory.
    pub source: DatasetSource,
    /// Download cache directory.
    pub cache_dir: PathBuf,
    /// Absolute path of the Python interpreter.
    pub python: PathBuf,
}

impl AffineEnvSettings {
    /// Resolves the dataset source (directory wins over URL) and finds the interpreter on
    /// `PATH` (the sandbox runs it with an empty environment, so it needs a full path).
    ///
    /// # Errors
    /// An interpreter that cannot be found, or a dataset URL that is not http(s).
    pub fn resolve(args: &AffineEnvArgs) -> Result<Self, ConfigError> {
        let source = match (&args.dataset_dir, &args.dataset_url) {
            (Some(dir), _) => DatasetSource::Dir(dir.clone()),
            (None, Some(url)) if url.starts_with("http://") || url.starts_with("https://") => DatasetSource::Http(url.clone()),
            (None, Some(url)) => return Err(ConfigError(format!("--dataset-url must be an http(s) URL, got {url}"))),
            (None, None) => DatasetSource::Http(DEFAULT_PUBLIC_BASE.to_owned()),
        };
        let python = find_program(&args.python).ok_or_else(|| {
            ConfigError(format!("python interpreter {} not found (set --python or {})", args.python, env_vars::AF_PYTHON))
        })?;
        let cache_dir = args.dataset_cache.clone().unwrap_or_else(|| std::env::temp_dir().join("af-dataset-cache"));
        Ok(Self { dataset: DEFAULT_DATASET.to_owned(), source, cache_dir, python })
    }
}

fn find_program(name: &str) -> Option<PathBuf> {
    let path = PathBuf::from(name);
    if path.components().count() > 1 {
        return path.is_file().then(|| std::path::absolute(&path).unwrap_or(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// Which task ids `af eval` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TaskSelection {
    /// These ids, in order.
    Ids(Vec<u64>),
    /// This many distinct random ids of the environment's range.
    Samples(u64),
}

impl TaskSelection {
    /// Parses `--task-id` (`7` or the half-open `0..20`) or `--samples`, checked against `spec`.
    ///
    /// # Errors
    /// Unparsable text, an empty range, ids outside the environment's range, or zero samples.
    pub fn resolve(task_id: Option<&str>, samples: Option<u64>, spec: &EnvSpec) -> Result<Self, ConfigError> {
        let bad = |text: &str| ConfigError(format!("--task-id takes an id (7) or a half-open range (0..20), got {text}"));
        let Some(text) = task_id else {
            let count = samples.unwrap_or(10);
            if count == 0 || count > spec.dataset_size() {
                return Err(ConfigError(format!("--samples must be between 1 and {} for {}", spec.dataset_size(), spec.id)));
            }
            return Ok(Self::Samples(count));
        };
        let ids: Vec<u64> = match text.split_once("..") {
            Some((start, end)) => {
                let start: u64 = start.trim().parse().map_err(|_| bad(text))?;
                let end: u64 = end.trim().parse().map_err(|_| bad(text))?;
                if end <= start {
                    return Err(ConfigError(format!("--task-id range {text} is empty")));
                }
                (start..end).collect()
            }
            None => vec![text.trim().parse().map_err(|_| bad(text))?],
        };
        if let Some(outside) = ids.iter().find(|id| !spec.contains_task(**id)) {
            return Err(ConfigError(format!("task id {outside} is outside {} [{}, {})", spec.id, spec.task_start, spec.task_end)));
        }
        Ok(Self::Ids(ids))
    }
}

/// `af eval` after validation.
#[derive(Debug, Clone)]
pub struct EvalSettings {
    /// The environment.
    pub spec: &'static EnvSpec,
    /// Model name.
    pub model: String,
    /// Endpoint base URL.
    pub base_url: String,
    /// Bearer key.
    pub api_key: Option<ApiKey>,
    /// Which tasks.
    pub tasks: TaskSelection,
    /// Parallel evaluations (>= 1).
    pub concurrency: usize,
    /// Model call timeout in seconds.
    pub timeout_secs: f64,
    /// JSON output.
    pub json: bool,
    /// Where the environment runs.
    pub runner: EnvRunner,
}

/// Where `af eval` runs the environment.
#[derive(Debug, Clone)]
pub enum EnvRunner {
    /// In this process, with this dataset and interpreter.
    InProcess(AffineEnvSettings),
    /// An environment server already running at this URL.
    Url(String),
    /// Containers this process starts and removes.
    Docker(DockerRunSettings),
}

/// Containers for `af eval --image`.
#[derive(Debug, Clone)]
pub struct DockerRunSettings {
    /// Image reference.
    pub image: String,
    /// Network mode (`host`, a network name); `None` is the default bridge.
    pub network: Option<String>,
    /// Number of containers (>= 1).
    pub replicas: usize,
    /// Memory limit in bytes.
    pub mem_limit: i64,
    /// Pull before starting.
    pub pull: bool,
    /// `R2_PUBLIC_BASE` passed to the container, when given.
    pub dataset_url: Option<String>,
    /// `AgentGym` tool keys (`TODO_KEY`, `MOVIE_KEY`, `SHEET_EMAIL`), from `AGENTGYM_TOOL_*`,
    /// empty when unset as in the reference.
    pub agentgym_tools: Vec<(String, Secret)>,
    /// Docker hosts, one replica each (`AFFINETES_HOSTS`); empty: `replicas` on the local engine.
    pub hosts: Vec<crate::envs::docker::DockerHost>,
    /// How `ssh://` hosts are reached.
    pub ssh: crate::envs::ssh::SshOptions,
}

/// The `AgentGym` tool keys given to its containers (`TODO_KEY`, `MOVIE_KEY`, `SHEET_EMAIL`,
/// from `AGENTGYM_TOOL_*`; empty when unset, as in the reference).
pub(super) fn agentgym_tools() -> Vec<(String, Secret)> {
    [
        ("TODO_KEY", env_vars::AGENTGYM_TOOL_TODO_KEY),
        ("MOVIE_KEY", env_vars::AGENTGYM_TOOL_MOVIE_KEY),
        ("SHEET_EMAIL", env_vars::AGENTGYM_TOOL_SHEET_EMAIL),
    ]
    .into_iter()
    .map(|(name, var)| (name.to_owned(), Secret::new(std::env::var(var).unwrap_or_default())))
    .collect()
}

impl EnvRunner {
    /// Resolves the runner flags; the in-process runner needs the affine env options.
    ///
    /// # Errors
    /// A bad URL, zero replicas, a bad memory size, or (in-process) a missing interpreter.
    pub fn resolve(args: &EnvRunnerArgs, affine: &AffineEnvArgs) -> Result<Self, ConfigError> {
        if let Some(url) = &args.env_url {
            let url = crate::envs::client::normalise_url(url).map_err(|e| ConfigError(format!("--env-url: {e}")))?;
            return Ok(Self::Url(url));
        }
        if let Some(image) = &args.image {
            if image.trim().is_empty() {
                return Err(ConfigError("--image must not be empty".to_owned()));
            }
            if args.replicas == 0 {
                return Err(ConfigError("--replicas must be at least 1".to_owned()));
            }
            let mem_limit = crate::envs::docker::parse_mem_limit(&args.mem_limit).map_err(ConfigError)?;
            let hosts = crate::envs::docker::DockerHost::parse_list(args.hosts.as_deref().unwrap_or_default())
                .map_err(|e| ConfigError(format!("--hosts / {}: {e}", env_vars::AFFINETES_HOSTS)))?;
            if !hosts.is_empty() && args.replicas > 1 {
                return Err(ConfigError(format!(
                    "--replicas {} with --hosts: each host runs one replica; list a host twice for two",
                    args.replicas
                )));
            }
            let host_keys = crate::envs::ssh::HostKeyPolicy::parse(&args.ssh_host_keys)
                .map_err(|e| ConfigError(format!("--ssh-host-keys / {}: {e}", env_vars::AF_SSH_HOST_KEYS)))?;
            if let Some(identity) = &args.ssh_identity
                && !identity.is_file()
            {
                return Err(ConfigError(format!("--ssh-identity / {}: no file at {}", env_vars::AF_SSH_IDENTITY, identity.display())));
            }
            let ssh = crate::envs::ssh::SshOptions {
                identity: args.ssh_identity.clone(),
                host_keys,
                known_hosts: args.ssh_known_hosts.clone(),
                ..crate::envs::ssh::SshOptions::default()
            };
            return Ok(Self::Docker(DockerRunSettings {
                image: image.trim().to_owned(),
                network: args.docker_network.clone().filter(|n| !n.trim().is_empty()),
                replicas: args.replicas,
                mem_limit,
                pull: args.pull,
                dataset_url: affine.dataset_url.clone(),
                agentgym_tools: agentgym_tools(),
                hosts,
                ssh,
            }));
        }
        Ok(Self::InProcess(AffineEnvSettings::resolve(affine)?))
    }
}

impl EvalSettings {
    /// Validates `af eval` arguments.
    ///
    /// # Errors
    /// An unknown or unsupported environment, bad task ids, zero concurrency, a bad timeout or
    /// URL, or a missing interpreter.
    pub fn resolve(args: &EvalArgs) -> Result<Self, ConfigError> {
        let spec = crate::environments::env_spec(&args.env).ok_or_else(|| ConfigError(format!("unknown environment {}", args.env)))?;
        let runner = EnvRunner::resolve(&args.runner, &args.affine)?;
        if spec.task_type().is_none() && matches!(runner, EnvRunner::InProcess(_)) {
            return Err(ConfigError(format!(
                "af eval runs affine:sat, affine:abd and affine:ded in-process; {} needs its container (--image or --env-url)",
                spec.id
            )));
        }
        if !(args.base_url.starts_with("http://") || args.base_url.starts_with("https://")) {
            return Err(ConfigError(format!("--base-url must be an http(s) URL, got {}", args.base_url)));
        }
        if args.concurrency == 0 {
            return Err(ConfigError("--concurrency must be at least 1".to_owned()));
        }
        #[expect(clippy::cast_precision_loss, reason = "a timeout of a few hundred seconds")]
        let timeout_secs = args.timeout.unwrap_or(spec.timeout_secs as f64);
        if !(timeout_secs.is_finite() && timeout_secs > 0.0) {
            return Err(ConfigError("--timeout must be a positive number of seconds".to_owned()));
        }
        Ok(Self {
            spec,
            model: args.model.clone(),
            base_url: args.base_url.clone(),
            api_key: args.api_key.clone(),
            tasks: TaskSelection::resolve(args.task_id.as_deref(), args.samples, spec)?,
            concurrency: args.concurrency,
            timeout_secs,
            json: args.json,
            runner,
        })
    }
}

/// `af env serve` after validation.
#[derive(Debug, Clone)]
pub struct EnvServeSettings {
    /// Address to bind.
    pub bind: std::net::SocketAddr,
    /// Connection limits.
    pub limits: crate::envs::server::Limits,
    /// Default LLM key.
    pub api_key: Option<ApiKey>,
    /// Dataset and interpreter.
    pub affine: AffineEnvSettings,
}

impl EnvServeSettings {
    /// Validates `af env serve` arguments.
    ///
    /// # Errors
    /// An environment other than `affine`, an unparsable host, or a missing interpreter.
    pub fn resolve(args: &EnvServeArgs) -> Result<Self, ConfigError> {
        if args.env != "affine" {
            return Err(ConfigError(format!("af env serve serves the affine environment (SAT, ABD, DED); got --env {}", args.env)));
        }
        let ip: std::net::IpAddr =
            args.host.parse().map_err(|_| ConfigError(format!("--host must be an IP address, got {}", args.host)))?;
        if args.idle_timeout == 0 {
            return Err(ConfigError("--idle-timeout must be at least 1 second".to_owned()));
        }
        Ok(Self {
            bind: std::net::SocketAddr::new(ip, args.port),
            limits: crate::envs::server::Limits {
                idle: std::time::Duration::from_secs(args.idle_timeout),
                ..crate::envs::server::Limits::default()
            },
            api_key: args.api_key.clone(),
            affine: AffineEnvSettings::resolve(&args.affine)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runner(extra: &[&str]) -> Result<EnvRunner, ConfigError> {
        use clap::Parser as _;
        let mut words = vec!["af", "eval", "--env", "affine:sat", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"];
        words.extend_from_slice(extra);
        let cli = crate::cli::Cli::try_parse_from(words).expect("parses");
        let crate::cli::Command::Eval(args) = cli.command else { panic!("eval") };
        EnvRunner::resolve(&args.runner, &args.affine)
    }

    #[test]
    fn env_runner_resolves_url_and_docker_and_rejects_bad_values() {
        assert!(matches!(runner(&["--env-url", "http://127.0.0.1:8000/"]), Ok(EnvRunner::Url(url)) if url == "http://127.0.0.1:8000"));
        assert!(runner(&["--env-url", "ftp://x"]).is_err());
        let Ok(EnvRunner::Docker(docker)) = runner(&["--image", "affine-env:local", "--docker-network", "host", "--mem-limit", "2g"])
        else {
            panic!("docker runner");
        };
        assert_eq!((docker.network.as_deref(), docker.mem_limit, docker.replicas), (Some("host"), 2 << 30, 1));
        assert!(runner(&["--image", "x", "--replicas", "0"]).is_err());
        assert!(runner(&["--image", "x", "--mem-limit", "lots"]).is_err());
        let Ok(EnvRunner::Docker(docker)) =
            runner(&["--image", "x", "--hosts", "localhost, ssh://deploy@10.0.0.7:2222", "--ssh-host-keys", "strict"])
        else {
            panic!("docker runner with hosts");
        };
        assert_eq!(docker.hosts.len(), 2);
        assert_eq!(docker.hosts[1].to_string(), "ssh://deploy@10.0.0.7:2222");
        assert_eq!(docker.ssh.host_keys, crate::envs::ssh::HostKeyPolicy::Strict);
        assert!(runner(&["--image", "x", "--hosts", "tcp://box"]).is_err());
        assert!(runner(&["--image", "x", "--hosts", "ssh://box"]).is_err());
        assert!(runner(&["--image", "x", "--hosts", "localhost", "--replicas", "2"]).is_err());
        assert!(runner(&["--image", "x", "--ssh-host-keys", "sometimes"]).is_err());
        assert!(runner(&["--image", "x", "--ssh-identity", "/nonexistent/af-key"]).is_err());
    }

    #[test]
    fn task_selection_parses_ids_ranges_and_checks_bounds() {
        let sat = crate::environments::env_spec("affine:sat").expect("sat");
        assert_eq!(TaskSelection::resolve(Some("7"), None, sat).expect("id"), TaskSelection::Ids(vec![7]));
        assert_eq!(TaskSelection::resolve(Some("2..5"), None, sat).expect("range"), TaskSelection::Ids(vec![2, 3, 4]));
        assert!(TaskSelection::resolve(Some("5..5"), None, sat).is_err());
        assert!(TaskSelection::resolve(Some("499..501"), None, sat).is_err());
        assert!(TaskSelection::resolve(Some("x"), None, sat).is_err());
        assert_eq!(TaskSelection::resolve(None, None, sat).expect("default"), TaskSelection::Samples(10));
        assert!(TaskSelection::resolve(None, Some(0), sat).is_err());
    }
}
