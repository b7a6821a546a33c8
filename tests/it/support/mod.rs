//! Shared helpers for the integration tests.

pub mod chutes_server;
pub mod devnet;
pub mod http;
pub mod hub_server;
pub mod moto;
pub mod proxy;
pub mod runner;
pub mod service;

use std::path::{Path, PathBuf};

/// `tests/fixtures`: the golden cases and vectors the tests read (all inside the repository).
pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures")
}

/// Unpacks `golden/scorer/NAME.tar.gz` into a fresh temporary directory and returns the
/// directory together with the path of the unpacked case.
pub fn unpack_scorer_case(name: &str) -> (tempfile::TempDir, PathBuf) {
    let archive = fixtures_dir().join("golden").join("scorer").join(format!("{name}.tar.gz"));
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
pub mod hostile;
pub mod openai;
pub mod sshd;

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

/// The Python interpreter of the test venv: `AF_TEST_PYTHON`, else `target/ci-venv/bin/python`
/// under the package. Panics with the fix when neither exists: tests that need bittensor's own
/// packages must not pass silently without them.
pub fn python() -> PathBuf {
    let path = std::env::var_os("AF_TEST_PYTHON")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target").join("ci-venv").join("bin").join("python"), PathBuf::from);
    assert!(
        path.is_file(),
        "no Python venv at {}: run `bash .ci/setup` (it installs .ci/requirements.txt) or set AF_TEST_PYTHON",
        path.display()
    );
    path
}

/// Runs `script` with the venv's Python, `args` as `sys.argv[1..]` and `stdin` as standard
/// input; panics with Python's stderr when it fails, returns its stdout.
pub fn run_python(script: &str, args: &[&std::ffi::OsStr], stdin: &str) -> String {
    use std::io::Write as _;
    let mut child = std::process::Command::new(python())
        .arg("-c")
        .arg(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start python");
    child.stdin.take().expect("stdin is piped").write_all(stdin.as_bytes()).expect("write python stdin");
    let output = child.wait_with_output().expect("wait for python");
    assert!(output.status.success(), "python failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).expect("python prints UTF-8")
}

/// finney's metadata without pallet `name`: a node running a runtime `af` does not expect.
pub fn finney_metadata_without_pallet(name: &str) -> std::sync::Arc<affine::devnet::node::RuntimeMetadataSet> {
    use subxt::ext::codec::{Decode as _, Encode as _};
    use subxt::ext::frame_metadata::{RuntimeMetadata, RuntimeMetadataPrefixed};
    let finney = affine::devnet::node::metadata::FINNEY_METADATA;
    let mut prefixed = RuntimeMetadataPrefixed::decode(&mut &finney[..]).expect("finney.scale decodes");
    let RuntimeMetadata::V16(metadata) = &mut prefixed.1 else { panic!("finney.scale is V16 metadata") };
    let before = metadata.pallets.len();
    metadata.pallets.retain(|pallet| pallet.name != name);
    assert_eq!(metadata.pallets.len(), before - 1, "finney has pallet {name}");
    std::sync::Arc::new(affine::devnet::node::RuntimeMetadataSet::from_v16_bytes(&prefixed.encode()).expect("still V16"))
}
