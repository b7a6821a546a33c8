//! `af chutes-push` against the local Chutes server: the dry-run body, the same deploy sent
//! hotkey-signed (real sr25519 check) and confirmed by id, the server's 402/409 refusals as
//! one line, and what is refused before sending.

use std::path::Path;

use serde_json::Value;

use crate::support::af;
use crate::support::chutes_server::{ChutesServer, ChutesUser, TestHotkey};

const REV: &str = "4f2a0c9e1b7d3a5c6e8f0a1b2c3d4e5f60718293";
const BOB_KEY: &str = "cpk_0123456789abcdef0123456789abcdef.fedcba9876543210fedcba9876543210.bobbobbobbobbobbobbobbobbobbob01";

fn write_config(dir: &Path, user: &ChutesUser, seed: [u8; 32], ss58: &str) -> std::path::PathBuf {
    let path = dir.join("config.ini");
    let text = format!(
        "[api]\nbase_url = http://127.0.0.1:9\n\n[auth]\nuser_id = {}\nusername = {}\nhotkey_seed = {}\nhotkey_name = default\nhotkey_ss58address = {ss58}\n",
        user.user_id,
        user.username,
        hex::encode(seed)
    );
    std::fs::write(&path, text).expect("write config.ini");
    path
}

async fn run_af(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || af().args(args).output().expect("run af")).await.expect("join")
}

fn args(server: &ChutesServer, extra: &[&str]) -> Vec<String> {
    ["chutes-push", "--chutes-api-url", server.url()].iter().chain(extra).map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_chutes_push_dry_run_then_signed_deploy_is_accepted_and_confirmed() {
    let seed = [7u8; 32];
    let hotkey = TestHotkey::from_seed(seed);
    let alice =
        ChutesUser { user_id: "user-alice".into(), username: "alice".into(), api_key: None, hotkey: Some(hotkey.public()), balance: 100.0 };
    let server = ChutesServer::start(vec![alice.clone()], vec![]).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = write_config(dir.path(), &alice, seed, &hotkey.ss58());
    let config = config.to_str().expect("utf-8 path");
    let base = ["--repo", "alice/Affine-push", "--revision", REV, "--chutes-config", config];

    let dry = run_af(args(&server, &[&base[..], &["--dry-run"]].concat())).await;
    assert_eq!(dry.status.code(), Some(0), "{}", String::from_utf8_lossy(&dry.stderr));
    let body: Value = serde_json::from_slice(&dry.stdout).expect("the body as JSON");
    assert_eq!(
        (&body["name"], &body["revision"], &body["image"]),
        (&"alice/Affine-push".into(), &REV.into(), &"chutes/sglang:nightly-2025081600".into())
    );
    assert_eq!((&body["concurrency"], &body["max_instances"], &body["shutdown_after_seconds"]), (&20.into(), &1.into(), &3600.into()));
    assert_eq!(body["scaling_threshold"], 0.5);
    assert_eq!(body["node_selector"]["gpu_count"], 1);
    assert_eq!(body["node_selector"]["include"], serde_json::json!(["a100", "h100"]));
    assert!(body["code"].as_str().is_some_and(|c| c.contains("username=\"alice\"") && c.contains("scaling_threshold=0.5")));
    assert!(server.requests().is_empty(), "a dry run sends nothing");

    let pushed = run_af(args(&server, &[&base[..], &["--json"]].concat())).await;
    assert_eq!(pushed.status.code(), Some(0), "{}", String::from_utf8_lossy(&pushed.stderr));
    let answer: Value = serde_json::from_slice(&pushed.stdout).expect("json");
    let expected = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, b"alice::chute::alice/Affine-push").to_string();
    assert_eq!(answer["success"], true);
    assert_eq!(
        (&answer["chute_id"], &answer["repo"], &answer["revision"]),
        (&expected.clone().into(), &"alice/Affine-push".into(), &REV.into())
    );
    assert_eq!(answer["chute"]["name"], "alice/Affine-push");
    assert_eq!(answer["chute"]["revision"], REV);
    let requests = server.requests();
    assert_eq!(requests.iter().map(|r| r.method.as_str()).collect::<Vec<_>>(), vec!["POST", "GET"], "deploy, then confirm");
    assert!(requests[0].uri.ends_with("accept_fee=true"), "{}", requests[0].uri);
    assert_eq!(requests[1].uri, format!("/chutes/{expected}"));
    assert!(requests.iter().all(|r| r.headers.get("x-chutes-hotkey") == Some(&hotkey.ss58())));

    let again = run_af(args(&server, &base)).await;
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert_eq!(again.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("error: failed to deploy alice/Affine-push") && stderr.contains("409") && stderr.contains("already exists"),
        "{stderr}"
    );
    assert!(stderr.lines().count() <= 3, "error, cause and hint only: {stderr}");
    let table = run_af(args(&server, &[&base[..], &["--image", "chutes/sglang:other"]].concat())).await;
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(table.status.code(), Some(0), "an update with another image: {}", String::from_utf8_lossy(&table.stderr));
    assert!(text.contains(&expected) && text.contains("next: af commit --repo alice/Affine-push"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_chutes_push_reports_the_fee_refusal_and_refuses_bad_input_early() {
    let bob = ChutesUser { user_id: "user-bob".into(), username: "bob".into(), api_key: Some(BOB_KEY.into()), hotkey: None, balance: 1.0 };
    let server = ChutesServer::start(vec![bob], vec![]).await;
    let key = ["--chutes-api-key", BOB_KEY, "--chute-user", "bob"];
    let poor = run_af(args(&server, &[&["--repo", "bob/affine-x", "--revision", REV], &key[..]].concat())).await;
    let stderr = String::from_utf8_lossy(&poor.stderr);
    assert_eq!(poor.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HTTP 402") && stderr.contains("top up"), "{stderr}");
    assert!(stderr.contains("hint: accept the deployment fee or top up"), "{stderr}");
    assert!(!stderr.contains(BOB_KEY), "the key never shows");
    assert_eq!(server.requests()[0].headers.get("authorization").map(String::as_str), Some(BOB_KEY));
    let sent = server.requests().len();

    for (repo, revision, message) in [
        ("bob/model", REV, "*/affine*"),
        ("bob/affine-x", "abc123", "not a 40-character hex commit sha"),
        ("noslash", REV, "expected owner/name"),
    ] {
        let output = run_af(args(&server, &[&["--repo", repo, "--revision", revision], &key[..]].concat())).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{repo} {revision}: {stderr}");
        assert!(stderr.contains(message), "{stderr}");
    }
    let alias = run_af(vec!["chutes_push".into(), "--repo".into(), "bob/model".into(), "--revision".into(), REV.into()]).await;
    assert_eq!(alias.status.code(), Some(2), "the chutes_push alias works");
    let no_config =
        run_af(args(&server, &["--repo", "bob/affine-x", "--revision", REV, "--chutes-config", "/nonexistent/af/config.ini"])).await;
    let stderr = String::from_utf8_lossy(&no_config.stderr);
    assert_eq!(no_config.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("chutes config") && stderr.contains("CHUTE_USER"), "{stderr}");
    assert_eq!(server.requests().len(), sent, "refused input never reaches the server");
}
