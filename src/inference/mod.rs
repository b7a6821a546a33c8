//! OpenAI-compatible chat completions: the one call every environment makes to a miner.
//!
//! The client sends exactly what the reference image sent (`model`, one user message,
//! `temperature`, `stream: false`, `seed`) with a bearer key, and makes no retries of its own:
//! retrying is the caller's policy. Errors keep the text the validator's classifier matches
//! (`Error code: <n> - <body>`), see [`Error`].

mod client;
mod error;

pub use client::{ApiKey, ChatRequest, InferenceClient};
pub use error::Error;
