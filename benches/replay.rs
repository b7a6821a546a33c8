//! End-to-end and scoring-only benchmarks of `af weights --replay`: reading the bytes, the
//! cold pass and the warm (compact cache) pass, in one run.
//!
//! Run with `cargo bench --bench replay` (64 miners, ~225k records), or with `-- --full`
//! (or `AF_BENCH_FULL=1`) for the production shape: 256 miners x 8 environments x 440
//! samples = 901,120 records of ~1.5 KB (a conversation of ~0.5 KB with escaped newlines and
//! quotes in `extra`), ~1.4 GB in 20-block window shards from two validators. The first run
//! writes the replay directory under `target/bench-data/`; later runs reuse it.
//!
//! Prints, each as the median of `--runs` runs with the peak RSS of the measured process:
//! `cat` of every shard to /dev/null, `af weights --replay` without a cache, the cold pass
//! (`--cache` on an empty folder: parse, and write the entries), the warm pass (every entry
//! current), and the ratios to `cat`. Writing 4,000 entries is file-system bound: set
//! `AF_BENCH_CACHE_DIR` to a tmpfs folder to see the pass without the disk's inode allocation; then the scoring step alone on its worst case (all
//! miners tied, so every miner is on every frontier). Only ratios within one run compare:
//! absolute times on a shared machine drift.
//!
//! Options (after `--`): `--full`, `--runs N` (default 3), `--miners N` (default 64, 256
//! with `--full`), `--samples N` (per miner and environment, default 440); environment
//! `AF_BENCH_CACHE_DIR` for where the compact caches go (default `target/bench-data`).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use affine::environments::ENVIRONMENTS;
use affine::scoring::{ChainView, ENV_COUNT, IngestCounters, MinerStats, SampleTable, ScoringPolicy, score_window};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::json;

const TAIL: u64 = 40_000;
const BLOCK: u64 = 7_000_000;
const VALIDATORS: [&str; 2] = ["5ValidatorAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "5ValidatorBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"];
const DATA_VERSION: &str = "v4";

/// A small deterministic generator (xorshift64*), so the data set is the same on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
    #[expect(clippy::cast_precision_loss, reason = "53 random bits")]
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1_u64 << 53) as f64
    }
}

fn hotkey(uid: usize) -> String {
    format!("5Miner{uid:04}{}", "x".repeat(38))
}

/// Prompt- or answer-like text: words, line breaks and quotes (escaped in the JSON).
fn lorem(rng: &mut Rng, bytes: usize) -> String {
    const WORDS: [&str; 14] = [
        "clause",
        "variable",
        "assign",
        "true",
        "false",
        "satisfy",
        "the",
        "formula",
        "input",
        "program",
        "output",
        "value",
        "\"x1\"",
        "def f(n):\n    return n",
    ];
    let mut text = String::with_capacity(bytes + 32);
    while text.len() < bytes {
        text.push_str(WORDS[usize::try_from(rng.below(14)).expect("small")]);
        text.push(if rng.below(9) == 0 { '\n' } else { ' ' });
    }
    text
}

