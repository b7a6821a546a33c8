//! Command-line definitions (clap only: no I/O, no defaults resolved here beyond clap's own).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;
use crate::secret::Secret;

/// Validator and miner toolkit for Affine, the incentivised RL subnet on Bittensor.
#[derive(Debug, Parser)]
#[command(name = "af", version, arg_required_else_help = true, propagate_version = true)]
pub struct Cli {
    /// Options shared by every command.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// The command to run.
    #[command(subcommand)]
    pub command: Command,
}

/// Options shared by every command.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More logs on stderr: -v info, -vv debug, -vvv trace (`RUST_LOG`, when set, wins)
    #[arg(short, long, action = ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Log format on stderr
    #[arg(long, value_enum, global = true, env = env_vars::AF_LOG_FORMAT, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Show the latest weights summary, one saved at a block, or recompute weights from the
    /// result store (-r) or a replay directory (--replay)
    Weights(WeightsArgs),
    /// Result datasets: download a scoring window as a replay directory
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Show the configured bittensor wallet
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Show a subnet's metagraph with each uid's latest revealed commitment
    Metagraph(MetagraphArgs),
    /// Timelock-commit your model, revision and chute id on chain for your hotkey
    Commit(CommitArgs),
    /// Hugging Face Hub tools (download a model at a revision)
    #[command(subcommand)]
    Hub(HubCommand),
    /// List committed miners: model, revision, chute, and whether the validator samples them
    Miners(MinersArgs),
    /// Download the model a uid has committed (repo at its revision) into a directory
    Pull(PullArgs),
    /// Deploy a Hugging Face model as a Chutes chute, ready to commit
    #[command(name = "chutes-push", alias = "chutes_push")]
    ChutesPush(ChutesPushArgs),
    /// Evaluate an OpenAI-compatible endpoint on an environment (SAT, ABD, DED)
    Eval(EvalArgs),
    /// Serve environments over the Affinetes protocol
    Env(EnvArgs),
    /// Run the whole network locally: a subtensor-compatible chain, Chutes, Hugging Face and
    /// scripted miners, with dev wallets and a settings file that points af at it
    Devnet(DevnetArgs),
    /// Run the validator: every interval, compute the weights (or take them from R2), set them
    /// through the signer (or the local wallet) and confirm them; watchdog included
    Validate(ValidateArgs),
    /// Hold the validator's hotkey and serve `/healthz`, `/sign` and `/set_weights` to the other services
    Signer(SignerArgs),
    /// Run the validator's sampling engine: evaluate every valid miner on every environment,
    /// sign the results and store them
    Runner(Box<RunnerArgs>),
    /// Run a program under the sandbox's limits (internal: used by the ABD/DED executor)
    #[command(hide = true)]
    SandboxExec(SandboxExecArgs),
}

/// Where ABD/DED rows come from and how their programs run (shared by `eval` and `env serve`).
#[derive(Debug, Args)]
pub struct AffineEnvArgs {
    /// Public base URL of the R2 bucket holding `affine/datasets/NAME/` (ABD/DED)
    #[arg(long, value_name = "URL", env = env_vars::R2_PUBLIC_BASE)]
    pub dataset_url: Option<String>,
    /// Local directory laid out like the bucket (wins over --dataset-url)
    #[arg(long, value_name = "DIR", env = env_vars::AF_DATASET_DIR)]
    pub dataset_dir: Option<PathBuf>,
    /// Directory where downloaded dataset files are cached
    #[arg(long, value_name = "DIR", env = env_vars::DATASET_CACHE_DIR)]
    pub dataset_cache: Option<PathBuf>,
    /// Python interpreter that runs ABD/DED programs (inside the sandbox)
    #[arg(long, value_name = "PATH", env = env_vars::AF_PYTHON, default_value = "python3")]
    pub python: String,
}

/// A key that never shows in `Debug` output.
#[expect(clippy::unnecessary_wraps, reason = "clap value parsers return a Result")]
fn parse_api_key(text: &str) -> Result<crate::inference::ApiKey, std::convert::Infallible> {
    Ok(crate::inference::ApiKey::new(text))
}

/// `af eval`.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// Environment id: affine:sat, affine:abd or affine:ded (any registered env with --image or --env-url)
    #[arg(long, value_name = "ENV", env = env_vars::AF_ENV)]
    pub env: String,
    /// Model name sent to the endpoint
    #[arg(long, value_name = "MODEL", env = env_vars::AF_MODEL)]
    pub model: String,
    /// OpenAI-compatible base URL, e.g. <http://127.0.0.1:8080/v1>
    #[arg(long, value_name = "URL", env = env_vars::AF_BASE_URL)]
    pub base_url: String,
    /// Bearer key for the endpoint
    #[arg(long, value_name = "KEY", env = env_vars::CHUTES_API_KEY, hide_env_values = true, value_parser = parse_api_key)]
    pub api_key: Option<crate::inference::ApiKey>,
    /// Task ids: one id (7) or a half-open range (0..20)
    #[arg(long, value_name = "ID|A..B", conflicts_with = "samples")]
    pub task_id: Option<String>,
    /// Evaluate N distinct random task ids of the environment's range (default 10)
    #[arg(long, value_name = "N")]
    pub samples: Option<u64>,
    /// Evaluations run at the same time
    #[arg(long, value_name = "C", env = env_vars::AF_CONCURRENCY, default_value_t = 4)]
    pub concurrency: usize,
    /// Seconds allowed for each model call (default: the environment's, 600)
    #[arg(long, value_name = "SECS", env = env_vars::AF_TIMEOUT)]
    pub timeout: Option<f64>,
    /// Print the result records (R2 format) as JSON instead of the table
    #[arg(long)]
    pub json: bool,
    /// Dataset and interpreter options.
    #[command(flatten)]
    pub affine: AffineEnvArgs,
    /// Where the environment runs (default: in-process).
    #[command(flatten)]
    pub runner: EnvRunnerArgs,
}

