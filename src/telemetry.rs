//! Logging: a tracing subscriber on stderr whose filter comes from `-v` or `RUST_LOG`.
//!
//! Log lines are safe to show: in text logs every field value has its control characters
//! escaped (a hotkey or model name from the network cannot move the cursor or clear the
//! screen; JSON logs escape them by format), and every line has the credentials of URLs
//! redacted ([`crate::secret::redact`]) before it reaches stderr.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::field::MakeExt as _;
use tracing_subscriber::fmt::MakeWriter;

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
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(RedactingStderr).with_target(settings.verbosity >= 2);
    let installed = match settings.format {
        LogFormat::Text => {
            let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
                let text = format!("{value:?}");
                let text = crate::output::escape_controls(&text);
                if field.name() == "message" { write!(writer, "{text}") } else { write!(writer, "{field}={text}") }
            })
            .delimited(" ");
            builder
                .fmt_fields(fields)
                .with_ansi(std::env::var_os("NO_COLOR").is_none() && std::io::IsTerminal::is_terminal(&std::io::stderr()))
                .try_init()
        }
        LogFormat::Json => builder.json().try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("failed to install the log subscriber: {e}"))
}

/// stderr, with URL credentials redacted from every formatted line (the formatter writes one
/// event per write).
struct RedactingStderr;

impl<'a> MakeWriter<'a> for RedactingStderr {
    type Writer = RedactingWriter;

    fn make_writer(&'a self) -> Self::Writer {
        RedactingWriter
    }
}

/// The writer of one log event.
struct RedactingWriter;

impl std::io::Write for RedactingWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        std::io::Write::write_all(&mut std::io::stderr().lock(), crate::secret::redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::Write::flush(&mut std::io::stderr())
    }
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
