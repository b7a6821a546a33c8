//! `af validate` as an operator runs it: the built binary against `af devnet` (a short interval,
//! 250 ms blocks), with `af signer` and moto's S3 as child processes, results put into the
//! store with the library writer.
//!
//! One test per scenario group: two tempos end to end through the signer (with a boundary
//! skipped on purpose), the signer unreachable and the signer answering an error, the watchdog
//! and bad start-up input, and R2-weights mode.

use std::collections::BTreeMap;
use std::time::Duration;

use affine::model::ResultRecord;
use affine::store::{Fetched, Store, StoreConfig};
use serde_json::{Value, json};

use crate::support::devnet::DevnetProcess;
use crate::support::moto::Moto;
use crate::support::service::{Service, devnet_rpc, listening_address};

/// Blocks between weight sets in these tests (2.5 s at 250 ms blocks).
const INTERVAL: u64 = 10;
const LONG: Duration = Duration::from_secs(60);

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A devnet with 250 ms blocks and a weights rate limit well inside the interval.
fn devnet(dir: &std::path::Path) -> DevnetProcess {
    DevnetProcess::start(dir, &["--block-time", "250ms", "--tempo", "10", "--weights-rate-limit", "2"])
}

/// An empty result index in the devnet's local store (a store that has never had results).
fn empty_store(devnet: &DevnetProcess) {
    let index = std::path::Path::new(&devnet.env["AF_STORE_DIR"]).join("affine").join("index.json");
    std::fs::create_dir_all(index.parent().expect("parent")).expect("mkdir");
    std::fs::write(index, "[]").expect("write the index");
}

/// `af validate` with the devnet's settings, short retries and `extra` variables.
fn validate(devnet: &DevnetProcess, name: &str, extra: &[(&str, &str)], args: &[&str]) -> Service {
    let mut command = devnet.af();
    command
        .args(["-v", "validate", "--json"])
        .args(args)
        .env("WEIGHT_SET_INTERVAL_BLOCKS", INTERVAL.to_string())
        .env("CONFIRMATION_BLOCKS", "1")
        .env("SIGNER_RETRY_DELAY", "0.2")
        .env("SIGNER_RETRIES", "3")
        .env("AF_CHAIN_TIMEOUT", "5")
        .env("AF_STOP_GRACE", "20");
    for (key, value) in extra {
        command.env(key, value);
    }
    Service::spawn(name, command)
}

/// `af signer` on a free loopback port with the devnet's wallet; returns it and its URL.
fn signer(devnet: &DevnetProcess, args: &[&str], extra: &[(&str, &str)]) -> (Service, String) {
    let mut command = devnet.af();
    command.args(["-v", "signer", "--port", "0"]).args(args).env("CONFIRMATION_BLOCKS", "1").env("SIGNER_RETRY_DELAY", "0.2");
    for (key, value) in extra {
        command.env(key, value);
    }
    let mut service = Service::spawn("af signer", command);
    let address = service.wait_for("the listening address", LONG, |s| listening_address(&s.stderr()));
    (service, format!("http://{address}"))
}

/// A URL on loopback where nothing listens.
fn closed_url() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// The first tempo document on stdout that `accept` matches.
fn tempo(service: &mut Service, what: &str, accept: impl Fn(&Value) -> bool) -> Value {
    service.wait_for(what, LONG, |s| s.documents().into_iter().find(|d| accept(d)))
}

fn last_update(devnet: &DevnetProcess, uid: usize) -> u64 {
    json_of(&devnet.run(&["metagraph", "--json"]))["neurons"][uid]["last_update"].as_u64().expect("last_update")
}

/// Results that make the devnet's miners 1 and 2 eligible (enough samples in every
/// environment), miner 1 always right, miner 2 right half the time.
fn eligible_records(devnet: &DevnetProcess, validator: &str) -> Vec<ResultRecord> {
    let miners = json_of(&devnet.run(&["miners", "--json"]));
    let mut records = Vec::new();
    for miner in miners["miners"].as_array().expect("miners").iter().filter(|m| matches!(m["uid"].as_u64(), Some(1 | 2))) {
        let uid = miner["uid"].as_u64().expect("uid");
        for env in affine::environments::ENVIRONMENTS {
            for task_id in env.task_start..env.task_start + env.dataset_size().min(400) {
                let right = uid == 1 || task_id % 2 == 0;
                let score = if right { env.score_range.1 } else { env.score_range.0 };
                records.push(
                    serde_json::from_value(json!({
                        "version": "1", "signature": "", "hotkey": validator,
                        "miner": {"uid": uid, "hotkey": miner["hotkey"], "model": miner["model"], "revision": miner["revision"],
                                  "block": miner["block"], "chute": null, "slug": miner["slug"], "weights_shas": null},
                        "env": env.id, "score": score, "latency_seconds": 1.0, "success": true, "error": null,
                        "task_id": task_id, "extra": {}, "timestamp": 1_763_000_000.0,
                    }))
                    .expect("record"),
                );
            }
        }
    }
    records
}

