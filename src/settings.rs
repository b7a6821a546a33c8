//! The one place that resolves configuration: flags > environment > `.env` > defaults.
//!
//! clap reads flags and environment variables (each flag names its variable); `.env` in the
//! working directory is loaded into the environment first without overriding anything already
//! set, so it ranks below the real environment. The `*Settings` types are the validated result
//! the rest of the program uses.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::chain::client::{ChainConfig, DEFAULT_FALLBACK_URL, resolve_endpoint};
use crate::chain::timelock::BeaconPublicKey;
use crate::chain::wallet::{PasswordSource, WalletLocation};
use crate::cli::{
    AffineEnvArgs, ChainArgs, CommitArgs, DatasetPullArgs, EnvRunnerArgs, EnvServeArgs, EvalArgs, GlobalArgs, HubDownloadArgs, LogFormat,
    MetagraphArgs, StoreArgs, WalletArgs, WalletShowArgs, WeightsArgs,
};
use crate::env_vars;
use crate::envs::EnvSpec;
use crate::envs::dataset::{DEFAULT_DATASET, DEFAULT_PUBLIC_BASE, DatasetSource};
use crate::hub::{DEFAULT_ENDPOINT, HubConfig, SnapshotOptions};
use crate::inference::ApiKey;
use crate::secret::Secret;
use crate::store::config::{
    BackendConfig, DEFAULT_DOWNLOAD_CONCURRENCY, DEFAULT_PUBLIC_URL, DEFAULT_R2_ACCOUNT, DEFAULT_R2_BUCKET, S3Config, StoreConfig,
};

/// A configuration problem the user must fix (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Loads `.env` from the working directory unless `AF_NO_DOTENV` is set; existing variables win.
///
/// Returns the problem with a `.env` that exists but cannot be read, for the caller to log once
/// logging is up (a missing `.env` is the normal case and returns `None`).
#[must_use]
pub fn load_dotenv() -> Option<String> {
    if std::env::var_os(env_vars::AF_NO_DOTENV).is_some() {
        return None;
    }
    dotenvy::dotenv().err().filter(|error| !error.not_found()).map(|error| error.to_string())
}

/// Logging configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogSettings {
    /// Number of `-v` flags.
    pub verbosity: u8,
    /// Text or JSON.
    pub format: LogFormat,
    /// `RUST_LOG`, which wins over `verbosity` when set.
    pub rust_log: Option<String>,
}

impl LogSettings {
    /// Resolves the global flags.
    #[must_use]
    pub fn resolve(global: &GlobalArgs) -> Self {
        Self {
            verbosity: global.verbose,
            format: global.log_format,
            rust_log: std::env::var(env_vars::RUST_LOG).ok().filter(|v| !v.trim().is_empty()),
        }
    }
}

/// What `af weights` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsMode {
    /// Score a replay directory offline.
    Replay(PathBuf),
    /// Recompute from the store against a metagraph snapshot file; optionally save.
    Recompute {
        /// The snapshot file.
        metagraph: PathBuf,
        /// Save the summary to the store.
        save: bool,
    },
    /// Show a saved summary (`None`: the latest).
    Show(Option<u64>),
}

/// `af weights` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSettings {
    /// What to do.
    pub mode: WeightsMode,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Threads that parse shards.
    pub parse_threads: NonZeroUsize,
    /// The store (`None` for replays, which do not touch it).
    pub store: Option<StoreConfig>,
}

fn parse_threads(value: Option<usize>) -> Result<NonZeroUsize, ConfigError> {
    match value {
        Some(count) => NonZeroUsize::new(count).ok_or_else(|| ConfigError("--parse-threads must be at least 1".to_owned())),
        None => Ok(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)),
    }
}