/// Where `af eval` runs the environment: in-process (default), a container, or a URL.
#[derive(Debug, Args)]
pub struct EnvRunnerArgs {
    /// Run the environment in containers of this image (e.g. affine-env:local from `af env image build`)
    #[arg(long, value_name = "IMAGE", env = env_vars::AF_IMAGE, conflicts_with = "env_url")]
    pub image: Option<String>,
    /// Call an environment server that is already running at this URL
    #[arg(long, value_name = "URL", env = env_vars::AF_ENV_URL)]
    pub env_url: Option<String>,
    /// Docker network mode of the containers, e.g. host (default: the engine's bridge)
    #[arg(long, value_name = "NET", env = env_vars::AF_DOCKER_NETWORK, requires = "image")]
    pub docker_network: Option<String>,
    /// Number of containers, called round-robin
    #[arg(long, value_name = "N", env = env_vars::AF_REPLICAS, default_value_t = 1, requires = "image")]
    pub replicas: usize,
    /// Memory limit of each container (docker-py sizes: 10g, 512m)
    #[arg(long, value_name = "SIZE", env = env_vars::AF_MEM_LIMIT, default_value = "10g", requires = "image")]
    pub mem_limit: String,
    /// Pull the image before starting (falls back to the local image when the pull fails)
    #[arg(long, requires = "image")]
    pub pull: bool,
    /// Docker hosts, one replica each, comma-separated: localhost or ssh:// URLs with a user (user at host, optional port)
    #[arg(long, value_name = "HOSTS", env = env_vars::AFFINETES_HOSTS)]
    pub hosts: Option<String>,
    /// SSH identity file for ssh:// hosts (default: ssh's own keys and agent)
    #[arg(long, value_name = "FILE", env = env_vars::AF_SSH_IDENTITY)]
    pub ssh_identity: Option<std::path::PathBuf>,
    /// SSH host-key policy: accept-new (trust on first use), strict (known hosts only) or off
    #[arg(long, value_name = "POLICY", env = env_vars::AF_SSH_HOST_KEYS, default_value = "accept-new")]
    pub ssh_host_keys: String,
    /// Known-hosts file for ssh:// hosts (default: ssh's own)
    #[arg(long, value_name = "FILE", env = env_vars::AF_SSH_KNOWN_HOSTS)]
    pub ssh_known_hosts: Option<std::path::PathBuf>,
}

/// `af env`.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: EnvCommand,
}

/// `af env` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvCommand {
    /// Serve an environment over the Affinetes `function_based` protocol (POST /call)
    Serve(EnvServeArgs),
    /// Container images of `af env serve`
    #[command(subcommand)]
    Image(EnvImageCommand),
}

/// `af env image` subcommands.
#[derive(Debug, Subcommand)]
pub enum EnvImageCommand {
    /// Build the `af env serve` image from this af binary and the local Python, without a registry
    Build(EnvImageBuildArgs),
}

/// `af env image build`.
#[derive(Debug, Args)]
pub struct EnvImageBuildArgs {
    /// Image tag
    #[arg(long, value_name = "TAG", default_value = "affine-env:local")]
    pub tag: String,
    /// Python 3 interpreter copied into the image (with its standard library)
    #[arg(long, value_name = "PATH", default_value = "/usr/bin/python3")]
    pub python: PathBuf,
    /// Rebuild even when an image with the same content is already tagged
    #[arg(long)]
    pub force: bool,
    /// Print one JSON object instead of the summary line
    #[arg(long)]
    pub json: bool,
}

/// `af env serve`.
#[derive(Debug, Args)]
pub struct EnvServeArgs {
    /// Environment image to serve: affine (SAT, ABD, DED)
    #[arg(long, value_name = "ENV", default_value = "affine")]
    pub env: String,
    /// Address to listen on
    #[arg(long, value_name = "HOST", env = env_vars::AF_HOST, default_value = "0.0.0.0")]
    pub host: String,
    /// Port to listen on
    #[arg(long, value_name = "PORT", env = env_vars::AF_PORT, default_value_t = 8000)]
    pub port: u16,
    /// Seconds a connection may sit idle or take to send a request (head or body) before it is closed
    #[arg(long, value_name = "SECS", env = env_vars::AF_IDLE_TIMEOUT, default_value_t = 30)]
    pub idle_timeout: u64,
    /// Default LLM key when a call brings no `api_key`
    #[arg(long, value_name = "KEY", env = env_vars::CHUTES_API_KEY, hide_env_values = true, value_parser = parse_api_key)]
    pub api_key: Option<crate::inference::ApiKey>,
    /// Dataset and interpreter options.
    #[command(flatten)]
    pub affine: AffineEnvArgs,
}

