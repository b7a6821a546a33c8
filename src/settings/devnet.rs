//! Settings of `af devnet`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::DevnetArgs;
use crate::devnet::DevnetConfig;
use crate::devnet::policy::Policy;
use crate::env_vars;

use super::ConfigError;

/// Resolved `af devnet` settings.
#[derive(Debug, Clone)]
pub struct DevnetSettings {
    /// What to start.
    pub config: DevnetConfig,
    /// Print JSON instead of the banner.
    pub json: bool,
}

/// A duration like `1s`, `250ms`, `2m` or a bare number of seconds.
///
/// # Errors
/// Anything else, or zero.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, scale) = if let Some(ms) = text.strip_suffix("ms") {
        (ms, 0.001)
    } else if let Some(s) = text.strip_suffix('s') {
        (s, 1.0)
    } else if let Some(m) = text.strip_suffix('m') {
        (m, 60.0)
    } else {
        (text, 1.0)
    };
    let seconds = number.trim().parse::<f64>().ok().map(|n| n * scale).filter(|s| s.is_finite() && *s > 0.0 && *s <= 86_400.0);
    seconds.map(Duration::from_secs_f64).ok_or_else(|| format!("{text:?} is not a duration like 1s, 250ms or 2m"))
}

impl DevnetSettings {
    /// Validates the flags.
    ///
    /// # Errors
    /// A bad host, block time, tempo or miner policy, or no `--dir` and no `HOME`.
    pub fn resolve(args: &DevnetArgs) -> Result<Self, ConfigError> {
        let host: IpAddr = args.host.trim().parse().map_err(|_| ConfigError(format!("--host {:?} is not an IP address", args.host)))?;
        let block_time = parse_duration(&args.block_time).map_err(|reason| ConfigError(format!("--block-time: {reason}")))?;
        if args.tempo == 0 {
            return Err(ConfigError("--tempo must be at least 1 block".to_owned()));
        }
        let miners = args
            .miners
            .split(',')
            .filter(|part| !part.trim().is_empty())
            .map(str::parse::<Policy>)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|error| ConfigError(format!("--miners: {error}")))?;
        crate::devnet::resolve_policies(&miners).map_err(|error| ConfigError(format!("--miners: {error}")))?;
        let dir = match &args.dir {
            Some(dir) => dir.clone(),
            None => std::env::var_os(env_vars::HOME)
                .map(|home| PathBuf::from(home).join(".local/share/affine/devnet"))
                .ok_or_else(|| ConfigError("HOME is not set; pass --dir".to_owned()))?,
        };
        let weights_rate_limit = args.weights_rate_limit.unwrap_or_else(|| u64::from(args.tempo).min(100));
        Ok(Self {
            config: DevnetConfig {
                dir,
                host,
                port: args.port,
                block_time,
                tempo: args.tempo,
                netuid: args.netuid,
                miners,
                fresh: args.fresh,
                commit_reveal: args.commit_reveal,
                weights_rate_limit,
            },
            json: args.json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> DevnetArgs {
        DevnetArgs {
            dir: Some(PathBuf::from("/tmp/d")),
            host: "127.0.0.1".into(),
            port: 0,
            block_time: "1s".into(),
            tempo: 180,
            netuid: 120,
            miners: "oracle,random,copy:1".into(),
            commit_reveal: false,
            weights_rate_limit: None,
            fresh: false,
            json: false,
        }
    }

    #[test]
    fn durations_take_units_and_refuse_nonsense() {
        assert_eq!(parse_duration("1s"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0.5"), Ok(Duration::from_millis(500)));
        for bad in ["", "0s", "-1s", "fast", "1h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn devnet_settings_check_policies_and_default_the_rate_limit_to_the_tempo() {
        let settings = DevnetSettings::resolve(&args()).expect("valid");
        assert_eq!(settings.config.miners.len(), 3);
        assert_eq!(settings.config.weights_rate_limit, 100);
        let short = DevnetSettings::resolve(&DevnetArgs { tempo: 10, ..args() }).expect("valid");
        assert_eq!(short.config.weights_rate_limit, 10);
        for (bad, says) in [
            (DevnetArgs { miners: "oracle,wizard".into(), ..args() }, "unknown miner policy"),
            (DevnetArgs { miners: "oracle,copy:7".into(), ..args() }, "does not exist"),
            (DevnetArgs { host: "localhost:1".into(), ..args() }, "not an IP address"),
            (DevnetArgs { block_time: "soon".into(), ..args() }, "--block-time"),
            (DevnetArgs { tempo: 0, ..args() }, "--tempo"),
        ] {
            let error = DevnetSettings::resolve(&bad).expect_err(says).to_string();
            assert!(error.contains(says), "{error}");
        }
    }
}
