//! The result store against real servers: moto's S3 server (served serially, so conditional
//! writes are exact) and a local HTTP server standing in for the public r2.dev bucket.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use affine::replay::score_store;
use affine::scoring::ScoringPolicy;
use affine::store::backend::content_tag;
use affine::store::fetch::{download, select_keys};
use affine::store::keys::{INDEX_KEY, LATEST_SUMMARY_KEY, shard_key};
use affine::store::replay::MetagraphSnapshot;
use affine::store::summary::{load_summary, save_summary};
use affine::store::writer::{index_add, write_values};
use affine::store::{BackendConfig, Fetched, Precondition, PutOutcome, Store, StoreConfig};
use serde_json::{Value, json};

use crate::support::http::{Fault, FileServer};
use crate::support::moto::Moto;
use crate::support::{af, unpack_scorer_case};

const TIMEOUT: Duration = Duration::from_secs(240);

fn unique(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!("{prefix}-{}-{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

fn record(validator: &str, miner: &str, task_id: u64, timestamp: f64) -> Value {
    json!({"version": "0.0.0", "signature": "00", "hotkey": validator,
           "miner": {"uid": 1, "hotkey": miner, "model": "m/affine", "revision": "r", "block": 1,
                     "chute": null, "slug": null, "weights_shas": null},
           "env": "affine:sat", "score": 1.0, "latency_seconds": 0.5, "success": true, "error": null,
           "task_id": task_id, "extra": {"request": {"task_id": task_id}}, "timestamp": timestamp})
}

async fn get_json(store: &Store, key: &str) -> Value {
    match store.reader().get(key, None).await.expect("get") {
        Fetched::Found(object) => serde_json::from_slice(&object.bytes).expect("json"),
        other => panic!("{key}: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_conditional_writes_detect_conflicts_and_not_modified() {
    let moto = Moto::start();
    let store = moto.store(&unique("cas"));
    tokio::time::timeout(TIMEOUT, async {
        let backend = store.writer().expect("writable");
        assert_eq!(backend.get("k.json", None).await.expect("get"), Fetched::Missing);
        let PutOutcome::Written(Some(etag)) = backend.put_once("k.json", b"[1]".to_vec(), Precondition::IfAbsent).await.expect("put")
        else {
            panic!("first create must be written with an etag");
        };
        assert_eq!(backend.put_once("k.json", b"[2]".to_vec(), Precondition::IfAbsent).await.expect("put"), PutOutcome::Conflict);
        assert_eq!(
            backend.put_once("k.json", b"[3]".to_vec(), Precondition::IfMatch("\"stale\"")).await.expect("put"),
            PutOutcome::Conflict
        );
        assert_eq!(backend.get("k.json", Some(&etag)).await.expect("get"), Fetched::NotModified);
        assert!(matches!(
            backend.put_once("k.json", b"[4]".to_vec(), Precondition::IfMatch(&etag)).await.expect("put"),
            PutOutcome::Written(_)
        ));
        let Fetched::Found(object) = backend.get("k.json", Some(&etag)).await.expect("get") else { panic!("changed object") };
        assert_eq!(object.bytes, b"[4]");
        assert_eq!(backend.put_once("gone.json", b"[]".to_vec(), Precondition::IfMatch(&etag)).await.expect("put"), PutOutcome::Conflict);
    })
    .await
    .expect("timed out");
}

/// 32 writers x 5 batches into one window: 16 validator hotkeys (two writers share each
/// shard, as two overlapping runners would) and one index shared by all. Each batch also
/// resends a record of the previous batch, which must not be stored twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn s3_concurrent_writers_lose_no_record_and_no_index_key() {
    const WRITERS: u64 = 32;
    const BATCHES: u64 = 5;
    const PER_BATCH: u64 = 4;
    let moto = Moto::start();
    let store = moto.store(&unique("race"));
    let block = 7_000_013;
    let started = std::time::Instant::now();
    let conflicts = tokio::time::timeout(TIMEOUT, async {
        let mut tasks = Vec::new();
        for writer in 0..WRITERS {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let validator = format!("5Val{:02}", writer % 16);
                let key = shard_key(affine::store::keys::window_of(block), &validator);
                let mut previous: Option<Value> = None;
                let mut conflicts = 0;
                for batch in 0..BATCHES {
                    let mut records: Vec<Value> = (0..PER_BATCH)
                        .map(|j| {
                            record(
                                &validator,
                                &format!("5Miner{writer}"),
                                writer * 1000 + batch * 10 + j,
                                1.7e9 + f64::from(u32::try_from(writer).expect("small")),
                            )
                        })
                        .collect();
                    records.extend(previous.take());
                    previous = records.first().cloned();
                    let report = write_values(&store, &key, &records).await.expect("write batch");
                    assert_eq!((report.appended, report.duplicates), (4, usize::from(batch > 0)), "the resent record is a duplicate");
                    conflicts += report.conflicts;
                }
                conflicts
            }));
        }
        let mut conflicts = 0;
        for task in tasks {
            conflicts += task.await.expect("writer task");
        }
        let index: Vec<String> = serde_json::from_value(get_json(&store, INDEX_KEY).await).expect("index is a list of keys");
        let expected_keys: BTreeSet<String> =
            (0..16).map(|v| shard_key(affine::store::keys::window_of(block), &format!("5Val{v:02}"))).collect();
        assert_eq!(index.iter().cloned().collect::<BTreeSet<_>>(), expected_keys, "index holds every shard key");
        assert_eq!(index.len(), expected_keys.len(), "no key twice in the index");
        let mut seen: BTreeMap<u64, usize> = BTreeMap::new();
        for key in &expected_keys {
            for stored in get_json(&store, key).await.as_array().expect("shard array") {
                *seen.entry(stored["task_id"].as_u64().expect("task id")).or_default() += 1;
            }
        }
        let expected: BTreeSet<u64> =
            (0..WRITERS).flat_map(|w| (0..BATCHES).flat_map(move |b| (0..PER_BATCH).map(move |j| w * 1000 + b * 10 + j))).collect();
        assert_eq!(seen.keys().copied().collect::<BTreeSet<_>>(), expected, "every record present");
        assert!(seen.values().all(|&n| n == 1), "a record stored twice: {:?}", seen.iter().filter(|(_, n)| **n > 1).collect::<Vec<_>>());
        conflicts
    })
    .await
    .expect("timed out");
    eprintln!("figures: 32 writers x 5 batches in {:.2?}, {conflicts} conditional writes lost and retried", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_latest_summary_never_moves_backwards() {
    let moto = Moto::start();
    let store = moto.store(&unique("summary"));
    tokio::time::timeout(TIMEOUT, async {
        let newer = save_summary(&store, 200, 1, &json!({"rows": [], "note": "new"})).await.expect("save 200");
        assert!(newer.latest_updated);
        let older = save_summary(&store, 100, 2, &json!({"rows": [], "value": f64::NAN})).await.expect("save 100");
        assert!(!older.latest_updated, "an older block must not replace latest.json");
        let latest = load_summary(store.reader(), None).await.expect("latest");
        assert_eq!((latest.block, latest.schema_version.as_str()), (200, "1.0.0"));
        let at_100 = load_summary(store.reader(), Some(100)).await.expect("summary-100");
        assert_eq!(at_100.data["value"], Value::Null, "NaN is stored as null");
        let text = match store.reader().get(LATEST_SUMMARY_KEY, None).await.expect("get") {
            Fetched::Found(object) => String::from_utf8(object.bytes).expect("utf8"),
            other => panic!("{other:?}"),
        };
        assert!(text.starts_with("{\n  \"schema_version\": \"1.0.0\""), "2-space indented: {text}");
        assert!(matches!(load_summary(store.reader(), Some(5)).await, Err(affine::store::Error::NotFound { .. })));
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_index_that_is_not_json_is_reported_and_left_untouched() {
    let moto = Moto::start();
    let store = moto.store(&unique("badindex"));
    tokio::time::timeout(TIMEOUT, async {
        let backend = store.writer().expect("writable");
        backend.put_once(INDEX_KEY, b"{oops".to_vec(), Precondition::None).await.expect("put");
        let error = index_add(&store, &["affine/results/000000020-a.json".to_owned()]).await.expect_err("malformed index");
        assert!(error.to_string().contains("affine/index.json"), "{error}");
        let Fetched::Found(object) = backend.get(INDEX_KEY, None).await.expect("get") else { panic!("index") };
        assert_eq!(object.bytes, b"{oops", "never a partial or blind rewrite");
    })
    .await
    .expect("timed out");
}

/// Uploads a replay directory's shards (and an index listing them) through the production
/// client.
async fn upload_case(store: &Store, case: &Path) -> Vec<String> {
    use futures_util::StreamExt as _;
    let backend = store.writer().expect("writable");
    let mut files = Vec::new();
    for entry in std::fs::read_dir(case.join("results")).expect("results") {
        let path = entry.expect("entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
        files.push((format!("affine/results/{name}"), path));
    }
    let mut keys: Vec<String> = futures_util::stream::iter(files)
        .map(|(key, path)| async move {
            backend.put(&key, std::fs::read(&path).expect("read shard"), Precondition::None).await.expect("upload shard");
            key
        })
        .buffer_unordered(8)
        .collect()
        .await;
    index_add(store, &keys).await.expect("index");
    keys.sort();
    keys
}

fn moto_env(command: &mut std::process::Command, moto: &Moto, bucket: &str, cache: &Path) {
    command
        .env("R2_ENDPOINT_URL", moto.url())
        .env("R2_FOLDER", bucket)
        .env("R2_WRITE_ACCESS_KEY_ID", "testing")
        .env("R2_WRITE_SECRET_ACCESS_KEY", "testing")
        .env("AF_NO_PUBLIC_FALLBACK", "1")
        .env("AFFINE_CACHE_DIR", cache);
}

fn weights_of(document: &Value) -> BTreeMap<u64, f64> {
    let uids = document["uids"].as_array().expect("uids");
    let weights = document["weights"].as_array().expect("weights");
    uids.iter().zip(weights).map(|(u, w)| (u.as_u64().expect("uid"), w.as_f64().expect("weight"))).collect()
}

fn run_json(mut command: std::process::Command) -> Value {
    let output = command.output().expect("run af");
    assert_eq!(output.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&output.stdout)))
}

/// The golden shards uploaded to S3: `af dataset pull` then `af weights --replay` reproduces
/// the reference weights, `af weights -r` gets the same from the store directly, `--save`
/// stores the summary and `af weights` shows it.
#[test]
fn cli_dataset_pull_then_replay_reproduces_golden_weights_from_s3() {
    let moto = Moto::start();
    let bucket = unique("golden");
    let store = moto.store(&bucket);
    let (_temp, case) = unpack_scorer_case("mixed-32");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async { tokio::time::timeout(TIMEOUT, upload_case(&store, &case)).await.expect("timed out") });
    let expected: Value = serde_json::from_slice(&std::fs::read(case.join("expected.json")).expect("expected")).expect("json");
    let expected_weights: BTreeMap<u64, f64> =
        expected["weights"].as_object().expect("weights").iter().map(|(u, w)| (u.parse().expect("uid"), w.as_f64().expect("w"))).collect();
    let snapshot = MetagraphSnapshot::load(&case).expect("snapshot");
    let work = tempfile::tempdir().expect("tempdir");
    let dest = work.path().join("pulled");

    let mut pull = af();
    pull.args(["dataset", "pull", "--json", "--tail", &snapshot.tail.to_string(), "--dest"])
        .arg(&dest)
        .arg("--metagraph")
        .arg(case.join("metagraph.json"));
    moto_env(&mut pull, &moto, &bucket, &work.path().join("cache"));
    let pulled = run_json(pull);
    assert_eq!(pulled["block"].as_u64(), Some(snapshot.block));
    assert!(pulled["objects"].as_u64().is_some_and(|n| n > 0), "{pulled}");

    let mut replay = af();
    replay.args(["weights", "--json", "--replay"]).arg(&dest);
    let replayed = weights_of(&run_json(replay));
    assert_eq!(replayed.keys().collect::<Vec<_>>(), expected_weights.keys().collect::<Vec<_>>());
    for (uid, weight) in &expected_weights {
        assert!((replayed[uid] - weight).abs() < 1e-9, "uid {uid}: {} vs {weight}", replayed[uid]);
    }

    let mut recompute = af();
    recompute.args(["weights", "-r", "--save", "--json", "--metagraph"]).arg(case.join("metagraph.json"));
    moto_env(&mut recompute, &moto, &bucket, &work.path().join("cache"));
    let recomputed = run_json(recompute);
    assert_eq!(weights_of(&recomputed), replayed, "-r and --replay share one scoring path");
    assert_eq!(recomputed["download"]["cache_hits"], recomputed["download"]["objects"], "second read revalidates the cache: {recomputed}");
    assert_eq!(recomputed["saved"]["latest_updated"], true);

    let mut show = af();
    show.args(["weights", "--json"]);
    moto_env(&mut show, &moto, &bucket, &work.path().join("cache"));
    let shown = run_json(show);
    assert_eq!(shown["block"].as_u64(), Some(snapshot.block));
    assert_eq!(shown["schema_version"], "1.0.0");
    let mut table = af();
    table.args(["weights", "-b", &snapshot.block.to_string()]);
    moto_env(&mut table, &moto, &bucket, &work.path().join("cache"));
    let output = table.output().expect("run af");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.starts_with(&format!("Weights summary at block {}", snapshot.block)) && stdout.contains("Wgt"), "{stdout}");
}

#[test]
fn cli_weights_store_refusing_connections_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
    let (_temp, case) = unpack_scorer_case("tiny-all-eligible");
    let mut command = af();
    command
        .args(["weights", "-r", "--metagraph"])
        .arg(case.join("metagraph.json"))
        .env("R2_ENDPOINT_URL", format!("http://127.0.0.1:{port}"))
        .env("R2_WRITE_ACCESS_KEY_ID", "k")
        .env("R2_WRITE_SECRET_ACCESS_KEY", "very-secret-value")
        .env("AF_NO_PUBLIC_FALLBACK", "1");
    let output = command.output().expect("run af");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.starts_with("error: failed to score block"), "{stderr}");
    assert!(stderr.contains("affine/index.json") && stderr.contains("hint:"), "{stderr}");
    assert!(!stderr.contains("very-secret-value"), "secret leaked: {stderr}");
}

