//! One module per subcommand: each resolves its settings and wires the library modules.

pub mod chutes_push;
pub mod commit;
pub mod dataset;
pub mod devnet;
pub mod env;
pub mod env_backends;
pub mod eval;
pub mod hub;
pub mod metagraph;
pub mod miners;
pub mod pull;
pub mod runner;
pub mod sandbox_exec;
pub mod signer;
pub mod validate;
pub mod wallet;
pub mod weights;

use tokio_util::sync::CancellationToken;

use crate::cli::Command;
use crate::error::{ExitStatus, Probe, probe};
use crate::output::Printer;
use crate::{chain, envs, inference, settings, store};

/// Every error type that judges its own exit kind and hint ([`crate::error::Classify`]), for
/// [`crate::error::classify`] and [`crate::error::render`]. A type missing here is reported as
/// a runtime failure without a hint.
pub const CLASSIFIED: &[Probe] = &[
    probe::<settings::ConfigError>,
    probe::<crate::shutdown::Interrupted>,
    probe::<chain::Error>,
    probe::<envs::Error>,
    probe::<envs::docker::Error>,
    probe::<envs::client::Error>,
    probe::<envs::image::Error>,
    probe::<store::Error>,
    probe::<crate::hub::Error>,
    probe::<inference::chutes::Error>,
    probe::<crate::devnet::Error>,
    probe::<crate::validator::Error>,
    probe::<crate::signer::client::Error>,
    probe::<crate::weights_set::Error>,
    probe::<crate::scheduler::Error>,
    probe::<crate::scheduler::spool::Error>,
];

/// Runs `command` until it finishes or `token` is cancelled.
///
/// # Errors
/// Whatever the command fails with, with context saying what it was doing.
///
/// # Cancellation
/// One-shot commands stop their waits on the first signal and return
/// [`ExitStatus::Interrupted`]; one that is still busy [`shutdown::GRACE`](crate::shutdown::GRACE)
/// later is dropped (its cleanups run) and the status is the same. The long-running services
/// (`af env serve`, `af devnet`, `af runner`, `af validate`, `af signer`) stop on their own
/// deadlines (a weight set in flight is never torn) and exit 0.
pub async fn dispatch(command: Command, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    let service = match &command {
        Command::Env(args) => matches!(args.command, crate::cli::EnvCommand::Serve(_)),
        Command::Devnet(_) | Command::Runner(_) | Command::Validate(_) | Command::Signer(_) => true,
        _ => false,
    };
    if service {
        return Box::pin(run(command, printer, token)).await;
    }
    let work = Box::pin(run(command, printer, token.clone()));
    crate::shutdown::within_grace(&token, work, || Ok(ExitStatus::Interrupted)).await
}

async fn run(command: Command, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Weights(args) => weights::run(&args, printer, token).await,
        Command::Hub(command) => hub::run(command, printer, token).await,
        Command::Eval(args) => eval::run(&args, printer, token).await,
        Command::Env(args) => env::run(&args, printer, token).await,
        Command::Devnet(args) => devnet::run(&args, printer, token).await,
        Command::Runner(args) => runner::run(&args, token).await,
        Command::SandboxExec(args) => sandbox_exec::run(&args),
        Command::Dataset(command) => dataset::run(&command, printer, token).await,
        Command::Wallet(command) => wallet::run(&command, printer),
        Command::Metagraph(args) => metagraph::run(&args, printer, &token).await,
        Command::Commit(args) => commit::run(&args, printer, token).await,
        Command::Miners(args) => miners::run(&args, printer, &token).await,
        Command::Pull(args) => pull::run(&args, printer, token).await,
        Command::ChutesPush(args) => chutes_push::run(&args, printer, &token).await,
        Command::Validate(args) => Box::pin(validate::run(&args, printer, token)).await,
        Command::Signer(args) => signer::run(&args, token).await,
    }
}

