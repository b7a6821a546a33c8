//! Every environment variable `af` reads, declared once.
//!
//! `AF_*` names mirror the long flags. Established third-party names (`RUST_LOG`, `NO_COLOR`,
//! and later `R2_*`, `CHUTES_API_KEY`, ...) are accepted as they are.

/// Log format on stderr: `text` or `json` (`--log-format`).
pub const AF_LOG_FORMAT: &str = "AF_LOG_FORMAT";
/// Replay directory for `af weights` (`--replay`).
pub const AF_REPLAY_DIR: &str = "AF_REPLAY_DIR";
/// Threads used to parse result shards (`--parse-threads`).
pub const AF_PARSE_THREADS: &str = "AF_PARSE_THREADS";
/// Set to any value to skip loading `.env` from the working directory.
pub const AF_NO_DOTENV: &str = "AF_NO_DOTENV";
/// Standard tracing filter; overrides `-v` when set.
pub const RUST_LOG: &str = "RUST_LOG";
/// Wallet (coldkey) name (`--wallet.name`), as the original affine `.env`.
pub const BT_WALLET_COLD: &str = "BT_WALLET_COLD";
/// Hotkey name (`--wallet.hotkey`), as the original affine `.env`.
pub const BT_WALLET_HOT: &str = "BT_WALLET_HOT";
/// Wallets directory (`--wallet.path`), as bittensor-wallet reads it.
pub const BT_WALLET_PATH: &str = "BT_WALLET_PATH";
/// Password of `$NACL`-encrypted keyfiles; when unset, `af` prompts on a terminal.
pub const AF_WALLET_PASSWORD: &str = "AF_WALLET_PASSWORD";
/// Home directory, for the default wallets directory `~/.bittensor/wallets`.
pub const HOME: &str = "HOME";
/// Subtensor endpoint: `finney`, `test`, `local` or a URL (`--subtensor-endpoint`), as the
/// original affine.
pub const SUBTENSOR_ENDPOINT: &str = "SUBTENSOR_ENDPOINT";
/// Endpoint tried when the primary fails (`--subtensor-fallback`), as the original affine.
pub const SUBTENSOR_FALLBACK: &str = "SUBTENSOR_FALLBACK";
/// Deadline of one chain call in seconds (`--chain-timeout`).
pub const AF_CHAIN_TIMEOUT: &str = "AF_CHAIN_TIMEOUT";
/// Subnet to read (`--netuid`).
pub const AF_NETUID: &str = "AF_NETUID";
/// Drand beacon public key commitments are encrypted to (`--drand-public-key`); default quicknet.
pub const AF_DRAND_PUBLIC_KEY: &str = "AF_DRAND_PUBLIC_KEY";
