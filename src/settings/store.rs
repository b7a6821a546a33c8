//! Settings of the result-store commands: `af weights` and `af dataset pull`, and the store backend.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use crate::cli::{DatasetPullArgs, StoreArgs, WeightsArgs};
use crate::store::config::{
    BackendConfig, DEFAULT_DOWNLOAD_CONCURRENCY, DEFAULT_PUBLIC_URL, DEFAULT_R2_ACCOUNT, DEFAULT_R2_BUCKET, S3Config, StoreConfig,
};

use super::ConfigError;

/// What `af weights` should do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WeightsMode {
    /// Score a replay directory offline.
    Replay(PathBuf),
    /// Recompute from the store against a metagraph snapshot file, or against the chain (see
    /// [`ChainSnapshotSettings`](super::ChainSnapshotSettings)); optionally save.
    Recompute {
        /// The snapshot file (`None`: read the chain).
        metagraph: Option<PathBuf>,
        /// Save the summary to the store.
        save: bool,
    },
    /// Show a saved summary (`None`: the latest).
    Show(Option<u64>),
}

/// `af weights` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSettings {
    /// What to do.
    pub mode: WeightsMode,
    /// Print JSON instead of a table.
    pub json: bool,
    /// Threads that parse shards.
    pub parse_threads: NonZeroUsize,
    /// The store (`None` for replays, which do not touch it).
    pub store: Option<StoreConfig>,
    /// Compact cache folder of a replay (`--cache`; never the replay directory's own).
    pub replay_cache: Option<PathBuf>,
}

fn parse_threads(value: Option<usize>) -> Result<NonZeroUsize, ConfigError> {
    match value {
        Some(count) => NonZeroUsize::new(count).ok_or_else(|| ConfigError("--parse-threads must be at least 1".to_owned())),
        None => Ok(std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN)),
    }
}

impl WeightsSettings {
    /// Validates `af weights` arguments: `--replay DIR`, `-r [--metagraph FILE] [--save]`, or
    /// `[-b BLOCK]` alone.
    ///
    /// # Errors
    /// A combination that makes no sense, a thread count of zero, or a bad store setting.
    pub fn resolve(args: &WeightsArgs) -> Result<Self, ConfigError> {
        let usage = |text: &str| Err(ConfigError(text.to_owned()));
        if args.cache.is_some() && args.replay.is_none() {
            return usage("--cache applies to --replay; -r keeps its cache in --cache-dir (AFFINE_CACHE_DIR)");
        }
        if args.onchain.set && !args.recompute {
            return usage("--set applies to -r: the weights are recomputed from the store, then set on chain");
        }
        let mode = match (&args.replay, args.recompute) {
            (Some(_), true) => return usage("--replay and -r are alternatives: score a replay directory, or recompute from the store"),
            (Some(_), false) if args.block.is_some() || args.save || args.metagraph.is_some() => {
                return usage("--replay takes its block and metagraph from the replay directory; -b, --metagraph and --save do not apply");
            }
            (Some(dir), false) => WeightsMode::Replay(dir.clone()),
            (None, true) => {
                if args.block.is_some() {
                    return usage("-r scores at the current block (or the --metagraph snapshot's); -b selects a saved summary to show");
                }
                if args.metagraph.is_some() && args.save_metagraph.is_some() {
                    return usage("--save-metagraph writes the snapshot read from the chain; with --metagraph there is nothing to write");
                }
                WeightsMode::Recompute { metagraph: args.metagraph.clone(), save: args.save }
            }
            (None, false) => {
                if args.save {
                    return usage("--save applies to -r (recompute); a shown summary is already saved");
                }
                if args.metagraph.is_some() || args.save_metagraph.is_some() {
                    return usage("--metagraph and --save-metagraph apply to -r (recompute)");
                }
                WeightsMode::Show(args.block)
            }
        };
        let store = if matches!(mode, WeightsMode::Replay(_)) { None } else { Some(StoreSettings::resolve(&args.store)?) };
        Ok(Self { mode, json: args.json, parse_threads: parse_threads(args.parse_threads)?, store, replay_cache: args.cache.clone() })
    }
}

