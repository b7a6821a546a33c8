//! Settings of the validator's long-running services: `af validate` and `af signer`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::time::Duration;

use crate::chain::client::ChainConfig;
use crate::chain::submit::ConfirmPolicy;
use crate::chain::timelock::BeaconPublicKey;
use crate::cli::{SignerArgs, ValidateArgs};
use crate::env_vars;
use crate::secret::Secret;
use crate::signer::policy::is_loopback;
use crate::store::StoreConfig;

use super::{ConfigError, DiscoverySettings, StoreSettings, WalletSettings, resolve_beacon, resolve_chain, resolve_confirm_policy};

/// The reference's signer address inside compose (`SIGNER_URL`'s default).
pub const DEFAULT_SIGNER_URL: &str = "http://signer:8080";
/// Shortest `SIGNER_TOKEN` accepted: anything shorter is guessable.
const MIN_TOKEN_CHARS: usize = 16;

/// `SIGNER_TOKEN` from the environment (an empty value is unset).
fn signer_token() -> Option<Secret> {
    std::env::var(env_vars::SIGNER_TOKEN).ok().filter(|token| !token.trim().is_empty()).map(|token| Secret::new(token.trim()))
}

fn duration(name: &str, text: &str) -> Result<Duration, ConfigError> {
    super::parse_duration(text).map_err(|reason| ConfigError(format!("{name}: {reason}")))
}

/// `af signer` after validation.
#[derive(Debug, Clone)]
pub struct SignerSettings {
    /// Where to listen.
    pub bind: SocketAddr,
    /// The wallet whose hotkey signs.
    pub wallet: WalletSettings,
    /// The service's configuration.
    pub server: crate::signer::server::SignerConfig,
    /// How long a stop waits for a set in flight.
    pub stop_grace: Duration,
}

impl SignerSettings {
    /// Validates `af signer` arguments: a non-loopback interface needs `SIGNER_TOKEN`.
    ///
    /// # Errors
    /// A host that is not an IP address, a public bind without a token, a token shorter than
    /// 16 characters, or bad wallet, chain or retry settings.
    pub fn resolve(args: &SignerArgs) -> Result<Self, ConfigError> {
        let host = args.host.trim();
        let ip: IpAddr = if host == "localhost" {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse().map_err(|_| ConfigError(format!("SIGNER_HOST/--host must be an IP address, not {host:?}")))?
        };
        let token = signer_token();
        if let Some(token) = &token
            && token.expose().chars().count() < MIN_TOKEN_CHARS
        {
            return Err(ConfigError(format!("SIGNER_TOKEN must have at least {MIN_TOKEN_CHARS} characters")));
        }
        if token.is_none() && !is_loopback(ip) {
            return Err(ConfigError(format!(
                "af signer on {ip} would serve the network without authentication: set SIGNER_TOKEN (and the same in the validator's and runner's environment), or listen on 127.0.0.1"
            )));
        }
        Ok(Self {
            bind: SocketAddr::new(ip, args.port),
            wallet: WalletSettings::resolve(&args.wallet)?,
            server: crate::signer::server::SignerConfig {
                netuid: args.netuid,
                token,
                chain: resolve_chain(&args.chain)?,
                policy: resolve_confirm_policy(&args.signer)?,
                beacon: resolve_beacon(args.drand_public_key.as_ref())?,
            },
            stop_grace: duration("AF_STOP_GRACE/--grace", &args.stop_grace)?,
        })
    }
}

/// Where `af validate` takes its weights from.
#[derive(Debug, Clone)]
pub enum WeightsSourceSettings {
    /// Computed from the result store (the `af weights -r` pass).
    Local {
        /// The store.
        store: Box<StoreConfig>,
        /// Blocks of history scored.
        tail: u64,
        /// Threads that parse shards.
        parse_threads: NonZeroUsize,
        /// Set a vector computed from zero records (otherwise refused, retried and alerted).
        allow_empty: bool,
    },
    /// A published `latest.json`.
    R2 {
        /// Its URL.
        url: String,
        /// Oldest accepted, in blocks behind the head.
        max_age: u64,
    },
}

/// The signer as `af validate` calls it.
#[derive(Debug, Clone)]
pub struct SignerTarget {
    /// Its base URL.
    pub url: String,
    /// Whether `SIGNER_URL` was set (then the validator needs no wallet of its own).
    pub explicit: bool,
    /// The bearer token.
    pub token: Option<Secret>,
}

/// `af validate` after validation.
#[derive(Debug, Clone)]
pub struct ValidateSettings {
    /// The subnet.
    pub netuid: u16,
    /// Blocks between weight sets.
    pub interval: u64,
    /// Time without progress before the process exits 1.
    pub watchdog_timeout: Duration,
    /// How long a stop waits for the step in flight.
    pub stop_grace: Duration,
    /// The node.
    pub chain: ChainConfig,
    /// The local wallet (optional when a signer is configured).
    pub wallet: WalletSettings,
    /// The signer.
    pub signer: SignerTarget,
    /// Local sets' attempts, pause and confirmation blocks.
    pub policy: ConfirmPolicy,
    /// The drand beacon timelocked weights are encrypted to.
    pub beacon: BeaconPublicKey,
    /// Where the weights come from.
    pub source: WeightsSourceSettings,
    /// Chutes, Hub, blacklist: which miners are queryable (local mode).
    pub discovery: DiscoverySettings,
    /// Everything but signing.
    pub dry_run: bool,
    /// One JSON object per tempo.
    pub json: bool,
}

/// `USE_R2_WEIGHTS` as the reference reads it: `true`, `1` or `yes` (any case) is on.
fn flag_on(value: Option<&str>) -> bool {
    value.map(|v| v.trim().to_ascii_lowercase()).is_some_and(|v| matches!(v.as_str(), "true" | "1" | "yes"))
}

