//! `af pull` against the local subtensor node and the local Hugging Face Hub: the uid's latest
//! commitment names the repo and revision; the download resumes an interrupted file.

use std::path::Path;
use std::time::{Duration, Instant};

use affine::chain::signing::Keypair;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use crate::support::af;
use crate::support::hub_server::{HubFile, HubRepo, HubServer};
use affine::devnet::node::Node;

const TEST_TIMEOUT: Duration = Duration::from_secs(300);
const REV: &str = "3333333333333333333333333333333333333333";

fn hotkey(seed: u8) -> [u8; 32] {
    Keypair::from_seed(&[seed; 32]).expect("seed").public_key().0
}

fn weights(len: usize, salt: u64) -> Vec<u8> {
    (0..len).map(|i| (i as u64).wrapping_add(salt).wrapping_mul(2_654_435_761).to_le_bytes()[1]).collect()
}

/// Size of each of the two weight shards in MB: 2 by default; `AF_TEST_PULL_MB` (total) runs
/// the same test as a measurement under `/usr/bin/time -v`.
fn shard_len() -> (usize, bool) {
    match std::env::var("AF_TEST_PULL_MB").ok().and_then(|v| v.parse::<usize>().ok()) {
        Some(total) => (total * 1_000_000 / 2, true),
        None => (2_000_000, false),
    }
}

async fn run_pull(node: &Node, hub: &HubServer, uid: &str, dest: &Path, measure: bool) -> std::process::Output {
    let mut command = if measure {
        let mut command = std::process::Command::new("/usr/bin/time");
        command.env_clear().env("AF_NO_DOTENV", "1").arg("-v").arg(env!("CARGO_BIN_EXE_af"));
        command
    } else {
        af()
    };
    command.args(["pull", uid, "--model_path"]).arg(dest).args(["--json", "--hf-endpoint", hub.url(), "--subtensor-endpoint", node.url()]);
    tokio::task::spawn_blocking(move || command.output().expect("run af")).await.expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_pull_downloads_the_committed_revision_and_resumes_a_cut_file() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let (len, measure) = shard_len();
        let repo = HubRepo {
            id: "miner/affine-pull".into(),
            commit: REV.into(),
            gated: false,
            private: false,
            files: vec![
                HubFile::new("config.json", br#"{"architectures":["Qwen2ForCausalLM"]}"#.to_vec(), false),
                HubFile::new("tokenizer/tokenizer.json", b"{\"version\":\"1.0\"}".to_vec(), false),
                HubFile::new("model-00001-of-00002.safetensors", weights(len, 1), true),
                HubFile::new("model-00002-of-00002.safetensors", weights(len, 2), true),
            ],
        };
        let hub = HubServer::start(vec![repo.clone()]).await;
        hub.interrupt("model-00001-of-00002.safetensors", 1);
        let node = Node::start_loopback(30, Duration::from_millis(200)).await.expect("start the devnet node");
        node.set_neurons(120, &[(hotkey(1), 1, false), (hotkey(2), 1, false), (hotkey(3), 1, false)]);
        let stale = json!({"model": "miner/affine-old", "revision": "0".repeat(40), "chute_id": "c0"}).to_string();
        node.push_revealed_commitment(120, hotkey(1), &stale, 10);
        let current = json!({"model": repo.id, "revision": REV, "chute_id": "c1"}).to_string();
        node.push_revealed_commitment(120, hotkey(1), &current, 20);
        node.push_revealed_commitment(120, hotkey(3), "not json", 21);
        let dest = tempfile::tempdir().expect("tempdir");

        let started = Instant::now();
        let output = run_pull(&node, &hub, "0", dest.path(), measure).await;
        let elapsed = started.elapsed();
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        if measure {
            let total = 2 * len;
            #[expect(clippy::cast_precision_loss, reason = "a printed measurement")]
            let rate = total as f64 / 1e6 / elapsed.as_secs_f64();
            eprintln!("af pull: {total} bytes in {elapsed:?} ({rate:.0} MB/s)\n{}", String::from_utf8_lossy(&output.stderr));
        }
        let report: Value = serde_json::from_slice(&output.stdout).expect("one JSON report");
        assert_eq!((&report["repo"], &report["commit"], &report["files"]), (&json!(repo.id), &json!(REV), &json!(4)));
        assert_eq!(report["resumed"], 1, "the cut file resumed: {report}");
        for file in &repo.files {
            let local = std::fs::read(dest.path().join(&file.name)).expect("downloaded");
            assert_eq!(Sha256::digest(&local), Sha256::digest(&file.content), "{}", file.name);
        }
        let ranged = hub.requests().into_iter().filter(|r| r.uri.contains("blobs")).filter_map(|r| r.range).count();
        assert!(ranged >= 1, "the resume used a Range request");
        assert!(hub.requests().iter().all(|r| !r.uri.contains("affine-old")), "only the latest commitment is used");

        let again = run_pull(&node, &hub, "0", dest.path(), false).await;
        let report: Value = serde_json::from_slice(&again.stdout).expect("json");
        assert_eq!(report["skipped"], 4, "a second pull finds every file complete: {report}");

        for (uid, code, message) in [
            ("1", 1, "uid 1 ("),
            ("2", 1, "uid 2's commitment at block 21 is malformed"),
            ("7", 1, "uid 7 is not registered on netuid 120"),
        ] {
            let output = run_pull(&node, &hub, uid, dest.path(), false).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(code), "uid {uid}: {stderr}");
            assert!(stderr.contains(message) && stderr.lines().count() <= 2, "uid {uid}: {stderr}");
        }
        let output = run_pull(&node, &hub, "1", dest.path(), false).await;
        assert!(String::from_utf8_lossy(&output.stderr).contains("has no revealed commitment on netuid 120"));
    })
    .await
    .expect("test timed out");
}
