//! Settings of the chain commands: wallets, the node, `af wallet show`, `af metagraph`, `af commit`.

use std::path::PathBuf;

use std::time::Duration;

use crate::chain::client::{ChainConfig, DEFAULT_FALLBACK_URL, resolve_endpoint};
use crate::chain::submit::ConfirmPolicy;
use crate::chain::timelock::BeaconPublicKey;
use crate::chain::wallet::{self, PasswordSource, WalletLocation};
use crate::cli::{ChainArgs, CommitArgs, ConfirmArgs, MetagraphArgs, SetWeightsArgs, WalletArgs, WalletShowArgs};
use crate::env_vars;

use super::ConfigError;

/// Which wallet to use and how to unlock its encrypted keyfiles.
#[derive(Debug, Clone)]
pub struct WalletSettings {
    /// `<path>/<name>` and the hotkey name.
    pub location: WalletLocation,
    /// `AF_WALLET_PASSWORD`, else a terminal prompt.
    pub password: PasswordSource,
}

impl WalletSettings {
    /// Resolves the wallet flags; `~` in `--wallet.path` is the home directory, as bittensor
    /// expands it.
    ///
    /// # Errors
    /// An empty wallet or hotkey name, a name with a path separator, or no home directory
    /// when the path needs one.
    pub fn resolve(args: &WalletArgs) -> Result<Self, ConfigError> {
        for (flag, value) in [("--wallet.name", &args.wallet_name), ("--wallet.hotkey", &args.wallet_hotkey)] {
            if value.is_empty() || value.contains(['/', '\\']) || value == ".." {
                return Err(ConfigError(format!("{flag} must be a plain name, not {value:?}")));
            }
        }
        let home = || {
            std::env::var_os(env_vars::HOME)
                .filter(|home| !home.is_empty())
                .map(PathBuf::from)
                .ok_or_else(|| ConfigError("HOME is not set; pass --wallet.path".to_owned()))
        };
        let path = match &args.wallet_path {
            None => home()?.join(".bittensor").join("wallets"),
            Some(path) => match path.strip_prefix("~") {
                Ok(rest) => home()?.join(rest),
                Err(_) => path.clone(),
            },
        };
        let location = WalletLocation { path, name: args.wallet_name.clone(), hotkey: args.wallet_hotkey.clone() };
        let mut password = PasswordSource::env_or_prompt(std::env::var(env_vars::AF_WALLET_PASSWORD).ok());
        // bittensor-wallet's per-keyfile variables (`BT_PW_<PATH>`) win over AF_WALLET_PASSWORD.
        for keyfile in [location.coldkey_path(), location.hotkey_path()] {
            let name = wallet::password_env_var(&keyfile);
            if let Ok(value) = std::env::var(&name) {
                let decoded = wallet::decode_env_password(&name, &value).map_err(|error| ConfigError(error.to_string()))?;
                password = password.with_file_password(keyfile, decoded);
            }
        }
        Ok(Self { location, password })
    }
}

/// `af wallet show` after validation.
#[derive(Debug, Clone)]
pub struct WalletShowSettings {
    /// The wallet.
    pub wallet: WalletSettings,
    /// Print JSON instead of a table.
    pub json: bool,
}

impl WalletShowSettings {
    /// Validates `af wallet show` arguments.
    ///
    /// # Errors
    /// As [`WalletSettings::resolve`].
    pub fn resolve(args: &WalletShowArgs) -> Result<Self, ConfigError> {
        Ok(Self { wallet: WalletSettings::resolve(&args.wallet)?, json: args.json })
    }
}

/// Resolves the chain flags: network names become URLs; the original's public fallback is
/// used only with the default `finney` endpoint, so a local or custom node never fails over to
/// a public one.
///
/// # Errors
/// An unknown endpoint name or a zero timeout.
pub fn resolve_chain(args: &ChainArgs) -> Result<ChainConfig, ConfigError> {
    let endpoint = resolve_endpoint(&args.subtensor_endpoint).map_err(|error| ConfigError(format!("--subtensor-endpoint: {error}")))?;
    let fallback = match &args.subtensor_fallback {
        Some(fallback) if fallback.trim().is_empty() => None,
        Some(fallback) => Some(resolve_endpoint(fallback).map_err(|error| ConfigError(format!("--subtensor-fallback: {error}")))?),
        None if args.subtensor_endpoint.trim() == "finney" => Some(DEFAULT_FALLBACK_URL.to_owned()),
        None => None,
    };
    if args.chain_timeout == 0 {
        return Err(ConfigError("--chain-timeout must be at least 1 second".to_owned()));
    }
    Ok(ChainConfig { endpoint, fallback, timeout: std::time::Duration::from_secs(args.chain_timeout) })
}

