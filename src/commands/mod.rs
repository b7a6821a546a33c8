//! One module per subcommand: each resolves its settings and wires the library modules.

pub mod chutes_push;
pub mod commit;
pub mod dataset;
pub mod devnet;
pub mod env;
pub mod eval;
pub mod hub;
pub mod metagraph;
pub mod miners;
pub mod pull;
pub mod sandbox_exec;
pub mod signer;
pub mod validate;
pub mod wallet;
pub mod weights;

use tokio_util::sync::CancellationToken;

use crate::cli::Command;
use crate::error::ExitStatus;
use crate::output::Printer;

/// Runs `command` until it finishes or `token` is cancelled.
///
/// # Errors
/// Whatever the command fails with, with context saying what it was doing.
pub async fn dispatch(command: Command, printer: Printer, token: CancellationToken) -> anyhow::Result<ExitStatus> {
    match command {
        Command::Weights(args) => weights::run(&args, printer, token).await,
        Command::Hub(command) => hub::run(command, printer, token).await,
        Command::Eval(args) => eval::run(&args, printer, token).await,
        Command::Env(args) => env::run(&args, printer, token).await,
        Command::Devnet(args) => devnet::run(&args, printer, token).await,
        Command::SandboxExec(args) => sandbox_exec::run(&args),
        Command::Dataset(command) => dataset::run(&command, printer, token).await,
        Command::Wallet(command) => wallet::run(&command, printer),
        Command::Metagraph(args) => metagraph::run(&args, printer).await,
        Command::Commit(args) => commit::run(&args, printer, token).await,
        Command::Miners(args) => miners::run(&args, printer).await,
        Command::Pull(args) => pull::run(&args, printer, token).await,
        Command::ChutesPush(args) => chutes_push::run(&args, printer).await,
        Command::Validate(args) => Box::pin(validate::run(&args, printer, token)).await,
        Command::Signer(args) => signer::run(&args, token).await,
    }
}
