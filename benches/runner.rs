//! Figures for `af runner`: the spool's commit rate, and the runner's own cost with about a
//! thousand evaluations in flight (CPU of one core, peak RSS, and overhead per evaluation over
//! what the environment itself took).
//!
//! `cargo bench --bench runner`. It starts `af devnet` (miners that never get called) and an
//! Affinetes environment in this process that sleeps `--sleep` seconds per call and answers a
//! full score, then `af runner` (release) with enough workers and tasks to keep ~1,000 calls in
//! flight, and samples the runner process from `/proc`.
//!
//! Options (after `--`): `--miners N` (default 50), `--in-flight N` (default 1000),
//! `--sleep S` (default 20: evaluations take tens of seconds in production; `--sleep 1` is a
//! stress test at 1,000 results per second), `--seconds S` of steady state measured (default
//! 30), `--spool N` results committed in the spool test (default 50000).
//!
//! The latency beyond the env's sleep is printed twice: through the runner, and for a plain
//! HTTP client under the same load, whose figure is the machine's share (loopback, the env
//! server, a busy scheduler) rather than the runner's.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![expect(clippy::cast_precision_loss, reason = "counts shown as rates")]
#![expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "options and quantile indices are small positive numbers")]

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn option(name: &str, default: f64) -> f64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `(utime + stime)` seconds and `VmHWM` MiB of `pid`.
fn cpu_and_peak(pid: u32) -> (f64, f64) {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat.rsplit(')').next().unwrap_or("").split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|u| u.parse::<f64>().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|s| s.parse::<f64>().ok()).unwrap_or(0.0);
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let peak_kib: f64 =
        status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()).unwrap_or(0.0);
    (ticks / 100.0, peak_kib / 1024.0)
}

fn record(index: usize) -> Vec<u8> {
    let conversation: Vec<Value> =
        (0..4).map(|turn| json!({"role": if turn % 2 == 0 { "user" } else { "assistant" }, "content": "x".repeat(300)})).collect();
    serde_json::to_vec(&json!({
        "version": "0.0.0", "signature": "", "hotkey": "", "env": "affine:sat", "score": 1.0, "latency_seconds": 1.5,
        "success": true, "error": null, "task_id": index % 500, "timestamp": 1_764_064_830.5 + index as f64,
        "miner": {"uid": index % 256, "hotkey": "5F3sa2TJAWMqDhXG6jhV4N8ko9SxwGy8TpaNS1repo5EYjQX", "model": "alice/Affine-7B",
                  "revision": "0123456789abcdef0123456789abcdef01234567", "block": 6_012_345, "chute": null, "slug": "alice-affine-7b",
                  "weights_shas": null},
        "extra": {"conversation": conversation, "image": "bignickeye/affine:v3",
                  "request": {"temperature": 0, "timeout": 600, "task_id": index % 500, "task_type": "sat"}},
    }))
    .expect("json")
}

fn spool_rate(count: usize) {
    let dir = tempfile::tempdir().expect("tempdir");
    let spool = affine::scheduler::spool::Spool::open(&dir.path().join("spool.redb")).expect("spool");
    let records: Vec<Vec<u8>> = (0..count).map(record).collect();
    let started = Instant::now();
    for group in records.chunks(512) {
        spool.append(group, 0.0).expect("append");
    }
    let grouped = started.elapsed();
    let singles = records.len().min(500);
    let started = Instant::now();
    for one in &records[..singles] {
        spool.append(std::slice::from_ref(one), 0.0).expect("append");
    }
    let single = started.elapsed();
    println!(
        "spool: {:.0} committed results/s in groups of 512 ({count} results of {} B, fsync per commit); {:.0}/s committed one by one",
        count as f64 / grouped.as_secs_f64(),
        records[0].len(),
        singles as f64 / single.as_secs_f64()
    );
}