/// Creates the destination directory a command writes into; a path that cannot be one (a
/// file, an unwritable place) is the user's to fix (exit 2), found before anything is fetched.
fn create_destination(dir: &std::path::Path) -> Result<(), settings::ConfigError> {
    std::fs::create_dir_all(dir).map_err(|error| settings::ConfigError(format!("cannot create the destination {}: {error}", dir.display())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{classify, render};

    #[test]
    fn classify_maps_config_and_store_input_errors_to_usage() {
        let config = anyhow::Error::new(settings::ConfigError("bad".into())).context("resolving");
        assert_eq!(classify(&config, CLASSIFIED), ExitStatus::Usage);
        let missing = anyhow::Error::new(store::Error::MetagraphMissing { dir: "d".into() });
        assert_eq!(classify(&missing, CLASSIFIED), ExitStatus::Usage);
        assert_eq!(classify(&anyhow::anyhow!("boom"), CLASSIFIED), ExitStatus::Failure);
        assert_eq!(ExitStatus::Interrupted.code(), 130);
    }

    #[test]
    fn classify_and_hint_hub_and_chutes_errors() {
        let gated = anyhow::Error::new(crate::hub::Error::Gated { repo: "o/m".into(), status: 403 }).context("failed to download o/m");
        assert_eq!(classify(&gated, CLASSIFIED), ExitStatus::Usage);
        assert!(render(&gated, CLASSIFIED).contains("hint: request access on the model page, then set HF_TOKEN"));
        let corrupt = anyhow::Error::new(crate::hub::Error::Integrity { path: "f".into(), expected: "a".into(), actual: "b".into() });
        assert_eq!(classify(&corrupt, CLASSIFIED), ExitStatus::Failure);
        assert_eq!(classify(&anyhow::Error::new(crate::hub::Error::Cancelled), CLASSIFIED), ExitStatus::Interrupted);
        let fee = anyhow::Error::new(inference::chutes::Error::Api {
            endpoint: "POST /chutes/".into(),
            status: 402,
            detail: inference::chutes::Detail(serde_json::json!("DEPLOYMENT FEE NOTICE")),
        });
        assert_eq!(classify(&fee, CLASSIFIED), ExitStatus::Failure);
        assert!(render(&fee, CLASSIFIED).contains("hint: accept the deployment fee"));
        assert_eq!(classify(&anyhow::Error::new(inference::chutes::Error::InvalidDeploy("x".into())), CLASSIFIED), ExitStatus::Usage);
    }

    #[test]
    fn render_prints_causes_and_hint() {
        let error = anyhow::Error::new(store::Error::MetagraphMissing { dir: "d".into() }).context("failed to replay d");
        let text = render(&error, CLASSIFIED);
        assert!(text.starts_with("error: failed to replay d\n  caused by: no metagraph.json in replay directory d"), "{text}");
        assert!(text.contains("\n\nhint: "));
    }

    #[test]
    fn envs_and_docker_errors_keep_their_exit_codes_and_hints() {
        let unknown = anyhow::Error::new(envs::Error::UnknownTask("x".into()));
        assert_eq!(classify(&unknown, CLASSIFIED), ExitStatus::Usage);
        let missing = anyhow::Error::new(envs::docker::Error::ImageMissing { image: "i".into(), pull: None });
        assert_eq!(classify(&missing, CLASSIFIED), ExitStatus::Usage);
        assert!(render(&missing, CLASSIFIED).contains("hint: build the af environment image"));
        let bad_url = anyhow::Error::new(envs::client::Error::BadUrl("ftp://x".into()));
        assert_eq!(classify(&bad_url, CLASSIFIED), ExitStatus::Usage);
        let key = anyhow::Error::new(chain::Error::KeyfileMissing { path: "k".into() });
        assert_eq!(classify(&key, CLASSIFIED), ExitStatus::Usage);
        assert!(render(&key, CLASSIFIED).contains("hint: pick the wallet"));
    }
}
