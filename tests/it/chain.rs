//! The production chain client and `af metagraph` against the local subtensor node
//! (tests/it/support/subtensor.rs), which serves finney's real metadata over a loopback
//! WebSocket.

use std::time::Duration;

use affine::chain::client::{ChainClient, ChainConfig};
use affine::chain::signing::Keypair;
use affine::chain::submit::{BITTENSOR_VERSION_KEY, ConfirmPolicy, WeightsCall, WeightsRequest};
use affine::chain::timelock::BeaconPublicKey;
use serde_json::Value;

use crate::support::af;
use affine::devnet::node::{Node, WeightsCallSeen};

use crate::support::finney_metadata_without_pallet;

const TEST_TIMEOUT: Duration = Duration::from_secs(60);

fn hotkey(seed: u8) -> [u8; 32] {
    Keypair::from_seed(&[seed; 32]).expect("seed").public_key().0
}

async fn seeded_node() -> Node {
    let node = Node::start_loopback(50, Duration::from_millis(200)).await.expect("start the devnet node");
    node.set_neurons(120, &[(hotkey(1), 10, true), (hotkey(2), 20, false), (hotkey(3), 30, false)]);
    node.push_revealed_commitment(120, hotkey(2), r#"{"model": "old/m", "revision": "r0", "chute_id": "c0"}"#, 40);
    node.push_revealed_commitment(120, hotkey(2), r#"{"model": "alice/m", "revision": "r1", "chute_id": "c1"}"#, 45);
    node.push_revealed_commitment(120, hotkey(3), r#"{"model": "bob/m", "revision": "r2", "chute_id": "c2"}"#, 47);
    // Another subnet's entries must not leak into netuid 120.
    node.set_neurons(7, &[(hotkey(9), 1, true)]);
    node.push_revealed_commitment(7, hotkey(9), "other subnet", 5);
    node
}

fn config(url: &str) -> ChainConfig {
    ChainConfig { endpoint: url.to_owned(), fallback: None, timeout: Duration::from_secs(10) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_client_reads_metagraph_and_revealed_commitments() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let best = client.best_block().await.expect("best block");
        assert!(best >= 50 && best <= node.best_block(), "best block {best}");
        let metagraph = client.metagraph(120).await.expect("metagraph");
        assert!(metagraph.block >= 50);
        let hotkeys: Vec<[u8; 32]> = metagraph.neurons.iter().map(|n| n.hotkey.0).collect();
        assert_eq!(hotkeys, vec![hotkey(1), hotkey(2), hotkey(3)]);
        assert_eq!(metagraph.neurons.iter().map(|n| n.last_update).collect::<Vec<_>>(), vec![10, 20, 30]);
        assert_eq!(metagraph.neurons.iter().map(|n| n.validator_permit).collect::<Vec<_>>(), vec![true, false, false]);
        let revealed = client.revealed_commitments(120).await.expect("commitments");
        assert_eq!(revealed.len(), 2);
        let alice = &revealed[&affine::chain::signing::PublicKey(hotkey(2))];
        assert_eq!(alice.iter().map(|c| c.block).collect::<Vec<_>>(), vec![40, 45]);
        assert_eq!(alice[1].text, r#"{"model": "alice/m", "revision": "r1", "chute_id": "c1"}"#);
    })
    .await
    .expect("test timed out");
}

async fn run_af(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || af().args(args).output().expect("run af")).await.expect("join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_metagraph_shows_uids_and_latest_commitments() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_subnet_params(120, 360, 7, false);
        let output = run_af(vec!["metagraph".into(), "--json".into(), "--subtensor-endpoint".into(), node.url().into()]).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");
        assert_eq!(document["netuid"], 120);
        assert_eq!(
            (&document["tempo"], &document["weights_version_key"], &document["commit_reveal_enabled"]),
            (&360.into(), &7.into(), &false.into())
        );
        let neurons = document["neurons"].as_array().expect("neurons");
        assert_eq!(neurons.len(), 3);
        assert_eq!(neurons[0]["commitment"], Value::Null);
        assert_eq!(neurons[1]["hotkey"], affine::chain::ss58::encode(&hotkey(2)));
        assert_eq!(neurons[1]["commitment"]["block"], 45);
        assert_eq!(neurons[2]["commitment"]["text"], r#"{"model": "bob/m", "revision": "r2", "chute_id": "c2"}"#);
        assert_eq!(neurons[0]["validator_permit"], true);

        let table = run_af(vec!["metagraph".into(), "--subtensor-endpoint".into(), node.url().into(), "--netuid".into(), "7".into()]).await;
        let text = String::from_utf8_lossy(&table.stdout);
        assert!(text.starts_with("Metagraph of netuid 7 at block "), "{text}");
        assert!(text.contains("other subnet") && text.contains(&affine::chain::ss58::encode(&hotkey(9))), "{text}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_metagraph_unreachable_endpoint_is_a_one_line_error_with_exit_1() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let output = run_af(vec![
            "metagraph".into(),
            "--subtensor-endpoint".into(),
            format!("ws://127.0.0.1:{port}"),
            "--chain-timeout".into(),
            "5".into(),
        ])
        .await;
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.starts_with("error: failed to reach subtensor\n  caused by: failed to connect to subtensor at ws://127.0.0.1:"),
            "{stderr}"
        );
        assert!(stderr.contains("hint: check the node is up"), "{stderr}");
        let bad = run_af(vec!["metagraph".into(), "--subtensor-endpoint".into(), "mainnet".into()]).await;
        assert_eq!(bad.status.code(), Some(2));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_metagraph_node_without_commitments_pallet_names_the_missing_item() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = Node::start(affine::devnet::node::NodeConfig {
            metadata: finney_metadata_without_pallet("Commitments"),
            ..affine::devnet::node::NodeConfig::loopback(5, Duration::from_millis(200))
        })
        .await
        .expect("start the devnet node");
        node.set_neurons(120, &[(hotkey(1), 1, true)]);
        let output = run_af(vec!["metagraph".into(), "--subtensor-endpoint".into(), node.url().into()]).await;
        assert_eq!(output.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: failed to read commitments on netuid 120"), "{stderr}");
        assert!(stderr.contains("has no Commitments in its metadata") && stderr.contains("hint: the node runs a runtime"), "{stderr}");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_client_falls_back_when_the_primary_is_down() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
        let config = ChainConfig {
            endpoint: format!("ws://127.0.0.1:{port}"),
            fallback: Some(node.url().to_owned()),
            timeout: Duration::from_secs(10),
        };
        let client = ChainClient::connect(config).await.expect("connects through the fallback");
        assert_eq!(client.metagraph(120).await.expect("metagraph").neurons.len(), 3);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_client_silent_node_hits_the_deadline() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        // A bound listener that never accepts: the kernel completes the TCP handshake from its
        // backlog, and the WebSocket handshake is never answered.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        let config = ChainConfig { endpoint: url, fallback: None, timeout: Duration::from_millis(500) };
        let error = ChainClient::connect(config).await.expect_err("no answer");
        assert!(matches!(error, affine::chain::Error::Timeout { .. }), "{error}");
        assert!(error.is_transient());
        drop(listener);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_client_reconnects_and_retries_once_when_its_node_goes_away() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let primary = seeded_node().await;
        let fallback = Node::start_loopback(5, Duration::from_millis(200)).await.expect("start the devnet node");
        fallback.set_neurons(120, &[(hotkey(5), 1, true), (hotkey(6), 2, true)]);
        let config =
            ChainConfig { endpoint: primary.url().to_owned(), fallback: Some(fallback.url().to_owned()), timeout: Duration::from_secs(5) };
        let client = ChainClient::connect(config).await.expect("connect");
        assert_eq!(client.metagraph(120).await.expect("metagraph").neurons.len(), 3);
        drop(primary);
        let metagraph = client.metagraph(120).await.expect("the call is retried on the fallback");
        assert_eq!(
            metagraph.neurons.iter().map(|n| n.hotkey.0).collect::<Vec<_>>(),
            vec![hotkey(5), hotkey(6)],
            "read from the fallback node"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_client_waits_for_the_next_block_and_reads_subnet_params() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_subnet_params(120, 99, 9_012_002, false);
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let before = client.best_block().await.expect("best block");
        let next = client.wait_for_next_block().await.expect("next block");
        assert!(next > before, "{next} after {before}");
        assert!(client.best_block().await.expect("best block") >= next);
        let params = client.subnet_params(120).await.expect("params");
        assert_eq!((params.tempo, params.weights_version_key, params.commit_reveal_enabled), (99, 9_012_002, false));
        // Unset items read as finney's storage defaults.
        assert_eq!((params.reveal_period_epochs, params.weights_rate_limit), (1, 100));
        let defaults = client.subnet_params(7).await.expect("params");
        assert_eq!((defaults.tempo, defaults.commit_reveal_enabled), (360, true));
    })
    .await
    .expect("test timed out");
}

fn key(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32]).expect("seed")
}