/// `af dataset pull` after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetPullSettings {
    /// Blocks of history.
    pub tail: u64,
    /// The scored block, when given.
    pub block: Option<u64>,
    /// Destination replay directory.
    pub dest: PathBuf,
    /// Snapshot to copy in as metagraph.json.
    pub metagraph: Option<PathBuf>,
    /// JSON output.
    pub json: bool,
    /// The store.
    pub store: StoreConfig,
}

impl DatasetPullSettings {
    /// Validates `af dataset pull` arguments.
    ///
    /// # Errors
    /// Neither `--block` nor `--metagraph` given, or a bad store setting.
    pub fn resolve(args: &DatasetPullArgs) -> Result<Self, ConfigError> {
        if args.block.is_none() && args.metagraph.is_none() {
            return Err(ConfigError(
                "no block to pull: pass --block BLOCK, or --metagraph FILE to take the block from a snapshot (no chain connection is configured)"
                    .to_owned(),
            ));
        }
        Ok(Self {
            tail: args.tail,
            block: args.block,
            dest: args.dest.clone(),
            metagraph: args.metagraph.clone(),
            json: args.json,
            store: StoreSettings::resolve(&args.store)?,
        })
    }
}

/// Resolves the store backend from flags and the original's environment variables.
#[derive(Debug)]
pub struct StoreSettings;

fn home_dir(parts: &[&str]) -> Option<PathBuf> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty())?;
    Some(parts.iter().fold(PathBuf::from(home), |path, part| path.join(part)))
}

fn non_empty(value: Option<&String>) -> Option<&str> {
    value.map(|v| v.trim()).filter(|v| !v.is_empty())
}

