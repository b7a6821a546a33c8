//! The one place that resolves configuration: flags > environment > `.env` > defaults.
//!
//! clap reads flags and environment variables (each flag names its variable); `.env` in the
//! working directory is loaded into the environment first without overriding anything already
//! set, so it ranks below the real environment. The `*Settings` types are the validated result
//! the rest of the program uses.

//!
//! One file per group of commands: `store` (`weights`, `dataset pull`), `envs` (`eval`,
//! `env serve`), `hub` (`hub download`), `chain` (`wallet`, `metagraph`, `commit`) and `miners` (`miners`,
//! `pull`, `chutes-push`), `devnet` (`devnet`) and `validator` (`validate`, `signer`); their
//! types are re-exported here.

mod chain;
mod devnet;
mod envs;
mod hub;
mod miners;
mod store;
mod validator;

pub use chain::*;
pub use devnet::*;
pub use envs::*;
pub use hub::*;
pub use miners::*;
pub use store::*;
pub use validator::*;

use crate::cli::{GlobalArgs, LogFormat};
use crate::env_vars;

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
