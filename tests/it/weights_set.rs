//! `af weights -r --set` end to end: the built binary recomputes weights from moto's S3 and
//! sets them on the local subtensor node (tests/it/support/subtensor.rs) with a wallet on disk.
//!
//! The store holds the golden `tiny-all-eligible` records, merged into one shard and with the
//! placeholder miner hotkeys replaced by real SS58 addresses, so the chain can hold the same
//! hotkeys by uid.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use affine::chain::signing::Keypair;
use affine::store::Precondition;
use affine::store::replay::MetagraphSnapshot;
use affine::store::writer::index_add;
use serde_json::Value;

use crate::support::moto::Moto;
use crate::support::{af, unpack_scorer_case};
use affine::devnet::node::Node;

const TIMEOUT: Duration = Duration::from_secs(120);
const NETUID: u16 = 120;
/// Seed of the validator's hotkey (the wallet's `hot`).
const VALIDATOR_SEED: u8 = 7;

fn key(seed: u8) -> Keypair {
    Keypair::from_seed(&[seed; 32]).expect("seed")
}

fn miner_key(uid: usize) -> Keypair {
    key(100 + u8::try_from(uid).expect("few miners"))
}

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// The store and snapshot the tests score: returns the temp dir, the snapshot path and the
/// number of miner uids.
async fn fixture(moto: &Moto, bucket: &str) -> (tempfile::TempDir, PathBuf, usize) {
    let (temp, case) = unpack_scorer_case("tiny-all-eligible");
    let snapshot = MetagraphSnapshot::load(&case).expect("snapshot");
    let mut records: Vec<Value> = Vec::new();
    for entry in std::fs::read_dir(case.join("results")).expect("results") {
        let bytes = std::fs::read(entry.expect("entry").path()).expect("read shard");
        let shard: Vec<Value> = serde_json::from_slice(&bytes).expect("shard json");
        records.extend(shard);
    }
    let mut shard_text = serde_json::to_string(&records).expect("json");
    let mut metagraph_text = std::fs::read_to_string(case.join("metagraph.json")).expect("metagraph");
    for (uid, placeholder) in snapshot.hotkeys.iter().enumerate() {
        let real = miner_key(uid).public_key().to_ss58();
        shard_text = shard_text.replace(placeholder.as_str(), &real);
        metagraph_text = metagraph_text.replace(placeholder.as_str(), &real);
    }
    let window = snapshot.block / 20 * 20 - 20;
    let key = affine::store::keys::shard_key(window, "5Validatorvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv");
    let store = moto.store(bucket);
    store.writer().expect("writable").put(&key, shard_text.into_bytes(), Precondition::None).await.expect("upload shard");
    index_add(&store, std::slice::from_ref(&key)).await.expect("index");
    let path = temp.path().join("metagraph-real.json");
    std::fs::write(&path, metagraph_text).expect("write snapshot");
    (temp, path, snapshot.hotkeys.len())
}

/// A wallet directory whose `cold/hotkeys/hot` is the validator key (plaintext keyfile).
fn wallet_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let hotkeys = dir.path().join("cold").join("hotkeys");
    std::fs::create_dir_all(&hotkeys).expect("mkdir");
    let keyfile = serde_json::json!({
        "secretSeed": format!("0x{}", hex::encode([VALIDATOR_SEED; 32])),
        "ss58Address": key(VALIDATOR_SEED).public_key().to_ss58(),
    });
    std::fs::write(hotkeys.join("hot"), keyfile.to_string()).expect("write keyfile");
    dir
}

/// A node whose netuid 120 holds the snapshot's miners by uid, then the validator (last uid)
/// unless `validator` is false.
async fn node(miners: usize, validator: bool) -> Node {
    let node = Node::start_loopback(30, Duration::from_millis(200)).await.expect("start the devnet node");
    let mut neurons: Vec<([u8; 32], u64, bool)> = (0..miners).map(|uid| (miner_key(uid).public_key().0, 1, false)).collect();
    if validator {
        neurons.push((key(VALIDATOR_SEED).public_key().0, 1, true));
    }
    node.set_neurons(NETUID, &neurons);
    node.set_weights_rate_limit(NETUID, 0);
    node
}

