//! `af devnet` as a user runs it: the built binary on free ports, driven through `devnet.env`
//! by the other `af` commands and by the Python bittensor SDK.

use std::collections::BTreeMap;

use affine::model::{Miner as MinerInfo, ResultRecord};
use affine::store::{Store, StoreConfig};
use serde_json::Value;

use crate::support::devnet::DevnetProcess;
use crate::support::run_python;

const NETUID: &str = "120";

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// Scores of `af eval` on `env` for task ids `0..count` against `base_url`.
fn eval_scores(devnet: &DevnetProcess, env: &str, base_url: &str, count: u64) -> (Vec<f64>, Vec<Value>) {
    let python = crate::support::sandbox_python();
    let records = json(&devnet.run(&[
        "eval",
        "--env",
        env,
        "--model",
        "m",
        "--base-url",
        base_url,
        "--task-id",
        &format!("0..{count}"),
        "--python",
        &python.display().to_string(),
        "--json",
    ]));
    let records = records.as_array().expect("an array of records").clone();
    (records.iter().map(|r| r["score"].as_f64().expect("score")).collect(), records)
}

/// The Python SDK at the reference's pinned version against the devnet: the current block,
/// the revealed commitments of the subnet, and a `set_weights` that lands.
const SDK_CHECK: &str = r#"
import json, sys
import bittensor as bt
url, wallets, netuid = sys.argv[1], sys.argv[2], int(sys.argv[3])
st = bt.Subtensor(network=url)
block = st.get_current_block()
commitments = {hotkey: [list(x) for x in entries] for hotkey, entries in st.get_all_revealed_commitments(netuid).items()}
wallet = bt.Wallet(name="validator", hotkey="default", path=wallets)
ok, message = st.set_weights(wallet=wallet, netuid=netuid, uids=[1, 2, 3], weights=[0.5, 0.3, 0.2],
                             wait_for_inclusion=True, wait_for_finalization=False)
weights = {str(uid): pairs for uid, pairs in st.weights(netuid)}
print(json.dumps({"block": block, "commitments": commitments, "set": ok, "message": message,
                  "hotkey": wallet.hotkey.ss58_address, "weights": weights}))
"#;