/// Writes the replay directory unless a complete one of the same shape exists.
fn ensure_dataset(dir: &Path, miners: usize, samples: u64) -> std::io::Result<u64> {
    let stamp = dir.join("complete");
    let expected_stamp = format!("{DATA_VERSION} miners={miners} samples={samples}");
    if std::fs::read_to_string(&stamp).is_ok_and(|s| s.starts_with(&expected_stamp)) {
        let records = std::fs::read_to_string(&stamp)?.rsplit('=').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
        return Ok(records);
    }
    let started = Instant::now();
    let _ = std::fs::remove_dir_all(dir);
    let results = dir.join("results");
    std::fs::create_dir_all(&results)?;
    let hotkeys: Vec<String> = (0..miners).map(hotkey).collect();
    let metagraph = json!({
        "netuid": 120, "block": BLOCK, "tail": TAIL, "hotkeys": hotkeys, "queryable": hotkeys,
        "first_commit_block": {}, "burn": 0.0,
    });
    std::fs::write(dir.join("metagraph.json"), serde_json::to_vec_pretty(&metagraph)?)?;

    let windows = TAIL / 20;
    let first_window = (BLOCK - TAIL) / 20 * 20;
    let mut shards: Vec<Vec<serde_json::Value>> = vec![Vec::new(); usize::try_from(windows).expect("small") * VALIDATORS.len()];
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    let mut records = 0_u64;
    for uid in 0..miners {
        let skill = 0.2 + 0.7 * rng.unit();
        let block = 6_900_000 + rng.below(90_000);
        for spec in &ENVIRONMENTS {
            for sample in 0..samples {
                let task_id = spec.task_start + if sample < spec.dataset_size() { sample } else { rng.below(spec.dataset_size()) };
                let hit = rng.unit() < skill;
                let score = if spec.id == "agentgym:sciworld" { if hit { 100.0 } else { -100.0 } } else { f64::from(u8::from(hit)) };
                let shard = usize::try_from(rng.below(windows * 2)).expect("small");
                let record = json!({
                    "version": "0.0.0",
                    "signature": format!("{:0128x}", u128::from(rng.next())),
                    "hotkey": VALIDATORS[shard % 2],
                    "miner": {
                        "uid": uid, "hotkey": hotkey(uid), "model": format!("user{uid}/Affine-model-{uid}"),
                        "revision": format!("{:040x}", uid), "block": block, "chute": {"chute_id": format!("chute-{uid}"), "hot": true},
                        "slug": format!("user{uid}-affine"), "weights_shas": [format!("{:064x}", uid)],
                    },
                    "env": spec.id, "score": score, "latency_seconds": 3.0 + rng.unit() * 40.0, "success": true, "error": null,
                    "task_id": task_id,
                    "extra": {
                        "request": {"task_id": task_id, "seed": rng.below(1 << 32), "model": format!("user{uid}/Affine-model-{uid}"),
                                    "base_url": format!("https://user{uid}-affine.chutes.ai/v1"), "temperature": 0.0, "timeout": 600},
                        "image": "affinefoundation/affine-env:v4",
                        "conversation": [
                            {"role": "user", "content": lorem(&mut rng, 380)},
                            {"role": "assistant", "content": lorem(&mut rng, 140)},
                        ],
                    },
                    "timestamp": 1_763_000_000.0 + rng.unit() * 500_000.0,
                });
                shards[shard].push(record);
                records += 1;
            }
        }
    }
    for (index, shard) in shards.iter().enumerate() {
        if shard.is_empty() {
            continue;
        }
        let window = first_window + 20 * (index as u64 / 2);
        let path = results.join(format!("{window:09}-{}.json", VALIDATORS[index % 2]));
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        serde_json::to_writer(&mut file, shard)?;
        file.flush()?;
    }
    std::fs::write(&stamp, format!("{expected_stamp} records={records}"))?;
    println!("generated {records} records in {:.1} s under {}", started.elapsed().as_secs_f64(), dir.display());
    Ok(records)
}

fn shard_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir.join("results"))
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    paths.sort();
    paths
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

/// The worst case for the frontier search: every miner identical, same block.
fn tied_table(miners: usize) -> (SampleTable, ChainView) {
    let stats = (0..miners)
        .map(|uid| MinerStats {
            uid: u32::try_from(uid).expect("small"),
            active_rank: Some(u32::try_from(uid).expect("small")),
            identity: None,
            first_block: Some(6_950_000),
            counts: [500; ENV_COUNT],
            sums: [350.0; ENV_COUNT],
        })
        .collect();
    let view = ChainView {
        hotkeys: (0..miners).map(hotkey).collect(),
        queryable: vec![true; miners],
        first_commit_block: vec![None; miners],
        burn: 0.0,
    };
    (SampleTable { miners: stats, counters: IngestCounters::default() }, view)
}

fn option<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> T {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// What one measurement runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cat,
    NoCache,
    Cold,
    Warm,
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Cat, Kind::NoCache, Kind::Cold, Kind::Warm];

    fn name(self) -> &'static str {
        match self {
            Kind::Cat => "cat",
            Kind::NoCache => "no-cache",
            Kind::Cold => "cold",
            Kind::Warm => "warm",
        }
    }

    fn label(self) -> &'static str {
        match self {
            Kind::Cat => "cat of the shards",
            Kind::NoCache => "af --replay, no cache",
            Kind::Cold => "af cold (writes cache)",
            Kind::Warm => "af warm (cache current)",
        }
    }
}