/// Weights for netuid 120 with the bittensor version key, timelocked to quicknet.
fn request<'a>(hotkey: &'a Keypair, uids: &'a [u16], weights: &'a [f64]) -> WeightsRequest<'a> {
    static QUICKNET: std::sync::LazyLock<BeaconPublicKey> = std::sync::LazyLock::new(BeaconPublicKey::quicknet);
    WeightsRequest { netuid: 120, hotkey, uids, weights, version_key: BITTENSOR_VERSION_KEY, beacon: &QUICKNET }
}

fn fast_policy(attempts: u32) -> ConfirmPolicy {
    ConfirmPolicy { attempts, retry_delay: Duration::from_millis(100), confirmation_blocks: 2 }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_weights_plain_path_is_signed_applied_and_confirmed() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_subnet_params(120, 360, 5, false);
        node.set_weights_rate_limit(120, 0);
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let confirmed =
            client.set_weights_with_confirmation(request(&key(1), &[0, 1, 2], &[0.3, 1.0, 0.0]), fast_policy(3)).await.expect("confirmed");
        let (submission, reference) = (confirmed.submission, confirmed.reference_block);
        assert_eq!(confirmed.attempts, 1);
        assert_eq!(submission.call, WeightsCall::Plain);
        assert_eq!((submission.uids.clone(), submission.weights.clone()), (vec![0, 1], vec![19661, 65535]));
        assert!(node.last_update(120)[0] >= reference, "{:?} vs {reference}", node.last_update(120));
        let applied = node.applied_weights();
        assert_eq!(applied.len(), 1, "one attempt was enough: {applied:?}");
        assert_eq!(applied[0].hotkey, hotkey(1));
        assert_eq!(applied[0].error, None);
        assert_eq!(
            applied[0].call,
            WeightsCallSeen::Plain { mecid: 0, uids: vec![0, 1], weights: vec![19661, 65535], version_key: BITTENSOR_VERSION_KEY }
        );
        // A second submission takes the next nonce from the node.
        let again = client.submit_weights(request(&key(1), &[2], &[1.0])).await.expect("submit");
        assert_eq!(again.nonce, submission.nonce + 1);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_weights_commit_reveal_path_sends_a_timelocked_commit() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_subnet_params(120, 360, 0, true);
        node.set_weights_rate_limit(120, 0);
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let submission = client
            .set_weights_with_confirmation(request(&key(2), &[0, 2], &[0.5, 1.0]), fast_policy(3))
            .await
            .expect("confirmed")
            .submission;
        let WeightsCall::Timelocked { reveal_round } = submission.call else { panic!("commit-reveal is on: {submission:?}") };
        let applied = node.applied_weights();
        let WeightsCallSeen::Timelocked { mecid, commit, reveal_round: seen_round, commit_reveal_version } = &applied[0].call else {
            panic!("{applied:?}")
        };
        assert_eq!((*mecid, *seen_round, *commit_reveal_version), (0, reveal_round, 4));
        let payload = affine::chain::timelock::weights_payload(&hotkey(2), &[0, 2], &[32768, 65535], BITTENSOR_VERSION_KEY);
        assert_eq!(commit.len(), payload.len() + affine::chain::timelock::OVERHEAD);
        assert_eq!(applied[0].error, None);
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_weights_refused_by_the_chain_are_not_confirmed() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_subnet_params(120, 360, u64::MAX, false);
        node.set_weights_rate_limit(120, 0);
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let error = client.set_weights_with_confirmation(request(&key(1), &[0], &[1.0]), fast_policy(2)).await.expect_err("refused");
        assert!(matches!(error, affine::chain::Error::WeightsNotConfirmed { attempts: 2, .. }), "{error}");
        assert!(node.applied_weights().iter().all(|a| a.error == Some("IncorrectWeightVersionKey")));
        let unregistered =
            client.set_weights_with_confirmation(request(&key(42), &[0], &[1.0]), fast_policy(2)).await.expect_err("not registered");
        assert!(matches!(unregistered, affine::chain::Error::NotRegistered { netuid: 120, .. }), "{unregistered}");
        assert!(client.submit_weights(request(&key(1), &[0, 1], &[0.0, 0.0])).await.is_err(), "all-zero weights are refused up front");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_commit_is_finalized_then_revealed_by_the_node() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let beacon = affine::chain::timelock::BeaconPublicKey::from_hex(&node.beacon_public_key_hex()).expect("beacon key");
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let text = affine::chain::commit::commitment_text("carol/m", "abc123", "chute-9");
        client.commit(120, &key(1), &text, &beacon, 1).await.expect("committed");
        // The node reveals due commitments when it produces blocks.
        let revealed = loop {
            client.wait_for_next_block().await.expect("next block");
            let revealed = client.revealed_commitments(120).await.expect("commitments");
            if let Some(list) = revealed.get(&affine::chain::signing::PublicKey(hotkey(1))) {
                break list.clone();
            }
        };
        assert_eq!(revealed.last().map(|c| c.text.as_str()), Some(text.as_str()));
        // A hotkey that is not registered may not commit.
        let refused = client.commit(120, &key(42), &text, &beacon, 1).await.expect_err("not registered");
        assert!(matches!(&refused, affine::chain::Error::Dispatch { pallet, error } if pallet == "Commitments" && error == "AccountNotAllowedCommit"), "{refused}");
    })
    .await
    .expect("test timed out");
}

