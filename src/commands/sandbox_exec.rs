//! `af sandbox-exec` (hidden): confine this process and exec the program. Used by the sandbox
//! so that the limits are applied with safe calls in the child, without `pre_exec`.

use crate::cli::SandboxExecArgs;
use crate::envs::sandbox::{CONFINE_FAILURE_PREFIX, CONFINE_FAILURE_STATUS, ConfineError, ConfineOptions, Stage, confine_and_exec};

/// Confines and execs; returns only by exiting with [`CONFINE_FAILURE_STATUS`] on failure.
pub fn run(args: &SandboxExecArgs) -> ! {
    let Some(stage) = Stage::parse(&args.stage) else {
        report(&anyhow::Error::new(ConfineError::Stage(args.stage.clone())));
        std::process::exit(CONFINE_FAILURE_STATUS)
    };
    let options = ConfineOptions {
        stage,
        dir: args.dir.clone(),
        cpu_secs: args.cpu_secs,
        address_space: args.address_space,
        processes: args.processes,
        file_size: args.file_size,
        uid: args.uid,
        command: args.command.clone(),
    };
    let error = confine_and_exec(&options);
    report(&anyhow::Error::new(error));
    std::process::exit(CONFINE_FAILURE_STATUS)
}

#[expect(clippy::print_stderr, reason = "the sandbox parent reads this exact line from stderr")]
fn report(error: &anyhow::Error) {
    eprintln!("{CONFINE_FAILURE_PREFIX}{error:#}");
}
