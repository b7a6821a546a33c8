//! Timelock encryption to drand quicknet, wire-compatible with bittensor-drand (the `tle`
//! scheme the subtensor runtime decrypts): Boneh-Franklin `FullIdent` identity-based encryption
//! on BLS12-381 with signatures in G1 and the beacon key in G2, wrapping an AES-256-GCM body.
//!
//! For round `n` the identity is `Q = H_G1(sha256(n as big-endian u64))` (RFC 9380 hash to
//! curve, SHA-256, SSWU, DST `BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_`). drand's signature of
//! round `n` is `s * Q`, the IBE secret that opens everything encrypted to that round.
//!
//! Ciphertext layout (arkworks canonical serialisation, compressed points, every byte vector
//! prefixed by its length as a little-endian u64):
//! `U (G2, 96) | 32 | V | 32 | W | len(body) | body | 8 | "AES_GCM_"` where
//! `body = len(ct) | AES-GCM ciphertext and tag | 12 | nonce`; `len(msg) + 244` bytes in all.

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::{Aes256Gcm, Nonce};
use ark_bls12_381::{Bls12_381, Fr, G1Affine, G1Projective, G2Affine, G2Projective, g1};
use ark_ec::hashing::HashToCurve as _;
use ark_ec::hashing::curve_maps::wb::WBMap;
use ark_ec::hashing::map_to_curve_hasher::MapToCurveBasedHasher;
use ark_ec::pairing::Pairing as _;
use ark_ec::{AffineRepr as _, CurveGroup as _};
use ark_ff::PrimeField as _;
use ark_ff::field_hashers::DefaultFieldHasher;
use ark_serialize::{CanonicalDeserialize as _, CanonicalSerialize as _};
use rand_core::{OsRng, RngCore as _};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::{Error, scale};

/// drand quicknet's public key (G2, compressed).
pub const QUICKNET_PUBLIC_KEY: &str = "83cf0f2896adee7eb8b5f01fcad3912212c437e0073e911fb90022d3e760183c8c4b450b6a0a6c3ac6a5776a2d1064510d1fec758c921cc22b0e17e63aaf4bcb5ed66304de9cf809bd274ca73bab4af5a6e9c76a4bc09e76eae8991ef5ece45a";
/// drand quicknet's genesis time (Unix seconds).
pub const QUICKNET_GENESIS: u64 = 1_692_803_367;
/// drand quicknet's period in seconds.
pub const QUICKNET_PERIOD: u64 = 3;
/// Subtensor's target block time in seconds, as bittensor passes it.
pub const BLOCK_TIME_SECS: f64 = 12.0;

const DST: &[u8] = b"BLS_SIG_BLS12381G1_XMD:SHA-256_SSWU_RO_NUL_";
const CIPHER_SUITE: &[u8] = b"AES_GCM_";
const NONCE_LEN: usize = 12;
/// What the scheme adds to the message: 96 + 3 * 8 + 32 + 32 + 8 + 8 + 8 + 12 + 8 + 16 (tag).
pub const OVERHEAD: usize = 244;

fn timelock_error(reason: impl Into<String>) -> Error {
    Error::Timelock(reason.into())
}

/// A drand beacon's public key (G2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconPublicKey(G2Affine);

impl BeaconPublicKey {
    /// drand quicknet, the beacon subtensor uses.
    #[must_use]
    pub fn quicknet() -> Self {
        Self::from_hex(QUICKNET_PUBLIC_KEY).expect("the quicknet public key constant is a valid G2 point")
    }

    /// A compressed G2 point in hex (with or without `0x`).
    ///
    /// # Errors
    /// [`Error::Timelock`] when the text is not a valid compressed G2 point.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let bytes = hex::decode(text.trim_start_matches("0x")).map_err(|_| timelock_error("beacon public key is not hex"))?;
        G2Affine::deserialize_compressed(bytes.as_slice()).map(Self).map_err(|_| timelock_error("beacon public key is not a G2 point"))
    }

    /// The compressed point (96 bytes).
    #[must_use]
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        self.0.serialize_compressed(&mut out).expect("serialising into a Vec cannot fail");
        out
    }
}

