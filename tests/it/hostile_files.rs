//! Hostile files: FIFOs, device links, oversized and malformed shards, missing folders, unsafe
//! index keys and a broken `.env`, against the built `af`. Each case asserts the documented exit
//! code, bounded time, bounded peak memory (the child's RSS), that nothing outside the
//! destination is touched, and that no secret is printed.

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::af;
use crate::support::hostile::{Finished, children_peak_rss_mib, run_within, tree};

/// Every case must end well within this (a blocked read would hang forever).
const LIMIT: Duration = Duration::from_secs(20);
/// Generous bound on the peak RSS of one `af` run (it stays near 30 MiB when nothing is read).
const RSS_LIMIT_MIB: i64 = 200;
const SECRET: &str = "s3cr3t-never-printed";

fn hotkey(uid: usize) -> String {
    format!("5Hk{uid:04}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx")
}

fn metagraph(block: u64) -> String {
    json!({"block": block, "tail": 100, "hotkeys": [hotkey(0), hotkey(1)]}).to_string()
}

fn record(uid: usize, task_id: u64) -> Value {
    json!({"version": "0.0.0", "signature": "00", "hotkey": "5Validator", "env": "affine:sat", "score": 1.0,
        "latency_seconds": 1.0, "success": true, "error": null, "task_id": task_id, "extra": {}, "timestamp": 1.0,
        "miner": {"uid": uid, "hotkey": hotkey(uid), "model": format!("u{uid}/Affine-m"), "revision": "r", "block": 0}})
}

fn fifo(path: &Path) {
    nix::unistd::mkfifo(path, nix::sys::stat::Mode::S_IRWXU).expect("mkfifo");
}

fn zero_link(path: &Path) {
    std::os::unix::fs::symlink("/dev/zero", path).expect("symlink to /dev/zero");
}

/// A file of `bytes` that takes no disk space (sparse).
fn sparse(path: &Path, bytes: u64) {
    std::fs::File::create(path).and_then(|file| file.set_len(bytes)).expect("sparse file");
}

fn weights_replay(dir: &Path) -> std::process::Command {
    let mut command = af();
    command.args(["weights", "--json", "--replay"]).arg(dir).env("HF_TOKEN", SECRET);
    command
}

fn check(finished: &Finished, code: i32, needle: &str) {
    assert_eq!(finished.code, Some(code), "stdout:\n{}\nstderr:\n{}", finished.stdout, finished.stderr);
    assert!(finished.stderr.contains(needle), "expected {needle:?} in stderr:\n{}", finished.stderr);
    assert!(!finished.output().contains(SECRET), "a secret was printed:\n{}", finished.output());
}

#[test]
fn hostile_replay_inputs_are_refused_fast_or_skipped_and_counted() {
    let root = tempfile::tempdir().expect("tempdir");
    let case = |name: &str, metagraph_file: &dyn Fn(&Path)| {
        let dir = root.path().join(name);
        std::fs::create_dir_all(dir.join("results")).expect("mkdir");
        metagraph_file(&dir.join("metagraph.json"));
        dir
    };
    // metagraph.json that would block open(2), never end, or is not a file: exit 2 at once.
    let dir = case("fifo-metagraph", &|path| fifo(path));
    check(&run_within(weights_replay(&dir), LIMIT), 2, "not a regular file (a FIFO)");
    let dir = case("zero-metagraph", &|path| zero_link(path));
    check(&run_within(weights_replay(&dir), LIMIT), 2, "not a regular file (a character device)");
    let dir = case("dir-metagraph", &|path| std::fs::create_dir(path).expect("mkdir"));
    check(&run_within(weights_replay(&dir), LIMIT), 2, "not a regular file (a directory)");
    let dir = case("huge-metagraph", &|path| sparse(path, 1 << 30));
    check(&run_within(weights_replay(&dir), LIMIT), 2, "larger than the 64 MiB limit");

    // No results/ folder: scoring nothing would burn everything to uid 0, so it is an error.
    let dir = root.path().join("no-results");
    std::fs::create_dir(&dir).expect("mkdir");
    std::fs::write(dir.join("metagraph.json"), metagraph(1000)).expect("write");
    check(&run_within(weights_replay(&dir), LIMIT), 2, "no results/ folder in replay directory");

    // Shards that are a FIFO, a link to /dev/zero and a sparse file over the cap are skipped
    // and counted next to a good one; --metagraph given as a FIFO is refused too.
    let dir = case("bad-shards", &|path| std::fs::write(path, metagraph(1000)).expect("write"));
    let results = dir.join("results");
    let mut escaping = record(1, 2);
    escaping["miner"]["model"] = json!("u1/Affine-\u{1b}[2J\u{1b}]0;pwned\u{7}");
    std::fs::write(results.join("000001000-good.json"), json!([record(1, 1), escaping]).to_string()).expect("write");
    fifo(&results.join("000001000-fifo.json"));
    zero_link(&results.join("000001000-zero.json"));
    sparse(&results.join("000001000-huge.json"), 200 << 20);
    let finished = run_within(weights_replay(&dir), LIMIT);
    check(&finished, 0, "skipping");
    let document: Value = serde_json::from_str(&finished.stdout).expect("one JSON document");
    assert_eq!((document["input"]["records"].as_u64(), document["input"]["shards_skipped"].as_u64()), (Some(2), Some(3)), "{document}");
    // The table shows the miner's model name with its escape sequences escaped, not obeyed.
    let mut table = af();
    table.args(["weights", "--replay"]).arg(&dir);
    let finished = run_within(table, LIMIT);
    check(&finished, 0, "skipping");
    assert!(finished.stdout.contains("\\u{1b}[2J"), "{}", finished.stdout);
    assert!(!finished.output().contains('\u{1b}') && !finished.output().contains('\u{7}'), "{}", finished.output());

    let snapshot = root.path().join("snapshot-fifo.json");
    fifo(&snapshot);
    let mut recompute = af();
    recompute.args(["weights", "-r", "--metagraph"]).arg(&snapshot).arg("--store-dir").arg(root.path());
    check(&run_within(recompute, LIMIT), 2, "not a regular file (a FIFO)");
    assert!(children_peak_rss_mib() < RSS_LIMIT_MIB, "peak RSS {} MiB", children_peak_rss_mib());
}