/// An Affinetes `function_based` environment that sleeps, counting calls in flight.
async fn sleeping_env(delay: Duration, in_flight: Arc<AtomicU64>, peak: Arc<AtomicU64>) -> String {
    use axum::routing::{get, post};
    let router = axum::Router::new().route("/health", get(|| async { axum::Json(json!({"status": "ok"})) })).route(
        "/call",
        post(move || {
            let (in_flight, peak) = (Arc::clone(&in_flight), Arc::clone(&peak));
            async move {
                let now = in_flight.fetch_add(1, Ordering::Relaxed) + 1;
                peak.fetch_max(now, Ordering::Relaxed);
                tokio::time::sleep(delay).await;
                in_flight.fetch_sub(1, Ordering::Relaxed);
                axum::Json(
                    json!({"status": "success", "result": {"score": 1.0, "success": true, "error": null, "extra": {}}, "error": null}),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("address"));
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    url
}

/// The same load without the runner: a plain HTTP client sending `miners` calls every
/// `interval` seconds to the environment for `seconds`, returning each call's latency minus
/// the env's sleep in ms. What this costs is the machine's and the environment's share of the
/// runner's figure (loopback, the env server, a busy scheduler), not the runner's own.
async fn baseline_overheads(url: &str, miners: usize, interval: f64, sleep: f64, seconds: f64) -> Vec<f64> {
    let client = reqwest::Client::new();
    let body = json!({"method": "evaluate", "args": [], "kwargs": {"task_id": 1, "model": "m", "base_url": "http://127.0.0.1:1/v1"}});
    let mut calls = tokio::task::JoinSet::new();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(interval));
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs_f64(seconds) {
        tick.tick().await;
        for _ in 0..miners {
            let (client, body, url) = (client.clone(), body.clone(), format!("{url}/call"));
            calls.spawn(async move {
                let sent = Instant::now();
                let answer = client.post(url).json(&body).send().await.ok()?;
                let _ = answer.bytes().await.ok()?;
                Some((sent.elapsed().as_secs_f64() - sleep) * 1000.0)
            });
        }
    }
    calls.join_all().await.into_iter().flatten().collect()
}

fn quantiles(mut values: Vec<f64>) -> (usize, f64, f64, f64, usize) {
    values.sort_by(f64::total_cmp);
    let quantile = |q: f64| values.get(((values.len() as f64 - 1.0) * q) as usize).copied().unwrap_or(f64::NAN);
    (values.len(), quantile(0.5), quantile(0.99), values.last().copied().unwrap_or(f64::NAN), values.iter().filter(|&&v| v > 100.0).count())
}

fn start_devnet(dir: &Path, miners: usize) -> (Child, Vec<(String, String)>) {
    let policies = vec!["oracle"; miners].join(",");
    let mut child = Command::new(env!("CARGO_BIN_EXE_af"))
        .env("AF_NO_DOTENV", "1")
        .args(["devnet", "--port", "0", "--block-time", "500ms", "--miners", &policies, "--dir"])
        .arg(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start af devnet");
    let env_file = dir.join("devnet.env");
    let started = Instant::now();
    while !env_file.is_file() {
        assert!(started.elapsed() < Duration::from_secs(120), "no devnet.env");
        assert!(child.try_wait().expect("poll").is_none(), "af devnet exited");
        std::thread::sleep(Duration::from_millis(20));
    }
    let env = std::fs::read_to_string(&env_file)
        .expect("devnet.env")
        .lines()
        .filter_map(|l| l.split_once('=').filter(|_| !l.starts_with('#')).map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    (child, env)
}

fn main() {
    spool_rate(option("--spool", 50_000.0) as usize);

    let miners = option("--miners", 50.0) as usize;
    let target = option("--in-flight", 1000.0);
    let sleep = option("--sleep", 20.0);
    let seconds = option("--seconds", 30.0);
    let dir = tempfile::tempdir().expect("tempdir");
    let (mut devnet, env) = start_devnet(&dir.path().join("devnet"), miners);
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let (in_flight, peak) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let url = runtime.block_on(sleeping_env(Duration::from_secs_f64(sleep), Arc::clone(&in_flight), Arc::clone(&peak)));
    // Tasks per second needed to keep `target` calls of `sleep` seconds in flight.
    let interval = miners as f64 * sleep / target;
    let mut runner = Command::new(env!("CARGO_BIN_EXE_af"))
        .envs(env)
        .env("AF_NO_DOTENV", "1")
        .args(["runner", "--env-backend", "url", "--envs", "affine:sat", "--signer-url", "http://127.0.0.1:1"])
        .args(["--env-url", &format!("affine:sat={url}"), "--task-interval", &format!("{interval}")])
        .args(["--workers-per-env", &format!("{}", target as usize + 50), "--queue-max-size-per-env", "20000"])
        .args(["--spool", &dir.path().join("spool.redb").display().to_string()])
        .args(["--state-file", &dir.path().join("state.json").display().to_string(), "--sink-max-wait", "2"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start af runner");
    let mut stderr = runner.stderr.take().expect("stderr");
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = stderr.read_to_end(&mut sink);
    });
    let pid = runner.id();
    // Ramp up until the environment holds nearly the target in flight.
    let started = Instant::now();
    while (in_flight.load(Ordering::Relaxed) as f64) < target * 0.9 {
        assert!(started.elapsed() < Duration::from_secs(120), "never reached {target} in flight (peak {})", peak.load(Ordering::Relaxed));
        std::thread::sleep(Duration::from_millis(100));
    }
    let (cpu_before, _) = cpu_and_peak(pid);
    let window = Instant::now();
    let mut samples = Vec::new();
    while window.elapsed() < Duration::from_secs_f64(seconds) {
        std::thread::sleep(Duration::from_millis(250));
        samples.push(in_flight.load(Ordering::Relaxed));
    }
    let (cpu_after, peak_mib) = cpu_and_peak(pid);
    let cpu_share = (cpu_after - cpu_before) / window.elapsed().as_secs_f64();
    samples.sort_unstable();
    let median_in_flight = samples[samples.len() / 2];
    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")), nix::sys::signal::Signal::SIGTERM);
    let _ = runner.wait();
    let _ = devnet.kill();
    let _ = devnet.wait();

    // Overhead per evaluation: what the runner recorded beyond the environment's own sleep.
    let store = dir.path().join("devnet/store/affine/results");
    let overheads: Vec<f64> = std::fs::read_dir(&store)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter_map(|e| std::fs::read(e.path()).ok())
                .filter_map(|bytes| serde_json::from_slice::<Vec<Value>>(&bytes).ok())
                .flatten()
                .filter_map(|r| r["latency_seconds"].as_f64())
                .map(|latency| (latency - sleep) * 1000.0)
                .collect()
        })
        .unwrap_or_default();
    let results = overheads.len();
    let baseline = runtime.block_on(baseline_overheads(&url, miners, interval, sleep, seconds + sleep));
    let cpu_seconds = cpu_after - cpu_before;
    let evaluations_in_window = (seconds / interval) * miners as f64;
    println!(
        "runner: {median_in_flight} evaluations in flight (median; peak {}), {miners} miners, one every {interval:.3} s each, env sleeping {sleep} s",
        peak.load(Ordering::Relaxed)
    );
    println!(
        "runner CPU: {:.1} % of one core over {seconds} s ({:.0} us per evaluation); peak RSS {peak_mib:.0} MiB",
        cpu_share * 100.0,
        cpu_seconds / evaluations_in_window * 1e6
    );
    let show = |label: &str, (count, p50, p99, max, slow): (usize, f64, f64, f64, usize)| {
        println!("{label} ({count} calls): p50 {p50:.2} ms, p99 {p99:.2} ms, max {max:.2} ms, {slow} over 100 ms");
    };
    show("latency beyond the env's sleep, through the runner", quantiles(overheads));
    show("latency beyond the env's sleep, plain client, same load", quantiles(baseline));
    if results == 0 {
        println!("(no results reached the store)");
    }
}