/// The G1 point drand signs for `round`.
fn round_point(round: u64) -> G1Affine {
    let message = Sha256::digest(round.to_be_bytes());
    MapToCurveBasedHasher::<G1Projective, DefaultFieldHasher<Sha256, 128>, WBMap<g1::Config>>::new(DST)
        .and_then(|hasher| hasher.hash(&message))
        .expect("hash to G1 with a fixed DST and 32-byte message cannot fail")
}

fn gt_hash(point_g1: G1Affine, point_g2: G2Affine) -> [u8; 32] {
    let mut bytes = Vec::with_capacity(576);
    Bls12_381::pairing(point_g1, point_g2).serialize_compressed(&mut bytes).expect("serialising into a Vec cannot fail");
    Sha256::digest(&bytes).into()
}

fn xor32(a: &[u8; 32], b: &[u8; 32]) -> [u8; 32] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// `r = H3(sigma, k)`: sha256 of both, big-endian, reduced into the scalar field.
fn derive_r(sigma: &[u8; 32], key: &[u8; 32]) -> Fr {
    let mut hasher = Sha256::new();
    hasher.update(sigma);
    hasher.update(key);
    Fr::from_be_bytes_mod_order(&hasher.finalize())
}

fn push_vec(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// Encrypts `message` so that drand's signature of `round` (by `beacon`) opens it.
#[must_use]
#[expect(clippy::many_single_char_names, reason = "t, r, u, v, w are the scheme's own names")]
pub fn encrypt(beacon: &BeaconPublicKey, round: u64, message: &[u8]) -> Vec<u8> {
    let mut key = Zeroizing::new([0_u8; 32]);
    OsRng.fill_bytes(key.as_mut());
    let mut t_bytes = Zeroizing::new([0_u8; 64]);
    OsRng.fill_bytes(t_bytes.as_mut());
    let t = Fr::from_le_bytes_mod_order(t_bytes.as_ref());
    let mut t_serialised = Zeroizing::new(Vec::with_capacity(32));
    t.serialize_compressed(&mut *t_serialised).expect("serialising into a Vec cannot fail");
    let sigma: [u8; 32] = Sha256::digest(t_serialised.as_slice()).into();
    let r = derive_r(&sigma, &key);
    let u = (G2Projective::from(G2Affine::generator()) * r).into_affine();
    let shared = gt_hash(round_point(round), (G2Projective::from(beacon.0) * r).into_affine());
    let v = xor32(&sigma, &shared);
    let w = xor32(&key, &Sha256::digest(sigma).into());

    let mut nonce = [0_u8; NONCE_LEN];
    OsRng.fill_bytes(&mut nonce);
    let sealed = Aes256Gcm::new(key.as_ref().into())
        .encrypt(Nonce::from_slice(&nonce), message)
        .expect("AES-GCM encryption of an in-memory buffer cannot fail");
    let mut body = Vec::with_capacity(sealed.len() + 36);
    push_vec(&mut body, &sealed);
    push_vec(&mut body, &nonce);

    let mut out = Vec::with_capacity(message.len() + OVERHEAD);
    u.serialize_compressed(&mut out).expect("serialising into a Vec cannot fail");
    push_vec(&mut out, &v);
    push_vec(&mut out, &w);
    push_vec(&mut out, &body);
    push_vec(&mut out, CIPHER_SUITE);
    out
}

/// A bounded reader over ciphertext bytes: every length prefix is checked against what is
/// left, so a hostile prefix cannot make us allocate.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, count: usize, what: &str) -> Result<&'a [u8], Error> {
        if self.0.len() < count {
            return Err(timelock_error(format!("truncated ciphertext ({what})")));
        }
        let (head, rest) = self.0.split_at(count);
        self.0 = rest;
        Ok(head)
    }

    fn vec(&mut self, what: &str) -> Result<&'a [u8], Error> {
        let length = u64::from_le_bytes(self.take(8, what)?.try_into().expect("took 8 bytes"));
        let length = usize::try_from(length).map_err(|_| timelock_error(format!("length of {what} out of range")))?;
        self.take(length, what)
    }

    fn array32(&mut self, what: &str) -> Result<[u8; 32], Error> {
        self.vec(what)?.try_into().map_err(|_| timelock_error(format!("{what} is not 32 bytes")))
    }
}

