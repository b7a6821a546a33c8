//! Settings of `af hub download`.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::cli::HubDownloadArgs;
use crate::hub::{DEFAULT_ENDPOINT, HubConfig, SnapshotOptions};
use crate::secret::Secret;

use super::ConfigError;

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
}
