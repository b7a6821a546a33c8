//! `af weights -r` without `--metagraph`: the metagraph, the queryable miners and the
//! commitment blocks come from the chain (the local subtensor node, Chutes and Hub servers), the
//! records from a local store.
//!
//! The golden `tiny-all-eligible` case is moved onto the test chain: every block number in it
//! (the scored block, the shard windows, the records' commitment blocks and the first-commit
//! blocks) is lowered by the same multiple of 20, which keeps every window and every comparison,
//! and its placeholder hotkeys become real keys registered on the node with matching
//! commitments. Scoring from the chain must then give the reference's weights.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use affine::chain::signing::Keypair;
use affine::store::Store;
use affine::store::config::StoreConfig;
use affine::store::replay::MetagraphSnapshot;
use affine::store::writer::index_add;
use serde_json::{Value, json};

use crate::support::chutes_server::{ChutesServer, ChutesUser, chute_fixture};
use crate::support::hub_server::{HubFile, HubRepo, HubServer};
use crate::support::{af, unpack_scorer_case};
use affine::devnet::node::Node;

const TIMEOUT: Duration = Duration::from_secs(120);
const NETUID: u16 = 120;
const REV: &str = "3333333333333333333333333333333333333333";
/// The golden case's scored block 7,002,201 becomes 40,201: a chain with 40,201 blocks, one
/// block a second so the scored windows stay put while `af` runs.
const SHIFT: i64 = 6_962_000;
const CHAIN_HEAD: u64 = 40_201;

fn miner_key(uid: usize) -> Keypair {
    Keypair::from_seed(&[150 + u8::try_from(uid).expect("few miners"); 32]).expect("seed")
}

/// Lowers every block number of a record by [`SHIFT`].
fn shift_record(record: &mut Value) {
    if let Some(block) = record["miner"]["block"].as_i64() {
        record["miner"]["block"] = json!(block - SHIFT);
    }
}

struct World {
    _temp: tempfile::TempDir,
    store_dir: std::path::PathBuf,
    node: Node,
    chutes: ChutesServer,
    hub: HubServer,
    /// Placeholder hotkey -> real SS58, by uid.
    hotkeys: Vec<String>,
    golden_first_block: BTreeMap<String, i64>,
    expected: Value,
}

/// The golden case on the test chain, plus uid 4: registered, committed, but its chute is cold
/// (not queryable) and it has no records.
async fn world() -> World {
    let (temp, case) = unpack_scorer_case("tiny-all-eligible");
    let golden = MetagraphSnapshot::load(&case).expect("golden snapshot");
    let expected: Value = serde_json::from_slice(&std::fs::read(case.join("expected.json")).expect("expected")).expect("json");
    let real: Vec<String> = (0..golden.hotkeys.len()).map(|uid| miner_key(uid).public_key().to_ss58()).collect();
    let rename = |text: String| golden.hotkeys.iter().zip(&real).fold(text, |text, (placeholder, real)| text.replace(placeholder, real));

    // The store: every shard under its window lowered by SHIFT, records' blocks lowered too.
    let store_dir = temp.path().join("store");
    let store = Store::new(StoreConfig::local(store_dir.clone())).expect("local store");
    let mut keys = Vec::new();
    for entry in std::fs::read_dir(case.join("results")).expect("results") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("shard name").to_owned();
        let (window, validator) = name.trim_end_matches(".json").split_once('-').expect("WWWWWWWWW-VALIDATOR.json");
        let window: i64 = window.parse().expect("window");
        let mut records: Vec<Value> =
            serde_json::from_str(&rename(std::fs::read_to_string(&path).expect("read shard"))).expect("shard json");
        records.iter_mut().for_each(shift_record);
        let key = affine::store::keys::shard_key(u64::try_from(window - SHIFT).expect("positive window"), validator);
        let bytes = serde_json::to_vec(&records).expect("json");
        store.writer().expect("writable").put(&key, bytes, affine::store::Precondition::None).await.expect("write shard");
        keys.push(key);
    }
    index_add(&store, &keys).await.expect("index");

    // The chain: the golden hotkeys by uid, each with a commitment at its (shifted) first block.
    let node = Node::start_loopback(CHAIN_HEAD, Duration::from_secs(1)).await.expect("start the devnet node");
    let mut neurons: Vec<([u8; 32], u64, bool)> = (0..=golden.hotkeys.len()).map(|uid| (miner_key(uid).public_key().0, 1, false)).collect();
    neurons[0].2 = true;
    node.set_neurons(NETUID, &neurons);
    let user = ChutesUser { user_id: "user-w".into(), username: "w".into(), api_key: None, hotkey: None, balance: 0.0 };
    let mut chutes = Vec::new();
    let mut repos = Vec::new();
    for uid in 0..=golden.hotkeys.len() {
        let model = format!("w/affine-model-{uid}");
        let chute_id = format!("chute-{uid}");
        let block = golden
            .hotkeys
            .get(uid)
            .and_then(|h| golden.first_commit_block.get(h))
            .map_or(39_000, |b| u64::try_from(b - SHIFT).unwrap_or(39_000));
        let text = json!({"model": model, "revision": REV, "chute_id": chute_id}).to_string();
        node.push_revealed_commitment(NETUID, miner_key(uid).public_key().0, &text, block);
        let hot = uid < golden.hotkeys.len();
        chutes.push((user.user_id.clone(), chute_fixture(&chute_id, &model, &user, Some(REV), hot)));
        let weights = HubFile::new("model.safetensors", vec![u8::try_from(uid).expect("small"); 2048], true);
        repos.push(HubRepo { id: model, commit: REV.to_owned(), gated: false, private: false, files: vec![weights] });
    }
    let chutes = ChutesServer::start(vec![user], chutes).await;
    let hub = HubServer::start(repos).await;
    let golden_first_block = golden.first_commit_block.iter().map(|(hotkey, block)| (rename(hotkey.clone()), *block)).collect();
    World { _temp: temp, store_dir, node, chutes, hub, hotkeys: real, golden_first_block, expected }
}

