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
    /// Show the configured bittensor wallet
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Show a subnet's metagraph with each uid's latest revealed commitment
    Metagraph(MetagraphArgs),
    /// Timelock-commit your model, revision and chute id on chain for your hotkey
    Commit(CommitArgs),
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