/// Opens a ciphertext with drand's signature of its round (a compressed G1 point, 48 bytes;
/// an ASCII `0x` prefix is ignored as the runtime does).
///
/// # Errors
/// [`Error::Timelock`] for a malformed ciphertext or signature, a signature of another round
/// or beacon, or a tampered body.
pub fn decrypt(ciphertext: &[u8], signature: &[u8]) -> Result<Vec<u8>, Error> {
    let signature = signature.strip_prefix(b"0x").unwrap_or(signature);
    let signature = G1Affine::deserialize_compressed(signature).map_err(|_| timelock_error("signature is not a G1 point"))?;
    let mut reader = Reader(ciphertext);
    let u = G2Affine::deserialize_compressed(reader.take(96, "U")?).map_err(|_| timelock_error("U is not a G2 point"))?;
    let v = reader.array32("V")?;
    let w = reader.array32("W")?;
    let body = reader.vec("body")?;
    let suite = reader.vec("cipher suite")?;
    if suite != CIPHER_SUITE {
        return Err(timelock_error("unknown cipher suite"));
    }
    if !reader.0.is_empty() {
        return Err(timelock_error("trailing bytes after the ciphertext"));
    }
    let sigma = xor32(&v, &gt_hash(signature, u));
    let key = Zeroizing::new(xor32(&w, &Sha256::digest(sigma).into()));
    let r = derive_r(&sigma, &key);
    if (G2Projective::from(G2Affine::generator()) * r).into_affine() != u {
        return Err(timelock_error("the signature does not open this ciphertext (wrong round or beacon)"));
    }
    let mut body = Reader(body);
    let sealed = body.vec("AES ciphertext")?;
    let nonce = body.vec("nonce")?;
    if nonce.len() != NONCE_LEN {
        return Err(timelock_error("AES-GCM nonce is not 12 bytes"));
    }
    Aes256Gcm::new(key.as_ref().into())
        .decrypt(Nonce::from_slice(nonce), sealed)
        .map_err(|_| timelock_error("AES-GCM authentication failed"))
}

/// Whether `signature` is the beacon's signature of `round`: `e(sig, G2) == e(Q, pk)`.
#[must_use]
pub fn verify_pulse(beacon: &BeaconPublicKey, round: u64, signature: &[u8]) -> bool {
    let Ok(signature) = G1Affine::deserialize_compressed(signature) else { return false };
    Bls12_381::pairing(signature, G2Affine::generator()) == Bls12_381::pairing(round_point(round), beacon.0)
}

/// A beacon with a known secret key, for local test chains: it signs rounds like drand does,
/// so commitments encrypted to its public key are revealed by the fake node.
#[derive(Clone)]
pub struct TestBeacon {
    secret: Fr,
}

impl std::fmt::Debug for TestBeacon {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TestBeacon(secret redacted)")
    }
}

impl TestBeacon {
    /// A beacon whose secret is derived from `seed`.
    #[must_use]
    pub fn from_seed(seed: &[u8]) -> Self {
        Self { secret: Fr::from_be_bytes_mod_order(&Sha256::digest(seed)) }
    }

    /// Its public key.
    #[must_use]
    pub fn public_key(&self) -> BeaconPublicKey {
        BeaconPublicKey((G2Projective::from(G2Affine::generator()) * self.secret).into_affine())
    }

    /// Its signature of `round` (compressed G1, 48 bytes).
    #[must_use]
    pub fn sign(&self, round: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(48);
        (G1Projective::from(round_point(round)) * self.secret)
            .into_affine()
            .serialize_compressed(&mut out)
            .expect("serialising into a Vec cannot fail");
        out
    }
}

