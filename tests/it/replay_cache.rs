//! `af weights --replay DIR --cache C` end to end: cold, warm and mixed passes give the
//! reference weights on every golden case; damaged entries are rebuilt; the replay directory
//! is only read; hostile shard files (huge junk, a FIFO, a link to /dev/zero) cost neither
//! memory nor a hang.

use std::collections::BTreeSet;
use std::io::Write as _;
use std::path::Path;

use serde_json::Value;

use crate::support::{af, run_python, unpack_scorer_case};

const CASES: [&str; 6] = ["tiny-all-eligible", "copycat-later-loses", "insufficient-samples", "mixed-32", "nobody-eligible", "burn-half"];

fn replay(dir: &Path, cache: &Path) -> Value {
    replay_expecting(dir, cache, &[])
}

/// [`replay`] that allows stderr lines containing one of `allowed` (and nothing else).
fn replay_expecting(dir: &Path, cache: &Path, allowed: &[&str]) -> Value {
    let output = af().args(["weights", "--json", "--replay"]).arg(dir).arg("--cache").arg(cache).output().expect("run af");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    let unexpected: Vec<&str> = stderr.lines().filter(|line| !allowed.iter().any(|a| line.contains(a))).collect();
    assert!(unexpected.is_empty(), "a pass over a good cache logs nothing: {stderr}");
    serde_json::from_slice(&output.stdout).expect("one JSON document")
}

/// Everything but the input counters, which differ between cold and warm passes by design.
fn scored(document: &Value) -> Value {
    let mut scored = document.clone();
    scored.as_object_mut().expect("object").remove("input");
    scored
}

fn listing(dir: &Path) -> BTreeSet<(String, u64)> {
    std::fs::read_dir(dir.join("results"))
        .expect("results")
        .map(|e| e.expect("entry"))
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.metadata().expect("metadata").len()))
        .collect()
}

fn check_weights(name: &str, dir: &Path, document: &Value) {
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json")).expect("json");
    let expected = expected["weights"].as_object().expect("weights");
    let uids = document["uids"].as_array().expect("uids");
    assert_eq!(uids.len(), expected.len(), "{name}: weight uids");
    for (uid, weight) in uids.iter().zip(document["weights"].as_array().expect("weights")) {
        let want = expected[&uid.to_string()].as_f64().expect("weight");
        assert!((weight.as_f64().expect("weight") - want).abs() <= 1e-9, "{name}: uid {uid}");
    }
}

#[test]
fn cli_replay_cache_cold_warm_and_mixed_passes_give_the_reference_weights() {
    for (round, name) in CASES.iter().enumerate() {
        let (_temp, dir) = unpack_scorer_case(name);
        let cache = tempfile::tempdir().expect("cache dir");
        let before = listing(&dir);

        let cold = replay(&dir, cache.path());
        let shards = cold["input"]["shards"].as_u64().expect("shards");
        assert_eq!(cold["input"]["shards_cached"].as_u64(), Some(0), "{name}");
        check_weights(name, &dir, &cold);

        let warm = replay(&dir, cache.path());
        assert_eq!(warm["input"]["shards_cached"].as_u64(), Some(shards), "{name}: every shard from the cache");
        assert_eq!(scored(&warm), scored(&cold), "{name}: warm == cold");
        assert_eq!(warm["input"]["records"], cold["input"]["records"]);

        // Mixed: some entries damaged, some removed, one shard rewritten with other content.
        let entries: Vec<_> = std::fs::read_dir(cache.path().join("compact")).expect("entries").map(|e| e.expect("entry").path()).collect();
        assert_eq!(entries.len() as u64, shards, "{name}: one entry per shard");
        let mut touched = 0;
        for (index, entry) in entries.iter().enumerate() {
            match (index + round) % 3 {
                0 => std::fs::remove_file(entry).expect("remove"),
                1 => {
                    let mut bytes = std::fs::read(entry).expect("read");
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 0x10;
                    std::fs::write(entry, bytes).expect("damage");
                }
                _ => continue,
            }
            touched += 1;
        }
        let mixed = replay(&dir, cache.path());
        assert_eq!(mixed["input"]["shards_cached"].as_u64(), Some(shards - touched), "{name}");
        assert_eq!(scored(&mixed), scored(&cold), "{name}: mixed == cold");
        assert_eq!(listing(&dir), before, "{name}: the replay directory is never written to");
    }
}

#[test]
fn cli_replay_cache_never_trusts_an_entry_for_a_changed_shard() {
    let (_temp, dir) = unpack_scorer_case("tiny-all-eligible");
    let cache = tempfile::tempdir().expect("cache dir");
    let cold = replay(&dir, cache.path());
    // Empty every shard but keep each file's name and length: only the content changed.
    for entry in std::fs::read_dir(dir.join("results")).expect("results") {
        let path = entry.expect("entry").path();
        let len = usize::try_from(std::fs::metadata(&path).expect("stat").len()).expect("small");
        let mut padded = b"[]".to_vec();
        padded.resize(len, b' ');
        std::fs::write(&path, padded).expect("rewrite");
    }
    // Zero records is a genuinely empty window: the one note the scorer gives for it is allowed.
    let changed = replay_expecting(&dir, cache.path(), &["no result records in the scored window"]);
    assert_eq!(changed["input"]["shards_cached"].as_u64(), Some(0));
    assert_eq!(changed["input"]["records"].as_u64(), Some(0));
    assert_ne!(scored(&changed), scored(&cold));
    assert_eq!(changed["uids"], serde_json::json!([0]), "no records: all weight to uid 0");
}

