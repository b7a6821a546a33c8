//! Shared helpers for the integration tests.

pub mod chutes_server;
pub mod hub_server;

use std::path::{Path, PathBuf};

/// `../shared` beside the repository (the steering folder CI places next to the clone).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("shared")
}

/// Unpacks `golden/scorer/NAME.tar.gz` into a fresh temporary directory and returns the
/// directory together with the path of the unpacked case.
pub fn unpack_scorer_case(name: &str) -> (tempfile::TempDir, PathBuf) {
    let archive = shared_dir().join("golden").join("scorer").join(format!("{name}.tar.gz"));
    let file = std::fs::File::open(&archive).unwrap_or_else(|e| panic!("open {}: {e}", archive.display()));
    let temp = tempfile::tempdir().expect("tempdir");
    tar::Archive::new(flate2::read::GzDecoder::new(file)).unpack(temp.path()).expect("unpack golden case");
    let case = temp.path().join(name);
    assert!(case.join("metagraph.json").is_file(), "{name} has no metagraph.json");
    (temp, case)
}

/// The built `af` binary.
pub fn af() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_af"));
    command.env_clear().env("AF_NO_DOTENV", "1").env("PATH", std::env::var_os("PATH").unwrap_or_default());
    command
}

pub mod dataset;
pub mod env_server;
pub mod openai;

/// A system Python for sandboxed programs: `AF_TEST_SANDBOX_PYTHON`, else `/usr/bin/python3`.
/// (Not the venv: when tests run as root the sandbox drops to an unprivileged uid, which cannot
/// read an interpreter under `/root`.)
pub fn sandbox_python() -> PathBuf {
    let candidate = std::env::var_os("AF_TEST_SANDBOX_PYTHON").map_or_else(|| PathBuf::from("/usr/bin/python3"), PathBuf::from);
    assert!(candidate.is_file(), "no python at {} (set AF_TEST_SANDBOX_PYTHON)", candidate.display());
    candidate
}

/// A sandbox that runs `sandbox_python()` through the built `af` binary.
pub fn sandbox() -> affine::envs::sandbox::Sandbox {
    affine::envs::sandbox::Sandbox::new(PathBuf::from(env!("CARGO_BIN_EXE_af")), sandbox_python(), affine::envs::sandbox::Limits::default())
}