/// `af sandbox-exec` (internal).
#[derive(Debug, Args)]
pub struct SandboxExecArgs {
    /// The only writable directory, and the working directory
    #[arg(long)]
    pub dir: PathBuf,
    /// CPU seconds
    #[arg(long)]
    pub cpu_secs: u64,
    /// Address-space bytes
    #[arg(long)]
    pub address_space: u64,
    /// Process/thread limit
    #[arg(long)]
    pub processes: u64,
    /// Largest writable file in bytes
    #[arg(long)]
    pub file_size: u64,
    /// Uid/gid to switch to (root only)
    #[arg(long)]
    pub uid: Option<u32>,
    /// Which step of the confinement this process is: outer (default), init, confine
    #[arg(long, default_value = "outer")]
    pub stage: String,
    /// Program and arguments
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// Where results and summaries are stored: S3/R2 with credentials, the public bucket, or a
/// local folder (the default without credentials).
#[derive(Debug, Clone, Default, Args)]
pub struct StoreArgs {
    /// Local store folder, used when no R2 credentials are set
    #[arg(long, value_name = "DIR", env = env_vars::AF_STORE_DIR)]
    pub store_dir: Option<PathBuf>,
    /// R2 bucket name
    #[arg(long, value_name = "NAME", env = env_vars::R2_FOLDER)]
    pub r2_folder: Option<String>,
    /// Cloudflare account id of the R2 endpoint (the original calls it the bucket id)
    #[arg(long, value_name = "ID", env = env_vars::R2_BUCKET_ID)]
    pub r2_bucket_id: Option<String>,
    /// Alias of --r2-bucket-id
    #[arg(long, value_name = "ID", env = env_vars::R2_ACCOUNT_ID, hide = true)]
    pub r2_account_id: Option<String>,
    /// Explicit S3 endpoint URL (path-style addressing), instead of the R2 account endpoint
    #[arg(long, value_name = "URL", env = env_vars::R2_ENDPOINT_URL)]
    pub r2_endpoint_url: Option<String>,
    /// R2 access key id
    #[arg(long, value_name = "KEY", env = env_vars::R2_WRITE_ACCESS_KEY_ID, hide_env_values = true)]
    pub r2_access_key_id: Option<String>,
    /// R2 secret access key
    #[arg(long, value_name = "SECRET", env = env_vars::R2_WRITE_SECRET_ACCESS_KEY, hide_env_values = true)]
    pub r2_secret_access_key: Option<Secret>,
    /// Read through the public bucket URL instead of S3 (1 or 0)
    #[arg(long, value_name = "0|1", env = env_vars::AFFINE_R2_PUBLIC)]
    pub r2_public: Option<String>,
    /// Base URL of the public bucket
    #[arg(long, value_name = "URL", env = env_vars::AF_R2_PUBLIC_URL)]
    pub r2_public_url: Option<String>,
    /// Never fall back to the public bucket when the private index is sparse
    #[arg(long, env = env_vars::AF_NO_PUBLIC_FALLBACK, value_parser = clap::builder::BoolishValueParser::new())]
    pub no_public_fallback: bool,
    /// Shard cache folder
    #[arg(long, value_name = "DIR", env = env_vars::AFFINE_CACHE_DIR)]
    pub cache_dir: Option<PathBuf>,
    /// Shard downloads in flight at once
    #[arg(long, value_name = "N", env = env_vars::AF_DOWNLOAD_CONCURRENCY)]
    pub download_concurrency: Option<usize>,
    /// Total seconds one store request may take, retries and Retry-After waits included [default: 300]
    #[arg(long, value_name = "SECS", env = env_vars::AF_STORE_TIMEOUT)]
    pub store_timeout: Option<u64>,
}

/// `af dataset`.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Download the shards of a scoring window into a replay directory
    Pull(DatasetPullArgs),
}

/// `af dataset pull`.
#[derive(Debug, Args)]
pub struct DatasetPullArgs {
    /// Blocks of history (the validator uses 40000)
    #[arg(long, value_name = "N", default_value_t = 40_000)]
    pub tail: u64,
    /// The scored block (default: the block of --metagraph)
    #[arg(long, short = 'b', value_name = "BLOCK")]
    pub block: Option<u64>,
    /// Destination folder (created; becomes a replay directory)
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// Metagraph snapshot to copy into the replay directory as metagraph.json
    #[arg(long, value_name = "FILE")]
    pub metagraph: Option<PathBuf>,
    /// Print one JSON object instead of text
    #[arg(long)]
    pub json: bool,
    /// Where the results are stored.
    #[command(flatten)]
    pub store: StoreArgs,
}

