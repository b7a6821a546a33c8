//! Turning the final error of a command into an exit status and a rendered message.

use std::fmt::Write as _;

use crate::settings::ConfigError;
use crate::store;

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// Success (0).
    Success,
    /// A runtime failure (1).
    Failure,
    /// A usage or configuration problem (2).
    Usage,
    /// A one-shot command stopped by a signal (130).
    Interrupted,
}

impl ExitStatus {
    /// The process exit code.
    #[must_use]
    pub const fn code(self) -> i32 {
        match self {
            Self::Success => 0,
            Self::Failure => 1,
            Self::Usage => 2,
            Self::Interrupted => 130,
        }
    }
}

/// Classifies an error by the first cause that says what kind it is.
#[must_use]
pub fn classify(error: &anyhow::Error) -> ExitStatus {
    for cause in error.chain() {
        if cause.downcast_ref::<ConfigError>().is_some() {
            return ExitStatus::Usage;
        }
        if let Some(store_error) = cause.downcast_ref::<store::Error>() {
            return if store_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
    }
    ExitStatus::Failure
}

/// A hint for errors whose fix is known.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| match cause.downcast_ref::<store::Error>()? {
        store::Error::MetagraphMissing { .. } | store::Error::ReplayDirMissing { .. } => {
            Some("a replay directory holds metagraph.json and results/*.json shards (see README, \"Replay directories\")")
        }
        store::Error::MetagraphFileMissing { .. } => {
            Some("pass a metagraph.json snapshot: {block, hotkeys, queryable, first_commit_block, burn}")
        }
        store::Error::ReadOnly { .. } => {
            Some("writes need R2_WRITE_ACCESS_KEY_ID and R2_WRITE_SECRET_ACCESS_KEY; AFFINE_R2_PUBLIC=1 alone is read-only")
        }
        store::Error::Backend { kind: store::error::FailureKind::Denied, .. } => {
            Some("check R2_WRITE_ACCESS_KEY_ID, R2_WRITE_SECRET_ACCESS_KEY and R2_FOLDER (the bucket)")
        }
        store::Error::Backend { kind: store::error::FailureKind::Unavailable | store::error::FailureKind::Throttled { .. }, .. } => {
            Some("the store did not answer after retries; check R2_ENDPOINT_URL / the network, then run again")
        }
        store::Error::NotFound { .. } => Some("no summary saved yet: compute one with `af weights -r --metagraph FILE --save`"),
        store::Error::MetagraphMalformed { .. } | store::Error::MetagraphInvalid { .. } => {
            Some("metagraph.json needs block, hotkeys (index = uid), and optionally tail, queryable, first_commit_block, burn")
        }
        _ => None,
    })
}

/// `error: ...`, then one `caused by: ...` line per cause, then an optional hint.
#[must_use]
pub fn render(error: &anyhow::Error) -> String {
    let mut text = format!("error: {error}");
    for cause in error.chain().skip(1) {
        let _ = write!(text, "\n  caused by: {cause}");
    }
    if let Some(hint) = hint(error) {
        let _ = write!(text, "\n\nhint: {hint}");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_maps_config_and_store_input_errors_to_usage() {
        let config = anyhow::Error::new(ConfigError("bad".into())).context("resolving");
        assert_eq!(classify(&config), ExitStatus::Usage);
        let missing = anyhow::Error::new(store::Error::MetagraphMissing { dir: "d".into() });
        assert_eq!(classify(&missing), ExitStatus::Usage);
        assert_eq!(classify(&anyhow::anyhow!("boom")), ExitStatus::Failure);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
    }

    #[test]
    fn render_prints_causes_and_hint() {
        let error = anyhow::Error::new(store::Error::MetagraphMissing { dir: "d".into() }).context("failed to replay d");
        let text = render(&error);
        assert!(text.starts_with("error: failed to replay d\n  caused by: no metagraph.json in replay directory d"), "{text}");
        assert!(text.contains("\n\nhint: "));
    }
}