fn recompute(store: &Path, snapshot: &Path, extra: &[&str]) -> std::process::Command {
    let mut command = af();
    command.args(["weights", "-r", "--json", "--metagraph"]).arg(snapshot).arg("--store-dir").arg(store).args(extra);
    command.arg("--cache-dir").arg(store.with_extension("cache")).env("HF_TOKEN", SECRET);
    command
}

#[test]
fn hostile_stores_that_are_missing_are_errors_and_empty_ones_are_announced() {
    let root = tempfile::tempdir().expect("tempdir");
    let snapshot = root.path().join("metagraph.json");
    std::fs::write(&snapshot, metagraph(1000)).expect("write");
    let store = root.path().join("store");
    // A folder that does not exist, then one without an index: errors naming what is missing.
    check(&run_within(recompute(&store, &snapshot, &[]), LIMIT), 2, "does not exist");
    std::fs::create_dir_all(store.join("affine")).expect("mkdir");
    check(&run_within(recompute(&store, &snapshot, &[]), LIMIT), 2, "has no affine/index.json");
    // A genuinely empty store keeps the uid-0 rule and says so; --set refuses that vector.
    std::fs::write(store.join("affine/index.json"), "[]").expect("write");
    let finished = run_within(recompute(&store, &snapshot, &[]), LIMIT);
    check(&finished, 0, "no result records in the scored window");
    let document: Value = serde_json::from_str(&finished.stdout).expect("JSON");
    assert_eq!((document["uids"].clone(), document["weights"].clone()), (json!([0]), json!([1.0])));
    let set = ["--set", "--wallet.path"];
    let mut args: Vec<&str> = set.to_vec();
    let wallets = root.path().join("wallets");
    let wallets = wallets.to_str().expect("utf-8 path");
    args.push(wallets);
    check(&run_within(recompute(&store, &snapshot, &args), LIMIT), 2, "refusing to set weights computed from zero result records");
    args.push("--allow-empty");
    let finished = run_within(recompute(&store, &snapshot, &args), LIMIT);
    assert!(!finished.stderr.contains("refusing"), "--allow-empty goes on to the wallet: {}", finished.stderr);
    check(&finished, 2, "failed to load hotkey");
}