impl WeightsSettings {
    /// Validates `af weights` arguments: `--replay DIR`, `-r --metagraph FILE [--save]`, or
    /// `[-b BLOCK]` alone.
    ///
    /// # Errors
    /// A combination that makes no sense, a thread count of zero, or a bad store setting.
    pub fn resolve(args: &WeightsArgs) -> Result<Self, ConfigError> {
        let usage = |text: &str| Err(ConfigError(text.to_owned()));
        let mode = match (&args.replay, args.recompute) {
            (Some(_), true) => return usage("--replay and -r are alternatives: score a replay directory, or recompute from the store"),
            (Some(_), false) if args.block.is_some() || args.save || args.metagraph.is_some() => {
                return usage("--replay takes its block and metagraph from the replay directory; -b, --metagraph and --save do not apply");
            }
            (Some(dir), false) => WeightsMode::Replay(dir.clone()),
            (None, true) => {
                if args.block.is_some() {
                    return usage("-r scores at the block of the --metagraph snapshot; -b selects a saved summary to show");
                }
                let Some(metagraph) = args.metagraph.clone() else {
                    return usage("-r needs --metagraph FILE (a metagraph.json snapshot: block, hotkeys, queryable, ...)");
                };
                WeightsMode::Recompute { metagraph, save: args.save }
            }
            (None, false) => {
                if args.save {
                    return usage("--save applies to -r (recompute); a shown summary is already saved");
                }
                if args.metagraph.is_some() {
                    return usage("--metagraph applies to -r (recompute)");
                }
                WeightsMode::Show(args.block)
            }
        };
        let store = if matches!(mode, WeightsMode::Replay(_)) { None } else { Some(StoreSettings::resolve(&args.store)?) };
        Ok(Self { mode, json: args.json, parse_threads: parse_threads(args.parse_threads)?, store })
    }
}

/// `af dataset pull` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetPullSettings {
    /// Blocks of history.
    pub tail: u64,
    /// The scored block, when given.
    pub block: Option<u64>,
    /// Destination replay directory.
    pub dest: PathBuf,
    /// Snapshot to copy in as metagraph.json.
    pub metagraph: Option<PathBuf>,
    /// JSON output.
    pub json: bool,
    /// The store.
    pub store: StoreConfig,
}

impl DatasetPullSettings {
    /// Validates `af dataset pull` arguments.
    ///
    /// # Errors
    /// Neither `--block` nor `--metagraph` given, or a bad store setting.
    pub fn resolve(args: &DatasetPullArgs) -> Result<Self, ConfigError> {
        if args.block.is_none() && args.metagraph.is_none() {
            return Err(ConfigError(
                "no block to pull: pass --block BLOCK, or --metagraph FILE to take the block from a snapshot (no chain connection is configured)"
                    .to_owned(),
            ));
        }
        Ok(Self {
            tail: args.tail,
            block: args.block,
            dest: args.dest.clone(),
            metagraph: args.metagraph.clone(),
            json: args.json,
            store: StoreSettings::resolve(&args.store)?,
        })
    }
}

/// Resolves the store backend from flags and the original's environment variables.
#[derive(Debug)]
pub struct StoreSettings;

