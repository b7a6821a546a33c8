//! The result signature text against the reference's own strings (golden/signing).

use affine::chain::signing::{self, Keypair};
use affine::model::ResultRecord;
use serde_json::Value;

use crate::support::fixtures_dir;

fn golden_records() -> Vec<(ResultRecord, String)> {
    let path = fixtures_dir().join("golden").join("signing").join("sign-data.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let mut value: Value = serde_json::from_str(line).expect("golden line is JSON");
            let expected =
                value.as_object_mut().and_then(|o| o.remove("sign_data")).and_then(|v| v.as_str().map(str::to_owned)).expect("sign_data");
            (serde_json::from_value(value).expect("golden line is a result record"), expected)
        })
        .collect()
}

#[test]
fn signing_result_sign_data_matches_every_golden_vector() {
    let records = golden_records();
    assert_eq!(records.len(), 60);
    for (index, (record, expected)) in records.iter().enumerate() {
        let actual = signing::result_sign_data(record).expect("renderable");
        assert_eq!(actual, *expected, "record {index}");
    }
}

#[test]
fn signing_sign_result_then_verify_result_round_trips() {
    let key = Keypair::from_phrase("bottom drive obey lake curtain smoke basket hold race lonely fit walk").expect("phrase");
    let (mut record, _) = golden_records().swap_remove(1);
    record.hotkey = key.public_key().to_ss58();
    record.signature = signing::sign_result(&key, &record).expect("sign");
    assert!(signing::verify_result(&record));
    record.score += 1e-6;
    assert!(!signing::verify_result(&record), "a changed score must break the signature");
}
