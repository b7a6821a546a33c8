//! sr25519 keys and signatures, identical to bittensor's `Keypair.sign` / `Keypair.verify`.
//!
//! What gets signed (bittensor-wallet 4.0.1): a text starting with `0x` is hex-decoded (every
//! leading `0x` is stripped, as Rust's `trim_start_matches` does there) and the bytes are
//! signed; any other text is signed as its UTF-8 bytes. Signatures use schnorrkel with the
//! `substrate` signing context and are randomised, so two signatures of one message differ:
//! compare by verifying. Verification tries the raw message first, then the polkadot-js
//! `<Bytes>...</Bytes>` wrapping.
//!
//! [`result_sign_data`] builds the exact text a validator signs for a result record.

use std::fmt;

use schnorrkel::{ExpansionMode, MiniSecretKey, SecretKey};
use serde_json::Value;
use zeroize::Zeroizing;

use super::{Error, pyjson, ss58};
use crate::model::ResultRecord;

const SIGNING_CONTEXT: &[u8] = b"substrate";

/// A 32-byte sr25519 public key (an `AccountId32`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PublicKey(pub [u8; 32]);

impl PublicKey {
    /// Parses an SS58 address.
    ///
    /// # Errors
    /// [`Error::InvalidAddress`] when `address` is not a valid SS58 address.
    pub fn from_ss58(address: &str) -> Result<Self, Error> {
        ss58::decode(address).map(Self)
    }

    /// The format-42 SS58 address.
    #[must_use]
    pub fn to_ss58(&self) -> String {
        ss58::encode(&self.0)
    }

    /// `0x` + lowercase hex, as bittensor writes `publicKey` in keyfiles.
    #[must_use]
    pub fn to_hex(&self) -> String {
        format!("0x{}", hex::encode(self.0))
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_ss58())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_ss58())
    }
}

/// An sr25519 key pair. `Debug` shows only the public address, never the secret.
#[derive(Clone)]
pub struct Keypair {
    inner: schnorrkel::Keypair,
}

impl fmt::Debug for Keypair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Keypair({}, secret redacted)", self.public_key().to_ss58())
    }
}

impl Keypair {
    /// The key of a BIP39 mnemonic with an empty password, the Substrate way (the first 32
    /// bytes of the PBKDF2 seed over the mnemonic's entropy, as `secretPhrase` in keyfiles).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for a phrase that is not a valid English BIP39 mnemonic.
    pub fn from_phrase(phrase: &str) -> Result<Self, Error> {
        let mnemonic = bip39::Mnemonic::parse_in_normalized(bip39::Language::English, phrase)
            .map_err(|error| Error::InvalidKey(format!("invalid mnemonic: {error}")))?;
        let (entropy, length) = mnemonic.to_entropy_array();
        let entropy = Zeroizing::new(entropy);
        let mut seed = Zeroizing::new([0_u8; 64]);
        pbkdf2::pbkdf2_hmac::<sha2::Sha512>(&entropy[..length], b"mnemonic", 2048, seed.as_mut());
        Self::from_seed(&seed[..32])
    }

    /// The key of a `secretSeed`/`privateKey` value, as `sr25519::Pair::from_seed_slice`: 32
    /// bytes are a mini secret key (Ed25519-mode expansion), 64 bytes a full secret key (the
    /// scalar then the nonce).
    ///
    /// # Errors
    /// [`Error::InvalidKey`] for any other length or an invalid scalar.
    pub fn from_seed(seed: &[u8]) -> Result<Self, Error> {
        let inner = match seed.len() {
            32 => MiniSecretKey::from_bytes(seed)
                .map_err(|error| Error::InvalidKey(error.to_string()))?
                .expand_to_keypair(ExpansionMode::Ed25519),
            64 => SecretKey::from_bytes(seed).map_err(|error| Error::InvalidKey(error.to_string()))?.to_keypair(),
            other => return Err(Error::InvalidKey(format!("a seed has 32 or 64 bytes, not {other}"))),
        };
        Ok(Self { inner })
    }