fn run(world: &World, extra: &[&str], snapshot_out: Option<&Path>) -> std::process::Output {
    let mut command = af();
    command
        .args(["weights", "-r", "--json", "--store-dir"])
        .arg(&world.store_dir)
        .args(["--subtensor-endpoint", world.node.url(), "--chutes-api-url", world.chutes.url(), "--hf-endpoint", world.hub.url()])
        .args(extra);
    if let Some(path) = snapshot_out {
        command.arg("--save-metagraph").arg(path);
    }
    command.output().expect("run af")
}

fn weights_by_uid(document: &Value) -> BTreeMap<u64, f64> {
    let uids = document["uids"].as_array().expect("uids");
    let weights = document["weights"].as_array().expect("weights");
    uids.iter().zip(weights).map(|(uid, weight)| (uid.as_u64().expect("uid"), weight.as_f64().expect("weight"))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_weights_recompute_reads_metagraph_queryable_and_first_blocks_from_the_chain() {
    tokio::time::timeout(TIMEOUT, async {
        let world = world().await;
        let out = tempfile::tempdir().expect("tempdir");
        let snapshot_path = out.path().join("metagraph.json");
        let world = std::sync::Arc::new(world);
        let task_world = world.clone();
        let task_path = snapshot_path.clone();
        let output = tokio::task::spawn_blocking(move || run(&task_world, &[], Some(&task_path))).await.expect("join");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let document: Value = serde_json::from_slice(&output.stdout).expect("one JSON document");

        // The reference's weights, from the chain's view.
        let weights = weights_by_uid(&document);
        for (uid, want) in world.expected["weights"].as_object().expect("expected weights") {
            let uid: u64 = uid.parse().expect("uid");
            let got = weights.get(&uid).copied().unwrap_or(0.0);
            assert!((got - want.as_f64().expect("weight")).abs() < 1e-9, "uid {uid}: {got} vs {want}; {weights:?}");
        }
        assert!(weights.get(&4).copied().unwrap_or(0.0).abs() < 1e-12, "uid 4 has no records");

        // The snapshot scored against: hotkeys by uid, the hot miners queryable, uid 4 not, and the
        // commitment blocks (uid 0's as 0).
        let snapshot = MetagraphSnapshot::load_file(&snapshot_path).expect("snapshot written");
        assert_eq!(snapshot.netuid, Some(NETUID));
        assert!((CHAIN_HEAD..CHAIN_HEAD + 19).contains(&snapshot.block), "block {}", snapshot.block);
        assert_eq!(snapshot.tail, 40_000);
        let mut hotkeys = world.hotkeys.clone();
        hotkeys.push(miner_key(4).public_key().to_ss58());
        assert_eq!(snapshot.hotkeys, hotkeys);
        let mut queryable = world.hotkeys.clone();
        queryable.sort();
        let mut got_queryable = snapshot.queryable.clone();
        got_queryable.sort();
        assert_eq!(got_queryable, queryable, "the four hot miners, not uid 4");
        for (hotkey, golden) in &world.golden_first_block {
            let want = if *golden == 0 { 0 } else { golden - SHIFT };
            assert_eq!(snapshot.first_commit_block.get(hotkey), Some(&want), "{hotkey}");
        }
        assert_eq!(snapshot.first_commit_block.get(&hotkeys[4]), Some(&39_000));

        // The same pass from the written snapshot gives the same weights.
        let task_world = world.clone();
        let again = tokio::task::spawn_blocking(move || {
            let mut command = af();
            command.args(["weights", "-r", "--json", "--store-dir"]).arg(&task_world.store_dir).arg("--metagraph").arg(&snapshot_path);
            command.output().expect("run af")
        })
        .await
        .expect("join");
        assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
        let replayed: Value = serde_json::from_slice(&again.stdout).expect("json");
        assert_eq!(weights_by_uid(&replayed), weights);
    })
    .await
    .expect("timed out");
}

/// An unreachable node is one clear error, exit 1; `--save-metagraph` with `--metagraph` is a
/// usage error, exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_weights_recompute_from_chain_errors() {
    let dir = tempfile::tempdir().expect("tempdir");
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let closed = format!("ws://{}", listener.local_addr().expect("addr"));
    drop(listener);
    let output = af()
        .args(["weights", "-r", "--store-dir"])
        .arg(dir.path())
        .args(["--subtensor-endpoint", &closed, "--chain-timeout", "5"])
        .output()
        .expect("run af");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: failed to discover the miners") || stderr.contains("subtensor"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = af()
        .args(["weights", "-r", "--metagraph", "m.json", "--save-metagraph", "o.json", "--store-dir"])
        .arg(dir.path())
        .output()
        .expect("run af");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--save-metagraph"));
}
