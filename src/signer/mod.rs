//! The signer: the one process that holds the validator's hotkey (`af signer`), and the client
//! the other services use to reach it.
//!
//! - [`client`]: [`client::SignerClient`], the HTTP client of `/sign` and `/set_weights`
//!   (reference timeouts, bearer token, "unreachable" told apart from "answered an error").
//! - [`server`]: the axum service (`/healthz`, `/sign`, `/set_weights`), listener in, token in.
//! - [`policy`]: who may call it and what it signs or sets, as pure functions.
//! - [`wire`]: the request and response shapes, as the reference's signer speaks them.
//!
//! Only [`client`] may use `reqwest` here, and axum stays in [`server`] (`.ci/boundaries`).

pub mod client;
pub mod policy;
pub mod server;
pub mod wire;