impl ValidateSettings {
    /// Validates `af validate` arguments.
    ///
    /// # Errors
    /// An interval, tail or thread count of zero, a malformed duration, a signer URL that is
    /// not http(s), or bad chain, wallet, store or discovery settings.
    pub fn resolve(args: &ValidateArgs) -> Result<Self, ConfigError> {
        if args.interval == 0 {
            return Err(ConfigError("WEIGHT_SET_INTERVAL_BLOCKS/--interval must be at least 1 block".to_owned()));
        }
        let configured_url = args.signer_url.as_deref().map(str::trim).filter(|url| !url.is_empty());
        let url = configured_url.unwrap_or(DEFAULT_SIGNER_URL).to_owned();
        crate::api_http::base_url(&url).map_err(|reason| ConfigError(format!("SIGNER_URL/--signer-url {url:?}: {reason}")))?;
        let source = if flag_on(args.use_r2_weights.as_deref()) {
            let url = args.r2_weights_url.as_deref().map(str::trim).filter(|u| !u.is_empty()).unwrap_or(crate::validator::r2::DEFAULT_URL);
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(ConfigError(format!("AFFINE_R2_WEIGHTS_URL must be an http(s) URL, not {url:?}")));
            }
            WeightsSourceSettings::R2 { url: url.to_owned(), max_age: args.r2_weights_max_age.unwrap_or(2 * args.interval) }
        } else {
            if args.tail == 0 {
                return Err(ConfigError("AF_TAIL/--tail must be at least 1 block".to_owned()));
            }
            let parse_threads = match args.parse_threads {
                Some(count) => NonZeroUsize::new(count).ok_or_else(|| ConfigError("--parse-threads must be at least 1".to_owned()))?,
                None => std::thread::available_parallelism().unwrap_or(NonZeroUsize::MIN),
            };
            WeightsSourceSettings::Local {
                store: Box::new(StoreSettings::resolve(&args.store)?),
                tail: args.tail,
                parse_threads,
                allow_empty: args.allow_empty,
            }
        };
        Ok(Self {
            netuid: args.netuid,
            interval: args.interval,
            watchdog_timeout: duration("AFFINE_VALIDATOR_WATCHDOG_TIMEOUT/--watchdog-timeout", &args.watchdog_timeout)?,
            stop_grace: duration("AF_STOP_GRACE/--grace", &args.stop_grace)?,
            chain: resolve_chain(&args.chain)?,
            wallet: WalletSettings::resolve(&args.wallet)?,
            signer: SignerTarget { url, explicit: configured_url.is_some(), token: signer_token() },
            policy: resolve_confirm_policy(&args.signer)?,
            beacon: resolve_beacon(args.drand_public_key.as_ref())?,
            source,
            discovery: DiscoverySettings::resolve(&args.discovery, args.netuid)?,
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
    fn the_signer_refuses_a_public_bind_without_a_token() {
        let Command::Signer(args) = parse(&["signer", "--host", "0.0.0.0", "--wallet.path", "/w"]) else { panic!("signer") };
        // SIGNER_TOKEN is not set in unit tests.
        if std::env::var_os(env_vars::SIGNER_TOKEN).is_none() {
            let error = SignerSettings::resolve(&args).expect_err("public without a token");
            assert!(error.0.contains("SIGNER_TOKEN"), "{error}");
        }
        let Command::Signer(args) = parse(&["signer", "--wallet.path", "/w"]) else { panic!("signer") };
        let settings = SignerSettings::resolve(&args).expect("loopback by default");
        assert_eq!(settings.bind, "127.0.0.1:8080".parse().expect("addr"));
        let Command::Signer(args) = parse(&["signer", "--host", "signer.local", "--wallet.path", "/w"]) else { panic!("signer") };
        assert!(SignerSettings::resolve(&args).is_err());
    }

    #[test]
    fn validate_takes_the_reference_names_and_defaults() {
        let Command::Validate(args) = parse(&["validate", "--wallet.path", "/w", "--store-dir", "/s", "--subtensor-endpoint", "local"])
        else {
            panic!("validate")
        };
        let settings = ValidateSettings::resolve(&args).expect("valid");
        assert_eq!((settings.interval, settings.watchdog_timeout, settings.netuid), (180, Duration::from_secs(1200), 120));
        assert_eq!((settings.signer.url.as_str(), settings.signer.explicit), (DEFAULT_SIGNER_URL, false));
        assert!(matches!(settings.source, WeightsSourceSettings::Local { tail: 40_000, .. }));
        let Command::Validate(args) = parse(&[
            "validate",
            "--wallet.path",
            "/w",
            "--use-r2-weights",
            "YES",
            "--interval",
            "10",
            "--watchdog-timeout",
            "3s",
            "--signer-url",
            "http://127.0.0.1:9/",
        ]) else {
            panic!("validate")
        };
        let settings = ValidateSettings::resolve(&args).expect("valid");
        assert!(matches!(&settings.source, WeightsSourceSettings::R2 { url, max_age: 20 } if url == crate::validator::r2::DEFAULT_URL));
        assert_eq!(settings.watchdog_timeout, Duration::from_secs(3));
        assert!(settings.signer.explicit);
        let Command::Validate(zero) = parse(&["validate", "--interval", "0", "--wallet.path", "/w"]) else { panic!("validate") };
        assert!(ValidateSettings::resolve(&zero).is_err());
        assert!(!flag_on(Some("false")) && !flag_on(Some("")) && flag_on(Some(" True ")) && !flag_on(None));
    }
}
