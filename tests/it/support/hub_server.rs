//! The devnet's Hugging Face Hub.

pub use affine::devnet::hub::{HUB_TOKEN, HubFile, HubRepo, HubServer};