/// The most attempts, seconds between them and confirmation blocks accepted: beyond these a
/// value is a typo, and a validator would stall for hours.
const MAX_SIGNER_RETRIES: u32 = 1000;
const MAX_SIGNER_RETRY_DELAY_SECS: f64 = 3600.0;
const MAX_CONFIRMATION_BLOCKS: u32 = 100;

fn bounded_count(flag: &str, value: Option<&str>, default: u32, max: u32) -> Result<u32, ConfigError> {
    let Some(text) = value.map(str::trim).filter(|text| !text.is_empty()) else { return Ok(default) };
    match text.parse::<u32>() {
        Ok(count) if (1..=max).contains(&count) => Ok(count),
        _ => Err(ConfigError(format!("{flag} must be a whole number from 1 to {max}, not {text:?}"))),
    }
}

/// Resolves `SIGNER_RETRIES`, `SIGNER_RETRY_DELAY` and `CONFIRMATION_BLOCKS` (flags or the
/// original's environment variables; defaults 10, 2 s and 3 as the original).
///
/// # Errors
/// A value that is not a number, or out of range (at least one attempt and one block; a
/// finite, non-negative delay).
pub fn resolve_confirm_policy(args: &ConfirmArgs) -> Result<ConfirmPolicy, ConfigError> {
    let defaults = ConfirmPolicy::default();
    let attempts =
        bounded_count("--signer-retries (SIGNER_RETRIES)", args.signer_retries.as_deref(), defaults.attempts, MAX_SIGNER_RETRIES)?;
    let confirmation_blocks = bounded_count(
        "--confirmation-blocks (CONFIRMATION_BLOCKS)",
        args.confirmation_blocks.as_deref(),
        defaults.confirmation_blocks,
        MAX_CONFIRMATION_BLOCKS,
    )?;
    let retry_delay = match args.signer_retry_delay.as_deref().map(str::trim).filter(|text| !text.is_empty()) {
        None => defaults.retry_delay,
        // Seconds as a float, as the original's `float(os.getenv("SIGNER_RETRY_DELAY", "2"))`.
        Some(text) => match text.parse::<f64>() {
            Ok(secs) if secs.is_finite() && (0.0..=MAX_SIGNER_RETRY_DELAY_SECS).contains(&secs) => Duration::from_secs_f64(secs),
            _ => {
                return Err(ConfigError(format!(
                    "--signer-retry-delay (SIGNER_RETRY_DELAY) must be seconds from 0 to {MAX_SIGNER_RETRY_DELAY_SECS}, not {text:?}"
                )));
            }
        },
    };
    Ok(ConfirmPolicy { attempts, retry_delay, confirmation_blocks })
}

pub(super) fn resolve_beacon(value: Option<&String>) -> Result<BeaconPublicKey, ConfigError> {
    match value {
        None => Ok(BeaconPublicKey::quicknet()),
        Some(text) => BeaconPublicKey::from_hex(text).map_err(|error| ConfigError(format!("--drand-public-key: {error}"))),
    }
}

/// `af weights -r --set` after validation: who signs, where, how it is retried.
#[derive(Debug, Clone)]
pub struct SetWeightsSettings {
    /// The wallet whose hotkey sets the weights.
    pub wallet: WalletSettings,
    /// The node.
    pub chain: ChainConfig,
    /// Attempts, pause and confirmation blocks.
    pub policy: ConfirmPolicy,
    /// The drand beacon key timelocked weights are encrypted to.
    pub beacon: BeaconPublicKey,
    /// Print what would be sent instead of signing.
    pub dry_run: bool,
    /// Set a vector computed from zero records instead of refusing it.
    pub allow_empty: bool,
}

impl SetWeightsSettings {
    /// Validates the `--set` part of `af weights` (`None` without `--set`).
    ///
    /// # Errors
    /// Bad wallet, chain, signer or beacon settings.
    pub fn resolve(args: &SetWeightsArgs) -> Result<Option<Self>, ConfigError> {
        if !args.set {
            return Ok(None);
        }
        Ok(Some(Self {
            wallet: WalletSettings::resolve(&args.wallet)?,
            chain: resolve_chain(&args.chain)?,
            policy: resolve_confirm_policy(&args.signer)?,
            beacon: resolve_beacon(args.drand_public_key.as_ref())?,
            dry_run: args.dry_run,
            allow_empty: args.allow_empty,
        }))
    }
}

/// `af metagraph` after validation.
#[derive(Debug, Clone)]
pub struct MetagraphSettings {
    /// The node.
    pub chain: ChainConfig,
    /// The subnet.
    pub netuid: u16,
    /// Print JSON instead of a table.
    pub json: bool,
}