#[test]
fn validate_sets_two_tempos_through_the_signer_and_a_skipped_boundary_still_sets() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = devnet(dir.path());
    let validator_hotkey = devnet.banner["accounts"][0]["hotkey"].as_str().expect("hotkey").to_owned();
    let bucket = format!("validate-{}", std::process::id());
    let s3 = moto.bucket(&bucket);
    let store = Store::new(StoreConfig::s3(s3.clone())).expect("store");
    let head = json_of(&devnet.run(&["metagraph", "--json"]))["block"].as_u64().expect("block");
    let records = eligible_records(&devnet, &validator_hotkey);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(affine::store::writer::write_results(&store, head, &validator_hotkey, &records)).expect("write results");
    let store_env: Vec<(&str, &str)> = vec![
        ("R2_ENDPOINT_URL", moto.url()),
        ("R2_FOLDER", bucket.as_str()),
        ("R2_WRITE_ACCESS_KEY_ID", "testing"),
        ("R2_WRITE_SECRET_ACCESS_KEY", "testing"),
    ];

    let (mut signer, signer_url) = signer(&devnet, &[], &[]);
    let mut env = store_env.clone();
    env.push(("SIGNER_URL", signer_url.as_str()));
    let mut validator = validate(&devnet, "af validate", &env, &[]);

    // Tempo 1: at start (LastUpdate is far behind), through the signer.
    let first = tempo(&mut validator, "a confirmed tempo", |d| d["result"] == "confirmed");
    assert_eq!(first["route"], "signer", "{first}");
    assert_eq!(first["fell_back"], false, "{first}");
    assert!(first["confirmed_block"].as_u64().expect("confirmed") >= first["boundary"].as_u64().expect("boundary"), "{first}");

    // The next boundary is skipped: the chain is paused and mined past it in one go.
    let paused_at = devnet_rpc(&devnet.env["SUBTENSOR_ENDPOINT"], "devnet_pause", &json!([])).as_u64().expect("best");
    // The head follower sees at most the first mined block, so the boundary must lie past it.
    let skipped = ((paused_at + 1) / INTERVAL + 1) * INTERVAL;
    let mined_to = devnet_rpc(&devnet.env["SUBTENSOR_ENDPOINT"], "devnet_mine", &json!([skipped - paused_at + 4])).as_u64().expect("best");
    devnet_rpc(&devnet.env["SUBTENSOR_ENDPOINT"], "devnet_resume", &json!([]));
    let second = tempo(&mut validator, "the tempo of the skipped boundary", |d| d["result"] == "confirmed" && d["boundary"] == skipped);
    assert!(second["head"].as_u64().expect("head") > skipped, "fired after the boundary it never saw: {second}");
    assert!(mined_to > skipped);
    assert_eq!(second["route"], "signer", "{second}");
    assert!(last_update(&devnet, 0) >= skipped, "LastUpdate confirmed on chain");

    // The weights are the af weights -r pass's, and its summaries are in the store.
    let mut weights_env = devnet.af();
    weights_env.envs(store_env.iter().copied()).args(["weights", "-r", "--json"]);
    let recomputed = json_of(&String::from_utf8(weights_env.output().expect("af weights -r").stdout).expect("utf-8"));
    assert_eq!(second["uids"], recomputed["uids"], "{second}\n{recomputed}");
    assert_eq!(second["weights"], recomputed["weights"]);
    assert!(second["uids"].as_array().expect("uids").iter().any(|u| u == 1), "miner 1 is weighted: {second}");
    let scored = second["scored_block"].as_u64().expect("scored block");
    let summary_key = format!("affine/weights/summary-{scored}.json");
    validator.wait_for("the summary upload", LONG, |_| {
        let found = runtime.block_on(store.reader().get(&summary_key, None)).ok()?;
        matches!(found, Fetched::Found(_)).then_some(())
    });
    let mut show = devnet.af();
    show.envs(store_env.iter().copied()).args(["weights", "--json"]);
    let shown = json_of(&String::from_utf8(show.output().expect("af weights").stdout).expect("utf-8"));
    assert!(shown["block"].as_u64().expect("latest block") >= first["scored_block"].as_u64().expect("scored"), "{shown}");

    // SIGTERM at a safe point: exit 0, for both.
    assert_eq!(validator.terminate(LONG), Some(0), "{}", validator.stderr());
    let stderr = validator.stderr();
    assert!(stderr.contains("weights set") && stderr.contains("route=\"signer\""), "one line per set: {stderr}");
    assert_eq!(signer.terminate(LONG), Some(0), "{}", signer.stderr());
    assert!(signer.stderr().contains("path=\"/set_weights\" status=200"), "{}", signer.stderr());
    let seconds: Vec<f64> = [&first, &second].iter().map(|d| d["seconds"].as_f64().expect("seconds")).collect();
    eprintln!("figures: tempo boundary seen -> weights confirmed through the signer (250 ms blocks, CONFIRMATION_BLOCKS=1): {seconds:?} s");
}

