//! Everything `af` does with Bittensor keys and the subtensor chain.
//!
//! - [`client`]: the subtensor client (subxt, dynamic API, legacy RPC backend): metagraph and
//!   revealed commitments.
//! - [`submit`]: setting weights (plain or timelocked commit-reveal) and confirming them.
//! - [`commit`]: miner commitments, timelocked `set_commitment`.
//! - `extrinsic`: the signing preamble every call shares (latest block, mortal era, nonce).
//! - [`ss58`]: SS58 addresses (format 42) to and from public keys.
//! - [`signing`]: sr25519 keypairs and signatures exactly as bittensor's `Keypair.sign/verify`,
//!   and the result signature text (DESIGN.md, "Wire formats").
//! - [`pyjson`]: Python's `json.dumps(value, sort_keys=True)` rendering, byte for byte.
//! - [`wallet`]: bittensor's wallet layout on disk, keyfiles and `$NACL` decryption.
//! - [`scale`]: the few SCALE encodings chain payloads need.
//! - [`timelock`]: drand quicknet timelock encryption, wire-compatible with bittensor-drand.
//! - [`weights`]: bittensor's float -> u16 weight normalisation, bit for bit.
//!
//! Only this module may talk to the chain client crates (`.ci/boundaries`).

pub mod client;
pub mod commit;
mod error;
mod extrinsic;
pub mod pyjson;
pub mod scale;
pub mod signing;
pub mod ss58;
pub mod submit;
pub mod timelock;
pub mod wallet;
pub mod weights;

pub use error::Error;
