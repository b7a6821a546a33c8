//! Command-line definitions (clap only: no I/O, no defaults resolved here beyond clap's own).

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};

use crate::env_vars;

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
    /// Compute the weights a validator would set, from a replay directory of result shards
    Weights(WeightsArgs),
    /// Hugging Face Hub tools (download a model at a revision)
    #[command(subcommand)]
    Hub(HubCommand),
    /// Evaluate an OpenAI-compatible endpoint on an environment (SAT, ABD, DED)
    Eval(EvalArgs),
    /// Serve environments over the Affinetes protocol
    Env(EnvArgs),
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
    /// Program and arguments
    #[arg(last = true, required = true)]
    pub command: Vec<std::ffi::OsString>,
}

/// `af weights`.
#[derive(Debug, Args)]
pub struct WeightsArgs {
    /// Replay directory: metagraph.json plus results/*.json shards (see README)
    #[arg(long, value_name = "DIR", required = true, env = env_vars::AF_REPLAY_DIR)]
    pub replay: Option<PathBuf>,
    /// Print one JSON object instead of the table
    #[arg(long)]
    pub json: bool,
    /// Threads used to parse shards (default: all cores)
    #[arg(long, value_name = "N", env = env_vars::AF_PARSE_THREADS)]
    pub parse_threads: Option<usize>,
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
