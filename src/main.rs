//! The `af` binary: parse, configure logging, run, map the outcome to an exit code.

use std::process::ExitCode;

use affine::cli::Cli;
use affine::commands::CLASSIFIED;
use affine::error::{ExitStatus, classify, render};
use affine::output::{Printer, escape_controls_in_lines};
use affine::secret::redact;
use affine::settings::{ConfigError, LogSettings, load_dotenv};
use clap::Parser as _;
use tokio_util::sync::CancellationToken;

fn main() -> ExitCode {
    let dotenv = load_dotenv();
    let cli = Cli::parse();
    let log = LogSettings::resolve(&cli.global);
    let status = match run(cli, &log, dotenv) {
        Ok(status) => status,
        Err(error) => {
            report(&error);
            classify(&error, CLASSIFIED)
        }
    };
    ExitCode::from(u8::try_from(status.code()).unwrap_or(1))
}

fn run(cli: Cli, log: &LogSettings, dotenv: Result<(), ConfigError>) -> anyhow::Result<ExitStatus> {
    affine::telemetry::init(log)?;
    dotenv?;
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let token = CancellationToken::new();
    affine::shutdown::install(token.clone());
    let printer = Printer::new(log.rust_log.is_some());
    let status = runtime.block_on(affine::commands::dispatch(cli.command, printer, token));
    // Work the command abandoned (a read blocked on a FIFO, a stalled transfer) must not keep
    // the process alive: the command's outcome is known, so the runtime is not waited for.
    runtime.shutdown_background();
    status
}

#[expect(clippy::print_stderr, reason = "the final error goes to stderr, even before logging is up")]
fn report(error: &anyhow::Error) {
    eprintln!("{}", redact(&escape_controls_in_lines(&render(error, CLASSIFIED))));
}
