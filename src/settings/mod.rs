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
mod runner;
mod store;
mod validator;

pub use chain::*;
pub use devnet::*;
pub use envs::*;
pub use hub::*;
pub use miners::*;
pub use runner::*;
pub use store::*;
pub use validator::*;

use crate::cli::{GlobalArgs, LogFormat};
use crate::env_vars;

/// A configuration problem the user must fix (exit code 2).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

impl crate::error::Classify for ConfigError {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::Usage
    }
}

/// Loads `.env` (the first regular `.env` file in the working directory or one of its
/// parents, as `dotenvy` finds it) unless `AF_NO_DOTENV` is set; variables already set win.
///
/// The file is read through [`crate::fsio::read_regular`] (a FIFO or a huge file is refused)
/// and checked whole before anything is set, so a broken file sets nothing.
///
/// # Errors
/// An unreadable or malformed file: the message names the file, the line and the key, never
/// a value (a `.env` holds secrets).
pub fn load_dotenv() -> Result<(), ConfigError> {
    if std::env::var_os(env_vars::AF_NO_DOTENV).is_some() {
        return Ok(());
    }
    let Some(path) = std::env::current_dir().ok().and_then(|dir| find_dotenv(&dir)) else { return Ok(()) };
    let bytes = crate::fsio::read_regular(&path, crate::fsio::STATE_MAX_BYTES)
        .map_err(|error| ConfigError(format!("cannot read {}: {error} (set AF_NO_DOTENV=1 to skip it)", path.display())))?;
    let broken = |error: &dotenvy::Error| match error {
        dotenvy::Error::LineParse(line, _) => ConfigError(format!(
            "{}:{}: cannot parse the line of {} (its value is not shown); fix its quoting or syntax, or set AF_NO_DOTENV=1",
            path.display(),
            line_number(&bytes, line),
            line_key(line).map_or_else(|| "no valid key".to_owned(), |key| format!("key {key}")),
        )),
        other => ConfigError(format!("cannot load {}: {} (its values are not shown)", path.display(), error_kind(other))),
    };
    if let Some(Err(error)) = dotenvy::from_read_iter(bytes.as_slice()).find(Result::is_err) {
        return Err(broken(&error));
    }
    dotenvy::from_read(bytes.as_slice()).map_err(|error| broken(&error))
}

/// The first directory from `dir` upwards with a regular file `.env` (`dotenvy`'s rule).
fn find_dotenv(dir: &std::path::Path) -> Option<std::path::PathBuf> {
    dir.ancestors().map(|dir| dir.join(".env")).find(|candidate| candidate.is_file())
}

/// The 1-based line where `logical` (a line `dotenvy` could not parse) starts in `bytes`.
fn line_number(bytes: &[u8], logical: &str) -> usize {
    let text = String::from_utf8_lossy(bytes);
    let first = logical.lines().next().unwrap_or_default();
    text.find(first).map_or(0, |at| text[..at].matches('\n').count() + 1)
}

/// The variable name of a `.env` line, when it has a plausible one (never the value).
fn line_key(line: &str) -> Option<&str> {
    let (key, _) = line.split_once('=')?;
    let key = key.trim().strip_prefix("export ").map_or(key.trim(), str::trim);
    let valid = key.chars().next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
    valid.then_some(key)
}

/// What went wrong without the error's text (which may quote the file).
fn error_kind(error: &dotenvy::Error) -> String {
    match error {
        dotenvy::Error::Io(io) => io.kind().to_string(),
        dotenvy::Error::EnvVar(_) => "a substituted variable is not valid unicode".to_owned(),
        _ => "malformed".to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_errors_name_the_line_and_key_never_the_value() {
        let text = "# keys\nR2_FOLDER=affine\nR2_WRITE_SECRET_ACCESS_KEY=\"s3cr3t-value\nOTHER=x\n";
        let error = dotenvy::from_read_iter(text.as_bytes()).find(Result::is_err).expect("an error").expect_err("unterminated quote");
        let dotenvy::Error::LineParse(line, _) = &error else { panic!("a parse error: {error:?}") };
        assert_eq!(line_number(text.as_bytes(), line), 3);
        assert_eq!(line_key(line), Some("R2_WRITE_SECRET_ACCESS_KEY"));
        assert_eq!(line_key("export  A_B.c = 1"), Some("A_B.c"));
        assert_eq!(line_key("1bad=x"), None);
        assert_eq!(line_key("no equals sign"), None);
    }
}
