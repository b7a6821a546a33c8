//! Figures for `af validate`: the validator's RSS across tempos over a large result store (it
//! must stay flat), and the time from a tempo's boundary to its confirmed weights, on
//! `af devnet` with `af signer`, all as child processes of the built binary.
//!
//! The store is generated into a temporary folder with the library writer: `--records N`
//! result records (default 200,000; `--records 1000000` for the production size) of about
//! 1.5 KB each, in 250 shards, for the devnet's miners.
//!
//! `cargo bench --bench validate [-- --records N --tempos 10 --interval 20 --block-time 500ms]`.

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![expect(clippy::cast_precision_loss, reason = "sizes shown in MiB")]

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affine::model::ResultRecord;
use affine::store::{Store, StoreConfig};
use serde_json::{Value, json};

const SHARDS: u64 = 250;

fn option(name: &str, default: &str) -> String {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned().unwrap_or_else(|| default.to_owned())
}

fn number(name: &str, default: u64) -> u64 {
    option(name, &default.to_string()).parse().unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

/// A child whose stdout and stderr are collected; killed on drop.
struct Process {
    child: Child,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

fn collect(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let buffer = sink.clone();
    std::thread::spawn(move || {
        let mut chunk = [0_u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                return;
            }
            buffer.lock().expect("lock").extend_from_slice(&chunk[..n]);
        }
    });
    sink
}

impl Process {
    fn spawn(mut command: Command) -> Self {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start af");
        let stdout = collect(child.stdout.take().expect("piped"));
        let stderr = collect(child.stderr.take().expect("piped"));
        Self { child, stdout, stderr }
    }

    fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("lock")).into_owned()
    }

    fn documents(&self) -> Vec<Value> {
        let text = String::from_utf8_lossy(&self.stdout.lock().expect("lock")).into_owned();
        serde_json::Deserializer::from_str(&text).into_iter::<Value>().map_while(Result::ok).collect()
    }

    fn wait_for(&mut self, what: &str, mut probe: impl FnMut(&Self) -> Option<String>) -> String {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            assert!(self.child.try_wait().expect("poll").is_none(), "exited before {what}: {}", self.stderr());
            assert!(Instant::now() < deadline, "no {what}: {}", self.stderr());
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn af(env: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_af"));
    command.env_clear().env("AF_NO_DOTENV", "1").env("PATH", std::env::var_os("PATH").unwrap_or_default());
    // The allocator's knobs pass through, to compare (e.g. MALLOC_ARENA_MAX=2).
    for (key, value) in std::env::vars_os().filter(|(k, _)| k.to_string_lossy().starts_with("MALLOC_")) {
        command.env(key, value);
    }
    command.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    command
}

/// Production-shaped records (about 1.5 KB: the request payload and a conversation in
/// `extra`) for `miners`, `count` in all, written in [`SHARDS`] shards below `head`.
fn generate_store(store: &Store, miners: &[Value], count: u64, head: u64) -> u64 {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let windows = (head / 20).max(1);
    let per_shard = count.div_ceil(SHARDS);
    let padding = "x".repeat(900);
    let mut written = 0;
    for shard in 0..SHARDS {
        let window = (shard % windows) * 20;
        let validator = format!("5Bench{shard:04}");
        let records: Vec<ResultRecord> = (0..per_shard)
            .map(|i| {
                let n = shard * per_shard + i;
                let miner = &miners[usize::try_from(n).unwrap_or(0) % miners.len()];
                let env = &affine::environments::ENVIRONMENTS[usize::try_from(n / 7).unwrap_or(0) % 8];
                let task_id = env.task_start + n % env.dataset_size();
                serde_json::from_value(json!({
                    "version": "1", "signature": "ab".repeat(64), "hotkey": validator,
                    "miner": {"uid": miner["uid"], "hotkey": miner["hotkey"], "model": miner["model"], "revision": miner["revision"],
                              "block": miner["block"], "chute": null, "slug": miner["slug"], "weights_shas": null},
                    "env": env.id, "score": if n.is_multiple_of(3) { env.score_range.1 } else { env.score_range.0 }, "latency_seconds": 1.5,
                    "success": true, "error": null, "task_id": task_id,
                    "extra": {"request": {"task_id": task_id, "seed": n, "temperature": 0.0, "timeout": 600, "base_url": "http://x/v1"},
                              "image": "bignickeye/affine:v3", "conversation": [{"role": "user", "content": padding}]},
                    "timestamp": 1_763_000_000.0 + (n as f64),
                }))
                .expect("record")
            })
            .collect();
        written += records.len() as u64;
        runtime.block_on(affine::store::writer::write_results(store, window, &validator, &records)).expect("write shard");
    }
    written
}

fn main() {
    let records = number("--records", 200_000);
    let tempos = number("--tempos", 10);
    let interval = number("--interval", 20);
    let block_time = option("--block-time", "500ms");
    let dir = tempfile::tempdir().expect("tempdir");

    let devnet_dir = dir.path().join("devnet");
    let mut devnet = Process::spawn({
        let mut command = af(&[]);
        command.args([
            "devnet",
            "--port",
            "0",
            "--json",
            "--tempo",
            "10",
            "--weights-rate-limit",
            "2",
            "--block-time",
            &block_time,
            "--dir",
        ]);
        command.arg(&devnet_dir);
        command
    });
    devnet.wait_for("devnet.env", |_| devnet_dir.join("devnet.env").is_file().then(String::new));
    std::thread::sleep(Duration::from_millis(200));
    let env: Vec<(String, String)> = std::fs::read_to_string(devnet_dir.join("devnet.env"))
        .expect("devnet.env")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect();
    let store_dir = dir.path().join("store");
    let mut env: Vec<(String, String)> = env.into_iter().filter(|(k, _)| k != "AF_STORE_DIR").collect();
    env.push(("AF_STORE_DIR".to_owned(), store_dir.display().to_string()));

    let miners: Value =
        serde_json::from_slice(&af(&env).args(["miners", "--json"]).output().expect("af miners").stdout).expect("miners json");
    let miners: Vec<Value> = miners["miners"].as_array().expect("miners").iter().filter(|m| m["status"] == "valid").cloned().collect();
    let head: Value = serde_json::from_slice(&af(&env).args(["metagraph", "--json"]).output().expect("af metagraph").stdout).expect("json");
    let head = head["block"].as_u64().expect("block");
    let store = Store::new(StoreConfig::local(store_dir.clone())).expect("store");
    let started = Instant::now();
    let written = generate_store(&store, &miners, records, head);
    let bytes: u64 = walk_size(&store_dir);
    println!(
        "store: {written} records in {SHARDS} shards, {:.0} MiB, written in {:.1} s",
        bytes as f64 / 1_048_576.0,
        started.elapsed().as_secs_f64()
    );

    let mut signer = Process::spawn({
        let mut command = af(&env);
        command.args(["signer", "--port", "0"]).env("CONFIRMATION_BLOCKS", "1");
        command
    });
    let address = signer.wait_for("the signer's address", |s| {
        let text = s.stderr();
        let line = text.lines().find(|l| l.contains("signer listening"))?.to_owned();
        let start = line.find("address=")? + "address=".len();
        line[start..].split_whitespace().next().map(str::to_owned)
    });
    let mut validator = Process::spawn({
        let mut command = af(&env);
        command
            .args(["validate", "--json", "--interval", &interval.to_string()])
            .env("SIGNER_URL", format!("http://{address}"))
            .env("CONFIRMATION_BLOCKS", "1");
        command
    });
    let pid = validator.child.id();
    let mut peaks = Vec::new();
    let mut peak = 0;
    let mut seen = 0;
    let deadline = Instant::now() + Duration::from_secs(120 + tempos * interval * 2);
    while peaks.len() < usize::try_from(tempos).unwrap_or(10) {
        assert!(Instant::now() < deadline, "{} tempos in time: {}", tempos, validator.stderr());
        assert!(validator.child.try_wait().expect("poll").is_none(), "af validate exited: {}", validator.stderr());
        peak = peak.max(rss_kib(pid));
        let documents = validator.documents();
        for document in documents.iter().skip(seen) {
            peaks.push((document.clone(), peak, rss_kib(pid)));
            peak = 0;
        }
        seen = documents.len();
        std::thread::sleep(Duration::from_millis(50));
    }
    println!("tempo  boundary  result     route   boundary->done  peak RSS  RSS after");
    for (i, (document, peak, after)) in peaks.iter().enumerate() {
        println!(
            "{:>5}  {:>8}  {:<9}  {:<6}  {:>12.2} s  {:>5.1} MiB  {:>5.1} MiB",
            i + 1,
            document["boundary"],
            document["result"].as_str().unwrap_or("?"),
            document["route"].as_str().unwrap_or("-"),
            document["seconds"].as_f64().unwrap_or(f64::NAN),
            *peak as f64 / 1024.0,
            *after as f64 / 1024.0
        );
    }
    let peak_of = |range: &[(Value, u64, u64)]| range.iter().map(|(_, p, _)| *p).max().unwrap_or(0) as f64 / 1024.0;
    let half = peaks.len() / 2;
    println!(
        "peak RSS: first half {:.1} MiB, second half {:.1} MiB ({} tempos, {written} records, interval {interval} blocks of {block_time})",
        peak_of(&peaks[..half]),
        peak_of(&peaks[half..]),
        peaks.len()
    );
    drop(validator);
    drop(signer);
    drop(devnet);
}

fn walk_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir).map_or(0, |entries| {
        entries
            .filter_map(Result::ok)
            .map(|entry| {
                let path = entry.path();
                if path.is_dir() { walk_size(&path) } else { entry.metadata().map_or(0, |m| m.len()) }
            })
            .sum()
    })
}
