//! The signer: the one process that holds the validator's hotkey, and the client the other
//! services use to reach it.
//!
//! - [`client`]: [`client::SignerClient`], the HTTP client of `/sign` and `/set_weights`
//!   (reference timeouts, bearer token, "unreachable" told apart from "answered an error").
//! - [`wire`]: the request and response shapes, as the reference's signer speaks them.
//!
//! Only [`client`] may use `reqwest` here (`.ci/boundaries`).

pub mod client;
pub mod wire;
