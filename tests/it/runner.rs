//! `af runner` end to end, as an operator runs it: the built binary against `af devnet`
//! (chain, Chutes, Hub, scripted miners), moto's S3 server behind a proxy that can be taken
//! down, the native environments, and the Docker image.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::time::{Duration, Instant};

use affine::environments::task_seed;
use affine::store::{Fetched, S3Config, Store, StoreConfig};
use serde_json::Value;

use crate::support::devnet::DevnetProcess;
use crate::support::moto::Moto;
use crate::support::proxy::Proxy;
use crate::support::runner::{RunnerProcess, tail};

/// Every record in the store (index, then each shard).
fn stored_records(store: &Store) -> Vec<Value> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let index = match store.reader().get("affine/index.json", None).await.expect("read the index") {
            Fetched::Found(object) => serde_json::from_slice::<Vec<String>>(&object.bytes).expect("index is a list"),
            _ => Vec::new(),
        };
        let mut records = Vec::new();
        for key in index {
            if let Fetched::Found(object) = store.reader().get(&key, None).await.expect("read a shard") {
                records.extend(serde_json::from_slice::<Vec<Value>>(&object.bytes).expect("shard is a list"));
            }
        }
        records
    })
}

/// `(miner hotkey, env, task id, timestamp)`: what a record is, for counting copies.
fn identity(record: &Value) -> (String, String, i64, String) {
    (
        record["miner"]["hotkey"].as_str().unwrap_or_default().to_owned(),
        record["env"].as_str().unwrap_or_default().to_owned(),
        record["task_id"].as_i64().unwrap_or(-1),
        record["timestamp"].to_string(),
    )
}