/// `af weights`.
#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// Replay directory: metagraph.json plus results/*.json shards (see README)
    #[arg(long, value_name = "DIR", env = env_vars::AF_REPLAY_DIR)]
    pub replay: Option<PathBuf>,
    /// With --replay: keep compact per-shard caches in DIR, so later replays parse only changed shards
    #[arg(long, value_name = "DIR")]
    pub cache: Option<PathBuf>,
    /// Recompute the weights from the result store, against the chain (or --metagraph FILE)
    #[arg(short = 'r', long)]
    pub recompute: bool,
    /// Show the summary saved at this block instead of the latest
    #[arg(short = 'b', long, value_name = "BLOCK")]
    pub block: Option<u64>,
    /// Metagraph snapshot (metagraph.json format) to score against with -r, instead of the chain
    #[arg(long, value_name = "FILE")]
    pub metagraph: Option<PathBuf>,
    /// With -r from the chain: also write the metagraph snapshot scored against to FILE
    #[arg(long, value_name = "FILE")]
    pub save_metagraph: Option<PathBuf>,
    /// With -r from the chain: the subnet
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// With -r from the chain: blocks of history scored
    #[arg(long, value_name = "BLOCKS", env = env_vars::AF_TAIL, default_value_t = 40_000)]
    pub tail: u64,
    /// With -r, save the summary to the store (summary-{block}.json and latest.json)
    #[arg(long)]
    pub save: bool,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
    /// Threads used to parse shards (default: all cores)
    #[arg(long, value_name = "N", env = env_vars::AF_PARSE_THREADS)]
    pub parse_threads: Option<usize>,
    /// Where the results and summaries are stored.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Setting the weights on chain (`-r --set`); its node is also the one `-r` reads.
    #[command(flatten)]
    pub onchain: Box<SetWeightsArgs>,
    /// Which miners are queryable, for `-r` from the chain.
    #[command(flatten)]
    pub discovery: Box<DiscoveryArgs>,
}

/// `af weights -r --set`: who signs, on which node, with which retries.
#[derive(Debug, Clone, Args)]
pub struct SetWeightsArgs {
    /// With -r, set the recomputed weights on chain with the wallet's hotkey and confirm them
    #[arg(long)]
    pub set: bool,
    /// With --set, print what would be sent (uids, u16 weights, call) without signing
    #[arg(long, requires = "set")]
    pub dry_run: bool,
    /// With --set, set weights computed from zero result records (all to uid 0) instead of refusing
    #[arg(long, requires = "set")]
    pub allow_empty: bool,
    /// The wallet whose hotkey sets the weights.
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// The node weights are set on.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Retries and confirmation of weight setting.
    #[command(flatten)]
    pub signer: ConfirmArgs,
    /// Drand beacon public key timelocked weights are encrypted to (hex G2 point) [default: drand quicknet]
    #[arg(long, value_name = "HEX", env = env_vars::AF_DRAND_PUBLIC_KEY)]
    pub drand_public_key: Option<String>,
}

/// How weight setting is retried and confirmed (the original's variable names).
#[derive(Debug, Clone, Default, Args)]
pub struct ConfirmArgs {
    /// Weight-setting attempts in all [default: 10]
    #[arg(long, value_name = "N", env = env_vars::SIGNER_RETRIES)]
    pub signer_retries: Option<String>,
    /// Seconds between weight-setting attempts [default: 2]
    #[arg(long, value_name = "SECS", env = env_vars::SIGNER_RETRY_DELAY)]
    pub signer_retry_delay: Option<String>,
    /// Blocks to wait before checking that the weights landed [default: 3]
    #[arg(long, value_name = "N", env = env_vars::CONFIRMATION_BLOCKS)]
    pub confirmation_blocks: Option<String>,
}

/// `af signer`.
#[derive(Debug, Args)]
pub struct SignerArgs {
    /// Interface to listen on; any but loopback requires `SIGNER_TOKEN`
    #[arg(long, value_name = "IP", env = env_vars::SIGNER_HOST, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on
    #[arg(long, value_name = "PORT", env = env_vars::SIGNER_PORT, default_value_t = 8080)]
    pub port: u16,
    /// The only subnet `/set_weights` serves
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// Seconds a stop waits for a weight set in flight
    #[arg(long = "grace", value_name = "SECONDS", env = env_vars::AF_STOP_GRACE, default_value = "60")]
    pub stop_grace: String,
    /// The wallet whose hotkey signs.
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// The node weights are set on.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Retries and confirmation of weight setting.
    #[command(flatten)]
    pub signer: ConfirmArgs,
    /// Drand beacon public key timelocked weights are encrypted to (hex G2 point) [default: drand quicknet]
    #[arg(long, value_name = "HEX", env = env_vars::AF_DRAND_PUBLIC_KEY)]
    pub drand_public_key: Option<String>,
}