struct Run {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn document(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("{e}: stdout {} stderr {}", self.stdout, self.stderr))
    }
}

/// Runs `af weights -r --set --json` against `node` and moto's `bucket`.
async fn run_set(moto: &Moto, bucket: &str, metagraph: &std::path::Path, node: &Node, extra: &[(&str, &str)], flags: &[&str]) -> Run {
    let wallet = wallet_dir();
    let cache = tempfile::tempdir().expect("cache dir");
    let mut command = af();
    command
        .args(["weights", "-r", "--set", "--json", "--wallet.name", "cold", "--wallet.hotkey", "hot", "--metagraph"])
        .arg(metagraph)
        .arg("--wallet.path")
        .arg(wallet.path())
        .args(["--subtensor-endpoint", node.url()])
        .args(flags)
        .env("R2_ENDPOINT_URL", moto.url())
        .env("R2_FOLDER", bucket)
        .env("R2_WRITE_ACCESS_KEY_ID", "testing")
        .env("R2_WRITE_SECRET_ACCESS_KEY", "testing")
        .env("AF_NO_PUBLIC_FALLBACK", "1")
        .env("AFFINE_CACHE_DIR", cache.path())
        .env("AF_DRAND_PUBLIC_KEY", node.beacon_public_key_hex())
        .env("SIGNER_RETRY_DELAY", "0.1");
    for (name, value) in extra {
        command.env(name, value);
    }
    let output = tokio::task::spawn_blocking(move || command.output().expect("run af")).await.expect("join");
    drop((wallet, cache));
    Run {
        code: output.status.code(),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// What plain mode sets for the recomputed float vector: bittensor's u16 normalisation.
fn expected_u16(document: &Value) -> (Vec<u16>, Vec<u16>) {
    let uids: Vec<u16> = serde_json::from_value(document["uids"].clone()).expect("uids");
    let weights: Vec<f64> = serde_json::from_value(document["weights"].clone()).expect("weights");
    affine::chain::weights::normalize(&uids, &weights).expect("normalisable")
}

fn sent(report: &Value) -> (Vec<u16>, Vec<u16>) {
    (serde_json::from_value(report["uids"].clone()).expect("uids"), serde_json::from_value(report["weights"].clone()).expect("weights"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_weights_set_plain_dry_run_safety_checks_and_retries() {
    let moto = Moto::start();
    let bucket = unique("setw");
    tokio::time::timeout(TIMEOUT, async {
        let (_temp, metagraph, miners) = fixture(&moto, &bucket).await;
        let validator_uid = u16::try_from(miners).expect("small");

        // --dry-run: the call is built, nothing is signed or sent.
        let plain = node(miners, true).await;
        plain.set_subnet_params(NETUID, 360, 0, false);
        let dry = run_set(&moto, &bucket, &metagraph, &plain, &[], &["--dry-run"]).await;
        assert_eq!(dry.code, Some(0), "{}", dry.stderr);
        let document = dry.document();
        let report = &document["set_weights"];
        assert_eq!((report["dry_run"].as_bool(), report["success"].as_bool()), (Some(true), Some(false)), "{report}");
        assert_eq!((report["call"].as_str(), report["mode"].as_str()), (Some("set_mechanism_weights"), Some("plain")));
        let expected = expected_u16(&document);
        assert!(expected.0.len() >= 2, "a weight vector worth setting: {expected:?}");
        assert_eq!(sent(report), expected);
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert!(plain.applied_weights().is_empty(), "a dry run sends nothing");

        // Plain path with the default confirmation (3 blocks): Weights and LastUpdate updated.
        let started = std::time::Instant::now();
        let set = run_set(&moto, &bucket, &metagraph, &plain, &[], &[]).await;
        let wall = started.elapsed();
        assert_eq!(set.code, Some(0), "{}", set.stderr);
        let document = set.document();
        let report = &document["set_weights"];
        assert_eq!((report["success"].as_bool(), report["mode"].as_str(), report["attempts"].as_u64()), (Some(true), Some("plain"), Some(1)));
        assert_eq!(report["netuid"], NETUID);
        assert_eq!(report["version_key"], affine::chain::submit::BITTENSOR_VERSION_KEY);
        assert!(report.get("reveal_round").is_none(), "{report}");
        assert_eq!(sent(report), expected);
        let block = report["block"].as_u64().expect("confirmed block");
        assert!(plain.last_update(NETUID)[usize::from(validator_uid)] >= block, "{:?} vs {block}", plain.last_update(NETUID));
        let pairs: Vec<(u16, u16)> = expected.0.iter().copied().zip(expected.1.iter().copied()).collect();
        assert_eq!(plain.weights(NETUID).get(&validator_uid), Some(&pairs));
        eprintln!(
            "figures: af weights -r --set (plain, 200 ms blocks, CONFIRMATION_BLOCKS=3): {:.2} s to confirmed (set step), {:.2?} process wall",
            report["elapsed_secs"].as_f64().unwrap_or_default(),
            wall
        );

        // The chain refuses the call twice (dispatch errors): the third attempt confirms.
        plain.fail_next_call("SubtensorModule", "SettingWeightsTooFast");
        plain.fail_next_call("SubtensorModule", "SettingWeightsTooFast");
        let retried = run_set(&moto, &bucket, &metagraph, &plain, &[("CONFIRMATION_BLOCKS", "2")], &[]).await;
        assert_eq!(retried.code, Some(0), "{}", retried.stderr);
        assert_eq!(retried.document()["set_weights"]["attempts"], 3, "{}", retried.stdout);
        // Forced failures fail the dispatch before the pallet runs: only the third call applied.
        let applied: Vec<Option<&str>> = plain.applied_weights().iter().map(|applied| applied.error).collect();
        assert_eq!(applied, vec![None, None], "the first set and the retried one");
        assert!(retried.stderr.contains("weights not confirmed yet"), "{}", retried.stderr);

        // The pool refuses every submission: SIGNER_RETRIES attempts, then exit 1 with the last error.
        plain.refuse_next_submissions(1000);
        let exhausted = run_set(&moto, &bucket, &metagraph, &plain, &[("SIGNER_RETRIES", "2"), ("CONFIRMATION_BLOCKS", "1")], &[]).await;
        assert_eq!(exhausted.code, Some(1), "{}", exhausted.stderr);
        assert!(exhausted.stderr.contains("error: failed to set weights on netuid 120"), "{}", exhausted.stderr);
        assert!(exhausted.stderr.contains("weights not confirmed after 2 attempts (last error:"), "{}", exhausted.stderr);
        assert!(exhausted.stderr.contains("Priority is too low"), "{}", exhausted.stderr);
        let report = exhausted.document()["set_weights"].clone();
        assert_eq!((report["success"].as_bool(), report["attempts"].as_u64()), (Some(false), Some(2)), "{report}");
        assert_eq!(plain.applied_weights().len(), 2, "nothing more was included");

        // Within the subnet's rate limit since the last update: no attempt is sent.
        plain.refuse_next_submissions(0);
        plain.set_weights_rate_limit(NETUID, 10_000);
        let early = run_set(&moto, &bucket, &metagraph, &plain, &[("SIGNER_RETRIES", "2")], &[]).await;
        assert_eq!(early.code, Some(1), "{}", early.stderr);
        assert!(early.stderr.contains("(last error: too soon: "), "{}", early.stderr);
        assert_eq!(plain.applied_weights().len(), 2, "nothing sent while rate limited");

        // A weighted uid that belongs to another hotkey on chain: refused before signing.
        let stale = node(miners, true).await;
        stale.set_subnet_params(NETUID, 360, 0, false);
        let mut neurons: Vec<([u8; 32], u64, bool)> = (0..miners).map(|uid| (miner_key(uid).public_key().0, 1, false)).collect();
        neurons[usize::from(expected.0[0])].0 = key(99).public_key().0;
        neurons.push((key(VALIDATOR_SEED).public_key().0, 1, true));
        stale.set_neurons(NETUID, &neurons);
        let refused = run_set(&moto, &bucket, &metagraph, &stale, &[], &[]).await;
        assert_eq!(refused.code, Some(1), "{}", refused.stderr);
        let line = format!("error: refusing to set weights: uid {} is hotkey {} on chain", expected.0[0], key(99).public_key().to_ss58());
        assert!(refused.stderr.starts_with(&line), "{}", refused.stderr);
        assert!(stale.applied_weights().is_empty());

        // The wallet's hotkey has no uid on the subnet.
        let unregistered = node(miners, false).await;
        let outsider = run_set(&moto, &bucket, &metagraph, &unregistered, &[], &[]).await;
        assert_eq!(outsider.code, Some(2), "{}", outsider.stderr);
        assert!(
            outsider.stderr.contains(&format!("hotkey {} is not registered on netuid 120", key(VALIDATOR_SEED).public_key().to_ss58())),
            "{}",
            outsider.stderr
        );
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_weights_set_commit_reveal_is_revealed_to_the_plain_values() {
    let moto = Moto::start();
    let bucket = unique("setcr");
    tokio::time::timeout(TIMEOUT, async {
        let (_temp, metagraph, miners) = fixture(&moto, &bucket).await;
        let validator_uid = u16::try_from(miners).expect("small");
        let node = node(miners, true).await;
        // Epochs of 11 blocks (2.2 s); the test beacon runs far enough ahead to have the round.
        node.set_subnet_params(NETUID, 10, 0, true);
        node.set_drand_lead_rounds(400);
        let set = run_set(&moto, &bucket, &metagraph, &node, &[("CONFIRMATION_BLOCKS", "2")], &[]).await;
        assert_eq!(set.code, Some(0), "{}", set.stderr);
        let document = set.document();
        let report = &document["set_weights"];
        assert_eq!(
            (report["success"].as_bool(), report["mode"].as_str(), report["call"].as_str()),
            (Some(true), Some("timelocked"), Some("commit_timelocked_mechanism_weights"))
        );
        let reveal_round = report["reveal_round"].as_u64().expect("reveal round");
        let expected = expected_u16(&document);
        assert_eq!(sent(report), expected);
        let waiting = std::time::Instant::now();
        let revealed = loop {
            if let Some(revealed) = node.revealed_weights().first().cloned() {
                break revealed;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        eprintln!(
            "figures: af weights -r --set (timelocked, 200 ms blocks, tempo 10, CONFIRMATION_BLOCKS=2): {:.2} s to confirmed, revealed {:.2?} after exit",
            report["elapsed_secs"].as_f64().unwrap_or_default(),
            waiting.elapsed()
        );
        assert_eq!(revealed.error, None, "{revealed:?}");
        assert_eq!(revealed.hotkey, key(VALIDATOR_SEED).public_key().0);
        assert_eq!((revealed.uids.clone(), revealed.weights.clone()), expected, "revealed values are what plain mode sets");
        assert_eq!(revealed.version_key, affine::chain::submit::BITTENSOR_VERSION_KEY);
        let pairs: Vec<(u16, u16)> = expected.0.iter().copied().zip(expected.1.iter().copied()).collect();
        assert_eq!(node.weights(NETUID).get(&validator_uid), Some(&pairs));
        let applied = node.applied_weights();
        let affine::devnet::node::WeightsCallSeen::Timelocked { reveal_round: affine_round, .. } = applied[0].call else {
            panic!("commit-reveal is on: {applied:?}")
        };
        assert_eq!(affine_round, reveal_round);
    })
    .await
    .expect("timed out");
}

#[test]
fn cli_weights_set_bad_signer_settings_and_misuse_exit_2() {
    for (name, value) in [("SIGNER_RETRIES", "0"), ("SIGNER_RETRY_DELAY", "soon"), ("CONFIRMATION_BLOCKS", "-1")] {
        let output = af()
            .args(["weights", "-r", "--set", "--metagraph", "m.json", "--store-dir", "s", "--wallet.path", "w"])
            .env(name, value)
            .output()
            .expect("run af");
        assert_eq!(output.status.code(), Some(2), "{name}={value}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.starts_with("error: ") && stderr.contains(name) && stderr.contains(value), "{stderr}");
        assert_eq!(stderr.lines().filter(|line| line.starts_with("error:")).count(), 1, "{stderr}");
    }
    let output = af().args(["weights", "--set"]).output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--set applies to -r"), "{}", String::from_utf8_lossy(&output.stderr));
}