#[test]
fn cli_weights_usage_errors_exit_2() {
    for args in [
        &["weights", "-r", "-b", "5"][..],
        &["weights", "--save"],
        &["weights", "-r", "--replay", "d", "--metagraph", "m"],
        &["weights", "-r", "--tail", "0", "--subtensor-endpoint", "ws://127.0.0.1:9"],
    ] {
        let output = af().args(args).env("AF_STORE_DIR", "/nonexistent").output().expect("run af");
        assert_eq!(output.status.code(), Some(2), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let output = af().args(["dataset", "pull", "--dest", "d"]).env("AF_STORE_DIR", "/nonexistent").output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--block"));
}

fn public_store(url: &str, cache: Option<&Path>) -> Store {
    let mut config = StoreConfig::local("/nonexistent".into());
    config.read = BackendConfig::Public(url.to_owned());
    config.write = None;
    config.cache_dir = cache.map(Path::to_owned);
    config.download_concurrency = 3;
    Store::new(config).expect("store")
}

/// The public bucket over HTTP: throttling with Retry-After, a 500, a truncated body, a key
/// listed but missing and a shard that is not JSON are all handled; the cache is revalidated
/// by `ETag` and a corrupt cache file is replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_http_reads_survive_faults_and_revalidate_the_cache() {
    let (_temp, case) = unpack_scorer_case("copycat-later-loses");
    let root = tempfile::tempdir().expect("tempdir");
    let results = root.path().join("affine/results");
    std::fs::create_dir_all(&results).expect("mkdir");
    let snapshot = MetagraphSnapshot::load(&case).expect("snapshot");
    let mut keys = Vec::new();
    for path in affine::store::replay::list_shards(&case, snapshot.block, snapshot.tail).expect("list").in_window {
        let name = path.file_name().and_then(|n| n.to_str()).expect("name").to_owned();
        std::fs::copy(&path, results.join(&name)).expect("copy");
        keys.push(format!("affine/results/{name}"));
    }
    keys.sort();
    let window = affine::store::keys::window_of(snapshot.block);
    let broken = shard_key(window, "5Broken");
    std::fs::write(root.path().join(&broken), b"[{\"env\": ").expect("broken shard");
    let missing = shard_key(window, "5Missing");
    let mut index = keys.clone();
    index.extend([broken.clone(), missing.clone()]);
    std::fs::write(root.path().join(INDEX_KEY), serde_json::to_vec(&index).expect("json")).expect("index");

    let server = FileServer::start(root.path().to_owned()).await;
    server.fail_next(&keys[0], Fault::Status(503, Some(1)));
    server.fail_next(&keys[0], Fault::Status(500, None));
    server.fail_next(keys.last().expect("key"), Fault::Truncate);
    server.fail_next(INDEX_KEY, Fault::Status(429, Some(0)));
    let cache = tempfile::tempdir().expect("cache");
    let store = public_store(server.url(), Some(cache.path()));

    tokio::time::timeout(TIMEOUT, async {
        let expected = affine::replay::replay_dir(&case, &ScoringPolicy::reference(), 2, |_| {}, |_| {}).expect("replay");
        let started = std::time::Instant::now();
        let (outcome, stats) = score_store(&store, snapshot.clone(), ScoringPolicy::reference(), 2, |_| {}, |_| {}).await.expect("score");
        assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
        assert_eq!(outcome.report.weights.vector, expected.report.weights.vector);
        assert_eq!((stats.objects, stats.missing, stats.cache_hits), (keys.len() + 1, 1, 0));
        assert_eq!(outcome.input.load.shards_skipped, 1, "the non-JSON shard is skipped and counted");
        assert_eq!(server.requests(&keys[0]), 3);
        assert_eq!(server.requests(keys.last().expect("key")), 2, "a truncated body is retried");

        // Everything is cached now: a second pass revalidates (304) the compact entries instead
        // of downloading, and parses nothing.
        let (outcome, again) = score_store(&store, snapshot.clone(), ScoringPolicy::reference(), 2, |_| {}, |_| {}).await.expect("score");
        assert_eq!(again.cache_hits, keys.len() + 1);
        assert_eq!((outcome.input.load.shards_cached, outcome.input.load.shards_skipped), (keys.len(), 1));
        assert_eq!(outcome.report.weights.vector, expected.report.weights.vector);
        // A damaged compact entry is rebuilt from the raw copy (revalidated by its own tag).
        let name = keys[1].rsplit('/').next().expect("name");
        let compact = cache.path().join("compact").join(format!("{name}.afc"));
        let mut damaged = std::fs::read(&compact).expect("compact entry");
        let last = damaged.len() - 1;
        damaged[last] ^= 0xff;
        std::fs::write(&compact, &damaged).expect("damage");
        let (outcome, third) = score_store(&store, snapshot.clone(), ScoringPolicy::reference(), 2, |_| {}, |_| {}).await.expect("score");
        assert_eq!((third.cache_hits, outcome.input.load.shards_cached), (keys.len() + 1, keys.len() - 1));
        assert_eq!(outcome.report.weights.vector, expected.report.weights.vector);
        // With the raw copy corrupt as well, the shard is downloaded again and both are replaced.
        let cached = cache.path().join(name);
        std::fs::write(&cached, b"[garbage").expect("corrupt");
        std::fs::write(&compact, b"AFCSHARD").expect("corrupt");
        let (outcome, third) = score_store(&store, snapshot.clone(), ScoringPolicy::reference(), 2, |_| {}, |_| {}).await.expect("score");
        assert_eq!(third.cache_hits, keys.len());
        assert_eq!(outcome.report.weights.vector, expected.report.weights.vector);
        assert!(std::fs::read(&compact).expect("rebuilt entry").len() > 16, "the compact entry is rebuilt");
        let original = std::fs::read(root.path().join(&keys[1])).expect("original");
        assert_eq!(std::fs::read(&cached).expect("cache file"), original);
        assert_ne!(content_tag(&original), content_tag(b"[garbage"));
        // Writes are refused on a read-only store.
        assert!(matches!(index_add(&store, &keys).await, Err(affine::store::Error::ReadOnly { .. })));
    })
    .await
    .expect("timed out");
}

/// A sparse private index falls back to the public bucket, as the reference does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_sparse_private_index_falls_back_to_public_bucket() {
    let moto = Moto::start();
    let root = tempfile::tempdir().expect("tempdir");
    let public_keys: Vec<String> = (0..60).map(|i| shard_key(1_000, &format!("5Pub{i:02}"))).collect();
    for key in &public_keys {
        let path = root.path().join(key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(&path, serde_json::to_vec(&vec![record("v", "m", 1, 1.0)]).expect("json")).expect("write");
    }
    std::fs::write(root.path().join(INDEX_KEY), serde_json::to_vec(&public_keys).expect("json")).expect("index");
    let server = FileServer::start(root.path().to_owned()).await;
    let mut config = StoreConfig::s3(moto.bucket(&unique("sparse")));
    config.public_fallback = Some(server.url().to_owned());
    let store = Store::new(config).expect("store");
    tokio::time::timeout(TIMEOUT, async {
        write_values(&store, &shard_key(1_000, "5Own"), &[record("5Own", "m", 1, 1.0)]).await.expect("write");
        let selection = select_keys(&store, 1_010, 100).await.expect("select");
        assert!(selection.from_public);
        assert_eq!(selection.keys, public_keys);
        let (sender, mut receiver) = tokio::sync::mpsc::channel::<affine::store::dataset::ShardBytes>(4);
        let consumer = tokio::spawn(async move {
            let mut names = Vec::new();
            while let Some(shard) = receiver.recv().await {
                names.push(shard.name);
            }
            names
        });
        let stats = download(&store, &selection, sender, |_| {}).await.expect("download");
        assert_eq!(stats.objects, 60);
        assert_eq!(consumer.await.expect("consumer"), public_keys, "delivered in key order");
    })
    .await
    .expect("timed out");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn local_store_concurrent_writers_lose_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = Store::new(StoreConfig::local(dir.path().to_owned())).expect("store");
    tokio::time::timeout(TIMEOUT, async {
        let mut tasks = Vec::new();
        for writer in 0..16_u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let key = shard_key(40, &format!("5V{}", writer % 4));
                for batch in 0..3 {
                    write_values(&store, &key, &[record("v", "m", writer * 10 + batch, 1.0)]).await.expect("write");
                }
            }));
        }
        for task in tasks {
            task.await.expect("task");
        }
        let index: Vec<String> = serde_json::from_value(get_json(&store, INDEX_KEY).await).expect("index");
        assert_eq!(index.len(), 4);
        let total: usize = {
            let mut total = 0;
            for key in &index {
                total += get_json(&store, key).await.as_array().expect("array").len();
            }
            total
        };
        assert_eq!(total, 48);
    })
    .await
    .expect("timed out");
}