/// `af validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// Do every step but signing, and print what would be set each interval
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object per interval instead of a text block
    #[arg(long)]
    pub json: bool,
    /// Set a vector computed from zero result records (everything to uid 0) instead of refusing it
    #[arg(long)]
    pub allow_empty: bool,
    /// Blocks between weight sets (the first block at or past each multiple sets them)
    #[arg(long, value_name = "BLOCKS", env = env_vars::WEIGHT_SET_INTERVAL_BLOCKS, default_value_t = 180)]
    pub interval: u64,
    /// Time without a new block, or in one phase, after which the process exits 1 (seconds, or 30s, 250ms)
    #[arg(long, value_name = "DURATION", env = env_vars::AFFINE_VALIDATOR_WATCHDOG_TIMEOUT, default_value = "1200")]
    pub watchdog_timeout: String,
    /// Seconds a stop waits for the step in flight (a weight set) to finish
    #[arg(long = "grace", value_name = "SECONDS", env = env_vars::AF_STOP_GRACE, default_value = "60")]
    pub stop_grace: String,
    /// Subnet
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// Blocks of history scored
    #[arg(long, value_name = "BLOCKS", env = env_vars::AF_TAIL, default_value_t = 40_000)]
    pub tail: u64,
    /// Signer service base URL [default: `http://signer:8080`]
    #[arg(long, value_name = "URL", env = env_vars::SIGNER_URL)]
    pub signer_url: Option<String>,
    /// Take the weights from a published latest.json instead of computing them (true, 1 or yes)
    #[arg(long, value_name = "BOOL", env = env_vars::USE_R2_WEIGHTS)]
    pub use_r2_weights: Option<String>,
    /// URL of the latest.json R2-weights mode reads [default: the official public bucket's]
    #[arg(long, value_name = "URL", env = env_vars::AFFINE_R2_WEIGHTS_URL)]
    pub r2_weights_url: Option<String>,
    /// Oldest latest.json accepted, in blocks behind the head [default: two intervals]
    #[arg(long, value_name = "BLOCKS", env = env_vars::AFFINE_R2_WEIGHTS_MAX_AGE)]
    pub r2_weights_max_age: Option<u64>,
    /// Threads used to parse shards (default: all cores)
    #[arg(long, value_name = "N", env = env_vars::AF_PARSE_THREADS)]
    pub parse_threads: Option<usize>,
    /// Where the results and summaries are stored.
    #[command(flatten)]
    pub store: Box<StoreArgs>,
    /// The wallet: the local fallback's hotkey (optional when a signer is configured).
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// The node.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Retries and confirmation of a local weight set.
    #[command(flatten)]
    pub signer: ConfirmArgs,
    /// Drand beacon public key timelocked weights are encrypted to (hex G2 point) [default: drand quicknet]
    #[arg(long, value_name = "HEX", env = env_vars::AF_DRAND_PUBLIC_KEY)]
    pub drand_public_key: Option<String>,
    /// Which miners are queryable.
    #[command(flatten)]
    pub discovery: Box<DiscoveryArgs>,
}

/// `af hub ...`.
#[derive(Debug, Subcommand)]
pub enum HubCommand {
    /// Download every file of a repository at a revision into a directory (resumable, verified)
    Download(HubDownloadArgs),
}

/// `af hub download`.
#[derive(Debug, Args)]
pub struct HubDownloadArgs {
    /// Repository id, owner/name
    #[arg(long, value_name = "OWNER/NAME")]
    pub repo: String,
    /// Revision: a commit sha (recommended) or a branch
    #[arg(long, value_name = "SHA")]
    pub revision: String,
    /// Destination directory (created if missing; partial downloads in it are resumed)
    #[arg(long, value_name = "DIR")]
    pub dest: PathBuf,
    /// Hugging Face token for private or gated repositories
    #[arg(long, value_name = "TOKEN", env = env_vars::HF_TOKEN, hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Hugging Face Hub base URL
    #[arg(long, value_name = "URL", env = env_vars::HF_ENDPOINT)]
    pub hf_endpoint: Option<String>,
    /// Files downloaded at once (default 8)
    #[arg(long, value_name = "N", env = env_vars::AF_HUB_CONCURRENCY)]
    pub concurrency: Option<usize>,
    /// Print one JSON object instead of the summary line
    #[arg(long)]
    pub json: bool,
}

/// `af wallet ...`.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Print the coldkey and hotkey SS58 addresses of the configured wallet
    Show(WalletShowArgs),
}

/// Which bittensor wallet to use (the flags and variables btcli and the original affine use).
#[derive(Debug, Clone, Args)]
pub struct WalletArgs {
    /// Wallet (coldkey) name under the wallets directory
    #[arg(long = "wallet.name", alias = "coldkey", value_name = "NAME", env = env_vars::BT_WALLET_COLD, default_value = "default")]
    pub wallet_name: String,
    /// Hotkey name inside the wallet
    #[arg(long = "wallet.hotkey", alias = "hotkey", value_name = "NAME", env = env_vars::BT_WALLET_HOT, default_value = "default")]
    pub wallet_hotkey: String,
    /// Wallets directory [default: ~/.bittensor/wallets]
    #[arg(long = "wallet.path", value_name = "DIR", env = env_vars::BT_WALLET_PATH)]
    pub wallet_path: Option<PathBuf>,
}

/// `af wallet show`.
#[derive(Debug, Args)]
pub struct WalletShowArgs {
    /// The wallet to show.
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// Which subtensor node to talk to.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// Subtensor endpoint: finney, test, local, or a ws:// or wss:// URL
    #[arg(long, value_name = "ENDPOINT", env = env_vars::SUBTENSOR_ENDPOINT, default_value = "finney")]
    pub subtensor_endpoint: String,
    /// Endpoint tried when the primary fails [default with finney: the original's public fallback]
    #[arg(long, value_name = "ENDPOINT", env = env_vars::SUBTENSOR_FALLBACK)]
    pub subtensor_fallback: Option<String>,
    /// Deadline of one chain call, in seconds
    #[arg(long, value_name = "SECS", env = env_vars::AF_CHAIN_TIMEOUT, default_value_t = 30)]
    pub chain_timeout: u64,
}