#[test]
fn validate_falls_back_only_when_the_signer_is_unreachable_and_alerts_when_it_errs() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = devnet(dir.path());
    empty_store(&devnet);

    // Nothing listens at SIGNER_URL: the local wallet sets the weights.
    let closed = closed_url();
    let mut fallback = validate(&devnet, "af validate (no signer)", &[("SIGNER_URL", closed.as_str())], &["--allow-empty"]);
    let set = tempo(&mut fallback, "a confirmed tempo", |d| d["result"] == "confirmed");
    assert_eq!((set["route"].as_str(), set["fell_back"].as_bool()), (Some("local"), Some(true)), "{set}");
    assert_eq!(fallback.terminate(LONG), Some(0), "{}", fallback.stderr());
    let before = last_update(&devnet, 0);
    assert!(before >= set["boundary"].as_u64().expect("boundary"));

    // A signer that answers with an error (it serves another subnet): no fallback, retries,
    // and an ALERT once two intervals pass without a confirmed set.
    let (mut refusing, url) = signer(&devnet, &["--netuid", "7"], &[]);
    let mut validator = validate(&devnet, "af validate (refusing signer)", &[("SIGNER_URL", url.as_str())], &["--allow-empty"]);
    validator.wait_for_stderr("ALERT", LONG);
    let stderr = validator.stderr();
    let refusals = stderr.matches("answered HTTP 400").count();
    assert!(refusals >= 2, "retried inside the tempo: {stderr}");
    assert!(!stderr.contains("local wallet"), "never falls back on an answered error: {stderr}");
    assert_eq!(last_update(&devnet, 0), before, "nothing was set");
    assert_eq!(validator.terminate(LONG), Some(0), "{stderr}");
    assert!(refusing.stderr().contains("status=400"), "{}", refusing.stderr());
    assert_eq!(refusing.terminate(LONG), Some(0));
}

