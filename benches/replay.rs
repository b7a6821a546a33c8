//! End-to-end and scoring-only benchmarks of `af weights --replay`.
//!
//! Run with `cargo bench --bench replay`. The first run writes a production-shaped replay
//! directory under `target/bench-data/` (256 miners x 8 environments x ~530 samples, about
//! 1.08M records of ~1.5 KB each, split into 20-block window shards from two validators); later
//! runs reuse it. Prints wall time, records per second and the peak RSS of the `af` process,
//! then the time of the scoring step alone on the worst case (all miners tied, so every miner
//! is on every frontier).
//!
//! Options (after `--`): `--runs N` (default 3), `--miners N` (default 256).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use affine::environments::ENVIRONMENTS;
use affine::scoring::{ChainView, ENV_COUNT, IngestCounters, MinerStats, SampleTable, ScoringPolicy, score_window};
use nix::sys::resource::{UsageWho, getrusage};
use serde_json::json;

const SAMPLES_PER_ENV: u64 = 530;
const TAIL: u64 = 40_000;
const BLOCK: u64 = 7_000_000;
const VALIDATORS: [&str; 2] = ["5ValidatorAaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "5ValidatorBbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"];
const DATA_VERSION: &str = "v2";

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

fn lorem(rng: &mut Rng, bytes: usize) -> String {
    const WORDS: [&str; 12] =
        ["clause", "variable", "assign", "true", "false", "satisfy", "the", "formula", "input", "program", "output", "value"];
    let mut text = String::with_capacity(bytes + 16);
    while text.len() < bytes {
        text.push_str(WORDS[usize::try_from(rng.below(12)).expect("small")]);
        text.push(' ');
    }
    text
}

/// Writes the replay directory unless a complete one of the same shape exists.
fn ensure_dataset(dir: &Path, miners: usize) -> std::io::Result<u64> {
    let stamp = dir.join("complete");
    let expected_stamp = format!("{DATA_VERSION} miners={miners}");
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
            for sample in 0..SAMPLES_PER_ENV {
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
                            {"role": "user", "content": lorem(&mut rng, 420)},
                            {"role": "assistant", "content": lorem(&mut rng, 120)},
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

fn directory_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir.join("results"))
        .map_or(0, |entries| entries.filter_map(Result::ok).filter_map(|e| e.metadata().ok()).map(|m| m.len()).sum())
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

fn option(args: &[String], name: &str, default: usize) -> usize {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Runs `af weights --replay` `runs` times and prints wall time, throughput and peak RSS.
fn measure_af(dir: &Path, runs: usize, miners: usize) -> std::io::Result<()> {
    let records = ensure_dataset(dir, miners)?;
    let bytes = directory_bytes(dir);
    let af = env!("CARGO_BIN_EXE_af");
    let mut walls = Vec::new();
    for _ in 0..runs {
        let started = Instant::now();
        let status = Command::new(af)
            .args(["weights", "--json", "--replay"])
            .arg(dir)
            .env("AF_NO_DOTENV", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .status()?;
        walls.push(started.elapsed());
        assert!(status.success(), "af weights --replay failed: {status}");
    }
    let peak_rss_kib = getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |usage| usage.max_rss());
    let wall = median(walls);
    #[expect(clippy::cast_precision_loss, reason = "figures for display")]
    let (records_per_second, megabytes, peak_mib) = (records as f64 / wall.as_secs_f64(), bytes as f64 / 1e6, peak_rss_kib as f64 / 1024.0);
    println!("af weights --replay: {records} records, {megabytes:.0} MB of shards, {miners} miners, {runs} runs");
    println!("  wall (median)   {:.3} s   (target <= 3 s)", wall.as_secs_f64());
    println!("  throughput      {records_per_second:.0} records/s, {:.0} MB/s", megabytes / wall.as_secs_f64());
    println!("  peak RSS        {peak_mib:.1} MiB   (target <= 256 MiB)");
    Ok(())
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let runs = option(&args, "--runs", 3).max(1);
    let miners = option(&args, "--miners", 256).max(2);
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target").join("bench-data").join(format!("replay-{miners}"));
    if args.iter().any(|a| a == "--generate-only") {
        ensure_dataset(&dir, miners)?;
        return Ok(());
    }
    if args.iter().any(|a| a == "--measure-only") {
        return measure_af(&dir, runs, miners);
    }
    // Generation and measurement each run in a child process: on Linux a process's children
    // peak RSS is the largest of all of them (and includes a parent's RSS at fork), so the
    // process that runs `af` must have no other children and stay small.
    let own_exe = std::env::current_exe()?;
    let generated = Command::new(&own_exe).args(["--generate-only", "--miners", &miners.to_string()]).status()?;
    assert!(generated.success(), "generating the data set failed: {generated}");
    let measured =
        Command::new(&own_exe).args(["--measure-only", "--miners", &miners.to_string(), "--runs", &runs.to_string()]).status()?;
    assert!(measured.success(), "measuring af failed: {measured}");

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