/// `af metagraph`.
#[derive(Debug, Args)]
pub struct MetagraphArgs {
    /// The node to read.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Subnet to read
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// `af commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Hugging Face repository of the model
    #[arg(long, value_name = "REPO")]
    pub repo: String,
    /// Commit SHA of the model revision
    #[arg(long, value_name = "SHA")]
    pub revision: String,
    /// Chute id serving the model
    #[arg(long = "chute-id", alias = "chute_id", value_name = "ID")]
    pub chute_id: String,
    /// The wallet whose hotkey commits (also --coldkey/--hotkey, as the original).
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// The node.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Subnet to commit on
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// Drand beacon public key to encrypt to (hex G2 point) [default: drand quicknet, as finney]
    #[arg(long, value_name = "HEX", env = env_vars::AF_DRAND_PUBLIC_KEY)]
    pub drand_public_key: Option<String>,
    /// Print the signed extrinsic instead of submitting it
    #[arg(long)]
    pub dry_run: bool,
}

/// Where the Chutes API is (shared by `miners` and `chutes-push`).
#[derive(Debug, Clone, Args)]
pub struct ChutesApiArgs {
    /// Chutes management API base URL
    #[arg(long, value_name = "URL", env = env_vars::CHUTES_API_URL, default_value = "https://api.chutes.ai")]
    pub chutes_api_url: String,
    /// Chutes API key (cpk_...)
    #[arg(long, value_name = "KEY", env = env_vars::CHUTES_API_KEY, hide_env_values = true)]
    pub chutes_api_key: Option<String>,
}

/// `af miners`.
#[derive(Debug, Args)]
pub struct MinersArgs {
    /// Show only this uid
    #[arg(long, value_name = "UID")]
    pub uid: Option<u16>,
    /// Also list uids without a commitment
    #[arg(long)]
    pub all: bool,
    /// Subnet to read
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// The node.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Where miners' chutes and models are checked.
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}

/// The off-chain side of miner discovery (shared by `miners` and `weights -r`): the Chutes API,
/// the Hub, the blacklist and how many lookups run at once.
#[derive(Debug, Clone, Args)]
pub struct DiscoveryArgs {
    /// The Chutes API.
    #[command(flatten)]
    pub chutes: ChutesApiArgs,
    /// Hugging Face Hub base URL
    #[arg(long, value_name = "URL", env = env_vars::HF_ENDPOINT)]
    pub hf_endpoint: Option<String>,
    /// Hugging Face token (used for the weights listing; gating is checked anonymously)
    #[arg(long, value_name = "TOKEN", env = env_vars::HF_TOKEN, hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Comma-separated hotkeys never sampled
    #[arg(long, value_name = "HOTKEYS", env = env_vars::AFFINE_MINER_BLACKLIST)]
    pub blacklist: Option<String>,
    /// Hub and Chutes lookups in flight at once
    #[arg(long, value_name = "N", env = env_vars::AFFINE_META_CONCURRENCY, default_value_t = 12)]
    pub concurrency: usize,
    /// A miner's OpenAI-compatible base URL as a template over its chute slug
    #[arg(long, value_name = "URL", env = env_vars::AF_INFERENCE_URL_TEMPLATE, default_value = crate::inference::url::DEFAULT_TEMPLATE)]
    pub inference_url_template: String,
}

/// Where the environments run for `af runner`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvBackendKind {
    /// Containers the runner starts and removes (local engine or `AFFINETES_HOSTS`).
    Docker,
    /// Environment servers already running (`--env-url`).
    Url,
    /// SAT, ABD and DED in the runner's own process.
    Native,
}