#[test]
fn hostile_index_keys_are_data_and_a_flood_of_missing_keys_is_counted_not_printed() {
    let root = tempfile::tempdir().expect("tempdir");
    let store = root.path().join("store");
    let results = store.join("affine/results");
    std::fs::create_dir_all(&results).expect("mkdir");
    std::fs::create_dir_all(store.join("other")).expect("mkdir");
    let victim = root.path().join("outside.json");
    std::fs::write(&victim, "keep").expect("write");
    std::fs::write(results.join("000001000-good.json"), json!([record(1, 1)]).to_string()).expect("write");
    std::fs::write(results.join("000001000-dup.json"), json!([record(1, 2)]).to_string()).expect("write");
    std::fs::write(store.join("other/000001000-dup.json"), "\"the foreign copy\"").expect("write");
    fifo(&results.join("000001000-fifo.json"));
    zero_link(&results.join("000001000-zero.json"));
    let mut index: Vec<String> = [
        "affine/results/000001000-good.json",
        "affine/results/000001000-dup.json",
        "other/000001000-dup.json",
        "affine/results/../../../outside.json",
        "affine/results/000001000-x/../../y.json",
        "affine/results/000001000-\u{1b}[2J.json",
        "affine/results/000001000-fifo.json",
        "affine/results/000001000-zero.json",
    ]
    .map(str::to_owned)
    .to_vec();
    index.extend((0..20_000).map(|i| format!("affine/results/{:09}-missing{i}.json", 960 + (i % 2) * 20)));
    std::fs::write(store.join("affine/index.json"), serde_json::to_string(&index).expect("json")).expect("write");
    let dest = root.path().join("replay");
    let cache = tempfile::tempdir().expect("tempdir");
    let before = tree(root.path(), &dest);

    let mut pull = af();
    pull.args(["dataset", "pull", "--block", "1000", "--tail", "100", "--json", "--store-dir"])
        .arg(&store)
        .arg("--dest")
        .arg(&dest)
        .arg("--cache-dir")
        .arg(cache.path())
        .env("HF_TOKEN", SECRET);
    let finished = run_within(pull, LIMIT);
    check(&finished, 0, "not a safe result shard key");
    let report: Value = serde_json::from_str(&finished.stdout).expect("JSON report");
    assert_eq!(
        (report["missing"].as_u64(), report["refused"].as_u64(), report["keys_refused"].as_u64()),
        (Some(20_000), Some(2), Some(4)),
        "{report}"
    );
    let mut written: Vec<String> =
        std::fs::read_dir(dest.join("results")).expect("results").flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    written.sort();
    assert_eq!(written, ["000001000-dup.json", "000001000-good.json"]);
    let dup = std::fs::read_to_string(dest.join("results/000001000-dup.json")).expect("read");
    assert!(dup.contains("Affine-m"), "the affine/results copy, not the foreign one: {dup}");
    assert_eq!(tree(root.path(), &dest), before, "nothing outside the destination changed");
    assert!(!finished.stderr.contains('\u{1b}'), "escape sequences are escaped: {}", finished.stderr);
    assert!(finished.stderr.lines().count() < 40, "warnings are counted, not repeated:\n{}", finished.stderr);
    assert!(finished.stderr.contains("more listed shards that do not exist not shown"), "{}", finished.stderr);
    assert!(children_peak_rss_mib() < RSS_LIMIT_MIB, "peak RSS {} MiB", children_peak_rss_mib());
}

#[test]
fn hostile_dotenv_and_destinations_are_usage_errors_that_show_no_secret() {
    let root = tempfile::tempdir().expect("tempdir");
    let env_file = root.path().join(".env");
    std::fs::write(&env_file, format!("R2_FOLDER=affine\nR2_WRITE_SECRET_ACCESS_KEY=\"{SECRET}\nAF_TAIL=5\n")).expect("write");
    let run_here = |args: &[&str]| {
        let mut command = af();
        command.env_remove("AF_NO_DOTENV").current_dir(root.path()).args(args);
        run_within(command, LIMIT)
    };
    let finished = run_here(&["weights", "--replay", "nowhere"]);
    check(&finished, 2, ".env:2: cannot parse the line of key R2_WRITE_SECRET_ACCESS_KEY (its value is not shown)");
    // A .env that is a FIFO is not a file to load (as dotenvy finds files) and cannot block.
    std::fs::remove_file(&env_file).expect("remove");
    fifo(&env_file);
    check(&run_here(&["weights", "--replay", "nowhere"]), 2, "replay directory nowhere does not exist");

    // Destinations that cannot be directories are the user's to fix (exit 2), before any fetch.
    let file = root.path().join("a-file");
    std::fs::write(&file, "x").expect("write");
    let dest = file.to_str().expect("utf-8 path");
    check(
        &run_here(&[
            "hub",
            "download",
            "--repo",
            "o/affine-m",
            "--revision",
            "main",
            "--dest",
            dest,
            "--hf-endpoint",
            "http://127.0.0.1:1",
        ]),
        2,
        "cannot create the destination",
    );
    std::fs::create_dir_all(root.path().join("store/affine")).expect("mkdir");
    std::fs::write(root.path().join("store/affine/index.json"), "[]").expect("write");
    check(&run_here(&["dataset", "pull", "--block", "1000", "--store-dir", "store", "--dest", dest]), 2, "cannot create the destination");
}
