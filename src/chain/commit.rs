//! Miner commitments: `{model, revision, chute_id}` as a drand-timelocked
//! `Commitments.set_commitment`, as bittensor's `set_reveal_commitment` does.
//!
//! The text is SCALE-encoded, encrypted to the drand round about `blocks_until_reveal` blocks
//! ahead (bittensor-drand's formula), submitted signed by the hotkey (mortal for 32 blocks) and
//! watched until finalized; a dispatch error is reported by pallet and name, so callers can
//! retry on `Commitments::SpaceLimitExceeded` as the original does.

use std::time::{SystemTime, UNIX_EPOCH};

use subxt::dynamic::{self, Value};
use subxt::error::{DispatchError, TransactionEventsError, TransactionFinalizedSuccessError};

use super::client::{ChainClient, extrinsic_error};
use super::extrinsic::{self, NonceSource, rpc_error};
use super::signing::Keypair;
use super::timelock::{self, BLOCK_TIME_SECS, BeaconPublicKey};
use super::{Error, scale};

/// The largest ciphertext a `TimelockEncrypted` field holds.
const MAX_CIPHERTEXT: usize = 1024;

/// The original's commitment text: `json.dumps({"model": repo, "revision": revision,
/// "chute_id": chute_id})` with Python's default separators.
#[must_use]
pub fn commitment_text(repo: &str, revision: &str, chute_id: &str) -> String {
    let field = |value: &str| super::pyjson::dumps_sorted(&serde_json::Value::from(value));
    format!("{{\"model\": {}, \"revision\": {}, \"chute_id\": {}}}", field(repo), field(revision), field(chute_id))
}

/// A built, signed `set_commitment` extrinsic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCommitment {
    /// The drand round that reveals it.
    pub reveal_round: u64,
    /// The signed extrinsic, SCALE-encoded.
    pub extrinsic: Vec<u8>,
}

fn now_unix_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |elapsed| elapsed.as_secs())
}

fn set_commitment_call(netuid: u16, ciphertext: Vec<u8>, reveal_round: u64) -> subxt::tx::DynamicPayload<Vec<Value>> {
    let field = Value::named_variant(
        "TimelockEncrypted",
        [("encrypted", Value::from_bytes(ciphertext)), ("reveal_round", Value::u128(u128::from(reveal_round)))],
    );
    let info = Value::named_composite([("fields", Value::unnamed_composite([field]))]);
    dynamic::transaction("Commitments", "set_commitment", vec![Value::u128(u128::from(netuid)), info])
}

fn encrypt_commitment(text: &str, beacon: &BeaconPublicKey, blocks_until_reveal: u64) -> Result<(Vec<u8>, u64), Error> {
    let plaintext = scale::encode_str(text);
    if plaintext.len() + timelock::OVERHEAD > MAX_CIPHERTEXT {
        return Err(Error::CommitmentTooLong { bytes: text.len(), max: MAX_CIPHERTEXT - timelock::OVERHEAD - 2 });
    }
    let reveal_round = timelock::commitment_reveal_round(now_unix_secs(), blocks_until_reveal, BLOCK_TIME_SECS);
    Ok((timelock::encrypt(beacon, reveal_round, &plaintext), reveal_round))
}

impl ChainClient {
    /// Builds and signs the `set_commitment` extrinsic for `text` without submitting it.
    ///
    /// # Errors
    /// A text too long for one field, or transport failures.
    pub async fn sign_commitment(
        &self,
        netuid: u16,
        hotkey: &Keypair,
        text: &str,
        beacon: &BeaconPublicKey,
        blocks_until_reveal: u64,
    ) -> Result<SignedCommitment, Error> {
        let (ciphertext, reveal_round) = encrypt_commitment(text, beacon, blocks_until_reveal)?;
        let payload = set_commitment_call(netuid, ciphertext, reveal_round);
        self.call("signing a commitment", |connection| {
            let payload = payload.clone();
            async move {
                let (signed, _) = extrinsic::sign(&connection, "signing a commitment", &payload, hotkey, NonceSource::Runtime).await?;
                Ok(SignedCommitment { reveal_round, extrinsic: signed.into_encoded() })
            }
        })
        .await
    }

    /// Publishes `text` as a timelocked commitment on `netuid` and waits until it is
    /// finalized. Returns the reveal round.
    ///
    /// # Errors
    /// [`Error::Dispatch`] when the chain refuses it (for instance
    /// `Commitments::SpaceLimitExceeded`), a text too long for one field, or transport failures.
    pub async fn commit(
        &self,
        netuid: u16,
        hotkey: &Keypair,
        text: &str,
        beacon: &BeaconPublicKey,
        blocks_until_reveal: u64,
    ) -> Result<u64, Error> {
        let (ciphertext, reveal_round) = encrypt_commitment(text, beacon, blocks_until_reveal)?;
        let payload = set_commitment_call(netuid, ciphertext, reveal_round);
        // Not retried by `call` on a dispatch error: the extrinsic landed and failed.
        self.call("submitting a commitment", |connection| {
            let payload = payload.clone();
            async move {
                const WHAT: &str = "submitting a commitment";
                let (signed, _) = extrinsic::sign(&connection, WHAT, &payload, hotkey, NonceSource::Runtime).await?;
                let progress = signed.submit_and_watch().await.map_err(|error| extrinsic_error(WHAT, &connection.endpoint, error))?;
                match progress.wait_for_finalized_success().await {
                    Ok(_) => Ok(reveal_round),
                    Err(TransactionFinalizedSuccessError::SuccessError(TransactionEventsError::ExtrinsicFailed(
                        DispatchError::Module(module),
                    ))) => {
                        let details = module.details().map_err(|error| rpc_error(WHAT, &connection, error))?;
                        Err(Error::Dispatch { pallet: details.pallet.name().to_owned(), error: details.variant.name.clone() })
                    }
                    Err(other) => Err(rpc_error(WHAT, &connection, other)),
                }
            }
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commitment_text_matches_python_json_dumps() {
        assert_eq!(
            commitment_text("alice/Affine-7B", "0123abcd", "c-1"),
            r#"{"model": "alice/Affine-7B", "revision": "0123abcd", "chute_id": "c-1"}"#
        );
        assert_eq!(commitment_text("é\"", "r", "c"), r#"{"model": "\u00e9\"", "revision": "r", "chute_id": "c"}"#);
    }

    #[test]
    fn overlong_commitments_are_refused_before_encrypting() {
        let text = "x".repeat(800);
        assert!(matches!(encrypt_commitment(&text, &BeaconPublicKey::quicknet(), 1), Err(Error::CommitmentTooLong { .. })));
        let (ciphertext, _) = encrypt_commitment(&"x".repeat(700), &BeaconPublicKey::quicknet(), 1).expect("fits");
        assert!(ciphertext.len() <= MAX_CIPHERTEXT);
    }
}