/// `af runner`.
#[derive(Debug, Args)]
pub struct RunnerArgs {
    /// Where the environments run
    #[arg(long, value_enum, env = env_vars::AF_ENV_BACKEND, default_value_t = EnvBackendKind::Docker)]
    pub env_backend: EnvBackendKind,
    /// Environments to sample, comma-separated [default: all eight]
    #[arg(long, value_name = "LIST", env = env_vars::AF_ENVS)]
    pub envs: Option<String>,
    /// With --env-backend url: ENV=URL pairs, comma-separated (`affine=URL` for SAT, ABD and DED)
    #[arg(long = "env-url", value_name = "ENV=URL,...", env = env_vars::AF_ENV_URLS)]
    pub env_urls: Option<String>,
    /// With --env-backend docker: ENV=IMAGE overrides, comma-separated (`affine=IMAGE` for SAT,
    /// ABD and DED; `agentgym=IMAGE:TAG` is not accepted, each agentgym env has its own image)
    #[arg(long = "image", value_name = "ENV=IMAGE,...", env = env_vars::AF_ENV_IMAGES)]
    pub images: Option<String>,
    /// Seconds between sampling events of each env, instead of 86400 / range size
    #[arg(long, value_name = "SECONDS", env = env_vars::AF_TASK_INTERVAL)]
    pub task_interval: Option<f64>,
    /// Outer deadline of one evaluation in seconds, instead of the reference's 700 (affine) / 1300
    #[arg(long, value_name = "SECONDS", env = env_vars::AF_CALL_DEADLINE)]
    pub call_deadline: Option<f64>,
    /// The durable result spool [default: `~/.cache/affine/runner-spool.redb`]
    #[arg(long, value_name = "FILE", env = env_vars::AF_SPOOL)]
    pub spool: Option<PathBuf>,
    /// The sampling state file [default: `~/.cache/affine/sampling_state.json`]
    #[arg(long, value_name = "FILE", env = env_vars::AF_SAMPLING_STATE)]
    pub state_file: Option<PathBuf>,
    /// Seconds evaluations in flight may finish after SIGTERM
    #[arg(long, value_name = "SECONDS", env = env_vars::AF_STOP_GRACE, default_value_t = 30.0)]
    pub grace: f64,
    /// Service errors of one miner closer together than this count once toward its pause
    #[arg(long, value_name = "SECONDS", env = env_vars::AF_SERVICE_ERROR_WINDOW, default_value_t = 60.0)]
    pub service_error_window: f64,
    /// Workers per environment
    #[arg(long, value_name = "N", env = env_vars::AFFINE_WORKERS_PER_ENV, default_value_t = 10)]
    pub workers_per_env: usize,
    /// Queue capacity per environment (warning at 50 %, pause at 75 %, resume at 25 %)
    #[arg(long, value_name = "N", env = env_vars::AFFINE_QUEUE_MAX_SIZE_PER_ENV, default_value_t = 1000)]
    pub queue_max_size_per_env: usize,
    /// The reference's per-miner buffer size (accepted; this runner enqueues at once)
    #[arg(long, value_name = "N", env = env_vars::AFFINE_BATCH_SIZE, default_value_t = 30)]
    pub batch_size: usize,
    /// Results per upload
    #[arg(long, value_name = "N", env = env_vars::AFFINE_SINK_BATCH_SIZE, default_value_t = 300)]
    pub sink_batch_size: usize,
    /// Seconds the oldest spooled result waits before a smaller upload
    #[arg(long, value_name = "SECONDS", env = env_vars::AFFINE_SINK_MAX_WAIT, default_value_t = 300.0)]
    pub sink_max_wait: f64,
    /// Seconds between miner discovery passes
    #[arg(long, value_name = "SECONDS", env = env_vars::AFFINE_MINER_REFRESH_INTERVAL, default_value_t = 1800.0)]
    pub miner_refresh_interval: f64,
    /// A miner's first pause, seconds (doubling on every further M errors)
    #[arg(long, value_name = "SECONDS", env = env_vars::AFFINE_CHUTES_ERROR_PAUSE_SECONDS, default_value_t = 600.0)]
    pub chutes_error_pause_seconds: f64,
    /// A miner's longest pause, seconds
    #[arg(long, value_name = "SECONDS", env = env_vars::AFFINE_MAX_PAUSE_SECONDS, default_value_t = 86_400.0)]
    pub max_pause_seconds: f64,
    /// M: pause a miner on every M-th counted service error
    #[arg(long, value_name = "M", env = env_vars::AFFINE_MAX_CONSECUTIVE_ERRORS, default_value_t = 3)]
    pub max_consecutive_errors: u32,
    /// Seconds without progress before the watchdog stops the runner (exit 1)
    #[arg(long, value_name = "SECONDS", env = env_vars::AFFINE_WATCHDOG_TIMEOUT, default_value_t = 900.0)]
    pub watchdog_timeout: f64,
    /// Blocks per result window (the network's is 20; nothing else is accepted)
    #[arg(long, value_name = "BLOCKS", env = env_vars::AFFINE_WINDOW, default_value_t = 20)]
    pub window: u64,
    /// The reference's HTTP connection limit (accepted; clients here pool per host)
    #[arg(long, value_name = "N", env = env_vars::AFFINE_HTTP_CONCURRENCY, default_value_t = 400)]
    pub http_concurrency: usize,
    /// The signer service that signs results
    #[arg(long, value_name = "URL", env = env_vars::SIGNER_URL, default_value = "http://signer:8080")]
    pub signer_url: String,
    /// The subnet
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// The wallet whose hotkey signs when the signer is unavailable.
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// The node.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Where results are stored.
    #[command(flatten)]
    pub store: StoreArgs,
    /// Which miners are sampled (Chutes, Hub, blacklist, inference URLs).
    #[command(flatten)]
    pub discovery: DiscoveryArgs,
    /// The ABD/DED dataset and the interpreter, for --env-backend native.
    #[command(flatten)]
    pub affine: AffineEnvArgs,
    /// Containers, for --env-backend docker.
    #[command(flatten)]
    pub docker: RunnerDockerArgs,
}

/// The container options of `af runner --env-backend docker`.
#[derive(Debug, Clone, Args)]
pub struct RunnerDockerArgs {
    /// Docker network mode of the environment containers (e.g. host)
    #[arg(long, value_name = "NET", env = env_vars::AF_DOCKER_NETWORK)]
    pub docker_network: Option<String>,
    /// Memory limit of each environment container
    #[arg(long, value_name = "SIZE", env = env_vars::AF_MEM_LIMIT, default_value = "10g")]
    pub mem_limit: String,
    /// Pull each image before starting it (falls back to the local one)
    #[arg(long)]
    pub pull: bool,
    /// Docker hosts, comma-separated `localhost` / `ssh://user@host[:port]`, one replica each
    #[arg(long, value_name = "HOSTS", env = env_vars::AFFINETES_HOSTS)]
    pub hosts: Option<String>,
    /// SSH key for ssh:// hosts
    #[arg(long, value_name = "FILE", env = env_vars::AF_SSH_IDENTITY)]
    pub ssh_identity: Option<std::path::PathBuf>,
    /// Host-key policy for ssh:// hosts: accept-new, strict or off
    #[arg(long, value_name = "POLICY", env = env_vars::AF_SSH_HOST_KEYS, default_value = "accept-new")]
    pub ssh_host_keys: String,
    /// Known-hosts file for ssh:// hosts
    #[arg(long, value_name = "FILE", env = env_vars::AF_SSH_KNOWN_HOSTS)]
    pub ssh_known_hosts: Option<std::path::PathBuf>,
}

