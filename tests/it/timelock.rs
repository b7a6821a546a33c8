//! Timelock ciphertexts against bittensor's own `bittensor-drand` package (from the venv), with
//! drand quicknet's public signature of round 1000: af's ciphertexts open in Python, Python's
//! open in af, and the reveal rounds follow the same formulas.

use std::time::{SystemTime, UNIX_EPOCH};

use affine::chain::scale;
use affine::chain::timelock::{self, BLOCK_TIME_SECS, BeaconPublicKey, RevealSchedule};
use serde_json::Value;

use crate::support::run_python;

const ROUND_1000_SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

/// bittensor-drand's `UserData { encrypted_data: Vec<u8>, reveal_round: u64 }`, SCALE-encoded,
/// which its `decrypt_with_signature` takes.
fn user_data(ciphertext: &[u8], round: u64) -> Vec<u8> {
    let mut out = Vec::new();
    scale::push_bytes(&mut out, ciphertext);
    out.extend_from_slice(&round.to_le_bytes());
    out
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs_f64()
}

#[test]
fn timelock_af_ciphertext_decrypts_in_bittensor_drand() {
    let commitment = r#"{"model": "alice/Affine-7B", "revision": "0123abcd", "chute_id": "c-é"}"#;
    let plaintext = scale::encode_str(commitment);
    let ciphertext = timelock::encrypt(&BeaconPublicKey::quicknet(), 1000, &plaintext);
    let script = r"
import sys, bittensor_drand
data = bytes.fromhex(sys.stdin.read().strip())
print(bittensor_drand.decrypt_with_signature(data, sys.argv[1]).hex())
";
    let stdout = run_python(script, &[ROUND_1000_SIGNATURE.as_ref()], &hex::encode(user_data(&ciphertext, 1000)));
    assert_eq!(hex::decode(stdout.trim()).expect("hex"), plaintext);
}

#[test]
fn timelock_bittensor_drand_ciphertext_decrypts_in_af() {
    let script = r#"
import json, bittensor_drand
wrapped, round_ = bittensor_drand.encrypt_at_round(b"weights \x00\xff payload", 1000)
print(json.dumps({"wrapped": wrapped.hex(), "round": round_}))
"#;
    let reply: Value = serde_json::from_str(run_python(script, &[], "").trim()).expect("json");
    assert_eq!(reply["round"], 1000);
    let wrapped = hex::decode(reply["wrapped"].as_str().expect("hex")).expect("hex");
    // Strip the UserData wrapper: compact length, ciphertext, then the u64 round.
    let inner = &scale::strip_compact_prefix(&wrapped)[..wrapped.len() - 2 - 8];
    let signature = hex::decode(ROUND_1000_SIGNATURE).expect("hex");
    assert_eq!(timelock::decrypt(inner, &signature).expect("decrypts"), b"weights \x00\xff payload");
    assert!(timelock::decrypt(inner, &timelock::TestBeacon::from_seed(b"x").sign(1000)).is_err());
}

#[test]
fn timelock_reveal_rounds_match_bittensor_drand() {
    let script = r#"
import json, sys, bittensor_drand
commitment, commitment_round = bittensor_drand.get_encrypted_commitment('{"model": "a/b"}', 1, 12.0)
commit, weights_round = bittensor_drand.get_encrypted_commit([0, 5, 9], [65535, 1200, 7], 9012002, 360, 1000, 120, 1, 12.0, bytes(range(32)))
print(json.dumps({"commitment_len": len(commitment), "commitment_round": commitment_round, "commit_len": len(commit), "weights_round": weights_round}))
"#;
    let before = now_secs();
    let reply: Value = serde_json::from_str(run_python(script, &[], "").trim()).expect("json");
    let after = now_secs();
    let round = |key: &str| reply[key].as_u64().expect("round");
    #[expect(clippy::cast_possible_truncation, clippy::cast_sign_loss, reason = "Unix seconds")]
    let (before_secs, after_secs) = (before as u64, after as u64);
    let commitment_rounds = timelock::commitment_reveal_round(before_secs, 1, BLOCK_TIME_SECS)
        ..=timelock::commitment_reveal_round(after_secs, 1, BLOCK_TIME_SECS);
    assert!(commitment_rounds.contains(&round("commitment_round")), "{commitment_rounds:?} vs {reply}");
    assert_eq!(reply["commitment_len"].as_u64(), Some((scale::encode_str(r#"{"model": "a/b"}"#).len() + timelock::OVERHEAD) as u64));

    let schedule = RevealSchedule { current_block: 1000, netuid: 120, tempo: 360, reveal_period_epochs: 1 };
    let weights_rounds = timelock::weights_reveal_round(schedule, before, BLOCK_TIME_SECS)
        ..=timelock::weights_reveal_round(schedule, after, BLOCK_TIME_SECS);
    assert!(weights_rounds.contains(&round("weights_round")), "{weights_rounds:?} vs {reply}");
    let hotkey: [u8; 32] = std::array::from_fn(|i| u8::try_from(i).expect("small"));
    let payload = timelock::weights_payload(&hotkey, &[0, 5, 9], &[65535, 1200, 7], 9_012_002);
    assert_eq!(reply["commit_len"].as_u64(), Some((payload.len() + timelock::OVERHEAD) as u64));
}