#[test]
fn validate_watchdog_exits_when_the_chain_stalls_and_bad_start_up_is_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = devnet(dir.path());
    empty_store(&devnet);

    // No wallet and no SIGNER_URL: exit 2 naming the keyfile.
    let missing = dir.path().join("no-wallets");
    let output = devnet.af().args(["validate", "--wallet.path"]).arg(&missing).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(&missing.display().to_string()) && stderr.contains("SIGNER_URL"), "{stderr}");
    // A hotkey that is not registered: exit 2 at start.
    let wallets = dir.path().join("outsider");
    let hotkeys = wallets.join("validator").join("hotkeys");
    std::fs::create_dir_all(&hotkeys).expect("mkdir");
    let outsider = affine::chain::signing::Keypair::from_seed(&[42; 32]).expect("seed");
    let keyfile = json!({"secretSeed": format!("0x{}", hex::encode([42_u8; 32])), "ss58Address": outsider.public_key().to_ss58()});
    std::fs::write(hotkeys.join("default"), keyfile.to_string()).expect("keyfile");
    let output = devnet.af().args(["validate", "--wallet.path"]).arg(&wallets).env("SIGNER_URL", closed_url()).output().expect("run");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("is not registered on netuid 120"), "{stderr}");
    assert_eq!(stderr.trim().lines().filter(|l| l.starts_with("error")).count(), 1, "{stderr}");

    // An empty store is refused (a wrong store setting would otherwise burn to uid 0).
    let closed = closed_url();
    let mut empty = validate(&devnet, "af validate (empty store)", &[("SIGNER_URL", closed.as_str())], &[]);
    empty.wait_for_stderr("no result records in the scored window", LONG);
    assert!(empty.documents().is_empty(), "nothing set: {}", empty.stdout());
    assert_eq!(empty.terminate(LONG), Some(0));

    // The chain stalls: the watchdog (3 s) ends the process with 1.
    let mut validator = validate(
        &devnet,
        "af validate (watchdog)",
        &[("SIGNER_URL", closed.as_str()), ("AFFINE_VALIDATOR_WATCHDOG_TIMEOUT", "3s"), ("AF_CHAIN_TIMEOUT", "1")],
        &["--allow-empty"],
    );
    tempo(&mut validator, "a confirmed tempo", |d| d["result"] == "confirmed");
    devnet_rpc(&devnet.env["SUBTENSOR_ENDPOINT"], "devnet_pause", &json!([]));
    let paused = std::time::Instant::now();
    let code = validator.exit_code(Duration::from_secs(20));
    let took = paused.elapsed();
    devnet_rpc(&devnet.env["SUBTENSOR_ENDPOINT"], "devnet_resume", &json!([]));
    assert_eq!(code, Some(1), "{}", validator.stderr());
    assert!(validator.stderr().contains("WATCHDOG") && validator.stderr().contains("no new block"), "{}", validator.stderr());
    assert!(took < Duration::from_secs(8), "fired {took:?} after the stall (timeout 3 s)");
    eprintln!("figures: watchdog exit {took:?} after the chain stalled (timeout 3 s)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn validate_r2_mode_refuses_malformed_and_stale_files_and_sets_a_fresh_one_by_hotkey() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("bucket");
    let weights_dir = root.join("affine").join("weights");
    std::fs::create_dir_all(&weights_dir).expect("mkdir");
    let latest = weights_dir.join("latest.json");
    std::fs::write(&latest, "{not json").expect("write");
    let server = crate::support::http::FileServer::start(root.clone()).await;
    let url = format!("{}/affine/weights/latest.json", server.url());
    let devnet_dir = dir.path().join("devnet");
    let (devnet, mut validator, hotkeys) = tokio::task::spawn_blocking(move || {
        let devnet = devnet(&devnet_dir);
        let hotkeys: Vec<String> = devnet.banner["accounts"]
            .as_array()
            .expect("accounts")
            .iter()
            .map(|a| a["hotkey"].as_str().expect("hotkey").to_owned())
            .collect();
        let closed = closed_url();
        let validator = validate(
            &devnet,
            "af validate (R2)",
            &[("SIGNER_URL", closed.as_str()), ("USE_R2_WEIGHTS", "true"), ("AFFINE_R2_WEIGHTS_URL", url.as_str())],
            &[],
        );
        (devnet, validator, hotkeys)
    })
    .await
    .expect("start");
    let document =
        |block: u64, miners: Value| json!({"schema_version": "1.0.0", "timestamp": 1, "block": block, "data": {"miners": miners}});
    let handle = tokio::task::spawn_blocking(move || {
        validator.wait_for_stderr("not JSON", LONG);
        let head = json_of(&devnet.run(&["metagraph", "--json"]))["block"].as_u64().expect("block");
        // Stale: 1000 blocks behind (the limit is two intervals).
        let miners = json!({
            // The file's uids are swapped: the live metagraph's uid of each hotkey wins.
            hotkeys[2].clone(): {"uid": 3, "hotkey": hotkeys[2], "weight": 0.7},
            hotkeys[3].clone(): {"uid": 2, "hotkey": hotkeys[3], "weight": 0.3},
            "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY": {"uid": 1, "weight": 0.5},
        });
        std::fs::write(&latest, document(head.saturating_sub(1000), miners.clone()).to_string()).expect("write");
        validator.wait_for_stderr("stale", LONG);
        assert!(validator.documents().iter().all(|d| d["result"] != "confirmed"), "nothing set from refused files");
        let head = json_of(&devnet.run(&["metagraph", "--json"]))["block"].as_u64().expect("block");
        std::fs::write(&latest, document(head, miners).to_string()).expect("write");
        let set = tempo(&mut validator, "a confirmed tempo", |d| d["result"] == "confirmed");
        assert_eq!(set["mode"], "r2", "{set}");
        assert_eq!(set["uids"], json!([2, 3]), "mapped by hotkey, the unknown hotkey dropped: {set}");
        assert_eq!(set["weights"], json!([0.7, 0.3]), "{set}");
        assert!(last_update(&devnet, 0) >= set["boundary"].as_u64().expect("boundary"));
        assert_eq!(validator.terminate(LONG), Some(0));
        let refused: BTreeMap<&str, bool> =
            [("not JSON", validator.stderr().contains("not JSON")), ("stale", validator.stderr().contains("stale: scored at block"))]
                .into();
        assert!(refused.values().all(|seen| *seen), "{refused:?}");
    });
    handle.await.expect("r2 scenario");
    drop(server);
}