impl StoreSettings {
    /// Picks the backends: S3/R2 when both write keys are set (reads through the public URL
    /// instead when `AFFINE_R2_PUBLIC=1`); the public bucket read-only when only
    /// `AFFINE_R2_PUBLIC=1` is set; otherwise the local folder.
    ///
    /// # Errors
    /// Only one of the two keys set, a malformed endpoint URL or public flag, or zero
    /// concurrency.
    pub fn resolve(args: &StoreArgs) -> Result<StoreConfig, ConfigError> {
        let public = match non_empty(args.r2_public.as_ref()).map(str::to_ascii_lowercase).as_deref() {
            None | Some("0" | "false" | "no") => false,
            Some("1" | "true" | "yes") => true,
            Some(other) => return Err(ConfigError(format!("AFFINE_R2_PUBLIC must be 1 or 0, not {other:?}"))),
        };
        let access = non_empty(args.r2_access_key_id.as_ref());
        let secret = args.r2_secret_access_key.as_ref().filter(|s| !s.is_empty());
        let s3 = match (access, secret) {
            (Some(access), Some(secret)) => {
                let explicit = non_empty(args.r2_endpoint_url.as_ref());
                if let Some(url) = explicit
                    && !(url.starts_with("http://") || url.starts_with("https://"))
                {
                    return Err(ConfigError(format!("R2_ENDPOINT_URL must start with http:// or https://, not {url:?}")));
                }
                let account =
                    non_empty(args.r2_bucket_id.as_ref()).or(non_empty(args.r2_account_id.as_ref())).unwrap_or(DEFAULT_R2_ACCOUNT);
                Some(S3Config {
                    endpoint: explicit.map_or_else(|| format!("https://{account}.r2.cloudflarestorage.com"), str::to_owned),
                    explicit_endpoint: explicit.is_some(),
                    bucket: non_empty(args.r2_folder.as_ref()).unwrap_or(DEFAULT_R2_BUCKET).to_owned(),
                    access_key_id: access.to_owned(),
                    secret_access_key: secret.clone(),
                })
            }
            (None, None) => None,
            _ => {
                return Err(ConfigError(
                    "set both R2_WRITE_ACCESS_KEY_ID and R2_WRITE_SECRET_ACCESS_KEY, or neither (then a local store folder is used)"
                        .to_owned(),
                ));
            }
        };
        let public_url = non_empty(args.r2_public_url.as_ref()).unwrap_or(DEFAULT_PUBLIC_URL).to_owned();
        if !(public_url.starts_with("http://") || public_url.starts_with("https://")) {
            return Err(ConfigError(format!("the public bucket URL must start with http:// or https://, not {public_url:?}")));
        }
        let local = || {
            args.store_dir.clone().or_else(|| home_dir(&[".local", "share", "affine", "store"])).ok_or_else(|| {
                ConfigError("no store folder: set AF_STORE_DIR or --store-dir (HOME is not set), or R2 credentials".to_owned())
            })
        };
        let (read, write) = match (&s3, public) {
            (Some(s3), true) => (BackendConfig::Public(public_url.clone()), Some(BackendConfig::S3(s3.clone()))),
            (Some(s3), false) => (BackendConfig::S3(s3.clone()), Some(BackendConfig::S3(s3.clone()))),
            (None, true) => (BackendConfig::Public(public_url.clone()), None),
            (None, false) => {
                let dir = local()?;
                (BackendConfig::Local(dir.clone()), Some(BackendConfig::Local(dir)))
            }
        };
        let download_concurrency = match args.download_concurrency {
            Some(0) => return Err(ConfigError("--download-concurrency must be at least 1".to_owned())),
            Some(n) => n,
            None => DEFAULT_DOWNLOAD_CONCURRENCY,
        };
        let request_timeout = match args.store_timeout {
            Some(0) => return Err(ConfigError("--store-timeout must be at least 1 second".to_owned())),
            Some(seconds) => std::time::Duration::from_secs(seconds),
            None => crate::store::config::DEFAULT_REQUEST_TIMEOUT,
        };
        Ok(StoreConfig {
            read,
            write,
            public_fallback: (!args.no_public_fallback).then_some(public_url),
            cache_dir: args.cache_dir.clone().or_else(|| home_dir(&[".cache", "affine", "blocks"])),
            download_concurrency,
            request_timeout,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    fn weights(replay: Option<&str>) -> WeightsArgs {
        WeightsArgs {
            replay: replay.map(PathBuf::from),
            cache: None,
            recompute: false,
            block: None,
            metagraph: None,
            save_metagraph: None,
            netuid: 120,
            tail: 40_000,
            save: false,
            json: false,
            parse_threads: None,
            store: StoreArgs { store_dir: Some("s".into()), ..StoreArgs::default() },
            onchain: Box::new(crate::cli::SetWeightsArgs {
                set: false,
                dry_run: false,
                allow_empty: false,
                wallet: crate::cli::WalletArgs { wallet_name: "default".into(), wallet_hotkey: "default".into(), wallet_path: None },
                chain: crate::cli::ChainArgs { subtensor_endpoint: "finney".into(), subtensor_fallback: None, chain_timeout: 30 },
                signer: crate::cli::ConfirmArgs::default(),
                drand_public_key: None,
            }),
            discovery: Box::new(crate::cli::DiscoveryArgs {
                chutes: crate::cli::ChutesApiArgs { chutes_api_url: "https://api.chutes.ai".into(), chutes_api_key: None },
                hf_endpoint: None,
                hf_token: None,
                blacklist: None,
                concurrency: 12,
                inference_url_template: crate::inference::url::DEFAULT_TEMPLATE.to_owned(),
            }),
        }
    }

    fn with_set(mut args: WeightsArgs) -> WeightsArgs {
        args.onchain.set = true;
        args
    }

    #[test]
    fn weights_settings_reject_zero_threads_and_default_to_cores() {
        let args = WeightsArgs { parse_threads: Some(0), ..weights(Some("d")) };
        assert!(WeightsSettings::resolve(&args).is_err());
        let settings = WeightsSettings::resolve(&weights(Some("d"))).expect("valid");
        assert!(settings.parse_threads.get() >= 1);
        assert_eq!(settings.mode, WeightsMode::Replay(PathBuf::from("d")));
        let cached = WeightsSettings::resolve(&WeightsArgs { cache: Some("c".into()), ..weights(Some("d")) }).expect("valid");
        assert_eq!(cached.replay_cache, Some(PathBuf::from("c")));
    }

    #[test]
    fn weights_settings_choose_the_mode_and_reject_nonsense() {
        assert_eq!(WeightsSettings::resolve(&weights(None)).expect("show").mode, WeightsMode::Show(None));
        let at = WeightsArgs { block: Some(9), ..weights(None) };
        assert_eq!(WeightsSettings::resolve(&at).expect("show").mode, WeightsMode::Show(Some(9)));
        let recompute = WeightsArgs { recompute: true, metagraph: Some("m.json".into()), save: true, ..weights(None) };
        assert_eq!(
            WeightsSettings::resolve(&recompute).expect("recompute").mode,
            WeightsMode::Recompute { metagraph: Some("m.json".into()), save: true }
        );
        let from_chain = WeightsArgs { recompute: true, save_metagraph: Some("out.json".into()), ..weights(None) };
        assert_eq!(WeightsSettings::resolve(&from_chain).expect("chain").mode, WeightsMode::Recompute { metagraph: None, save: false });
        for bad in [
            WeightsArgs { recompute: true, metagraph: Some("m".into()), save_metagraph: Some("o".into()), ..weights(None) },
            WeightsArgs { save_metagraph: Some("o".into()), ..weights(None) },
            WeightsArgs { recompute: true, ..weights(Some("d")) },
            WeightsArgs { save: true, ..weights(None) },
            WeightsArgs { block: Some(1), ..weights(Some("d")) },
            WeightsArgs { recompute: true, metagraph: Some("m".into()), block: Some(1), ..weights(None) },
            with_set(weights(None)),
            with_set(weights(Some("d"))),
            WeightsArgs { cache: Some("c".into()), ..weights(None) },
            WeightsArgs { recompute: true, cache: Some("c".into()), ..weights(None) },
        ] {
            assert!(WeightsSettings::resolve(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn store_settings_pick_backends_from_credentials_and_public_flag() {
        let local = StoreSettings::resolve(&StoreArgs { store_dir: Some("s".into()), ..StoreArgs::default() }).expect("local");
        assert_eq!(local.read, BackendConfig::Local("s".into()));
        let keys = StoreArgs {
            r2_access_key_id: Some("id".into()),
            r2_secret_access_key: Some(Secret::new("shh")),
            r2_bucket_id: Some("acct".into()),
            ..StoreArgs::default()
        };
        let s3 = StoreSettings::resolve(&keys).expect("s3");
        let BackendConfig::S3(config) = &s3.read else { panic!("expected s3: {s3:?}") };
        assert_eq!(config.endpoint, "https://acct.r2.cloudflarestorage.com");
        assert!(!config.explicit_endpoint);
        assert_eq!(config.bucket, "affine");
        assert!(!format!("{s3:?}").contains("shh"), "the secret leaks into Debug");
        let explicit = StoreArgs { r2_endpoint_url: Some("http://127.0.0.1:9".into()), ..keys.clone() };
        let BackendConfig::S3(config) = StoreSettings::resolve(&explicit).expect("s3").read else { panic!("s3") };
        assert!(config.explicit_endpoint);
        let public_reads = StoreArgs { r2_public: Some("1".into()), ..keys.clone() };
        let mixed = StoreSettings::resolve(&public_reads).expect("public reads");
        assert!(matches!((&mixed.read, &mixed.write), (BackendConfig::Public(_), Some(BackendConfig::S3(_)))));
        let read_only = StoreSettings::resolve(&StoreArgs { r2_public: Some("1".into()), ..StoreArgs::default() }).expect("public");
        assert!(read_only.write.is_none());
        assert!(StoreSettings::resolve(&StoreArgs { r2_access_key_id: Some("id".into()), ..StoreArgs::default() }).is_err());
        assert!(StoreSettings::resolve(&StoreArgs { r2_public: Some("maybe".into()), ..StoreArgs::default() }).is_err());
        assert!(StoreSettings::resolve(&StoreArgs { r2_endpoint_url: Some("ftp://x".into()), ..keys }).is_err());
    }
}