/// A wallet directory whose hotkey `hot` is `key(seed)` (a plaintext bittensor keyfile).
fn wallet_dir(seed: u8) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let hotkeys = dir.path().join("cold").join("hotkeys");
    std::fs::create_dir_all(&hotkeys).expect("mkdir");
    let keyfile =
        serde_json::json!({"secretSeed": format!("0x{}", hex::encode([seed; 32])), "ss58Address": key(seed).public_key().to_ss58()});
    std::fs::write(hotkeys.join("hot"), keyfile.to_string()).expect("write keyfile");
    dir
}

fn commit_args(dir: &tempfile::TempDir, node: &Node) -> Vec<String> {
    let mut args: Vec<String> =
        ["commit", "--repo", "carol/Affine-9B", "--revision", "0a1b2c", "--chute-id", "chute-é", "--coldkey", "cold", "--hotkey", "hot"]
            .map(str::to_owned)
            .to_vec();
    args.extend(["--wallet.path".to_owned(), dir.path().display().to_string()]);
    args.extend(["--subtensor-endpoint".to_owned(), node.url().to_owned(), "--drand-public-key".to_owned(), node.beacon_public_key_hex()]);
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commit_then_metagraph_shows_the_revealed_commitment() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let dir = wallet_dir(1);
        let output = run_af(commit_args(&dir, &node)).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        assert_eq!(
            String::from_utf8_lossy(&output.stdout),
            "{\"success\": true, \"repo\": \"carol/Affine-9B\", \"revision\": \"0a1b2c\", \"chute_id\": \"chute-\\u00e9\"}\n"
        );
        let expected = r#"{"model": "carol/Affine-9B", "revision": "0a1b2c", "chute_id": "chute-\u00e9"}"#;
        let mut shown = Value::Null;
        for _ in 0..50 {
            let metagraph = run_af(vec!["metagraph".into(), "--json".into(), "--subtensor-endpoint".into(), node.url().into()]).await;
            let document: Value = serde_json::from_slice(&metagraph.stdout).expect("json");
            shown = document["neurons"][0]["commitment"].clone();
            if shown["text"] == expected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(shown["text"], expected, "uid 0's revealed commitment");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commit_dry_run_prints_the_signed_extrinsic_and_sends_nothing() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let dir = wallet_dir(1);
        let mut args = commit_args(&dir, &node);
        args.push("--dry-run".into());
        let output = run_af(args).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(document["dry_run"], true);
        assert_eq!(document["hotkey"], key(1).public_key().to_ss58());
        let extrinsic = document["extrinsic"].as_str().expect("hex");
        // Signed v4 extrinsic carrying Commitments.set_commitment (pallet 18, call 0) for netuid 120.
        assert!(extrinsic.len() > 600, "{extrinsic}");
        assert!(extrinsic.contains("12007800"), "{extrinsic}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let revealed = ChainClient::connect(config(node.url())).await.expect("connect").revealed_commitments(120).await.expect("read");
        assert!(!revealed.contains_key(&affine::chain::signing::PublicKey(hotkey(1))), "a dry run submits nothing");
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chain_commit_over_the_space_limit_is_refused_by_name() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        node.set_max_space(400);
        let beacon = affine::chain::timelock::BeaconPublicKey::from_hex(&node.beacon_public_key_hex()).expect("beacon key");
        let client = ChainClient::connect(config(node.url())).await.expect("connect");
        let text = affine::chain::commit::commitment_text("carol/m", "abc123", "chute-9");
        client.commit(120, &key(3), &text, &beacon, 1).await.expect("first fits");
        let error = client.commit(120, &key(3), &text, &beacon, 1).await.expect_err("second exceeds the epoch's space");
        assert!(
            matches!(&error, affine::chain::Error::Dispatch { pallet, error } if pallet == "Commitments" && error == "SpaceLimitExceeded"),
            "{error}"
        );
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commit_retries_after_space_limit_and_reports_other_refusals() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = seeded_node().await;
        let dir = wallet_dir(2);
        node.fail_next_call("Commitments", "SpaceLimitExceeded");
        let output = run_af(commit_args(&dir, &node)).await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(String::from_utf8_lossy(&output.stdout).starts_with("{\"success\": true"));
        assert!(String::from_utf8_lossy(&output.stderr).contains("retrying after the next block"));

        node.fail_next_call("Commitments", "TooManyFieldsInCommitmentInfo");
        let refused = run_af(commit_args(&dir, &node)).await;
        assert_eq!(refused.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&refused.stdout);
        assert!(stdout.starts_with("{\"success\": false, \"error\": \"failed to commit on netuid 120: the chain refused the extrinsic: Commitments::TooManyFieldsInCommitmentInfo"), "{stdout}");

        let missing = run_af(vec!["commit".into(), "--repo".into(), "r".into(), "--revision".into(), "s".into(), "--chute-id".into(), "c".into(), "--wallet.path".into(), dir.path().join("none").display().to_string()]).await;
        assert_eq!(missing.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&missing.stderr).starts_with("error: failed to load hotkey"), "{}", String::from_utf8_lossy(&missing.stderr));
    })
    .await
    .expect("test timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_commit_node_without_commitments_pallet_names_the_missing_item() {
    tokio::time::timeout(TEST_TIMEOUT, async {
        let node = Node::start(affine::devnet::node::NodeConfig {
            metadata: finney_metadata_without_pallet("Commitments"),
            ..affine::devnet::node::NodeConfig::loopback(5, Duration::from_millis(200))
        })
        .await
        .expect("start the devnet node");
        let dir = wallet_dir(1);
        let output = run_af(commit_args(&dir, &node)).await;
        assert_eq!(output.status.code(), Some(1));
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(stdout.starts_with("{\"success\": false") && stdout.contains("has no Commitments in its metadata"), "{stdout}");
    })
    .await
    .expect("test timed out");
}
