//! Settings of the miner commands: `af miners`, `af pull`, `af chutes-push`.

use std::collections::BTreeSet;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::chain::client::ChainConfig;
use crate::cli::{ChutesApiArgs, ChutesPushArgs, DiscoveryArgs, MinersArgs, PullArgs, WeightsArgs};
use crate::env_vars;
use crate::hub::{DEFAULT_ENDPOINT, HubConfig, SnapshotOptions};
use crate::inference::InferenceUrlTemplate;
use crate::inference::chutes::{ChutesAuth, ChutesConfig, DeploySettings};
use crate::miners::{DiscoveryOptions, parse_blacklist};
use crate::secret::Secret;

use super::{ConfigError, resolve_chain};

fn hub_config(endpoint: Option<&String>, token: Option<&String>) -> Result<HubConfig, ConfigError> {
    let token = match token.map(|t| t.trim()) {
        Some("") => return Err(ConfigError("HF_TOKEN/--hf-token is set but empty".to_owned())),
        Some(token) => Some(Secret::new(token)),
        None => None,
    };
    let endpoint = endpoint.filter(|e| !e.trim().is_empty()).cloned().unwrap_or_else(|| DEFAULT_ENDPOINT.to_owned());
    Ok(HubConfig { endpoint, token })
}

/// The API URL and, when given, the API key (sent raw, as the reference).
fn chutes_config(args: &ChutesApiArgs) -> Result<ChutesConfig, ConfigError> {
    let api_url = args.chutes_api_url.trim();
    if api_url.is_empty() {
        return Err(ConfigError("CHUTES_API_URL/--chutes-api-url must not be empty".to_owned()));
    }
    let auth = match args.chutes_api_key.as_deref().map(str::trim) {
        None | Some("") => ChutesAuth::Anonymous,
        Some(key) => ChutesAuth::ApiKey(Secret::new(key)),
    };
    Ok(ChutesConfig { api_url: api_url.to_owned(), auth })
}

/// Where and how miners are checked: the Chutes API, the Hub and the discovery options.
/// Shared by `af miners` and `af weights -r` (which needs the queryable set).
#[derive(Debug, Clone)]
pub struct DiscoverySettings {
    /// The Chutes API (anonymous unless `CHUTES_API_KEY` is set).
    pub chutes: ChutesConfig,
    /// The Hub.
    pub hub: HubConfig,
    /// Netuid, blacklist, concurrency.
    pub options: DiscoveryOptions,
}

impl DiscoverySettings {
    /// Validates the discovery flags for `netuid`.
    ///
    /// # Errors
    /// An empty Chutes URL or HF token, a concurrency of zero.
    pub fn resolve(args: &DiscoveryArgs, netuid: u16) -> Result<Self, ConfigError> {
        if args.concurrency == 0 {
            return Err(ConfigError("AFFINE_META_CONCURRENCY/--concurrency must be at least 1".to_owned()));
        }
        let blacklist: BTreeSet<String> = args.blacklist.as_deref().map(parse_blacklist).unwrap_or_default();
        let inference_url = InferenceUrlTemplate::parse(&args.inference_url_template)
            .map_err(|reason| ConfigError(format!("AF_INFERENCE_URL_TEMPLATE/--inference-url-template: {reason}")))?;
        Ok(Self {
            chutes: chutes_config(&args.chutes)?,
            hub: hub_config(args.hf_endpoint.as_ref(), args.hf_token.as_ref())?,
            options: DiscoveryOptions { netuid, blacklist, concurrency: args.concurrency, inference_url, check_validity: true },
        })
    }
}

/// `af weights -r` without `--metagraph`: the node, the miner checks and the window that
/// make the scoring snapshot.
#[derive(Debug, Clone)]
pub struct ChainSnapshotSettings {
    /// The node (the same flags `--set` uses).
    pub chain: ChainConfig,
    /// Chutes, Hub, netuid, blacklist, concurrency.
    pub discovery: DiscoverySettings,
    /// Blocks of history scored.
    pub tail: u64,
    /// Where to write the snapshot, when asked.
    pub save_to: Option<PathBuf>,
}

impl ChainSnapshotSettings {
    /// Validates the chain side of `af weights -r`.
    ///
    /// # Errors
    /// Bad chain or discovery flags, a tail of zero.
    pub fn resolve(args: &WeightsArgs) -> Result<Self, ConfigError> {
        if args.tail == 0 {
            return Err(ConfigError("AF_TAIL/--tail must be at least 1 block".to_owned()));
        }
        Ok(Self {
            chain: resolve_chain(&args.onchain.chain)?,
            discovery: DiscoverySettings::resolve(&args.discovery, args.netuid)?,
            tail: args.tail,
            save_to: args.save_metagraph.clone(),
        })
    }
}

/// `af miners` after validation.
#[derive(Debug, Clone)]
pub struct MinersSettings {
    /// The node.
    pub chain: ChainConfig,
    /// Chutes, Hub, netuid, blacklist, concurrency.
    pub discovery: DiscoverySettings,
    /// Only this uid.
    pub uid: Option<u16>,
    /// Also uids without a commitment.
    pub all: bool,
    /// Print JSON.
    pub json: bool,
}

impl MinersSettings {
    /// Validates `af miners` arguments.
    ///
    /// # Errors
    /// Bad chain flags, an empty Chutes URL or HF token, a concurrency of zero.
    pub fn resolve(args: &MinersArgs) -> Result<Self, ConfigError> {
        Ok(Self {
            chain: resolve_chain(&args.chain)?,
            discovery: DiscoverySettings::resolve(&args.discovery, args.netuid)?,
            uid: args.uid,
            all: args.all,
            json: args.json,
        })
    }
}

