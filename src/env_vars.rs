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
/// Hugging Face token, sent to the Hub host only (`--hf-token`).
pub const HF_TOKEN: &str = "HF_TOKEN";
/// Hugging Face Hub base URL (`--hf-endpoint`), as `huggingface_hub` names it.
pub const HF_ENDPOINT: &str = "HF_ENDPOINT";
/// Files downloaded at once by `af hub download` (`--concurrency`).
pub const AF_HUB_CONCURRENCY: &str = "AF_HUB_CONCURRENCY";
/// Standard tracing filter; overrides `-v` when set.
pub const RUST_LOG: &str = "RUST_LOG";