fn runner_args(dir: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = [
        "--spool",
        &dir.join("spool.redb").display().to_string(),
        "--state-file",
        &dir.join("sampling_state.json").display().to_string(),
        "--signer-url",
        "http://127.0.0.1:1",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

fn s3_env(devnet: &DevnetProcess, endpoint: &str, bucket: &str) -> HashMap<String, String> {
    let mut env = devnet.env.clone();
    env.remove("AF_STORE_DIR");
    env.extend(
        [
            ("R2_ENDPOINT_URL", endpoint),
            ("R2_FOLDER", bucket),
            ("R2_WRITE_ACCESS_KEY_ID", "testing"),
            ("R2_WRITE_SECRET_ACCESS_KEY", "testing"),
            ("AF_STORE_TIMEOUT", "5"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    env
}

/// Checks signatures over the reference's text with bittensor-wallet, in Python.
const VERIFY: &str = r#"
import json, sys
from bittensor_wallet import Keypair
bad = 0
records = json.load(sys.stdin)
for r in records:
    text = f"{r['env']}:{json.dumps(r['miner'], sort_keys=True)}:{r['score']:.6f}:{r['latency_seconds']:.6f}:{int(r['timestamp'])}:{json.dumps(r['extra'], sort_keys=True)}"
    if not Keypair(ss58_address=r['hotkey']).verify(text, bytes.fromhex(r['signature'])):
        bad += 1
print(json.dumps({"checked": len(records), "bad": bad}))
"#;

#[test]
fn runner_samples_miners_on_shared_ids_pauses_the_flaky_one_survives_an_s3_outage_and_drains_on_sigterm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = DevnetProcess::start(&dir.path().join("devnet"), &["--block-time", "250ms", "--miners", "oracle,random,copy:1,flaky:0.5"]);
    let moto = Moto::start();
    let bucket = "runner-e2e";
    moto.bucket(bucket);
    let mut proxy = Proxy::start(moto.url());
    let env = s3_env(&devnet, &proxy.url(), bucket);
    let python = crate::support::sandbox_python().display().to_string();
    let args = runner_args(
        dir.path(),
        &[
            "--env-backend",
            "native",
            "--python",
            &python,
            "--task-interval",
            "0.4",
            "--sink-max-wait",
            "1",
            "--sink-batch-size",
            "40",
            "--workers-per-env",
            "4",
            "--service-error-window",
            "0.2",
            "--chutes-error-pause-seconds",
            "2",
            "--max-consecutive-errors",
            "2",
            "--grace",
            "10",
        ],
    );
    let runner = RunnerProcess::start(&env, &args);
    runner.wait_for("uploaded", 2, Duration::from_secs(60));

    // S3 goes away: uploads fail, the spool keeps everything; it comes back and drains.
    proxy.take_down();
    runner.wait_for("upload failed at store", 1, Duration::from_secs(30));
    std::thread::sleep(Duration::from_secs(3));
    proxy.bring_up();
    let uploads_before = runner.log().matches("uploaded ").count();
    runner.wait_for("uploaded ", uploads_before + 2, Duration::from_secs(60));
    runner.wait_for("[Miner U4] Paused for", 1, Duration::from_secs(60));
    std::thread::sleep(Duration::from_secs(4));

    let (code, took, log) = runner.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "SIGTERM exits 0:\n{}", tail(&log));
    assert!(took < Duration::from_secs(15), "stopped within the grace period ({took:?})");
    let stopped = log.lines().find(|l| l.contains("runner stopped")).expect("a closing line").to_owned();
    let spooled: usize =
        stopped.split("spooled=").nth(1).and_then(|s| s.split_whitespace().next()).and_then(|n| n.parse().ok()).expect("spooled=");
    assert!(stopped.contains("left_in_spool=0"), "{stopped}");

    let store = Store::new(StoreConfig::s3(S3Config {
        endpoint: moto.url().to_owned(),
        explicit_endpoint: true,
        bucket: bucket.to_owned(),
        access_key_id: "testing".into(),
        secret_access_key: affine::secret::Secret::new("testing"),
    }))
    .expect("store");
    let records = stored_records(&store);
    // Exactly once: every committed result is in the store, none twice.
    let identities: BTreeSet<_> = records.iter().map(identity).collect();
    assert_eq!(identities.len(), records.len(), "no result is stored twice");
    assert_eq!(records.len(), spooled, "every spooled result is stored");
    assert!(log.contains("upload failed at store"), "the outage was seen");

    // Every valid miner has results on every env, on the same ids, with the reference's seed.
    let accounts = devnet.banner["accounts"].as_array().expect("accounts");
    let hotkey_of = |uid: usize| accounts[uid]["hotkey"].as_str().expect("hotkey").to_owned();
    let mut ids: BTreeMap<(String, String), BTreeSet<i64>> = BTreeMap::new();
    for record in &records {
        let env = record["env"].as_str().expect("env");
        let task_id = record["task_id"].as_i64().expect("task id");
        assert_eq!(record["extra"]["request"]["seed"].as_u64(), Some(u64::from(task_seed(env, u64::try_from(task_id).expect("id")))));
        assert_eq!(record["version"], "0.0.0");
        assert_eq!(record["hotkey"].as_str(), Some(hotkey_of(0).as_str()), "signed by the validator's hotkey");
        assert!(record["error"].as_str().is_none_or(|e| !e.contains("HTTP 503")), "service errors are not stored");
        ids.entry((record["miner"]["hotkey"].as_str().expect("miner").to_owned(), env.to_owned())).or_default().insert(task_id);
    }
    for env in ["affine:sat", "affine:abd", "affine:ded"] {
        let sets: Vec<&BTreeSet<i64>> =
            (1..=3).map(|uid| ids.get(&(hotkey_of(uid), env.to_owned())).expect("results for every miner and env")).collect();
        // Tasks still queued at the stop are re-offered later, so only the last few ids may differ.
        let settled = sets.iter().map(|s| s.iter().max().copied().unwrap_or(0)).min().unwrap_or(0) - 3;
        let below = |set: &BTreeSet<i64>| set.iter().filter(|id| **id < settled).copied().collect::<BTreeSet<_>>();
        assert!(settled > 5, "{env}: enough events ({sets:?})");
        assert_eq!(below(sets[0]), below(sets[1]), "{env}: oracle and random share ids");
        assert_eq!(below(sets[0]), below(sets[2]), "{env}: oracle and copy share ids");
    }

    // Signatures verify with bittensor-wallet over the reference's text.
    let sample: Vec<&Value> = records.iter().step_by((records.len() / 12).max(1)).collect();
    let verified: Value =
        serde_json::from_str(crate::support::run_python(VERIFY, &[], &serde_json::to_string(&sample).expect("json")).trim()).expect("json");
    assert_eq!((verified["bad"].as_u64(), verified["checked"].as_u64()), (Some(0), Some(sample.len() as u64)), "{verified}");

    // The flaky miner was paused, then sampled again after its pause.
    let paused_at = log.lines().find(|l| l.contains("[Miner U4] Paused for")).and_then(|l| l.get(..27)).expect("timestamp").to_owned();
    let paused_secs = chrono_like_seconds(&paused_at);
    let flaky_after =
        records.iter().filter(|r| r["miner"]["uid"] == 4 && r["timestamp"].as_f64().unwrap_or(0.0) > paused_secs + 2.0).count();
    assert!(flaky_after > 0, "the flaky miner was sampled again after its pause ({paused_at})");

    // The oracle and its copy are right everywhere; the random miner fails ABD and DED.
    let mean = |uid: i64, env: &str| {
        let scores: Vec<f64> =
            records.iter().filter(|r| r["miner"]["uid"] == uid && r["env"] == env).filter_map(|r| r["score"].as_f64()).collect();
        scores.iter().sum::<f64>() / f64::from(u32::try_from(scores.len().max(1)).expect("small"))
    };
    for env in ["affine:sat", "affine:abd", "affine:ded"] {
        assert!((mean(1, env) - 1.0).abs() < 1e-9 && (mean(3, env) - 1.0).abs() < 1e-9, "{env}: oracle and copy score 1");
    }
    assert!(mean(2, "affine:abd") < 0.5 && mean(2, "affine:ded") < 0.5, "the random miner fails ABD and DED");
}

/// Seconds since the epoch of a log timestamp such as `2026-12-01T11:25:07.440412Z`.
fn chrono_like_seconds(stamp: &str) -> f64 {
    let python = "import sys, datetime; print(datetime.datetime.fromisoformat(sys.argv[1].replace('Z', '+00:00')).timestamp())";
    crate::support::run_python(python, &[stamp.trim().as_ref()], "").trim().parse().expect("seconds")
}

#[test]
fn runner_killed_at_random_moments_loses_nothing_it_spooled_and_stores_it_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = DevnetProcess::start(&dir.path().join("devnet"), &["--block-time", "250ms", "--miners", "oracle,random"]);
    let python = crate::support::sandbox_python().display().to_string();
    let args = runner_args(
        dir.path(),
        &[
            "--env-backend",
            "native",
            "--python",
            &python,
            "--task-interval",
            "0.2",
            "--sink-max-wait",
            "0.3",
            "--sink-batch-size",
            "20",
            "--grace",
            "5",
        ],
    );
    let spool_path = dir.path().join("spool.redb");
    let mut seen: BTreeSet<(String, String, i64, String)> = BTreeSet::new();
    let mut counters: Vec<u64> = Vec::new();
    let kills = std::env::var("AF_TEST_RUNNER_KILLS").ok().and_then(|k| k.parse().ok()).unwrap_or(50);
    for _ in 0..kills {
        let runner = RunnerProcess::start(&devnet.env, &args);
        std::thread::sleep(Duration::from_millis(300 + fastrand::u64(0..1200)));
        runner.kill9();
        // What the dead runner had committed: it must all reach the store.
        let spool = affine::scheduler::spool::Spool::open(&spool_path).expect("the spool opens after a kill");
        for row in spool.oldest(usize::MAX).expect("rows") {
            let bytes = match row {
                affine::scheduler::spool::Row::Pending { record, .. } | affine::scheduler::spool::Row::Prepared { record, .. } => record,
            };
            seen.insert(identity(&serde_json::from_slice(&bytes).expect("a spooled record")));
        }
        drop(spool);
        let state = std::fs::read_to_string(dir.path().join("sampling_state.json")).unwrap_or_default();
        let state: Value = serde_json::from_str(&state).unwrap_or(Value::Null);
        counters.push(state["env_task_counters"]["affine:sat"].as_u64().unwrap_or(0));
    }
    // A last, clean run drains the spool.
    let runner = RunnerProcess::start(&devnet.env, &args);
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let records = stored_records(&Store::new(StoreConfig::local(dir.path().join("devnet/store"))).expect("store"));
        let stored: BTreeSet<_> = records.iter().map(identity).collect();
        if seen.is_subset(&stored) {
            break;
        }
        assert!(Instant::now() < deadline, "{} spooled results never reached the store", seen.difference(&stored).count());
    }
    let (code, _, log) = runner.terminate(Duration::from_secs(30));
    assert_eq!(code, Some(0), "{}", tail(&log));
    let records = stored_records(&Store::new(StoreConfig::local(dir.path().join("devnet/store"))).expect("store"));
    let identities: BTreeSet<_> = records.iter().map(identity).collect();
    assert_eq!(identities.len(), records.len(), "no result is stored twice across {kills} kills");
    assert!(seen.len() > 20, "the kills found work in the spool ({} results)", seen.len());
    assert!(counters.windows(2).all(|w| w[1] >= w[0]), "task counters never go back across restarts: {counters:?}");
    let spool = affine::scheduler::spool::Spool::open(&spool_path).expect("spool");
    assert_eq!(spool.count().expect("count"), 0, "the spool ends empty:\n{}", tail(&log));
}

/// An Affinetes environment that answers `evaluate` after `delay` with a full score.
async fn slow_env(delay: Duration) -> (String, tokio::task::JoinHandle<()>) {
    use axum::routing::{get, post};
    let router = axum::Router::new().route("/health", get(|| async { axum::Json(serde_json::json!({"status": "ok"})) })).route(
        "/call",
        post(move || async move {
            tokio::time::sleep(delay).await;
            axum::Json(serde_json::json!({"status": "success", "result": {"score": 1.0, "success": true, "error": null, "extra": {}}, "error": null}))
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    (
        url,
        tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        }),
    )
}

fn sat_counter(dir: &Path, env: &str) -> u64 {
    let text = std::fs::read_to_string(dir.join("sampling_state.json")).unwrap_or_default();
    serde_json::from_str::<Value>(&text).ok().and_then(|v| v["env_task_counters"][env].as_u64()).unwrap_or(0)
}

#[test]
fn runner_a_slow_environment_does_not_slow_a_fast_one_and_a_wedged_one_fires_the_watchdog() {
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = DevnetProcess::start(&dir.path().join("devnet"), &["--block-time", "250ms", "--miners", "oracle"]);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let fast = runtime.block_on(crate::support::env_server::EnvServer::start());
    let (slow, _slow_task) = runtime.block_on(slow_env(Duration::from_secs(3)));
    let urls = format!("affine:sat={},affine:abd={slow}", fast.url);
    let interval = 0.25;
    let args = runner_args(
        dir.path(),
        &[
            "--env-backend",
            "url",
            "--env-url",
            &urls,
            "--envs",
            "affine:sat,affine:abd",
            "--task-interval",
            "0.25",
            "--workers-per-env",
            "2",
            "--queue-max-size-per-env",
            "8",
            "--sink-max-wait",
            "1",
        ],
    );
    let runner = RunnerProcess::start(&devnet.env, &args);
    runner.wait_for("[TaskQueue] affine:abd PAUSED", 1, Duration::from_secs(60));
    let (sat_before, abd_before, started) = (sat_counter(dir.path(), "affine:sat"), sat_counter(dir.path(), "affine:abd"), Instant::now());
    std::thread::sleep(Duration::from_secs(8));
    let (sat_after, abd_after, elapsed) = (sat_counter(dir.path(), "affine:sat"), sat_counter(dir.path(), "affine:abd"), started.elapsed());
    let (code, _, log) = runner.terminate(Duration::from_secs(40));
    assert_eq!(code, Some(0), "{}", tail(&log));
    #[expect(clippy::cast_precision_loss, reason = "small counts")]
    let sat_rate = (sat_after - sat_before) as f64 / (elapsed.as_secs_f64() / interval);
    assert!(sat_rate >= 0.95, "the fast env kept {:.0} % of its schedule while the slow one was paused:\n{}", sat_rate * 100.0, tail(&log));
    assert!(abd_after - abd_before < sat_after - sat_before, "the slow env was held back ({abd_before}->{abd_after})");

    // An environment that never answers: no progress, so the watchdog stops the runner (exit 1).
    let silent = runtime.block_on(crate::support::hostile::HostileServer::start(vec![
        ("/health", crate::support::hostile::Answer::Json(200, r#"{"status": "ok"}"#.into())),
        ("/call", crate::support::hostile::Answer::Silent),
    ]));
    let wedged = tempfile::tempdir().expect("tempdir");
    let args = runner_args(
        wedged.path(),
        &[
            "--env-backend",
            "url",
            "--env-url",
            &format!("affine:sat={}", silent.url()),
            "--envs",
            "affine:sat",
            "--task-interval",
            "0.2",
            "--call-deadline",
            "1",
            "--watchdog-timeout",
            "3",
            "--grace",
            "2",
        ],
    );
    let started = Instant::now();
    let (code, log) = RunnerProcess::start(&devnet.env, &args).wait_exit(Duration::from_secs(60));
    assert_eq!(code, Some(1), "the watchdog exits 1:\n{}", tail(&log));
    assert!(log.contains("watchdog: no progress in evaluation of affine:sat"), "{}", tail(&log));
    assert!(started.elapsed() < Duration::from_secs(30), "fired in time ({:?})", started.elapsed());
    drop(fast);
}

fn docker(args: &[&str]) -> String {
    let output = std::process::Command::new("docker").args(args).output().expect("run docker");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn runner_docker_env_killed_mid_evaluation_is_retried_never_stored_and_removed_at_exit() {
    let image = crate::support::env_server::test_image();
    let dir = tempfile::tempdir().expect("tempdir");
    let devnet = DevnetProcess::start(&dir.path().join("devnet"), &["--block-time", "250ms", "--miners", "slow:2"]);
    let args = runner_args(
        dir.path(),
        &[
            "--env-backend",
            "docker",
            "--image",
            &format!("affine={image}"),
            "--docker-network",
            "host",
            "--envs",
            "affine:sat",
            "--task-interval",
            "0.5",
            "--workers-per-env",
            "2",
            "--sink-max-wait",
            "1",
        ],
    );
    let runner = RunnerProcess::start(&devnet.env, &args);
    runner.wait_for("environment ready", 1, Duration::from_secs(120));
    let label = format!("label=af.pid={}", runner.pid());
    let container = docker(&["ps", "-q", "--filter", &label]);
    assert!(!container.is_empty(), "the runner owns a container");
    // Kill the environment's process while evaluations are in flight (the miner takes 2 s).
    std::thread::sleep(Duration::from_secs(3));
    let pid = docker(&["inspect", "-f", "{{.State.Pid}}", &container]);
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid.parse().expect("pid")), nix::sys::signal::Signal::SIGKILL).expect("kill the env");
    runner.wait_for("infrastructure failure", 1, Duration::from_secs(30));
    let failed: BTreeSet<i64> = runner
        .log()
        .lines()
        .filter(|l| l.contains("infrastructure failure"))
        .filter_map(|l| l.split("task_id=").nth(1).and_then(|t| t.split_whitespace().next()).and_then(|t| t.parse().ok()))
        .collect();
    assert!(!failed.is_empty(), "the crash cost evaluations");
    // The ids lost to the crash are offered again (a few per event) until they are stored.
    let store = Store::new(StoreConfig::local(dir.path().join("devnet/store"))).expect("store");
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let stored: BTreeSet<i64> = stored_records(&store).iter().filter_map(|r| r["task_id"].as_i64()).collect();
        if failed.is_subset(&stored) {
            break;
        }
        assert!(Instant::now() < deadline, "lost ids never stored: {failed:?} vs {stored:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, _, log) = runner.terminate(Duration::from_secs(60));
    assert_eq!(code, Some(0), "{}", tail(&log));
    assert!(docker(&["ps", "-aq", "--filter", &label]).is_empty(), "the runner removed its container");
    let records = stored_records(&store);
    for record in &records {
        let error = record["error"].as_str().unwrap_or_default();
        assert!(!error.contains("died or restarted") && !error.contains("did not answer"), "an infrastructure failure was stored: {error}");
        assert!((record["score"].as_f64().unwrap_or(0.0) - 1.0).abs() < 1e-9, "every stored result is the slow oracle's 1.0: {record}");
    }
}
