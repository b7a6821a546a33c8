//! Weight normalisation against bittensor's formula run by Python with numpy (the venv).

use affine::chain::weights::normalize;
use serde_json::Value;

use crate::support::run_python;

/// bittensor 9.12.2's `convert_and_normalize_weights_and_uids`, restated: float32 array, max
/// upscale in Python floats, `round` half to even, zeros dropped. Reads a JSON list of cases
/// `[uids, weights]` on stdin and prints the results.
const BITTENSOR_FORMULA: &str = r"
import json, sys
import numpy as np
out = []
for uids, weights in json.load(sys.stdin):
    w = np.array(weights, dtype=np.float32).tolist()
    u = np.array(uids, dtype=np.int64).tolist()
    if sum(w) == 0:
        out.append([[], []])
        continue
    top = float(max(w))
    scaled = [round(float(x) / top * int(65535)) for x in w]
    out.append([[i for i, v in zip(u, scaled) if v != 0], [v for v in scaled if v != 0]])
print(json.dumps(out))
";

/// A small deterministic generator (xorshift) so the cases are the same on every run.
fn cases() -> Vec<(Vec<u16>, Vec<f64>)> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut cases = vec![
        (vec![0, 1, 2, 3], vec![0.5, 1.0, 0.25, 1e-6]),
        (vec![5, 9], vec![0.3, 1.0]),
        (vec![0, 1, 2], vec![0.0, 0.0, 0.0]),
        (vec![7], vec![1e-50]),
        (vec![0, 1, 2], vec![1.0 / 3.0, 2.0 / 3.0, 1e-5]),
    ];
    for size in [2_usize, 8, 64, 256] {
        for _ in 0..25 {
            let uids: Vec<u16> = (0..size).map(|i| u16::try_from(i).expect("small")).collect();
            #[expect(clippy::cast_precision_loss, reason = "test data: 53 random bits into [0, 1)")]
            let weights: Vec<f64> = (0..size)
                .map(|_| {
                    let raw = (next() >> 11) as f64 / (1_u64 << 53) as f64;
                    // Mix in exact zeros, tiny values and round decimals, as scorers produce.
                    match next() % 5 {
                        0 => 0.0,
                        1 => raw * 1e-4,
                        2 => (raw * 1000.0).round() / 1000.0,
                        _ => raw,
                    }
                })
                .collect();
            cases.push((uids, weights));
        }
    }
    cases
}

#[test]
fn weights_normalize_matches_bittensor_formula_on_generated_vectors() {
    let cases = cases();
    let input = serde_json::to_string(&cases).expect("json");
    let stdout = run_python(BITTENSOR_FORMULA, &[], &input);
    let expected: Vec<(Vec<u16>, Vec<u16>)> =
        serde_json::from_str::<Value>(stdout.trim()).and_then(serde_json::from_value).expect("python output");
    assert_eq!(expected.len(), cases.len());
    for ((uids, weights), want) in cases.iter().zip(&expected) {
        let got = normalize(uids, weights).expect("valid input");
        assert_eq!(&got, want, "weights {weights:?}");
    }
}