    /// The public key.
    #[must_use]
    pub fn public_key(&self) -> PublicKey {
        PublicKey(self.inner.public.to_bytes())
    }

    /// The 64-byte secret key (scalar then nonce), as bittensor writes `privateKey`.
    #[must_use]
    pub fn secret_bytes(&self) -> Zeroizing<[u8; 64]> {
        Zeroizing::new(self.inner.secret.to_bytes())
    }

    /// Signs raw bytes.
    #[must_use]
    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.inner.sign(schnorrkel::signing_context(SIGNING_CONTEXT).bytes(message)).to_bytes()
    }

    /// Signs a text the way `Keypair.sign(str)` does and returns lowercase hex without `0x`
    /// (affine's `.hex()`).
    ///
    /// # Errors
    /// [`Error::InvalidHex`] for a text starting with `0x` that is not hex.
    pub fn sign_text(&self, data: &str) -> Result<String, Error> {
        Ok(hex::encode(self.sign(&message_bytes(data)?)))
    }
}

/// The bytes bittensor signs for a text: hex-decoded when it starts with `0x`, else UTF-8.
///
/// # Errors
/// [`Error::InvalidHex`] for a text starting with `0x` that is not hex.
pub fn message_bytes(data: &str) -> Result<Vec<u8>, Error> {
    if data.starts_with("0x") {
        hex::decode(data.trim_start_matches("0x")).map_err(|source| Error::InvalidHex { what: "message", source })
    } else {
        Ok(data.as_bytes().to_vec())
    }
}

/// Verifies `signature` over `message`, then over `<Bytes>message</Bytes>`.
#[must_use]
pub fn verify(public_key: &PublicKey, message: &[u8], signature: &[u8]) -> bool {
    let Ok(public) = schnorrkel::PublicKey::from_bytes(&public_key.0) else { return false };
    let Ok(signature) = schnorrkel::Signature::from_bytes(signature) else { return false };
    let context = schnorrkel::signing_context(SIGNING_CONTEXT);
    if public.verify(context.bytes(message), &signature).is_ok() {
        return true;
    }
    let wrapped = [b"<Bytes>".as_slice(), message, b"</Bytes>"].concat();
    public.verify(context.bytes(&wrapped), &signature).is_ok()
}

/// Verifies a hex signature (with or without `0x`) over a text by the owner of an SS58
/// address, as affine's `Result.verify` does.
///
/// # Errors
/// An invalid address, or a message or signature that is not valid hex.
pub fn verify_text(address: &str, data: &str, signature_hex: &str) -> Result<bool, Error> {
    let public_key = PublicKey::from_ss58(address)?;
    let signature =
        hex::decode(signature_hex.trim_start_matches("0x")).map_err(|source| Error::InvalidHex { what: "signature", source })?;
    Ok(verify(&public_key, &message_bytes(data)?, &signature))
}

/// The exact UTF-8 text a validator signs for a result:
/// `{env}:{miner_json}:{score:.6f}:{latency_seconds:.6f}:{int(timestamp)}:{extra_json}`, the
/// JSON parts rendered as Python's `json.dumps(..., sort_keys=True)`; `miner_json` holds the
/// eight fields of affine's `Miner` model only (pydantic drops unknown ones).
///
/// # Errors
/// [`Error::SignData`] for a record without a miner or with a non-finite timestamp (Python
/// raises on both).
pub fn result_sign_data(record: &ResultRecord) -> Result<String, Error> {
    let miner = record.miner.as_ref().ok_or_else(|| Error::SignData("the result has no miner".to_owned()))?;
    let miner_value = Value::Object(
        [
            ("uid", Value::from(miner.uid)),
            ("hotkey", Value::from(miner.hotkey.clone())),
            ("model", miner.model.clone().map_or(Value::Null, Value::from)),
            ("revision", miner.revision.clone().map_or(Value::Null, Value::from)),
            ("block", miner.block.map_or(Value::Null, Value::from)),
            ("chute", miner.chute.clone().unwrap_or(Value::Null)),
            ("slug", miner.slug.clone().map_or(Value::Null, Value::from)),
            ("weights_shas", miner.weights_shas.clone().map_or(Value::Null, Value::from)),
        ]
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect(),
    );
    if !record.timestamp.is_finite() {
        return Err(Error::SignData(format!("timestamp {} is not finite", record.timestamp)));
    }
    // `int(timestamp)` truncates toward zero; `as` does the same (and saturates far beyond
    // any real timestamp).
    #[expect(clippy::cast_possible_truncation, reason = "Python's int() truncation is the wire format")]
    let seconds = record.timestamp.trunc() as i64;
    Ok(format!(
        "{}:{}:{}:{}:{seconds}:{}",
        record.env,
        pyjson::dumps_sorted(&miner_value),
        pyjson::format_fixed6(record.score),
        pyjson::format_fixed6(record.latency_seconds),
        pyjson::dumps_sorted(&record.extra),
    ))
}

