//! The reference validator's own outputs on six replay cases, reproduced within 1e-9.

use std::collections::BTreeMap;

use affine::environments::ENVIRONMENTS;
use affine::replay::{ReplayOutcome, replay_dir};
use affine::scoring::ScoringPolicy;
use serde_json::Value;

use crate::support::unpack_scorer_case;

const TOLERANCE: f64 = 1e-9;

fn close(actual: f64, expected: f64, what: &str) {
    assert!((actual - expected).abs() <= TOLERANCE, "{what}: got {actual}, expected {expected}");
}

fn number(value: &Value, what: &str) -> f64 {
    value.as_f64().unwrap_or_else(|| panic!("{what} is not a number: {value}"))
}

fn check_case(name: &str) {
    let (_temp, dir) = unpack_scorer_case(name);
    let expected: Value = serde_json::from_slice(&std::fs::read(dir.join("expected.json")).expect("expected.json")).expect("json");
    let outcome: ReplayOutcome = replay_dir(&dir, &ScoringPolicy::reference(), 2, |_| {}, |_| {}).expect("replay");
    let hotkeys = &outcome.snapshot.hotkeys;
    let uid_of = |hotkey: &str| hotkeys.iter().position(|h| h == hotkey).and_then(|u| u32::try_from(u).ok()).expect("hotkey in metagraph");
    let miner = |hotkey: &str| outcome.report.miners.iter().find(|m| m.uid == uid_of(hotkey));

    // The weight vector: same uids, same weights.
    let expected_weights: BTreeMap<u32, f64> = expected["weights"]
        .as_object()
        .expect("weights object")
        .iter()
        .map(|(uid, w)| (uid.parse().expect("uid"), number(w, "weight")))
        .collect();
    let actual_weights: BTreeMap<u32, f64> = outcome.report.weights.vector.iter().copied().collect();
    assert_eq!(actual_weights.keys().collect::<Vec<_>>(), expected_weights.keys().collect::<Vec<_>>(), "{name}: weight uids");
    for (uid, weight) in &expected_weights {
        close(actual_weights[uid], *weight, &format!("{name}: weight of uid {uid}"));
    }

    let mut eligible: Vec<u32> =
        expected["eligible"].as_array().expect("eligible").iter().map(|h| uid_of(h.as_str().expect("hotkey"))).collect();
    eligible.sort_unstable();
    assert_eq!(outcome.report.eligible_uids(), eligible, "{name}: eligible");

    let mut active: Vec<u32> = expected["active"].as_array().expect("active").iter().map(|h| uid_of(h.as_str().expect("hotkey"))).collect();
    active.sort_unstable();
    let mut actual_active: Vec<u32> = outcome.report.miners.iter().map(|m| m.uid).collect();
    actual_active.sort_unstable();
    assert_eq!(actual_active, active, "{name}: active");

    for (hotkey, points) in expected["scores"].as_object().expect("scores") {
        let actual = miner(hotkey).map_or(0.0, |m| m.points);
        close(actual, number(points, "score"), &format!("{name}: points of {hotkey}"));
    }
    for miner_score in &outcome.report.miners {
        let hotkey = &hotkeys[miner_score.uid as usize];
        if miner_score.points > 0.0 {
            assert!(expected["scores"].get(hotkey).is_some(), "{name}: {hotkey} has points the reference did not give");
        }
    }
    for (hotkey, layers) in expected["layer_points"].as_object().expect("layer_points") {
        let scored = miner(hotkey).expect("scored miner is active");
        for (layer, points) in layers.as_object().expect("layers") {
            let index: usize = layer.trim_start_matches('L').parse::<usize>().expect("layer number") - outcome.report.min_layer;
            close(scored.layer_points[index], number(points, "layer points"), &format!("{name}: {hotkey} {layer}"));
        }
    }

    for (env, winner) in expected["env_winners"].as_object().expect("env_winners") {
        let position = ENVIRONMENTS.iter().position(|e| e.id == env).expect("known env");
        let actual = outcome.report.env_winners[position].map(|uid| hotkeys[uid as usize].clone());
        assert_eq!(actual.as_deref(), winner.as_str(), "{name}: winner of {env}");
    }

    for (hotkey, per_env) in expected["counts"].as_object().expect("counts") {
        for (env, count) in per_env.as_object().expect("envs") {
            let position = ENVIRONMENTS.iter().position(|e| e.id == env).expect("known env");
            let actual = miner(hotkey).map_or(0, |m| m.counts[position]);
            assert_eq!(u64::from(actual), count.as_u64().expect("count"), "{name}: count {hotkey} {env}");
            let sum = number(&expected["score_sums"][hotkey][env], "score sum");
            close(miner(hotkey).map_or(0.0, |m| m.sums[position]), sum, &format!("{name}: sum {hotkey} {env}"));
            let interval = &expected["confidence_intervals"][hotkey][env];
            let (lower, upper) = miner(hotkey).map_or((0.0, 0.0), |m| m.intervals[position]);
            close(lower, number(&interval[0], "lower"), &format!("{name}: lower {hotkey} {env}"));
            close(upper, number(&interval[1], "upper"), &format!("{name}: upper {hotkey} {env}"));
        }
    }

    for (hotkey, block) in expected["first_block"].as_object().expect("first_block") {
        if let Some(scored) = miner(hotkey) {
            assert_eq!(scored.first_block, block.as_i64(), "{name}: first block of {hotkey}");
        }
    }
}

#[test]
fn golden_tiny_all_eligible_replays_to_reference_weights() {
    check_case("tiny-all-eligible");
}

#[test]
fn golden_copycat_later_loses_replays_to_reference_weights() {
    check_case("copycat-later-loses");
}

#[test]
fn golden_insufficient_samples_replays_to_reference_weights() {
    check_case("insufficient-samples");
}

#[test]
fn golden_mixed_32_replays_to_reference_weights() {
    check_case("mixed-32");
}

#[test]
fn golden_nobody_eligible_replays_to_reference_weights() {
    check_case("nobody-eligible");
}

#[test]
fn golden_burn_half_replays_to_reference_weights() {
    check_case("burn-half");
}