impl MetagraphSettings {
    /// Validates `af metagraph` arguments.
    ///
    /// # Errors
    /// As [`resolve_chain`].
    pub fn resolve(args: &MetagraphArgs) -> Result<Self, ConfigError> {
        Ok(Self { chain: resolve_chain(&args.chain)?, netuid: args.netuid, json: args.json })
    }
}

/// `af commit` after validation.
#[derive(Debug, Clone)]
pub struct CommitSettings {
    /// Repository, revision and chute id.
    pub repo: String,
    /// The revision.
    pub revision: String,
    /// The chute id.
    pub chute_id: String,
    /// The wallet whose hotkey signs.
    pub wallet: WalletSettings,
    /// The node.
    pub chain: ChainConfig,
    /// The subnet.
    pub netuid: u16,
    /// The drand beacon key commitments are encrypted to.
    pub beacon: BeaconPublicKey,
    /// Print the signed extrinsic instead of submitting.
    pub dry_run: bool,
}

impl CommitSettings {
    /// Validates `af commit` arguments.
    ///
    /// # Errors
    /// Empty repository, revision or chute id, bad wallet or chain flags, or a beacon key that
    /// is not a G2 point.
    pub fn resolve(args: &CommitArgs) -> Result<Self, ConfigError> {
        for (flag, value) in [("--repo", &args.repo), ("--revision", &args.revision), ("--chute-id", &args.chute_id)] {
            if value.trim().is_empty() {
                return Err(ConfigError(format!("{flag} must not be empty")));
            }
        }
        let beacon = resolve_beacon(args.drand_public_key.as_ref())?;
        Ok(Self {
            repo: args.repo.clone(),
            revision: args.revision.clone(),
            chute_id: args.chute_id.clone(),
            wallet: WalletSettings::resolve(&args.wallet)?,
            chain: resolve_chain(&args.chain)?,
            netuid: args.netuid,
            beacon,
            dry_run: args.dry_run,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_settings_use_the_public_fallback_only_with_finney() {
        let args = ChainArgs { subtensor_endpoint: "finney".into(), subtensor_fallback: None, chain_timeout: 5 };
        assert_eq!(resolve_chain(&args).expect("valid").fallback.as_deref(), Some(DEFAULT_FALLBACK_URL));
        let local = ChainArgs { subtensor_endpoint: "ws://127.0.0.1:9".into(), ..args.clone() };
        assert_eq!(resolve_chain(&local).expect("valid").fallback, None);
        let bad = ChainArgs { subtensor_endpoint: "mainnet".into(), ..args };
        assert!(resolve_chain(&bad).is_err());
    }

    #[test]
    fn confirm_policy_defaults_to_the_original_and_rejects_bad_values() {
        assert_eq!(resolve_confirm_policy(&ConfirmArgs::default()).expect("defaults"), ConfirmPolicy::default());
        let given = ConfirmArgs {
            signer_retries: Some("4".into()),
            signer_retry_delay: Some("0.25".into()),
            confirmation_blocks: Some(" 1 ".into()),
        };
        assert_eq!(
            resolve_confirm_policy(&given).expect("valid"),
            ConfirmPolicy { attempts: 4, retry_delay: Duration::from_millis(250), confirmation_blocks: 1 }
        );
        for bad in [
            ConfirmArgs { signer_retries: Some("0".into()), ..ConfirmArgs::default() },
            ConfirmArgs { signer_retries: Some("ten".into()), ..ConfirmArgs::default() },
            ConfirmArgs { signer_retry_delay: Some("-1".into()), ..ConfirmArgs::default() },
            ConfirmArgs { signer_retry_delay: Some("NaN".into()), ..ConfirmArgs::default() },
            ConfirmArgs { confirmation_blocks: Some("0".into()), ..ConfirmArgs::default() },
            ConfirmArgs { confirmation_blocks: Some("1001".into()), ..ConfirmArgs::default() },
        ] {
            let error = resolve_confirm_policy(&bad).expect_err("invalid");
            assert!(!error.0.contains('\n'), "{error}");
        }
    }

    #[test]
    fn wallet_settings_expand_tilde_and_reject_path_names() {
        let args = WalletArgs { wallet_name: "cold".into(), wallet_hotkey: "hot".into(), wallet_path: Some("/w".into()) };
        let settings = WalletSettings::resolve(&args).expect("valid");
        assert_eq!(settings.location.hotkey_path(), PathBuf::from("/w/cold/hotkeys/hot"));
        let bad = WalletArgs { wallet_name: "../x".into(), ..args.clone() };
        assert!(WalletSettings::resolve(&bad).is_err());
        let empty = WalletArgs { wallet_hotkey: String::new(), ..args };
        assert!(WalletSettings::resolve(&empty).is_err());
    }
}
