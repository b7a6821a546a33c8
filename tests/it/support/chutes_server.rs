//! The devnet's Chutes API, plus a hotkey the way the chutes SDK loads one.

pub use affine::devnet::chutes::{ChutesServer, ChutesUser, chute_fixture};

/// The public key of a prefix-42 SS58 address, checksum verified.
pub fn ss58_decode(address: &str) -> Option<[u8; 32]> {
    affine::chain::ss58::decode(address).ok()
}

/// An sr25519 hotkey made the way substrate-interface loads `hotkey_seed` (mini secret key,
/// Ed25519 expansion), signing with context `substrate`.
pub struct TestHotkey(affine::chain::signing::Keypair);

impl TestHotkey {
    /// From a 32-byte seed.
    pub fn from_seed(seed: [u8; 32]) -> Self {
        Self(affine::chain::signing::Keypair::from_seed(&seed).expect("32-byte seed"))
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.0.public_key().0
    }

    /// Its SS58 address.
    pub fn ss58(&self) -> String {
        self.0.public_key().to_ss58()
    }

    /// Lowercase hex signature of `message`.
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.0.sign(message))
    }
}
