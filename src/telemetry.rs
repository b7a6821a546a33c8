//! Logging: a tracing subscriber on stderr whose filter comes from `-v` or `RUST_LOG`.

use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;
use crate::settings::LogSettings;

/// The filter directive for a number of `-v` flags.
#[must_use]
pub fn directive_for(verbosity: u8) -> &'static str {
    match verbosity {
        0 => "warn",
        1 => "affine=info,warn",
        2 => "affine=debug,info",
        _ => "affine=trace,info",
    }
}

/// Installs the global subscriber.
///
/// # Errors
/// `RUST_LOG` is not a valid filter, or a subscriber is already installed.
pub fn init(settings: &LogSettings) -> anyhow::Result<()> {
    let directive = settings.rust_log.as_deref().unwrap_or_else(|| directive_for(settings.verbosity));
    let filter = EnvFilter::builder().parse(directive).map_err(|e| anyhow::anyhow!("invalid RUST_LOG filter {directive:?}: {e}"))?;
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(settings.verbosity >= 2);
    let installed = match settings.format {
        LogFormat::Text => {
            builder.with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr())).try_init()
        }
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("failed to install the log subscriber: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directive_for_maps_verbosity_levels() {
        assert_eq!(directive_for(0), "warn");
        assert_eq!(directive_for(1), "affine=info,warn");
        assert_eq!(directive_for(2), "affine=debug,info");
        assert_eq!(directive_for(9), "affine=trace,info");
    }
}
