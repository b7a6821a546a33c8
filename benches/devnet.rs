//! Figures for `af devnet`: time from start to `devnet.env` written, the idle process's RSS,
//! and how many chat completions per second the oracle miner answers (SAT prompts, which it
//! solves by search, and DED prompts, which it answers from the dataset).
//!
//! `cargo bench --bench devnet`. Options (after `--`): `--runs N` start-ups to time (default 5),
//! `--seconds S` of load on the oracle (default 5), `--concurrency C` requests in flight
//! (default 32).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]
#![expect(clippy::cast_precision_loss, reason = "counts shown as rates and MiB")]

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use affine::envs::{ded, sat};
use serde_json::json;

fn option(name: &str, default: u64) -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| status.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse().ok()))
        .unwrap_or(0)
}

struct Started {
    child: std::process::Child,
    env_after: Duration,
    dir: tempfile::TempDir,
}

fn start_devnet() -> Started {
    let dir = tempfile::tempdir().expect("tempdir");
    let started = Instant::now();
    let child = Command::new(env!("CARGO_BIN_EXE_af"))
        .env("AF_NO_DOTENV", "1")
        .args(["devnet", "--port", "0", "--dir"])
        .arg(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start af devnet");
    let env = dir.path().join("devnet.env");
    while !env.is_file() {
        assert!(started.elapsed() < Duration::from_secs(60), "no devnet.env after a minute");
        std::thread::sleep(Duration::from_millis(5));
    }
    Started { child, env_after: started.elapsed(), dir }
}

fn main() {
    let runs = option("--runs", 5);
    let seconds = option("--seconds", 5);
    let concurrency = usize::try_from(option("--concurrency", 32)).unwrap_or(32);

    let mut startups = Vec::new();
    let mut last = None;
    for run in 1..=runs.max(1) {
        let mut started = start_devnet();
        startups.push(started.env_after);
        if run == runs.max(1) {
            last = Some(started);
        } else {
            let _ = started.child.kill();
            let _ = started.child.wait();
        }
    }
    startups.sort();
    println!(
        "start to devnet.env: median {:.2} s, min {:.2} s, max {:.2} s ({runs} runs, 1 s blocks)",
        startups[startups.len() / 2].as_secs_f64(),
        startups[0].as_secs_f64(),
        startups[startups.len() - 1].as_secs_f64()
    );
    let mut running = last.expect("at least one run");
    std::thread::sleep(Duration::from_secs(5));
    println!("idle RSS after 5 s: {:.1} MiB", rss_kib(running.child.id()) as f64 / 1024.0);

    let env = std::fs::read_to_string(running.dir.path().join("devnet.env")).expect("devnet.env");
    let template = env.lines().find_map(|l| l.strip_prefix("AF_INFERENCE_URL_TEMPLATE=")).expect("template").to_owned();
    let base = template.replace("{slug}", "devnet-devnet-affine-1-oracle");
    let rows = affine::devnet::dataset::rows();
    let mut prompts: Vec<String> = (0..64).map(|id| sat::generate(id).prompt).collect();
    prompts.extend(rows.iter().take(64).map(ded::prompt));

    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (answered, elapsed) = runtime.block_on(async {
        let client = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let started = Instant::now();
        let mut workers = tokio::task::JoinSet::new();
        for worker in 0..concurrency {
            let (client, base, prompts) = (client.clone(), base.clone(), prompts.clone());
            workers.spawn(async move {
                let mut answered = 0_u64;
                let mut index = worker;
                while Instant::now() < deadline {
                    let body =
                        json!({"model": "m", "messages": [{"role": "user", "content": prompts[index % prompts.len()]}], "temperature": 0});
                    let response = client.post(format!("{base}/chat/completions")).json(&body).send().await.expect("request");
                    assert!(response.status().is_success(), "{}", response.status());
                    let _ = response.bytes().await.expect("body");
                    answered += 1;
                    index += concurrency;
                }
                answered
            });
        }
        let mut answered = 0;
        while let Some(count) = workers.join_next().await {
            answered += count.expect("worker");
        }
        (answered, started.elapsed())
    });
    println!(
        "oracle answers: {:.0}/s ({answered} in {:.1} s, {concurrency} in flight, SAT and DED prompts alternating)",
        answered as f64 / elapsed.as_secs_f64(),
        elapsed.as_secs_f64()
    );
    println!("RSS after the load: {:.1} MiB", rss_kib(running.child.id()) as f64 / 1024.0);
    let _ = running.child.kill();
    let _ = running.child.wait();
}