/// Signs a result: returns the lowercase hex signature over [`result_sign_data`].
///
/// # Errors
/// As [`result_sign_data`].
pub fn sign_result(keypair: &Keypair, record: &ResultRecord) -> Result<String, Error> {
    Ok(hex::encode(keypair.sign(result_sign_data(record)?.as_bytes())))
}

/// Whether a result's `signature` verifies for its `hotkey` (false on any malformed part, as
/// affine's `Result.verify`).
#[must_use]
pub fn verify_result(record: &ResultRecord) -> bool {
    let Ok(data) = result_sign_data(record) else { return false };
    verify_text(&record.hotkey, &data, &record.signature).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV_PHRASE: &str = "bottom drive obey lake curtain smoke basket hold race lonely fit walk";
    const DEV_SEED: &str = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";
    const DEV_SS58: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    #[test]
    fn keypair_phrase_seed_and_private_key_give_the_same_address() {
        let from_phrase = Keypair::from_phrase(DEV_PHRASE).expect("phrase");
        let from_seed = Keypair::from_seed(&hex::decode(DEV_SEED).expect("hex")).expect("seed");
        let from_private = Keypair::from_seed(from_seed.secret_bytes().as_slice()).expect("private key");
        for key in [&from_phrase, &from_seed, &from_private] {
            assert_eq!(key.public_key().to_ss58(), DEV_SS58);
        }
        assert!(!format!("{from_seed:?}").contains(DEV_SEED), "Debug must not show the secret");
        assert!(Keypair::from_seed(&[1; 31]).is_err());
        assert!(Keypair::from_phrase("bottom drive obey").is_err());
    }

    #[test]
    fn verify_python_signature_vector_from_the_spec() {
        // bittensor-wallet 4.0.1, dev hotkey (spec/chain.md section 8.3).
        let data = r#"SAT:{"block": 1, "hotkey": "5Df", "model": "x/y"}:0.500000:1.250000:1732000000:{}"#;
        let signature = "7a0edfc10fc3c572765dcae511948d13535e859dc906a3632f37e360e229dc1ad402fe80042f9af8f31dba747f6293686e23084a00471d55907059d75a939083";
        assert!(verify_text(DEV_SS58, data, signature).expect("well formed"));
        assert!(!verify_text(DEV_SS58, &data.replace("SAT", "ABD"), signature).expect("well formed"));
    }

    #[test]
    fn sign_text_hex_rule_and_bytes_wrapping() {
        let key = Keypair::from_phrase(DEV_PHRASE).expect("phrase");
        let public = key.public_key();
        // "0x..." text signs the decoded bytes, so it verifies against the raw bytes.
        let signature = hex::decode(key.sign_text("0x0x616263").expect("hex")).expect("hex");
        assert!(verify(&public, b"abc", &signature));
        assert!(key.sign_text("0xzz").is_err());
        // A polkadot-js style signature over <Bytes>..</Bytes> verifies for the bare message.
        let wrapped = key.sign(b"<Bytes>hello</Bytes>");
        assert!(verify(&public, b"hello", &wrapped));
        assert!(!verify(&public, b"hello!", &wrapped));
        assert!(!verify(&public, b"hello", &[0; 10]));
    }
}