/// The reveal round of a commitment, as bittensor-drand's `get_encrypted_commitment`:
/// `((now - genesis) + round(blocks_until_reveal * block_time)) / period` in whole seconds.
#[must_use]
pub fn commitment_reveal_round(now_unix_secs: u64, blocks_until_reveal: u64, block_time_secs: f64) -> u64 {
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the reference's own f64 arithmetic"
    )]
    let ahead = (blocks_until_reveal as f64 * block_time_secs).round() as u64;
    (now_unix_secs.saturating_sub(QUICKNET_GENESIS) + ahead) / QUICKNET_PERIOD
}

/// The chain's view of a subnet for commit-reveal weights.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RevealSchedule {
    /// The current (best) block.
    pub current_block: u64,
    /// The netuid storage index (netuid for mechanism 0).
    pub netuid: u16,
    /// `Tempo(netuid)`.
    pub tempo: u64,
    /// `RevealPeriodEpochs(netuid)`.
    pub reveal_period_epochs: u64,
}

/// The reveal round of commit-reveal weights, as bittensor-drand's `generate_commit`: the
/// drand round due 3 blocks into the reveal epoch, rounded down, at least 1.
#[must_use]
pub fn weights_reveal_round(schedule: RevealSchedule, now_unix_secs: f64, block_time_secs: f64) -> u64 {
    let tempo_plus_one = schedule.tempo.saturating_add(1);
    let netuid_plus_one = u64::from(schedule.netuid) + 1;
    let current_epoch = (schedule.current_block + netuid_plus_one) / tempo_plus_one;
    let reveal_epoch = current_epoch + schedule.reveal_period_epochs;
    let first_reveal_block = reveal_epoch.saturating_mul(tempo_plus_one).saturating_sub(netuid_plus_one);
    let blocks_until = (first_reveal_block + 3).saturating_sub(schedule.current_block);
    #[expect(clippy::cast_precision_loss, reason = "the reference's own f64 arithmetic")]
    let target = now_unix_secs + blocks_until as f64 * block_time_secs;
    #[expect(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the reference's own f64 arithmetic"
    )]
    let round = ((target - QUICKNET_GENESIS as f64) / QUICKNET_PERIOD as f64).floor() as u64;
    round.max(1)
}

