//! Dataset streaming throughput and peak memory for a 1M-record window.
//!
//! Writes a synthetic window (1,000,000 result records in 250 shards spread over the 40,000
//! block tail) to a temporary folder, serves it with the test suite's local HTTP server on
//! 127.0.0.1 (the public-bucket wire: `GET /{key}` with an `ETag`), and times `score_store`: index
//! read, ordered downloads with bounded concurrency, streaming parse into the scorer, once cold
//! and twice warm (compact cache current: one 304 per shard). Prints the figures; nothing is
//! asserted. Run with `cargo bench --bench dataset` (env
//! `AF_BENCH_RECORDS` changes the record count).

#[path = "../tests/it/support/http.rs"]
#[expect(dead_code, reason = "the bench uses only part of the test server")]
mod http;

use std::io::Write as _;
use std::time::Instant;

use affine::replay::score_store;
use affine::scoring::ScoringPolicy;
use affine::store::keys::{INDEX_KEY, shard_key, window_of};
use affine::store::replay::MetagraphSnapshot;
use affine::store::{BackendConfig, Store, StoreConfig};

const SHARDS: u64 = 250;
const MINERS: u64 = 64;
const ENVS: [(&str, u64); 3] = [("affine:sat", 500), ("affine:abd", 240), ("affine:ded", 240)];

fn peak_rss_mib() -> f64 {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    // Linux reports ru_maxrss in KiB.
    #[expect(clippy::cast_precision_loss, reason = "a figure for people")]
    let mib = usage.max_rss() as f64 / 1024.0;
    mib
}

fn write_window(root: &std::path::Path, records: u64, block: u64) -> (Vec<String>, u64) {
    let per_shard = records.div_ceil(SHARDS);
    let mut keys = Vec::new();
    let mut bytes = 0;
    let mut written = 0;
    for shard in 0..SHARDS {
        let window = window_of(block - shard * 160);
        let key = shard_key(window, &format!("5Validator{:02}", shard % 7));
        let path = root.join(&key);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).expect("create"));
        file.write_all(b"[").expect("write");
        for i in 0..per_shard.min(records - written) {
            let n = written + i;
            let (env, size) = ENVS[usize::try_from(n % 3).expect("small")];
            let miner = n % MINERS;
            let task = (n / 7) % size;
            if i > 0 {
                file.write_all(b",").expect("write");
            }
            write!(
                file,
                r#"{{"version":"0.0.0","signature":"{sig}","hotkey":"5Validator{v:02}","miner":{{"uid":{miner},"hotkey":"5Miner{miner:04}","model":"org/Affine-{miner}","revision":"abcdef{miner}","block":{b},"chute":null,"slug":"s{miner}","weights_shas":null}},"env":"{env}","score":{score},"latency_seconds":12.5,"success":true,"error":null,"task_id":{task},"extra":{{"request":{{"task_id":{task},"seed":{n}}},"image":"affine:latest"}},"timestamp":{ts}}}"#,
                sig = "ab".repeat(64),
                v = shard % 7,
                b = 6_000_000 + miner,
                score = f64::from(u8::try_from(n % 2).expect("bit")),
                ts = 1_700_000_000 + n,
            )
            .expect("write");
        }
        written += per_shard.min(records - written);
        file.write_all(b"]").expect("write");
        file.flush().expect("flush");
        bytes += std::fs::metadata(&path).expect("stat").len();
        keys.push(key);
    }
    keys.sort();
    std::fs::write(root.join(INDEX_KEY), serde_json::to_vec(&keys).expect("json")).expect("index");
    (keys, bytes)
}

#[expect(clippy::print_stdout, reason = "a bench prints its figures")]
fn main() {
    let records: u64 = std::env::var("AF_BENCH_RECORDS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let block = 7_000_000;
    let root = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let (keys, bytes) = write_window(root.path(), records, block);
    println!("window: {records} records in {} shards, {:.1} MiB (generated in {:.1?})", keys.len(), mib(bytes), started.elapsed());

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let server = http::FileServer::start(root.path().to_owned()).await;
        let snapshot = MetagraphSnapshot {
            netuid: Some(120),
            block,
            tail: 40_000,
            hotkeys: (0..MINERS).map(|m| format!("5Miner{m:04}")).collect(),
            queryable: (0..MINERS).map(|m| format!("5Miner{m:04}")).collect(),
            first_commit_block: std::collections::BTreeMap::new(),
            burn: 0.0,
        };
        // A cold pass (downloads, parses, writes the raw and compact caches), then warm passes
        // (a 304 per shard to its compact entry's ETag: no body, no parse).
        let cache = tempfile::tempdir().expect("cache dir");
        for pass in ["cold", "warm", "warm"] {
            let mut config = StoreConfig::local("/nonexistent".into());
            config.read = BackendConfig::Public(server.url().to_owned());
            config.write = None;
            config.download_concurrency = 8;
            config.cache_dir = Some(cache.path().to_owned());
            let store = Store::new(config).expect("store");
            let before = peak_rss_mib();
            let started = Instant::now();
            let (outcome, stats) =
                score_store(&store, snapshot.clone(), ScoringPolicy::reference(), 2, |_| {}, |_| {}).await.expect("score");
            let seconds = started.elapsed().as_secs_f64();
            #[expect(clippy::cast_precision_loss, reason = "figures for people")]
            let rate = outcome.input.load.records as f64 / seconds;
            println!(
                "{pass}: {} shards ({} from the compact cache), {} records, {:.1} MiB in {seconds:.2} s = {rate:.0} records/s; peak RSS {:.0} MiB (before: {before:.0} MiB)",
                stats.objects,
                outcome.input.load.shards_cached,
                outcome.input.load.records,
                mib(stats.bytes),
                peak_rss_mib(),
            );
        }
    });
}

#[expect(clippy::cast_precision_loss, reason = "a figure for people")]
fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}
