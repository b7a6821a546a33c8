//! Turning the final error of a command into an exit status and a rendered message.

use std::fmt::Write as _;

use crate::settings::ConfigError;
use crate::{chain, hub, inference, store};

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
        if let Some(validator_error) = cause.downcast_ref::<crate::validator::Error>() {
            return if validator_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(signer_error) = cause.downcast_ref::<crate::signer::client::Error>() {
            return if signer_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(set_error) = cause.downcast_ref::<crate::weights_set::Error>() {
            return if set_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(chain_error) = cause.downcast_ref::<chain::Error>() {
            return if chain_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(envs_error) = cause.downcast_ref::<crate::envs::Error>() {
            return if envs_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(docker_error) = cause.downcast_ref::<crate::envs::docker::Error>() {
            return if docker_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(client_error) = cause.downcast_ref::<crate::envs::client::Error>() {
            return if client_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(image_error) = cause.downcast_ref::<crate::envs::image::Error>() {
            return if image_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(store_error) = cause.downcast_ref::<store::Error>() {
            return if store_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
        if let Some(hub_error) = cause.downcast_ref::<hub::Error>() {
            return match hub_error {
                hub::Error::Cancelled => ExitStatus::Interrupted,
                e if e.is_user_input() => ExitStatus::Usage,
                _ => ExitStatus::Failure,
            };
        }
        if let Some(chutes_error) = cause.downcast_ref::<inference::chutes::Error>() {
            return if chutes_error.is_user_input() { ExitStatus::Usage } else { ExitStatus::Failure };
        }
    }
    ExitStatus::Failure
}

/// A hint for errors whose fix is known.
fn hint(error: &anyhow::Error) -> Option<&'static str> {
    error.chain().find_map(|cause| {
        cause
            .downcast_ref::<chain::Error>()
            .and_then(chain_hint)
            .or_else(|| hub_hint(cause))
            .or_else(|| chutes_hint(cause))
            .or_else(|| store_hint(cause))
            .or_else(|| docker_hint(cause))
    })
}

fn docker_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match cause.downcast_ref::<crate::envs::docker::Error>()? {
        crate::envs::docker::Error::Connect { host, .. } if host.starts_with("ssh://") => {
            Some("the SSH login works; can that user reach /var/run/docker.sock on the host (docker group)?")
        }
        crate::envs::docker::Error::Connect { .. } => Some("is the Docker engine running? set DOCKER_HOST to reach another engine"),
        crate::envs::docker::Error::ImageMissing { .. } => {
            Some("build the af environment image with `af env image build --tag TAG`, or pass --pull for a registry image")
        }
        _ => None,
    }
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

fn hub_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match cause.downcast_ref::<hub::Error>()? {
        hub::Error::Gated { .. } => {
            Some("request access on the model page, then set HF_TOKEN (or pass --hf-token) to a token of that account")
        }
        hub::Error::AccessDenied { .. } => {
            Some("the repository is private, gated or misspelled: set HF_TOKEN (or pass --hf-token) to a token that can read it")
        }
        hub::Error::RepoNotFound { .. } | hub::Error::RevisionNotFound { .. } => {
            Some("check --repo (owner/name) and --revision (a commit sha or branch that exists in that repository)")
        }
        hub::Error::Integrity { .. } | hub::Error::SizeMismatch { .. } => {
            Some("the damaged file was discarded; run the command again to fetch it afresh")
        }
        e if e.is_transient() => {
            Some("the Hub or the network failed; run the command again, finished files are kept and partial ones resumed")
        }
        _ => None,
    }
}

fn chutes_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match cause.downcast_ref::<inference::chutes::Error>()?.status()? {
        401 => Some("check CHUTES_API_KEY (a cpk_ key) or the hotkey registered with Chutes"),
        402 => Some("accept the deployment fee or top up the Chutes account"),
        429 => Some("Chutes is rate limiting (at most 24 chute deploys per day); try again later"),
        _ => None,
    }
}

fn store_hint(cause: &(dyn std::error::Error + 'static)) -> Option<&'static str> {
    match cause.downcast_ref::<store::Error>()? {
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
        store::Error::NotFound { .. } => Some("no summary saved yet: compute one with `af weights -r --save`"),
        store::Error::MetagraphMalformed { .. } | store::Error::MetagraphInvalid { .. } => {
            Some("metagraph.json needs block, hotkeys (index = uid), and optionally tail, queryable, first_commit_block, burn")
        }
        _ => None,
    }
}

/// An error and its causes on one line, `: `-joined, for log fields and error texts (some
/// clients' own messages hide the cause).
#[must_use]
pub fn one_line(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    without_repeats(&text)
}

/// Drops a run of `: `-separated segments that directly repeats the run before it. Some
/// clients wrap one error twice and print both (subxt's legacy RPC client:
/// `RPC error: client error: RPC error: client error: Connection refused`).
fn without_repeats(text: &str) -> String {
    let mut segments: Vec<&str> = text.split(": ").collect();
    let mut changed = true;
    while changed {
        changed = false;
        'search: for width in 1..=segments.len() / 2 {
            for start in 0..=segments.len() - 2 * width {
                if segments[start..start + width] == segments[start + width..start + 2 * width] {
                    segments.drain(start + width..start + 2 * width);
                    changed = true;
                    break 'search;
                }
            }
        }
    }
    segments.join(": ")
}

/// `error: ...`, then one `caused by: ...` line per cause, then an optional hint.
#[must_use]
pub fn render(error: &anyhow::Error) -> String {
    let mut text = format!("error: {}", without_repeats(&error.to_string()));
    for cause in error.chain().skip(1) {
        let _ = write!(text, "\n  caused by: {}", without_repeats(&cause.to_string()));
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
    fn repeated_wrapping_is_printed_once() {
        assert_eq!(
            without_repeats("RPC error: client error: RPC error: client error: Connection refused (os error 111)"),
            "RPC error: client error: Connection refused (os error 111)"
        );
        assert_eq!(without_repeats("a: a: a: b"), "a: b");
        assert_eq!(without_repeats("timeout: 30 s: retrying"), "timeout: 30 s: retrying");
        assert_eq!(without_repeats(""), "");
        let wrapped = anyhow::anyhow!("x: y: x: y: z").context("failed to connect");
        assert_eq!(render(&wrapped), "error: failed to connect\n  caused by: x: y: z");
    }

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
    fn classify_and_hint_hub_and_chutes_errors() {
        let gated = anyhow::Error::new(hub::Error::Gated { repo: "o/m".into(), status: 403 }).context("failed to download o/m");
        assert_eq!(classify(&gated), ExitStatus::Usage);
        assert!(render(&gated).contains("hint: request access on the model page, then set HF_TOKEN"));
        let corrupt = anyhow::Error::new(hub::Error::Integrity { path: "f".into(), expected: "a".into(), actual: "b".into() });
        assert_eq!(classify(&corrupt), ExitStatus::Failure);
        assert_eq!(classify(&anyhow::Error::new(hub::Error::Cancelled)), ExitStatus::Interrupted);
        let fee = anyhow::Error::new(inference::chutes::Error::Api {
            endpoint: "POST /chutes/".into(),
            status: 402,
            detail: inference::chutes::Detail(serde_json::json!("DEPLOYMENT FEE NOTICE")),
        });
        assert_eq!(classify(&fee), ExitStatus::Failure);
        assert!(render(&fee).contains("hint: accept the deployment fee"));
        assert_eq!(classify(&anyhow::Error::new(inference::chutes::Error::InvalidDeploy("x".into()))), ExitStatus::Usage);
    }

    #[test]
    fn render_prints_causes_and_hint() {
        let error = anyhow::Error::new(store::Error::MetagraphMissing { dir: "d".into() }).context("failed to replay d");
        let text = render(&error);
        assert!(text.starts_with("error: failed to replay d\n  caused by: no metagraph.json in replay directory d"), "{text}");
        assert!(text.contains("\n\nhint: "));
    }
}
