//! Inference providers: the Chutes management API client (chute lookup, listing, deploys, the
//! per-chute OpenAI-compatible URL) and its error taxonomy.
//!
//! Request signing with the miner's hotkey is a pluggable hook ([`chutes::SignMessage`]); the
//! key itself lives with the chain code; [`chutes_config`] reads the account and seed from the
//! chutes SDK's `config.ini`.

pub mod chutes;
pub mod chutes_config;
mod error;

pub use error::{Detail, Error};