/// `af pull` after validation.
#[derive(Debug, Clone)]
pub struct PullSettings {
    /// The uid.
    pub uid: u16,
    /// The subnet.
    pub netuid: u16,
    /// Destination directory.
    pub dest: PathBuf,
    /// The node.
    pub chain: ChainConfig,
    /// The Hub.
    pub hub: HubConfig,
    /// Parallelism and retries.
    pub options: SnapshotOptions,
    /// Print JSON.
    pub json: bool,
}

impl PullSettings {
    /// Validates `af pull` arguments.
    ///
    /// # Errors
    /// Bad chain flags, an empty model path or token, a concurrency of zero.
    pub fn resolve(args: &PullArgs) -> Result<Self, ConfigError> {
        if args.model_path.as_os_str().is_empty() {
            return Err(ConfigError("--model-path must not be empty".to_owned()));
        }
        let mut options = SnapshotOptions::default();
        if let Some(count) = args.concurrency {
            options.concurrency = NonZeroUsize::new(count).ok_or_else(|| ConfigError("--concurrency must be at least 1".to_owned()))?;
        }
        Ok(Self {
            uid: args.uid,
            netuid: args.netuid,
            dest: args.model_path.clone(),
            chain: resolve_chain(&args.chain)?,
            hub: hub_config(args.hf_endpoint.as_ref(), args.hf_token.as_ref())?,
            options,
            json: args.json,
        })
    }
}

/// `af chutes-push` after validation (credentials are loaded by the command: the config file
/// is only read when no API key is given).
#[derive(Debug, Clone)]
pub struct ChutesPushSettings {
    /// Repository.
    pub repo: String,
    /// 40-hex revision.
    pub revision: String,
    /// API URL and API key, if any.
    pub chutes: ChutesConfig,
    /// `--chute-user` / `CHUTE_USER`.
    pub chute_user: Option<String>,
    /// The chutes SDK config file.
    pub config_path: PathBuf,
    /// Deployment settings.
    pub deploy: DeploySettings,
    /// Print the body instead of sending it.
    pub dry_run: bool,
    /// Print JSON.
    pub json: bool,
}

impl ChutesPushSettings {
    /// Validates `af chutes-push` arguments.
    ///
    /// # Errors
    /// An empty URL or user name, or no home directory for the default config path.
    pub fn resolve(args: &ChutesPushArgs) -> Result<Self, ConfigError> {
        let chute_user = match args.chute_user.as_deref().map(str::trim) {
            Some("") => return Err(ConfigError("CHUTE_USER/--chute-user is set but empty".to_owned())),
            other => other.map(str::to_owned),
        };
        let config_path = if let Some(path) = &args.chutes_config {
            path.clone()
        } else {
            let home = std::env::var_os(env_vars::HOME).filter(|h| !h.is_empty()).map(PathBuf::from);
            home.map_or_else(
                || PathBuf::from(".chutes/config.ini"),
                |home| crate::inference::chutes_config::ChutesCredentials::default_path(&home),
            )
        };
        Ok(Self {
            repo: args.repo.trim().to_owned(),
            revision: args.revision.trim().to_owned(),
            chutes: chutes_config(&args.chutes)?,
            chute_user,
            config_path,
            deploy: DeploySettings {
                image: args.image.clone(),
                concurrency: args.concurrency,
                gpu_count: args.gpu_count,
                gpus: args.gpu_types.iter().map(|g| g.trim().to_owned()).collect(),
                max_instances: args.max_instances,
                scaling_threshold: args.scaling_threshold,
                shutdown_after_seconds: args.shutdown_after_seconds,
            },
            dry_run: args.dry_run,
            json: args.json,
        })
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use super::*;
    use crate::cli::{Cli, Command};

    fn parse(args: &[&str]) -> Command {
        Cli::try_parse_from(std::iter::once("af").chain(args.iter().copied())).expect("parses").command
    }

    #[test]
    fn miners_settings_parse_the_blacklist_and_refuse_zero_concurrency() {
        let Command::Miners(args) = parse(&["miners", "--blacklist", "5A, 5B,,", "--subtensor-endpoint", "local", "--uid", "3"]) else {
            panic!("miners")
        };
        let settings = MinersSettings::resolve(&args).expect("valid");
        assert_eq!(settings.discovery.options.blacklist.len(), 2);
        assert_eq!((settings.discovery.options.concurrency, settings.uid, settings.discovery.options.netuid), (12, Some(3), 120));
        let Command::Miners(zero) = parse(&["miners", "--concurrency", "0"]) else { panic!("miners") };
        assert!(MinersSettings::resolve(&zero).is_err());
    }

    #[test]
    fn pull_and_push_settings_take_the_aliases_and_the_reference_defaults() {
        let Command::Pull(args) = parse(&["pull", "7", "--model_path", "/tmp/m", "--hf-token", "hf_x"]) else { panic!("pull") };
        let settings = PullSettings::resolve(&args).expect("valid");
        assert_eq!((settings.uid, settings.dest.as_path()), (7, std::path::Path::new("/tmp/m")));
        assert!(!format!("{settings:?}").contains("hf_x"), "the token is redacted");
        let Command::ChutesPush(args) =
            parse(&["chutes_push", "--repo", "o/affine-m", "--revision", "abc", "--chute_user", "o", "--chutes-api-key", "cpk_k"])
        else {
            panic!("chutes-push")
        };
        let settings = ChutesPushSettings::resolve(&args).expect("valid");
        assert_eq!(settings.deploy, DeploySettings::default(), "flag defaults are the reference's deployment settings");
        assert_eq!(settings.chute_user.as_deref(), Some("o"));
        assert!(matches!(settings.chutes.auth, ChutesAuth::ApiKey(_)));
        assert!(!format!("{settings:?}").contains("cpk_k"), "the key is redacted");
    }
}