/// `af devnet`.
#[derive(Debug, Args)]
pub struct DevnetArgs {
    /// Directory for the dev wallets, the dataset, the saved chain and devnet.env [default:
    /// ~/.local/share/affine/devnet]
    #[arg(long, value_name = "DIR", env = env_vars::AF_DEVNET_DIR)]
    pub dir: Option<PathBuf>,
    /// Interface every service listens on
    #[arg(long, value_name = "IP", env = env_vars::AF_DEVNET_HOST, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of the chain node; the Chutes API, Hub, Hub CDN, inference and dataset take the
    /// next five (0: free ports for all)
    #[arg(long, value_name = "PORT", env = env_vars::AF_DEVNET_PORT, default_value_t = 9944)]
    pub port: u16,
    /// Time between blocks (e.g. 1s, 250ms)
    #[arg(long, value_name = "DURATION", env = env_vars::AF_DEVNET_BLOCK_TIME, default_value = "1s")]
    pub block_time: String,
    /// The subnet's tempo in blocks
    #[arg(long, value_name = "BLOCKS", default_value_t = 180)]
    pub tempo: u16,
    /// The subnet
    #[arg(long, value_name = "NETUID", default_value_t = 120)]
    pub netuid: u16,
    /// Miner policies, one per miner from uid 1: oracle, random, copy:UID, flaky:P,
    /// slow:SECONDS, fixed:P, status:CODE
    #[arg(long, value_name = "LIST", env = env_vars::AF_DEVNET_MINERS, default_value = "oracle,random,copy:1")]
    pub miners: String,
    /// Commit-reveal (timelocked) weights instead of plain ones
    #[arg(long)]
    pub commit_reveal: bool,
    /// Blocks between two weight sets of one hotkey [default: 100, or the tempo when shorter]
    #[arg(long, value_name = "BLOCKS")]
    pub weights_rate_limit: Option<u64>,
    /// Start over instead of resuming the chain saved in --dir
    #[arg(long)]
    pub fresh: bool,
    /// Print the endpoints and accounts as one JSON document instead of the banner
    #[arg(long)]
    pub json: bool,
}

/// `af pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// The uid whose latest commitment names the model
    pub uid: u16,
    /// Destination directory (created if missing; partial downloads in it are resumed)
    #[arg(long = "model-path", alias = "model_path", value_name = "DIR")]
    pub model_path: PathBuf,
    /// Hugging Face token for private or gated repositories
    #[arg(long, value_name = "TOKEN", env = env_vars::HF_TOKEN, hide_env_values = true)]
    pub hf_token: Option<String>,
    /// Hugging Face Hub base URL
    #[arg(long, value_name = "URL", env = env_vars::HF_ENDPOINT)]
    pub hf_endpoint: Option<String>,
    /// Files downloaded at once (default 8)
    #[arg(long, value_name = "N", env = env_vars::AF_HUB_CONCURRENCY)]
    pub concurrency: Option<usize>,
    /// Subnet to read
    #[arg(long, value_name = "NETUID", env = env_vars::AF_NETUID, default_value_t = 120)]
    pub netuid: u16,
    /// The node.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Print one JSON object instead of the summary line
    #[arg(long)]
    pub json: bool,
}

/// `af chutes-push`.
#[derive(Debug, Args)]
pub struct ChutesPushArgs {
    /// Hugging Face repository to deploy (owner/affine...)
    #[arg(long, value_name = "REPO")]
    pub repo: String,
    /// The 40-hex commit of the revision to serve
    #[arg(long, value_name = "SHA")]
    pub revision: String,
    /// The Chutes API.
    #[command(flatten)]
    pub chutes: ChutesApiArgs,
    /// Chutes username (names the chute id) [default: username in the chutes config.ini]
    #[arg(long = "chute-user", alias = "chute_user", value_name = "USER", env = env_vars::CHUTE_USER)]
    pub chute_user: Option<String>,
    /// Chutes config file (user id, username, hotkey seed) for hotkey-signed requests [default: ~/.chutes/config.ini]
    #[arg(long, value_name = "FILE", env = env_vars::CHUTES_CONFIG_PATH)]
    pub chutes_config: Option<PathBuf>,
    /// Image to run (an official chutes/sglang or chutes/vllm image)
    #[arg(long, value_name = "IMAGE", default_value = "chutes/sglang:nightly-2025081600")]
    pub image: String,
    /// Concurrent requests per instance
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub concurrency: u32,
    /// GPUs per instance
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub gpu_count: u32,
    /// Allowed GPU types, comma-separated
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "a100,h100")]
    pub gpu_types: Vec<String>,
    /// Instances at most
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub max_instances: u32,
    /// Utilisation above which another instance starts (0..1)
    #[arg(long, value_name = "X", default_value_t = 0.5)]
    pub scaling_threshold: f64,
    /// Idle seconds before instances shut down
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub shutdown_after_seconds: u64,
    /// Print the request body instead of sending it
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
}