/// The SCALE bytes of bittensor's `WeightsTlockPayload { hotkey, uids, values, version_key }`,
/// the plaintext of commit-reveal weights.
#[must_use]
pub fn weights_payload(hotkey: &[u8; 32], uids: &[u16], values: &[u16], version_key: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(48 + 2 * (uids.len() + values.len()));
    scale::push_bytes(&mut out, hotkey);
    scale::push_u16s(&mut out, uids);
    scale::push_u16s(&mut out, values);
    out.extend_from_slice(&version_key.to_le_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// drand quicknet's public signature of round 1000.
    const ROUND_1000_SIGNATURE: &str = "b44679b9a59af2ec876b1a6b1ad52ea9b1615fc3982b19576350f93447cb1125e342b73a8dd2bacbe47e4b6b63ed5e39";

    /// `bittensor_drand.encrypt_at_round(b"hello timelock", 1000)`, SCALE wrapper stripped
    /// (spec/chain.md section 8.3).
    const PYTHON_CIPHERTEXT_1000: &str = concat!(
        "86b32b1460ac771e55292a2e0155632b0b3989b7955e7f39bca884ac658984f315968ddcc69afafc3a145ea8fcc19c28",
        "033021f33d2abc0d0b4599974d8bdfbc73c6e21b9de7f36edec4b9d9faa3b1f37f5470518daaa75f19da839522defd48",
        "200000000000000097ea4722f487e03f18b027bc350c01c46247bb65f50886fd2acbed77a40eb4b32000000000000000",
        "922a9a531d612b87fd7978c6e4c4e2f36083b1270c53223bafad492251b5a2443a000000000000001e00000000000000",
        "7f43de07f13df38a8d227fc37aa69f017be4cac5ee2b00f755faa1027ba00c000000000000000ef8fe773a883e9e7572",
        "96ce08000000000000004145535f47434d5f",
    );

    fn signature_1000() -> Vec<u8> {
        hex::decode(ROUND_1000_SIGNATURE).expect("hex")
    }

    #[test]
    fn timelock_decrypts_a_python_ciphertext_with_the_public_round_1000_pulse() {
        let ciphertext = hex::decode(PYTHON_CIPHERTEXT_1000).expect("hex");
        assert_eq!(decrypt(&ciphertext, &signature_1000()).expect("decrypts"), b"hello timelock");
        assert!(verify_pulse(&BeaconPublicKey::quicknet(), 1000, &signature_1000()));
        assert!(!verify_pulse(&BeaconPublicKey::quicknet(), 1001, &signature_1000()));
    }

    #[test]
    fn timelock_encrypt_then_decrypt_round_trips_and_rejects_other_rounds() {
        let message = b"{\"model\": \"a/b\"}";
        let ciphertext = encrypt(&BeaconPublicKey::quicknet(), 1000, message);
        assert_eq!(ciphertext.len(), message.len() + OVERHEAD);
        assert_eq!(decrypt(&ciphertext, &signature_1000()).expect("decrypts"), message);
        let beacon = TestBeacon::from_seed(b"test beacon");
        let local = encrypt(&beacon.public_key(), 42, message);
        assert!(verify_pulse(&beacon.public_key(), 42, &beacon.sign(42)));
        assert_eq!(decrypt(&local, &beacon.sign(42)).expect("decrypts"), message);
        assert!(decrypt(&local, &beacon.sign(43)).is_err(), "another round's signature must not open it");
    }

    #[test]
    fn timelock_malformed_ciphertexts_are_errors_not_panics() {
        let good = encrypt(&BeaconPublicKey::quicknet(), 1000, b"x");
        for cut in [0, 10, 96, 100, good.len() - 1] {
            assert!(decrypt(&good[..cut], &signature_1000()).is_err(), "cut at {cut}");
        }
        let mut huge_length = good.clone();
        huge_length[96..104].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(decrypt(&huge_length, &signature_1000()).is_err());
        let mut tampered = good;
        let last_body_byte = tampered.len() - 8 - 8 - 12 - 8 - 1;
        tampered[last_body_byte] ^= 1;
        assert!(decrypt(&tampered, &signature_1000()).is_err());
        assert!(decrypt(&encrypt(&BeaconPublicKey::quicknet(), 1000, b"x"), b"not a point").is_err());
    }

    #[test]
    fn reveal_rounds_follow_the_reference_formulas() {
        // now = genesis + 3000 s (round 1000); one block of 12 s ahead -> round 1004.
        assert_eq!(commitment_reveal_round(QUICKNET_GENESIS + 3000, 1, BLOCK_TIME_SECS), 1004);
        assert_eq!(commitment_reveal_round(QUICKNET_GENESIS + 3002, 1, BLOCK_TIME_SECS), 1004);
        // tempo 360, netuid 120, block 1000: epoch (1000+121)/361 = 3, reveal epoch 4, first
        // reveal block 4*361-121 = 1323, target 1326, 326 blocks = 3912 s ahead.
        let schedule = RevealSchedule { current_block: 1000, netuid: 120, tempo: 360, reveal_period_epochs: 1 };
        #[expect(clippy::cast_precision_loss, reason = "small exact integer")]
        let now = (QUICKNET_GENESIS + 3000) as f64 + 0.5;
        assert_eq!(weights_reveal_round(schedule, now, BLOCK_TIME_SECS), 1000 + 3912 / 3);
        assert_eq!(weights_reveal_round(schedule, 0.0, BLOCK_TIME_SECS), 1);
    }

    #[test]
    fn weights_payload_is_scale_encoded() {
        let payload = weights_payload(&[7; 32], &[0, 5], &[65535, 1], 9_012_002);
        let mut expected = vec![0x80];
        expected.extend_from_slice(&[7; 32]);
        expected.extend_from_slice(&[0x08, 0, 0, 5, 0, 0x08, 0xff, 0xff, 1, 0]);
        expected.extend_from_slice(&9_012_002_u64.to_le_bytes());
        assert_eq!(payload, expected);
    }
}