fn home_dir(parts: &[&str]) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(parts.iter().fold(PathBuf::from(home), |path, part| path.join(part)))
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl StoreSettings {
    /// Picks the backends: S3/R2 when both write keys are set (reads through the public URL
    /// instead when `AFFINE_R2_PUBLIC=1`); the public bucket read-only when only
    /// `AFFINE_R2_PUBLIC=1` is set; otherwise the local folder.
    ///
    /// # Errors
    /// Only one of the two keys set, a malformed endpoint URL or public flag, or zero
    /// concurrency.
    pub fn resolve(args: &StoreArgs) -> Result<StoreConfig, ConfigError> {
        let public = match non_empty(args.r2_public.as_ref()).map(str::to_ascii_lowercase).as_deref() {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => return Err(ConfigError(format!("AFFINE_R2_PUBLIC must be 1 or 0, not {other:?}"))),
        };
        let access = non_empty(args.r2_access_key_id.as_ref());
        let secret = args.r2_secret_access_key.as_ref().filter(|s| !s.is_empty());
        let s3 = match (access, secret) {
            (Some(access), Some(secret)) => {
                let explicit = non_empty(args.r2_endpoint_url.as_ref());
                if let Some(url) = explicit
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(ConfigError(format!("R2_ENDPOINT_URL must start with http:// or https://, not {url:?}")));
                }
                let account =
                    non_empty(args.r2_bucket_id.as_ref()).or(non_empty(args.r2_account_id.as_ref())).unwrap_or(DEFAULT_R2_ACCOUNT);
                Some(S3Config {
                    endpoint: explicit.map_or_else(|| format!("https://{account}.r2.cloudflarestorage.com"), str::to_owned),
                    explicit_endpoint: explicit.is_some(),
                    bucket: non_empty(args.r2_folder.as_ref()).unwrap_or(DEFAULT_R2_BUCKET).to_owned(),
                    access_key_id: access.to_owned(),
                    secret_access_key: secret.clone(),
                })
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "set both R2_WRITE_ACCESS_KEY_ID and R2_WRITE_SECRET_ACCESS_KEY, or neither (then a local store folder is used)"
                        .to_owned(),
                ));
            }
        };
        let public_url = non_empty(args.r2_public_url.as_ref()).unwrap_or(DEFAULT_PUBLIC_URL).to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError(format!("the public bucket URL must start with http:// or https://, not {public_url:?}")));
        }
        let local = || {
            args.store_dir.clone().or_else(|| home_dir(&[".local", "share", "affine", "store"])).ok_or_else(|| {
                ConfigError("no store folder: set AF_STORE_DIR or --store-dir (HOME is not set), or R2 credentials".to_owned())
            })
        };
        let (read, write) = match (&s3, public) {
            (Some(s3), true) => (BackendConfig::Public(public_url.clone()), Some(BackendConfig::S3(s3.clone()))),
            (Some(s3), false) => (BackendConfig::S3(s3.clone()), Some(BackendConfig::S3(s3.clone()))),
            (None, true) => (BackendConfig::Public(public_url.clone()), None),
            (None, false) => {
                let dir = local()?;
                (BackendConfig::Local(dir.clone()), Some(BackendConfig::Local(dir)))
            }
        };
        let download_concurrency = match args.download_concurrency {
            Some(0) => return Err(ConfigError("--download-concurrency must be at least 1".to_owned())),
            Some(n) => n,
            None => DEFAULT_DOWNLOAD_CONCURRENCY,
        };
        Ok(StoreConfig {
            read,
            write,
            public_fallback: (!args.no_public_fallback).then_some(public_url),
            cache_dir: args.cache_dir.clone().or_else(|| home_dir(&[".cache", "affine", "blocks"])),
            download_concurrency,
            request_timeout: std::time::Duration::from_secs(300),
        })
    }
}

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
            return Ok(Self::Docker(DockerRunSettings {
                image: image.trim().to_owned(),
                network: args.docker_network.clone().filter(|n| !n.trim().is_empty()),
                replicas: args.replicas,
                mem_limit,
                pull: args.pull,
                dataset_url: affine.dataset_url.clone(),
                agentgym_tools: [
                    ("TODO_KEY", env_vars::AGENTGYM_TOOL_TODO_KEY),
                    ("MOVIE_KEY", env_vars::AGENTGYM_TOOL_MOVIE_KEY),
                    ("SHEET_EMAIL", env_vars::AGENTGYM_TOOL_SHEET_EMAIL),
                ]
                .into_iter()
                .map(|(name, var)| (name.to_owned(), Secret::new(std::env::var(var).unwrap_or_default())))
                .collect(),
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
        let spec = crate::envs::env_spec(&args.env).ok_or_else(|| ConfigError(format!("unknown environment {}", args.env)))?;
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
        Ok(Self {
            bind: std::net::SocketAddr::new(ip, args.port),
            api_key: args.api_key.clone(),
            affine: AffineEnvSettings::resolve(&args.affine)?,
        })
    }
}

/// `af hub download` after validation.
#[derive(Debug, Clone)]
pub struct HubDownloadSettings {
    /// `owner/name`.
    pub repo: String,
    /// The revision asked for.
    pub revision: String,
    /// Destination directory.
    pub dest: PathBuf,
    /// Hub endpoint and token.
    pub hub: HubConfig,
    /// Parallelism and retries.
    pub options: SnapshotOptions,
    /// Print JSON instead of a summary line.
    pub json: bool,
}

impl HubDownloadSettings {
    /// Validates `af hub download` arguments.
    ///
    /// # Errors
    /// A repository id that is not `owner/name`, an empty revision, an empty token, or a
    /// concurrency of zero.
    pub fn resolve(args: &HubDownloadArgs) -> Result<Self, ConfigError> {
        let repo = args.repo.trim();
        if repo.split('/').count() != 2 || repo.split('/').any(str::is_empty) {
            return Err(ConfigError(format!("--repo {repo:?} must be owner/name")));
        }
        let revision = args.revision.trim();
        if revision.is_empty() {
            return Err(ConfigError("--revision must not be empty".to_owned()));
        }
        let token = match args.hf_token.as_deref().map(str::trim) {
            Some("") => return Err(ConfigError("HF_TOKEN/--hf-token is set but empty".to_owned())),
            Some(token) => Some(Secret::new(token)),
            None => None,
        };
        let endpoint = args.hf_endpoint.clone().filter(|e| !e.trim().is_empty()).unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
        let mut options = SnapshotOptions::default();
        if let Some(count) = args.concurrency {
            options.concurrency = NonZeroUsize::new(count).ok_or_else(|| ConfigError("--concurrency must be at least 1".to_owned()))?;
        }
        Ok(Self {
            repo: repo.to_owned(),
            revision: revision.to_owned(),
            dest: args.dest.clone(),
            hub: HubConfig { endpoint, token },
            options,
            json: args.json,
        })
    }
}

/// Which wallet to use and how to unlock its encrypted keyfiles.
#[derive(Debug, Clone)]
pub struct WalletSettings {
    /// `<path>/<name>` and the hotkey name.
    pub location: WalletLocation,
    /// `AF_WALLET_PASSWORD`, else a terminal prompt.
    pub password: PasswordSource,
}

impl WalletSettings {
    /// Resolves the wallet flags; `~` in `--wallet.path` is the home directory, as bittensor
    /// expands it.
    ///
    /// # Errors
    /// An empty wallet or hotkey name, a name with a path separator, or no home directory
    /// when the path needs one.
    pub fn resolve(args: &WalletArgs) -> Result<Self, ConfigError> {
        for (flag, value) in [("--wallet.name", &args.wallet_name), ("--wallet.hotkey", &args.wallet_hotkey)] {
            if value.is_empty() || value.contains(['/', '\\']) || value == ".." {
                return Err(ConfigError(format!("{flag} must be a plain name, not {value:?}")));
            }
        }
        let home = || {
            std::env::var_os(env_vars::HOME)
                .filter(|home| !home.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| ConfigError("HOME is not set; pass --wallet.path".to_owned()))
        };
        let path = match &args.wallet_path {
            None => home()?.join(".bittensor").join("wallets"),
            Some(path) => match path.strip_prefix("~") {
                Ok(rest) => home()?.join(rest),
                Err(_) => path.clone(),
            },
        };
        let password = std::env::var(env_vars::AF_WALLET_PASSWORD).ok();
        Ok(Self {
            location: WalletLocation { path, name: args.wallet_name.clone(), hotkey: args.wallet_hotkey.clone() },
            password: PasswordSource::env_or_prompt(password),
        })
    }
}

/// `af wallet show` after validation.
#[derive(Debug, Clone)]
pub struct WalletShowSettings {
    /// The wallet.
    pub wallet: WalletSettings,
    /// Print JSON instead of a table.
    pub json: bool,
}

impl WalletShowSettings {
    /// Validates `af wallet show` arguments.
    ///
    /// # Errors
    /// As [`WalletSettings::resolve`].
    pub fn resolve(args: &WalletShowArgs) -> Result<Self, ConfigError> {
        Ok(Self { wallet: WalletSettings::resolve(&args.wallet)?, json: args.json })
    }
}

/// Resolves the chain flags: network names become URLs; the original's public fallback is
/// used only with the default `finney` endpoint, so a local or custom node never fails over to
/// a public one.
///
/// # Errors
/// An unknown endpoint name or a zero timeout.
pub fn resolve_chain(args: &ChainArgs) -> Result<ChainConfig, ConfigError> {
    let endpoint = resolve_endpoint(&args.subtensor_endpoint).map_err(|error| ConfigError(format!("--subtensor-endpoint: {error}")))?;
    let fallback = match &args.subtensor_fallback {
        Some(fallback) if fallback.trim().is_empty() => None,
        Some(fallback) => Some(resolve_endpoint(fallback).map_err(|error| ConfigError(format!("--subtensor-fallback: {error}")))?),
        None if args.subtensor_endpoint.trim() == "finney" => Some(DEFAULT_FALLBACK_URL.to_owned()),
        None => None,
    };
    if args.chain_timeout == 0 {
        return Err(ConfigError("--chain-timeout must be at least 1 second".to_owned()));
    }
    Ok(ChainConfig { endpoint, fallback, timeout: std::time::Duration::from_secs(args.chain_timeout) })
}

/// `af metagraph` after validation.
#[derive(Debug, Clone)]
pub struct MetagraphSettings {
    /// The node.
    pub chain: ChainConfig,
    /// The subnet.
    pub netuid: u16,
    /// Print JSON instead of a table.
    pub json: bool,
}

impl MetagraphSettings {
    /// Validates `af metagraph` arguments.
    ///
    /// # Errors
    /// As [`resolve_chain`].
    pub fn resolve(args: &MetagraphArgs) -> Result<Self, ConfigError> {
        Ok(Self { chain: resolve_chain(&args.chain)?, netuid: args.netuid, json: args.json })
    }
}

/// `af commit` after validation.
#[derive(Debug, Clone)]
pub struct CommitSettings {
    /// Repository, revision and chute id.
    pub repo: String,
    /// The revision.
    pub revision: String,
    /// The chute id.
    pub chute_id: String,
    /// The wallet whose hotkey signs.
    pub wallet: WalletSettings,
    /// The node.
    pub chain: ChainConfig,
    /// The subnet.
    pub netuid: u16,
    /// The drand beacon key commitments are encrypted to.
    pub beacon: BeaconPublicKey,
    /// Print the signed extrinsic instead of submitting.
    pub dry_run: bool,
}

impl CommitSettings {
    /// Validates `af commit` arguments.
    ///
    /// # Errors
    /// Empty repository, revision or chute id, bad wallet or chain flags, or a beacon key that
    /// is not a G2 point.
    pub fn resolve(args: &CommitArgs) -> Result<Self, ConfigError> {
        for (flag, value) in [("--repo", &args.repo), ("--revision", &args.revision), ("--chute-id", &args.chute_id)] {
            if value.trim().is_empty() {
                return Err(ConfigError(format!("{flag} must not be empty")));
            }
        }
        let beacon = match &args.drand_public_key {
            None => BeaconPublicKey::quicknet(),
            Some(text) => BeaconPublicKey::from_hex(text).map_err(|error| ConfigError(format!("--drand-public-key: {error}")))?,
        };
        Ok(Self {
            repo: args.repo.clone(),
            revision: args.revision.clone(),
            chute_id: args.chute_id.clone(),
            wallet: WalletSettings::resolve(&args.wallet)?,
            chain: resolve_chain(&args.chain)?,
            netuid: args.netuid,
            beacon,
            dry_run: args.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn weights(replay: Option<&str>) -> WeightsArgs {
        WeightsArgs {
            replay: replay.map(PathBuf::from),
            recompute: false,
            block: None,
            metagraph: None,
            save: false,
            json: false,
            parse_threads: None,
            store: StoreArgs { store_dir: Some("s".into()), ..StoreArgs::default() },
        }
    }

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
    }

    #[test]
    fn task_selection_parses_ids_ranges_and_checks_bounds() {
        let sat = crate::envs::env_spec("affine:sat").expect("sat");
        assert_eq!(TaskSelection::resolve(Some("7"), None, sat).expect("id"), TaskSelection::Ids(vec![7]));
        assert_eq!(TaskSelection::resolve(Some("2..5"), None, sat).expect("range"), TaskSelection::Ids(vec![2, 3, 4]));
        assert!(TaskSelection::resolve(Some("5..5"), None, sat).is_err());
        assert!(TaskSelection::resolve(Some("499..501"), None, sat).is_err());
        assert!(TaskSelection::resolve(Some("x"), None, sat).is_err());
        assert_eq!(TaskSelection::resolve(None, None, sat).expect("default"), TaskSelection::Samples(10));
        assert!(TaskSelection::resolve(None, Some(0), sat).is_err());
    }

    #[test]
    fn chain_settings_use_the_public_fallback_only_with_finney() {
        let args = ChainArgs { subtensor_endpoint: "finney".into(), subtensor_fallback: None, chain_timeout: 5 };
        assert_eq!(resolve_chain(&args).expect("valid").fallback.as_deref(), Some(DEFAULT_FALLBACK_URL));
        let local = ChainArgs { subtensor_endpoint: "ws://127.0.0.1:9".into(), ..args.clone() };
        assert_eq!(resolve_chain(&local).expect("valid").fallback, None);
        let bad = ChainArgs { subtensor_endpoint: "mainnet".into(), ..args };
        assert!(resolve_chain(&bad).is_err());
    }

    #[test]
    fn wallet_settings_expand_tilde_and_reject_path_names() {
        let args = WalletArgs { wallet_name: "cold".into(), wallet_hotkey: "hot".into(), wallet_path: Some("/w".into()) };
        let settings = WalletSettings::resolve(&args).expect("valid");
        assert_eq!(settings.location.hotkey_path(), PathBuf::from("/w/cold/hotkeys/hot"));
        let bad = WalletArgs { wallet_name: "../x".into(), ..args.clone() };
        assert!(WalletSettings::resolve(&bad).is_err());
        let empty = WalletArgs { wallet_hotkey: String::new(), ..args };
        assert!(WalletSettings::resolve(&empty).is_err());
    }

    #[test]
    fn weights_settings_reject_zero_threads_and_default_to_cores() {
        let args = WeightsArgs { parse_threads: Some(0), ..weights(Some("d")) };
        assert!(WeightsSettings::resolve(&args).is_err());
        let settings = WeightsSettings::resolve(&weights(Some("d"))).expect("valid");
        assert!(settings.parse_threads.get() >= 1);
        assert_eq!(settings.mode, WeightsMode::Replay(PathBuf::from("d")));
    }

    #[test]
    fn weights_settings_choose_the_mode_and_reject_nonsense() {
        assert_eq!(WeightsSettings::resolve(&weights(None)).expect("show").mode, WeightsMode::Show(None));
        let at = WeightsArgs { block: Some(9), ..weights(None) };
        assert_eq!(WeightsSettings::resolve(&at).expect("show").mode, WeightsMode::Show(Some(9)));
        let recompute = WeightsArgs { recompute: true, metagraph: Some("m.json".into()), save: true, ..weights(None) };
        assert_eq!(
            WeightsSettings::resolve(&recompute).expect("recompute").mode,
            WeightsMode::Recompute { metagraph: "m.json".into(), save: true }
        );
        for bad in [
            WeightsArgs { recompute: true, ..weights(None) },
            WeightsArgs { recompute: true, ..weights(Some("d")) },
            WeightsArgs { save: true, ..weights(None) },
            WeightsArgs { block: Some(1), ..weights(Some("d")) },
            WeightsArgs { recompute: true, metagraph: Some("m".into()), block: Some(1), ..weights(None) },
        ] {
            assert!(WeightsSettings::resolve(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn store_settings_pick_backends_from_credentials_and_public_flag() {
        let local = StoreSettings::resolve(&StoreArgs { store_dir: Some("s".into()), ..StoreArgs::default() }).expect("local");
        assert_eq!(local.read, BackendConfig::Local("s".into()));
        let keys = StoreArgs {
            r2_access_key_id: Some("id".into()),
            r2_secret_access_key: Some(Secret::new("shh")),
            r2_bucket_id: Some("acct".into()),
            ..StoreArgs::default()
        };
        let s3 = StoreSettings::resolve(&keys).expect("s3");
        let BackendConfig::S3(config) = &s3.read else { panic!("expected s3: {s3:?}") };
        assert_eq!(config.endpoint, "https://acct.r2.cloudflarestorage.com");
        assert!(!config.explicit_endpoint);
        assert_eq!(config.bucket, "affine");
        assert!(!format!("{s3:?}").contains("shh"), "the secret leaks into Debug");
        let explicit = StoreArgs { r2_endpoint_url: Some("http://127.0.0.1:9".into()), ..keys.clone() };
        let BackendConfig::S3(config) = StoreSettings::resolve(&explicit).expect("s3").read else { panic!("s3") };
        assert!(config.explicit_endpoint);
        let public_reads = StoreArgs { r2_public: Some("1".into()), ..keys.clone() };
        let mixed = StoreSettings::resolve(&public_reads).expect("public reads");
        assert!(matches!((&mixed.read, &mixed.write), (BackendConfig::Public(_), Some(BackendConfig::S3(_)))));
        let read_only = StoreSettings::resolve(&StoreArgs { r2_public: Some("1".into()), ..StoreArgs::default() }).expect("public");
        assert!(read_only.write.is_none());
        assert!(StoreSettings::resolve(&StoreArgs { r2_access_key_id: Some("id".into()), ..StoreArgs::default() }).is_err());
        assert!(StoreSettings::resolve(&StoreArgs { r2_public: Some("maybe".into()), ..StoreArgs::default() }).is_err());
        assert!(StoreSettings::resolve(&StoreArgs { r2_endpoint_url: Some("ftp://x".into()), ..keys }).is_err());
    }

    fn hub_args() -> HubDownloadArgs {
        HubDownloadArgs {
            repo: "o/affine-m".into(),
            revision: "abc".into(),
            dest: "d".into(),
            hf_token: None,
            hf_endpoint: None,
            concurrency: None,
            json: false,
        }
    }

    #[test]
    fn hub_download_settings_default_endpoint_and_reject_bad_input() {
        let settings = HubDownloadSettings::resolve(&hub_args()).expect("valid");
        assert_eq!(settings.hub.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(settings.options.concurrency.get(), 8);
        assert!(settings.hub.token.is_none());
        let with_token = HubDownloadSettings::resolve(&HubDownloadArgs { hf_token: Some("hf_x".into()), ..hub_args() }).expect("valid");
        assert!(!format!("{with_token:?}").contains("hf_x"), "the token is redacted");
        for bad in [
            HubDownloadArgs { repo: "nameonly".into(), ..hub_args() },
            HubDownloadArgs { repo: "a/b/c".into(), ..hub_args() },
            HubDownloadArgs { revision: " ".into(), ..hub_args() },
            HubDownloadArgs { hf_token: Some(String::new()), ..hub_args() },
            HubDownloadArgs { concurrency: Some(0), ..hub_args() },
        ] {
            assert!(HubDownloadSettings::resolve(&bad).is_err(), "{bad:?}");
        }
    }
}
