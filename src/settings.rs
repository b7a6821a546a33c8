//! The one place that resolves configuration: flags > environment > `.env` > defaults.
//!
//! clap reads flags and environment variables (each flag names its variable); `.env` in the
//! working directory is loaded into the environment first without overriding anything already
//! set, so it ranks below the real environment. The `*Settings` types are the validated result
//! the rest of the program uses.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::cli::{GlobalArgs, HubDownloadArgs, LogFormat, WeightsArgs};
use crate::env_vars;
use crate::hub::{DEFAULT_ENDPOINT, HubConfig, SnapshotOptions};
use crate::secret::Secret;

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

/// `af weights` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSettings {
    /// The replay directory.
    pub replay_dir: PathBuf,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Threads that parse shards.
    pub parse_threads: NonZeroUsize,
}

impl WeightsSettings {
    /// Validates `af weights` arguments.
    ///
    /// # Errors
    /// A missing replay directory flag or a thread count of zero.
    pub fn resolve(args: &WeightsArgs) -> Result<Self, ConfigError> {
        let replay_dir = args.replay.clone().ok_or_else(|| ConfigError("--replay DIR is required".to_owned()))?;
        let parse_threads = match args.parse_threads {
            Some(count) => NonZeroUsize::new(count).ok_or_else(|| ConfigError("--parse-threads must be at least 1".to_owned()))?,
            None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
        };
        Ok(Self { replay_dir, json: args.json, parse_threads })
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

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn weights_settings_reject_zero_threads_and_default_to_cores() {
        let args = WeightsArgs { replay: Some("d".into()), json: true, parse_threads: Some(0) };
        assert!(WeightsSettings::resolve(&args).is_err());
        let args = WeightsArgs { replay: Some("d".into()), json: false, parse_threads: None };
        let settings = WeightsSettings::resolve(&args).expect("valid");
        assert!(settings.parse_threads.get() >= 1);
        assert_eq!(settings.replay_dir, PathBuf::from("d"));
    }
}
