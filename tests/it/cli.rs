//! The built `af` binary end to end: exit codes, table, JSON document, bad input.

use serde_json::Value;

use crate::support::{af, unpack_scorer_case};

#[test]
fn cli_no_arguments_prints_help_and_exits_2() {
    let output = af().output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("Usage: af"), "{stderr}");
    assert!(stderr.contains("weights"), "{stderr}");
}

#[test]
fn cli_weights_replay_prints_table_with_winners() {
    let (_temp, dir) = unpack_scorer_case("copycat-later-loses");
    let output = af().args(["weights", "--replay"]).arg(&dir).output().expect("run af");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let header = stdout.lines().nth(1).expect("header line");
    for column in ["UID", "Hotkey", "Model", "Rev", "affine:sat", "agentgym:webshop", "L3", "L8", "Pts", "Elig", "FirstBlk", "Wgt"] {
        assert!(header.contains(column), "missing {column} in {header}");
    }
    let winner_row = stdout.lines().find(|l| l.trim_start().starts_with("3 ")).expect("row of uid 3");
    assert!(winner_row.contains('*') && winner_row.trim_end().ends_with("1.0000"), "{winner_row}");
    assert!(stdout.contains("0 malformed skipped"), "{stdout}");
    assert!(output.stderr.is_empty(), "no logs by default: {}", String::from_utf8_lossy(&output.stderr));
}

#[test]
fn cli_weights_replay_json_has_the_documented_fields() {
    let (_temp, dir) = unpack_scorer_case("burn-half");
    let output = af().args(["weights", "--json", "--replay"]).arg(&dir).output().expect("run af");
    assert_eq!(output.status.code(), Some(0));
    let document: Value = serde_json::from_slice(&output.stdout).expect("stdout is one JSON document");
    let metagraph: Value = serde_json::from_slice(&std::fs::read(dir.join("metagraph.json")).expect("metagraph")).expect("json");
    assert_eq!(document["block"], metagraph["block"]);
    let uids = document["uids"].as_array().expect("uids");
    let weights = document["weights"].as_array().expect("weights");
    assert_eq!(uids.len(), weights.len());
    let total: f64 = weights.iter().filter_map(Value::as_f64).sum();
    assert!((total - 1.0).abs() < 1e-9, "weights sum to {total}");
    assert_eq!(document["eligible"].as_array().map(Vec::len), Some(10));
    let miner = &document["miners"]["5Hk0008xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"];
    assert_eq!(miner["uid"].as_u64(), Some(8));
    assert!(miner["environments"]["affine:ded"]["is_winner"].as_bool().unwrap_or(false));
    assert!(document["input"]["records"].as_u64().is_some_and(|n| n > 0));
}

#[test]
fn cli_weights_missing_metagraph_is_a_one_line_error_with_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    let output = af().args(["weights", "--replay"]).arg(dir.path()).output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("error: failed to replay"), "{stderr}");
    assert!(stderr.contains("no metagraph.json"), "{stderr}");
    assert!(stderr.contains("hint:"), "{stderr}");
}

#[test]
fn cli_weights_malformed_metagraph_exits_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("metagraph.json"), b"{\"block\": \"soon\"}").expect("write");
    let output = af().args(["weights", "--replay"]).arg(dir.path()).output().expect("run af");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("malformed"));
}

#[test]
fn cli_weights_skips_malformed_shards_and_records_with_counted_warning() {
    let (_temp, dir) = unpack_scorer_case("tiny-all-eligible");
    let results = dir.join("results");
    std::fs::write(results.join("007002180-5Broken.json"), b"[{\"env\": ").expect("write");
    std::fs::write(results.join("007002160-5Oddities.json"), b"[1, \"x\", {\"miner\": 3, \"env\": \"affine:sat\"}]").expect("write");
    let output = af().args(["weights", "--json", "--replay"]).arg(&dir).output().expect("run af");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let document: Value = serde_json::from_slice(&output.stdout).expect("json");
    assert_eq!(document["input"]["shards_skipped"].as_u64(), Some(1));
    assert_eq!(document["input"]["invalid_records"].as_u64(), Some(3));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("skipping malformed shard") && stderr.contains("007002180-5Broken.json"), "{stderr}");
    assert!(stderr.contains("malformed records"), "{stderr}");
    // The weights are unchanged by the junk.
    let uid1 = document["uids"].as_array().and_then(|u| u.iter().position(|v| v.as_u64() == Some(1))).expect("uid 1");
    assert!((document["weights"][uid1].as_f64().unwrap_or(0.0) - 0.751_622_904_233_134_7).abs() < 1e-9);
}