/// Runs one kind of measurement `runs` times from this otherwise idle process and prints
/// `median_seconds peak_rss_kib` on stdout for the parent.
fn measure(dir: &Path, cache: &Path, kind: Kind, runs: usize) -> std::io::Result<()> {
    let shards = shard_paths(dir);
    let af = |with_cache: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_af"));
        command.args(["weights", "--json", "--replay"]).arg(dir).env("AF_NO_DOTENV", "1").stdout(Stdio::null()).stderr(Stdio::inherit());
        if with_cache {
            command.arg("--cache").arg(cache);
        }
        command
    };
    if kind == Kind::Warm {
        // Fill the cache once; only passes over a current cache are timed.
        let _ = std::fs::remove_dir_all(cache);
        assert!(af(true).status()?.success(), "filling the cache failed");
    }
    let mut walls = Vec::new();
    for run in 0..runs {
        let mut command = match kind {
            Kind::Cat => {
                let mut cat = Command::new("cat");
                cat.args(&shards).stdout(Stdio::null());
                cat
            }
            Kind::NoCache => af(false),
            Kind::Warm => af(true),
            Kind::Cold => {
                // A fresh folder per run, removed only after all runs: deleting thousands of
                // files just before a run makes the file system's inode allocation slow.
                let mut command = af(false);
                command.arg("--cache").arg(cache.with_extension(format!("cold-{run}")));
                command
            }
        };
        let started = Instant::now();
        let status = command.status()?;
        walls.push(started.elapsed());
        assert!(status.success(), "{} failed: {status}", kind.name());
    }
    if kind == Kind::Cold {
        for run in 0..runs {
            let _ = std::fs::remove_dir_all(cache.with_extension(format!("cold-{run}")));
        }
    }
    let peak_rss_kib = getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |usage| usage.max_rss());
    println!("{} {peak_rss_kib}", median(walls).as_secs_f64());
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let full = args.iter().any(|a| a == "--full") || std::env::var("AF_BENCH_FULL").is_ok_and(|v| v == "1");
    let runs = option(&args, "--runs", 3_usize).max(1);
    let miners = option(&args, "--miners", if full { 256_usize } else { 64 }).max(2);
    let samples = option(&args, "--samples", 440_u64).max(1);
    let data = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data");
    let dir = data.join(format!("replay-{miners}x{samples}"));
    let cache =
        std::env::var_os("AF_BENCH_CACHE_DIR").map_or_else(|| data.clone(), PathBuf::from).join(format!("replay-{miners}x{samples}-cache"));
    if args.iter().any(|a| a == "--generate-only") {
        ensure_dataset(&dir, miners, samples)?;
        return Ok(());
    }
    if let Some(kind) = Kind::ALL.into_iter().find(|k| args.iter().any(|a| *a == format!("--measure-{}", k.name()))) {
        return measure(&dir, &cache, kind, runs);
    }
    // Generation and each measurement run in a child process: on Linux a process's children
    // peak RSS is the largest of all of them (and includes a parent's RSS at fork), so the
    // process that runs the measured command must have no other children and stay small.
    let own_exe = std::env::current_exe()?;
    let size = ["--miners".to_owned(), miners.to_string(), "--samples".to_owned(), samples.to_string()];
    let generated = Command::new(&own_exe).arg("--generate-only").args(&size).status()?;
    assert!(generated.success(), "generating the data set failed: {generated}");
    let records: u64 = std::fs::read_to_string(dir.join("complete"))?.rsplit('=').next().and_then(|n| n.trim().parse().ok()).unwrap_or(0);
    let shards = shard_paths(&dir);
    let bytes: u64 = shards.iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum();
    #[expect(clippy::cast_precision_loss, reason = "figures for display")]
    let (megabytes, per_record) = (bytes as f64 / 1e6, bytes as f64 / records.max(1) as f64);
    println!(
        "af weights --replay: {records} records ({per_record:.0} B each), {megabytes:.0} MB in {} shards, {miners} miners, median of {runs} runs",
        shards.len()
    );
    let mut figures = Vec::new();
    for kind in Kind::ALL {
        let output = Command::new(&own_exe)
            .arg(format!("--measure-{}", kind.name()))
            .args(&size)
            .args(["--runs", &runs.to_string()])
            .stderr(Stdio::inherit())
            .output()?;
        assert!(output.status.success(), "measuring {} failed", kind.name());
        let text = String::from_utf8_lossy(&output.stdout);
        let mut fields = text.split_whitespace();
        let seconds: f64 = fields.next().and_then(|f| f.parse().ok()).expect("seconds");
        let rss_kib: u64 = fields.next().and_then(|f| f.parse().ok()).expect("rss");
        figures.push((kind, seconds, rss_kib));
    }
    let cat_seconds = figures[0].1;
    println!("  {:<26} {:>9} {:>8} {:>9} {:>12}", "", "wall", "/ cat", "MB/s", "peak RSS");
    for (kind, seconds, rss_kib) in &figures {
        #[expect(clippy::cast_precision_loss, reason = "figures for display")]
        let rss_mib = *rss_kib as f64 / 1024.0;
        println!(
            "  {:<26} {:>8.3}s {:>7.2}x {:>9.0} {:>8.1} MiB",
            kind.label(),
            seconds,
            seconds / cat_seconds,
            megabytes / seconds,
            rss_mib
        );
    }
    #[expect(clippy::cast_precision_loss, reason = "figures for display")]
    let warm_per_million = figures[3].1 * 1e6 / records.max(1) as f64;
    println!(
        "  cold / warm {:.1}x; warm pass per 1M records {:.0} ms   (targets: cold <= 3x cat, warm < 100 ms per 1M records)",
        figures[2].1 / figures[3].1,
        warm_per_million * 1e3
    );

    let policy = ScoringPolicy::reference();
    let (table, view) = tied_table(miners);
    let mut times = Vec::new();
    for _ in 0..10 {
        let started = Instant::now();
        let report = score_window(&table, &view, &policy);
        times.push(started.elapsed());
        assert_eq!(report.miners.len(), miners);
    }
    println!(
        "scoring alone, worst case ({miners} miners all tied, all on every frontier): {:.2} ms median of 10   (target <= 50 ms)",
        median(times).as_secs_f64() * 1e3
    );
    Ok(())
}