#[test]
fn cli_replay_cache_flag_needs_replay() {
    let output =
        af().args(["weights", "-r", "--cache", "c", "--metagraph", "m.json"]).env("AF_STORE_DIR", "/nonexistent").output().expect("run af");
    assert_eq!(output.status.code(), Some(2), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--cache applies to --replay"));
}

/// Runs the built `af` under Python and returns its exit code, stdout and peak RSS in KiB:
/// Python's only child is `af`, so `RUSAGE_CHILDREN` is `af`'s own peak whatever else this
/// test process has started.
fn af_with_peak_rss(args: &[&std::ffi::OsStr]) -> (i32, Value, String, u64) {
    const SCRIPT: &str = r#"
import json, os, resource, subprocess, sys
env = {"AF_NO_DOTENV": "1", "PATH": os.environ.get("PATH", "")}
done = subprocess.run(sys.argv[1:], env=env, capture_output=True, timeout=600)
print(json.dumps({"code": done.returncode, "stdout": done.stdout.decode(), "stderr": done.stderr.decode(),
                  "max_rss_kib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"#;
    let af = std::ffi::OsString::from(env!("CARGO_BIN_EXE_af"));
    let mut command_line: Vec<&std::ffi::OsStr> = vec![&af];
    command_line.extend_from_slice(args);
    let report: Value = serde_json::from_str(run_python(SCRIPT, &command_line, "").trim()).expect("python report");
    let stdout: Value = serde_json::from_str(report["stdout"].as_str().expect("stdout")).unwrap_or(Value::Null);
    (
        i32::try_from(report["code"].as_i64().expect("code")).expect("small"),
        stdout,
        report["stderr"].as_str().expect("stderr").to_owned(),
        report["max_rss_kib"].as_u64().expect("rss"),
    )
}

#[test]
fn cli_replay_of_a_huge_malformed_shard_a_fifo_and_dev_zero_stays_small_and_exits_0() {
    const ZEROS: u64 = 50 * 1024 * 1024;
    let (_temp, dir) = unpack_scorer_case("tiny-all-eligible");
    let results = dir.join("results");
    let metagraph: Value = serde_json::from_slice(&std::fs::read(dir.join("metagraph.json")).expect("metagraph")).expect("json");
    let window = metagraph["block"].as_u64().expect("block") / 20 * 20;
    // 100 MiB of `[0,0,...]`: every element is a record the scorer cannot use.
    {
        let file = std::fs::File::create(results.join(format!("{window:09}-5Junk.json"))).expect("create");
        let mut writer = std::io::BufWriter::new(file);
        writer.write_all(b"[0").expect("write");
        let chunk = b",0".repeat(64 * 1024);
        for _ in 0..(ZEROS - 1) / (64 * 1024) {
            writer.write_all(&chunk).expect("write");
        }
        let rest = usize::try_from((ZEROS - 1) % (64 * 1024)).expect("small");
        writer.write_all(&chunk[..rest * 2]).expect("write");
        writer.write_all(b"]").expect("write");
        writer.flush().expect("flush");
    }
    nix::unistd::mkfifo(&results.join(format!("{window:09}-5Fifo.json")), nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
    std::os::unix::fs::symlink("/dev/zero", results.join(format!("{window:09}-5Zero.json"))).expect("symlink");
    let cache = tempfile::tempdir().expect("cache dir");

    for pass in ["cold", "warm"] {
        let (code, document, stderr, peak_kib) = af_with_peak_rss(&[
            "weights".as_ref(),
            "--json".as_ref(),
            "--replay".as_ref(),
            dir.as_os_str(),
            "--cache".as_ref(),
            cache.path().as_os_str(),
        ]);
        assert_eq!(code, 0, "{pass}: {stderr}");
        let input = &document["input"];
        assert_eq!(input["invalid_records"].as_u64(), Some(ZEROS), "{pass}: every zero counted as skipped");
        assert_eq!(input["shards_skipped"].as_u64(), Some(2), "{pass}: the FIFO and /dev/zero");
        assert!(stderr.contains("not a regular file") && stderr.contains("5Fifo") && stderr.contains("5Zero"), "{pass}: {stderr}");
        eprintln!("figures: {pass} pass over a 100 MiB junk shard: peak RSS {} MiB", peak_kib / 1024);
        assert!(peak_kib < 300 * 1024, "{pass}: peak RSS {peak_kib} KiB for a 100 MiB shard");
    }
}
