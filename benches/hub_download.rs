//! Throughput and memory of `af hub download` against the devnet's Hub server.
//!
//! Run with `cargo bench --bench hub_download`. Serves a repository of four 64 MiB LFS
//! safetensors files plus a config (256 MiB) from the devnet Hub on 127.0.0.1, then runs the
//! release `af hub download` three ways and prints wall time, MB/s and the peak RSS of the `af`
//! process: a cold download (fetch, hash, write), a rerun (everything skipped via the metadata
//! files), and a rerun without metadata (every LFS file re-hashed from disk and kept).
//!
//! The server runs in a child process (this program with `--serve`), so the measuring process
//! stays small: a spawned child's peak RSS starts from its parent's at spawn time.
//!
//! Options (after `--`): `--mib N` per file (default 64).

#![expect(clippy::print_stdout, reason = "a benchmark prints its figures")]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use affine::devnet::hub::{HubFile, HubRepo, HubServer};
use nix::sys::resource::{UsageWho, getrusage};

const COMMIT: &str = "b3e1f0c2d4a5968778695a4b3c2d1e0f9a8b7c6d";

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        out.extend_from_slice(&state.wrapping_mul(0x2545_f491_4f6c_dd1d).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Runs `af hub download` once; returns seconds and the largest peak RSS (KiB) of the `af`
/// runs so far (`getrusage` of waited children keeps the maximum).
fn run(url: &str, dest: &Path) -> (f64, i64) {
    let started = Instant::now();
    let output = Command::new(env!("CARGO_BIN_EXE_af"))
        .args(["hub", "download", "--repo", "bench/affine-bench", "--revision", COMMIT, "--json", "--dest"])
        .arg(dest)
        .env("HF_ENDPOINT", url)
        .env("AF_NO_DOTENV", "1")
        .output()
        .expect("run af");
    let seconds = started.elapsed().as_secs_f64();
    assert!(output.status.success(), "af failed: {}", String::from_utf8_lossy(&output.stderr));
    (seconds, getrusage(UsageWho::RUSAGE_CHILDREN).map_or(0, |usage| usage.max_rss()))
}

fn mib_option(args: &[String]) -> usize {
    args.iter().position(|a| a == "--mib").and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(64)
}

/// `--serve`: start the Hub, print its URL, serve until stdin closes.
fn serve(mib: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut files = vec![HubFile::new("config.json", b"{\"model_type\":\"qwen2\"}".to_vec(), false)];
        for i in 0..4u64 {
            files.push(HubFile::new(&format!("model-0000{}-of-00004.safetensors", i + 1), data(mib << 20, i + 1), true));
        }
        let total: usize = files.iter().map(|f| f.content.len()).sum();
        let repo = HubRepo { id: "bench/affine-bench".into(), commit: COMMIT.into(), gated: false, private: false, files };
        let server = HubServer::start(vec![repo]).await;
        println!("{} {total}", server.url());
        let _ = std::io::Write::flush(&mut std::io::stdout());
        tokio::task::spawn_blocking(|| {
            let mut sink = String::new();
            let _ = std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink);
        })
        .await
        .expect("join");
    });
}

#[expect(clippy::cast_precision_loss, reason = "figures for people")]
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mib = mib_option(&args);
    if args.iter().any(|a| a == "--serve") {
        serve(mib);
        return;
    }
    let mut server = Command::new(std::env::current_exe().expect("own exe"))
        .args(["--serve", "--mib", &mib.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start server");
    let mut line = String::new();
    BufReader::new(server.stdout.take().expect("stdout")).read_line(&mut line).expect("server url");
    let (url, total) = line.trim().split_once(' ').expect("url and size");
    let total: usize = total.parse().expect("size");
    let dest = tempfile::tempdir().expect("tempdir");
    let path = dest.path();
    let cold = run(url, path);
    let warm = run(url, path);
    for entry in std::fs::read_dir(path.join(".cache/huggingface/download")).expect("dir").flatten() {
        if entry.file_name().to_string_lossy().ends_with(".metadata") {
            std::fs::remove_file(entry.path()).expect("remove metadata");
        }
    }
    let rehash = run(url, path);
    drop(server.stdin.take());
    let _ = server.wait();
    let mb = total as f64 / 1e6;
    println!("hub_download: 5 files, {mb:.1} MB, 8 workers, loopback");
    for (name, (seconds, rss)) in [("cold download", cold), ("rerun, all skipped", warm), ("rerun, re-hash without metadata", rehash)] {
        println!("  {name:<32} {seconds:>7.3} s  {:>8.1} MB/s  peak RSS so far {:>7.1} MiB", mb / seconds, rss as f64 / 1024.0);
    }
}