/// Offline, with the local-folder store: `af weights` before any summary is a clear error,
/// after `save_summary` it shows the table; `af dataset pull` without a snapshot writes the
/// shards and says how to add `metagraph.json`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_local_store_shows_summaries_and_pulls_without_metagraph() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("store");
    let store = Store::new(StoreConfig::local(root.clone())).expect("store");
    let none = af().args(["weights", "--store-dir"]).arg(&root).output().expect("run af");
    assert_eq!(none.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&none.stderr);
    assert!(stderr.contains("affine/weights/latest.json does not exist") && stderr.contains("hint:"), "{stderr}");

    tokio::time::timeout(TIMEOUT, async {
        let data = json!({"header": ["UID", "Model", "Wgt"], "rows": [[3, "org/affine-model", "1.0000"]],
                          "miners": {"5H": {"uid": 3, "weight": 1.0}}, "stats": {"eligible_count": 1, "active_count": 1,
                          "queryable_count": 1, "total_miners": 4}});
        save_summary(&store, 1_000, 5, &data).await.expect("save");
        write_values(&store, &shard_key(1_000, "5V"), &[record("5V", "m", 1, 1.0)]).await.expect("write");
    })
    .await
    .expect("timed out");
    let shown = af().args(["weights", "--store-dir"]).arg(&root).output().expect("run af");
    let stdout = String::from_utf8_lossy(&shown.stdout);
    assert_eq!(shown.status.code(), Some(0), "{}", String::from_utf8_lossy(&shown.stderr));
    assert!(stdout.starts_with("Weights summary at block 1000") && stdout.contains("org/affine-model"), "{stdout}");
    assert!(stdout.contains("weights: 3:1.000000"), "{stdout}");

    let dest = dir.path().join("pulled");
    let pulled = af()
        .args(["dataset", "pull", "--block", "1005", "--tail", "100", "--store-dir"])
        .arg(&root)
        .arg("--dest")
        .arg(&dest)
        .output()
        .expect("run af");
    let stdout = String::from_utf8_lossy(&pulled.stdout);
    assert_eq!(pulled.status.code(), Some(0), "{}", String::from_utf8_lossy(&pulled.stderr));
    assert!(stdout.contains("pulled 1 shards") && stdout.contains("no metagraph.json written"), "{stdout}");
    assert!(dest.join("results/000001000-5V.json").is_file());
}
