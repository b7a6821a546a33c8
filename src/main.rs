//! The `af` binary: parse, configure logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use affine::cli::Cli;
use affine::commands::CLASSIFIED;
use affine::error::{ExitStatus, classify, render};
use affine::output::Printer;
use affine::settings::{LogSettings, load_dotenv};
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let dotenv_problem = load_dotenv();
    let cli = Cli::parse();
    let log = LogSettings::resolve(&cli.global);
    let status = match run(cli, &log, dotenv_problem) {
        Ok(status) => status,
        Err(error) => {
            report(&error);
            classify(&error, CLASSIFIED)
        }
    };
    ExitCode::from(u8::try_from(status.code()).unwrap_or(1))
}

fn run(cli: Cli, log: &LogSettings, dotenv_problem: Option<String>) -> anyhow::Result<ExitStatus> {
    affine::telemetry::init(log)?;
    if let Some(error) = dotenv_problem {
        tracing::warn!(%error, "ignoring unreadable .env");
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let token = CancellationToken::new();
    let printer = Printer::new(log.rust_log.is_some());
    runtime.block_on(async {
        affine::shutdown::install(token.clone());
        affine::commands::dispatch(cli.command, printer, token).await
    })
}

#[expect(clippy::print_stderr, reason = "the final error goes to stderr, even before logging is up")]
fn report(error: &anyhow::Error) {
    eprintln!("{}", render(error, CLASSIFIED));
}
