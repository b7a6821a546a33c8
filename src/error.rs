//! Turning the final error of a command into an exit status and a rendered message.

use std::fmt::Write as _;

use crate::settings::ConfigError;
use crate::{chain, store};

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
        if let Some(chain_error) = cause.downcast_ref::<chain::Error>() {
            return if chain_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(store_error) = cause.downcast_ref::<store::Error>() {
            return if store_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
    }
    ExitStatus::Failure
}

/// A hint for errors whose fix is known.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| cause.downcast_ref::<chain::Error>().and_then(chain_hint).or_else(|| store_hint(cause)))
}

fn chain_hint(error: &chain::Error) -> Option<&'static str> {
    match error {
        chain::Error::KeyfileMissing { .. } => Some(
            "pick the wallet with --wallet.name/--wallet.hotkey/--wallet.path (or BT_WALLET_COLD/BT_WALLET_HOT/BT_WALLET_PATH); create one with btcli",
        ),
        chain::Error::WrongPassword { .. } | chain::Error::PasswordUnavailable { .. } => {
            Some("set AF_WALLET_PASSWORD to the keyfile password, or run af on a terminal to be prompted")
        }
        chain::Error::KeyfileUnsupportedEncryption { .. } => Some("re-encrypt the key with a current btcli (it writes $NACL keyfiles)"),
        chain::Error::Connect { .. } | chain::Error::Timeout { .. } => Some(
            "check the node is up, or pick another with --subtensor-endpoint / SUBTENSOR_ENDPOINT (finney, test, local or a ws:// URL)",
        ),
        chain::Error::UnexpectedMetadata { .. } => {
            Some("the node runs a runtime af does not know; point --subtensor-endpoint at an up-to-date subtensor node")
        }
        _ => None,
    }
}

fn store_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match cause.downcast_ref::<store::Error>()? {
        store::Error::MetagraphMissing { .. } | store::Error::ReplayDirMissing { .. } => {
            Some("a replay directory holds metagraph.json and results/*.json shards (see README, \"Replay directories\")")
        }
        store::Error::MetagraphMalformed { .. } | store::Error::MetagraphInvalid { .. } => {
            Some("metagraph.json needs block, hotkeys (index = uid), and optionally tail, queryable, first_commit_block, burn")
        }
        _ => None,
    }
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
