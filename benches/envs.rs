//! Figures for the affine environment: SAT generation and scoring per instance, and the
//! latency of one sandboxed Python run (sequential, and throughput with 20 in parallel).
//!
//! `cargo bench --bench envs` (uses `/usr/bin/python3`, or `AF_TEST_SANDBOX_PYTHON`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use affine::envs::sandbox::{Limits, Sandbox};
use affine::envs::sat;

#[expect(clippy::print_stdout, reason = "a bench prints its figures")]
fn main() {
    let started = Instant::now();
    let instances: Vec<sat::SatInstance> = (0..500).map(sat::generate).collect();
    let generate = started.elapsed();
    let answers: Vec<String> = instances.iter().map(|i| sat::format_assignment(&i.solution)).collect();
    let started = Instant::now();
    let total: f64 = instances.iter().zip(&answers).map(|(i, a)| sat::score(a, &i.clauses)).sum();
    let score = started.elapsed();
    assert!((total - 500.0).abs() < f64::EPSILON);
    println!("sat generate: {:.1} us/instance (500 instances)", generate.as_secs_f64() * 1e6 / 500.0);
    println!("sat score:    {:.1} us/reply", score.as_secs_f64() * 1e6 / 500.0);

    let python = std::env::var_os("AF_TEST_SANDBOX_PYTHON").map_or_else(|| PathBuf::from("/usr/bin/python3"), PathBuf::from);
    let sandbox = Sandbox::new(PathBuf::from(env!("CARGO_BIN_EXE_af")), python, Limits::default());
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut runs: Vec<Duration> = Vec::new();
        for _ in 0..20 {
            let started = Instant::now();
            let output = sandbox.run_python("print(int(input()) * 2)", "21\n").await.expect("sandbox runs");
            assert_eq!(output.stdout, "42\n");
            runs.push(started.elapsed());
        }
        runs.sort();
        println!(
            "sandbox run:  median {:.1} ms, max {:.1} ms (20 sequential runs)",
            runs[10].as_secs_f64() * 1e3,
            runs[19].as_secs_f64() * 1e3
        );
        let started = Instant::now();
        let mut parallel = tokio::task::JoinSet::new();
        for _ in 0..20 {
            let sandbox = sandbox.clone();
            parallel.spawn(async move { sandbox.run_python("print(sum(range(10**5)))", "").await });
        }
        let mut done = 0;
        while let Some(result) = parallel.join_next().await {
            assert!(result.expect("join").expect("runs").stdout.starts_with("4999950000"));
            done += 1;
        }
        println!("sandbox runs: {:.1} runs/s with 20 in parallel", f64::from(done) / started.elapsed().as_secs_f64());
    });
}