#[test]
fn devnet_serves_chain_chutes_hub_and_miners_to_af_and_the_python_sdk_and_resumes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = DevnetProcess::start(dir.path(), &["--block-time", "250ms", "--weights-rate-limit", "0"]);

    // The banner lists the validator and the three default miners.
    let accounts = devnet.banner["accounts"].as_array().expect("accounts");
    let roles: Vec<(&str, &str)> =
        accounts.iter().map(|a| (a["role"].as_str().unwrap_or(""), a["policy"].as_str().unwrap_or("-"))).collect();
    assert_eq!(roles, [("validator", "-"), ("miner", "oracle"), ("miner", "random"), ("miner", "copy:1")]);
    let validator_hotkey = accounts[0]["hotkey"].as_str().expect("hotkey").to_owned();
    for name in ["validator", "miner1", "miner2", "miner3"] {
        assert!(dir.path().join("wallets").join(name).join("hotkeys").join("default").is_file(), "{name} wallet");
    }

    // af metagraph: every miner's revealed commitment; the copy committed after the original.
    let metagraph = json(&devnet.run(&["metagraph", "--json"]));
    let neurons = metagraph["neurons"].as_array().expect("neurons");
    assert_eq!(neurons.len(), 4);
    let commit_blocks: Vec<u64> = neurons[1..].iter().map(|n| n["commitment"]["block"].as_u64().expect("revealed commitment")).collect();
    for (neuron, account) in neurons[1..].iter().zip(&accounts[1..]) {
        let text: Value = json(neuron["commitment"]["text"].as_str().expect("text"));
        assert_eq!(text["model"], account["miner"]["model"]);
        assert_eq!(text["revision"], account["miner"]["revision"]);
        assert_eq!(text["chute_id"], account["miner"]["chute_id"]);
    }
    assert!(commit_blocks[2] > commit_blocks[0], "the copy commits later: {commit_blocks:?}");

    // af miners: all three valid, with their inference URLs on the devnet.
    let miners = json(&devnet.run(&["miners", "--json"]));
    assert_eq!(miners["valid"], 3, "{miners}");
    let base_urls: BTreeMap<u64, String> = miners["miners"]
        .as_array()
        .expect("miners")
        .iter()
        .map(|m| (m["uid"].as_u64().expect("uid"), m["base_url"].as_str().expect("base_url").to_owned()))
        .collect();
    assert!(base_urls[&1].starts_with(&devnet.env["AF_INFERENCE_URL_TEMPLATE"].replace("{slug}/v1", "")), "{base_urls:?}");

    // af eval: the oracle solves SAT, ABD and DED; the random miner fails ABD and DED.
    let mut oracle_records = Vec::new();
    for env in ["affine:sat", "affine:abd", "affine:ded"] {
        let (scores, records) = eval_scores(&devnet, env, &base_urls[&1], 3);
        assert_eq!(scores, [1.0, 1.0, 1.0], "oracle on {env}");
        oracle_records.extend(records);
    }
    for env in ["affine:abd", "affine:ded"] {
        let (scores, _) = eval_scores(&devnet, env, &base_urls[&2], 3);
        assert_eq!(scores, [0.0, 0.0, 0.0], "random on {env}");
    }

    // The Python SDK reads the block and the commitments and lands a set_weights.
    let sdk = json(
        run_python(SDK_CHECK, &[devnet.env["SUBTENSOR_ENDPOINT"].as_ref(), devnet.env["BT_WALLET_PATH"].as_ref(), NETUID.as_ref()], "")
            .trim(),
    );
    assert!(sdk["block"].as_u64().expect("block") >= 1000, "{sdk}");
    assert_eq!(sdk["hotkey"], validator_hotkey.as_str());
    assert_eq!(sdk["set"], true, "{sdk}");
    let commitments = sdk["commitments"].as_object().expect("commitments");
    assert_eq!(commitments.len(), 3, "{sdk}");
    assert!(commitments.values().all(|entries| entries[0][1].as_str().is_some_and(|t| t.contains("\"chute_id\""))));
    assert_eq!(sdk["weights"]["0"].as_array().map(Vec::len), Some(3), "the validator's row: {sdk}");

    // af weights -r --set over results stored for every miner lands on chain.
    let store = Store::new(StoreConfig::local(dir.path().join("store"))).expect("store");
    let mut records = Vec::new();
    for (uid, account) in (1_u64..).zip(&accounts[1..]) {
        for record in &oracle_records {
            let mut record: ResultRecord = serde_json::from_value(record.clone()).expect("record");
            record.hotkey.clone_from(&validator_hotkey);
            record.miner = Some(MinerInfo {
                uid: i64::try_from(uid).expect("small"),
                hotkey: account["hotkey"].as_str().expect("hotkey").to_owned(),
                model: account["miner"]["model"].as_str().map(str::to_owned),
                revision: account["miner"]["revision"].as_str().map(str::to_owned),
                block: commit_blocks.get(usize::try_from(uid - 1).expect("small")).map(|b| i64::try_from(*b).expect("small")),
                chute: None,
                slug: account["miner"]["slug"].as_str().map(str::to_owned),
                weights_shas: None,
                other: serde_json::Map::new(),
            });
            records.push(record);
        }
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let block = metagraph["block"].as_u64().expect("block");
    runtime.block_on(affine::store::writer::write_results(&store, block, &validator_hotkey, &records)).expect("write results");
    let set = json(&devnet.run(&["weights", "-r", "--set", "--json"]));
    assert_eq!(set["set_weights"]["success"], true, "{set}");
    let after = json(&devnet.run(&["metagraph", "--json"]));
    let last_update = after["neurons"][0]["last_update"].as_u64().expect("last_update");
    assert!(last_update > block, "LastUpdate {last_update} after the set (records at {block})");

    // SIGTERM stops everything and saves the chain; the same --dir resumes it.
    let node_url = devnet.env["SUBTENSOR_ENDPOINT"].clone();
    let (code, stderr) = devnet.terminate();
    assert_eq!(code, Some(0), "{stderr}");
    let port: u16 = node_url.rsplit(':').next().and_then(|p| p.parse().ok()).expect("port");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err(), "the node's port is closed after exit");
    assert!(dir.path().join("chain.json").is_file());

    let resumed = DevnetProcess::start(dir.path(), &["--block-time", "250ms", "--weights-rate-limit", "0"]);
    assert_eq!(resumed.banner["resumed"], true);
    let again = json(&resumed.run(&["metagraph", "--json"]));
    assert!(again["block"].as_u64().expect("block") >= after["block"].as_u64().expect("block"), "block height kept");
    assert_eq!(again["neurons"][0]["last_update"].as_u64(), Some(last_update), "the weight set is kept");
    assert_eq!(again["neurons"][3]["commitment"], after["neurons"][3]["commitment"], "commitments kept");
    let (code, stderr) = resumed.terminate();
    assert_eq!(code, Some(0), "{stderr}");
}

fn devnet_error(args: &[&str], dir: &std::path::Path) -> (Option<i32>, String) {
    let port: &[&str] = if args.contains(&"--port") { &[] } else { &["--port", "0"] };
    let output = crate::support::af().args(["devnet", "--dir"]).arg(dir).args(port).args(args).output().expect("run af devnet");
    (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
}

#[test]
fn devnet_bad_input_is_one_line_exit_2_and_starts_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = taken.local_addr().expect("address").port().to_string();
    let file = dir.path().join("a-file");
    std::fs::write(&file, "not a directory").expect("write");
    for (args, target, says) in [
        (vec!["--miners", "oracle,wizard"], dir.path().join("a"), "unknown miner policy"),
        (vec!["--miners", "oracle,copy:5"], dir.path().join("b"), "does not exist"),
        (vec!["--port", port.as_str()], dir.path().join("c"), port.as_str()),
        (vec![], file.join("sub"), "cannot use devnet directory"),
    ] {
        let (code, stderr) = devnet_error(&args, &target);
        assert_eq!(code, Some(2), "{args:?}: {stderr}");
        assert_eq!(stderr.trim().lines().filter(|l| l.starts_with("error")).count(), 1, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
    }
    // A corrupt saved chain is an error with the way out, never a silent reset.
    let corrupt = dir.path().join("corrupt");
    std::fs::create_dir_all(&corrupt).expect("mkdir");
    std::fs::write(corrupt.join("chain.json"), "{not json").expect("write");
    let (code, stderr) = devnet_error(&[], &corrupt);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("corrupt") && stderr.contains("--fresh"), "{stderr}");
    assert_eq!(std::fs::read_to_string(corrupt.join("chain.json")).expect("kept"), "{not json");
}
