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
