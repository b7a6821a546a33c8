//! `af hub download` end to end against the local Hub: JSON and text output, rerun skips,
//! SIGINT then resume, and the exit codes and hints of Hub errors.

use std::path::Path;
use std::process::Output;
use std::time::{Duration, Instant};

use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::support::af;
use crate::support::hub_server::{HUB_TOKEN, HubFile, HubRepo, HubServer};

const COMMIT: &str = "9a8b7c6d5e4f30211203a4b5c6d7e8f901234567";

fn repo(id: &str) -> HubRepo {
    HubRepo {
        id: id.to_owned(),
        commit: COMMIT.to_owned(),
        gated: false,
        private: false,
        files: vec![
            HubFile::new("config.json", br#"{"architectures":["Qwen2ForCausalLM"]}"#.to_vec(), false),
            HubFile::new("model.safetensors", (0..2_000_000u32).map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect(), true),
        ],
    }
}

fn download(server: &HubServer, repo: &str, dest: &Path, extra: &[&str]) -> std::process::Command {
    let mut command = af();
    command
        .args(["hub", "download", "--repo", repo, "--revision", COMMIT, "--dest"])
        .arg(dest)
        .args(extra)
        .env("HF_ENDPOINT", server.url());
    command
}

async fn run(mut command: std::process::Command) -> Output {
    let output = tokio::task::spawn_blocking(move || command.output().expect("run af"));
    tokio::time::timeout(Duration::from_secs(60), output).await.expect("af timed out").expect("join")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hub_download_prints_json_then_skips_on_rerun() {
    let repo = repo("miner/affine-cli");
    let server = HubServer::start(vec![repo.clone()]).await;
    let dest = tempfile::tempdir().expect("tempdir");
    let output = run(download(&server, &repo.id, dest.path(), &["--json"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
    assert_eq!((report["files"].as_u64(), report["downloaded"].as_u64(), report["commit"].as_str()), (Some(2), Some(2), Some(COMMIT)));
    for file in &repo.files {
        assert_eq!(Sha256::digest(std::fs::read(dest.path().join(&file.name)).expect("file")), Sha256::digest(&file.content));
    }
    let output = run(download(&server, &repo.id, dest.path(), &[])).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.starts_with(&format!("{}@{COMMIT} -> ", repo.id))
            && stdout.contains("0 downloaded")
            && stdout.contains("2 already complete"),
        "{stdout}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hub_download_interrupted_by_sigint_exits_130_and_resumes() {
    let repo = repo("miner/affine-sigint");
    let server = HubServer::start(vec![repo.clone()]).await;
    server.slow("model.safetensors", Duration::from_millis(40));
    let dest = tempfile::tempdir().expect("tempdir");
    let mut child = download(&server, &repo.id, dest.path(), &["--json"]).stdout(std::process::Stdio::piped()).spawn().expect("spawn af");
    let sha = hex::encode(Sha256::digest(&repo.files[1].content));
    let part = dest.path().join(format!(".cache/huggingface/download/model.safetensors.{sha}.part"));
    let started = Instant::now();
    while std::fs::metadata(&part).map_or(0, |m| m.len()) < 200_000 {
        assert!(started.elapsed() < Duration::from_secs(30), "no partial data appeared");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let kill = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().expect("kill");
    assert!(kill.success());
    let status = tokio::task::spawn_blocking(move || child.wait().expect("wait")).await.expect("join");
    assert_eq!(status.code(), Some(130));
    let kept = std::fs::metadata(&part).expect("partial file kept").len();
    assert!(kept > 0 && kept < repo.files[1].content.len() as u64);

    let output = run(download(&server, &repo.id, dest.path(), &["--json", "--concurrency", "1"])).await;
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(report["resumed"].as_u64(), Some(1), "{report}");
    assert_eq!(Sha256::digest(std::fs::read(dest.path().join("model.safetensors")).expect("file")), Sha256::digest(&repo.files[1].content));
    let ranged = server.requests().into_iter().filter(|r| r.host == "cdn").filter_map(|r| r.range).next_back().expect("a ranged request");
    assert!(ranged.starts_with("bytes=") && ranged != "bytes=0-", "{ranged}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_hub_download_errors_exit_2_with_hints() {
    let gated = HubRepo { gated: true, ..repo("org/affine-gated") };
    let server = HubServer::start(vec![gated.clone(), repo("org/affine-open")]).await;
    let dest = tempfile::tempdir().expect("tempdir");

    let output = run(download(&server, &gated.id, dest.path(), &[])).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.starts_with("error: failed to download org/affine-gated"), "{stderr}");
    assert!(stderr.contains("is gated") && stderr.contains("hint: ") && stderr.contains("HF_TOKEN"), "{stderr}");
    let mut with_token = download(&server, &gated.id, dest.path(), &["--json"]);
    with_token.env("HF_TOKEN", HUB_TOKEN).env("RUST_LOG", "affine=trace");
    let output = run(with_token).await;
    assert_eq!(output.status.code(), Some(0), "HF_TOKEN grants access: {}", text(&output.stderr));
    assert!(!text(&output.stderr).contains(HUB_TOKEN), "the token never reaches the logs");

    let mut wrong = af();
    wrong
        .args(["hub", "download", "--repo", "org/affine-open", "--revision", "v9", "--dest"])
        .arg(dest.path())
        .env("HF_ENDPOINT", server.url());
    let output = run(wrong).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("revision v9 not found in org/affine-open") && stderr.contains("hint: check --repo"), "{stderr}");

    let mut bad = af();
    bad.args(["hub", "download", "--repo", "noslash", "--revision", COMMIT, "--dest"]).arg(dest.path());
    let output = run(bad).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("must be owner/name"));
}
