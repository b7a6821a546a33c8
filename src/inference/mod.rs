//! Inference: the OpenAI-compatible chat-completions client every environment uses to query a
//! miner, and the Chutes management API client (chute lookup, listing, deploys, the per-chute
//! OpenAI-compatible URL).
//!
//! The chat client sends exactly what the reference image sent (`model`, one user message,
//! `temperature`, `stream: false`, `seed`) with a bearer key, and makes no retries of its own:
//! retrying is the caller's policy. Its errors keep the text the validator's classifier matches
//! (`Error code: <n> - <body>`), see [`Error`]. Chutes errors ([`chutes::Error`]) keep the
//! server's status and `detail`. Request signing with the miner's hotkey is a pluggable hook
//! ([`chutes::SignMessage`]); [`chutes_config`] reads the account and seed from the chutes SDK's
//! `config.ini`.

pub mod chutes;
pub mod chutes_config;
mod chutes_error;
mod client;
mod error;
pub mod url;

pub use client::{ApiKey, ChatRequest, InferenceClient};
pub use error::Error;
pub use url::InferenceUrlTemplate;
