//! The chain module's error type.

use std::path::PathBuf;

/// What can go wrong with keys, wallets, signatures and the chain.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An SS58 address that does not decode to a format-42 sr25519 public key.
    #[error("invalid SS58 address {address:?}: {reason}")]
    InvalidAddress {
        /// The text given.
        address: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// Text that should be hex is not.
    #[error("invalid hex in {what}")]
    InvalidHex {
        /// Which value.
        what: &'static str,
        /// The decoder's complaint.
        #[source]
        source: hex::FromHexError,
    },
    /// Key material of the wrong shape (seed length, bad mnemonic, invalid scalar).
    #[error("invalid key material: {0}")]
    InvalidKey(String),
    /// A keyfile that does not exist.
    #[error("no keyfile at {}", path.display())]
    KeyfileMissing {
        /// Where it was looked for.
        path: PathBuf,
    },
    /// A keyfile that cannot be read.
    #[error("failed to read keyfile {}", path.display())]
    KeyfileRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A keyfile whose contents are not a bittensor keyfile.
    #[error("keyfile {} is not a bittensor keyfile: {reason}", path.display())]
    KeyfileMalformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A keyfile encrypted with a scheme `af` does not read (Ansible vault, legacy Fernet).
    #[error("keyfile {} is encrypted with {scheme}, which af does not read", path.display())]
    KeyfileUnsupportedEncryption {
        /// The file.
        path: PathBuf,
        /// The scheme detected.
        scheme: &'static str,
    },
    /// The password does not open a `$NACL` keyfile.
    #[error("wrong password for keyfile {}", path.display())]
    WrongPassword {
        /// The file.
        path: PathBuf,
    },
    /// A password was needed but none is available (no environment variable, no terminal).
    #[error("keyfile {} is encrypted and no password was given", path.display())]
    PasswordUnavailable {
        /// The file.
        path: PathBuf,
    },
    /// A keyfile holds only a public key where a secret is needed.
    #[error("keyfile {} holds no secret key", path.display())]
    NoSecretKey {
        /// The file.
        path: PathBuf,
    },
    /// Weights that cannot be normalised for the chain.
    #[error("invalid weights: {0}")]
    InvalidWeights(String),
    /// Timelock encryption or decryption failed (malformed ciphertext, wrong round).
    #[error("timelock: {0}")]
    Timelock(String),
    /// An endpoint that is neither a known network name nor a `ws://`/`wss://` URL.
    #[error("unknown subtensor endpoint {endpoint:?}")]
    InvalidEndpoint {
        /// What was given.
        endpoint: String,
    },
    /// The node could not be reached or did not complete the handshake.
    #[error("failed to connect to subtensor at {endpoint}")]
    Connect {
        /// The endpoint URL.
        endpoint: String,
        /// The transport or handshake error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A call to the node failed.
    #[error("subtensor call failed while {what} ({endpoint})")]
    Rpc {
        /// What was being done.
        what: &'static str,
        /// The endpoint URL.
        endpoint: String,
        /// The cause.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A call did not finish within its deadline.
    #[error("subtensor did not answer in time while {what} ({endpoint})")]
    Timeout {
        /// What was being done.
        what: &'static str,
        /// The endpoint URL.
        endpoint: String,
    },
    /// The node's metadata lacks a pallet, storage item or call `af` needs.
    #[error("the node at {endpoint} has no {item} in its metadata")]
    UnexpectedMetadata {
        /// The endpoint URL.
        endpoint: String,
        /// The missing pallet or item.
        item: String,
    },
    /// The hotkey has no uid on the subnet.
    #[error("hotkey {hotkey} is not registered on netuid {netuid}")]
    NotRegistered {
        /// The subnet.
        netuid: u16,
        /// The hotkey.
        hotkey: String,
    },
    /// Weights were submitted but `LastUpdate` never reached the reference block.
    #[error("weights not confirmed after {attempts} attempts{}", last_error.as_ref().map(|e| format!(" (last error: {e})")).unwrap_or_default())]
    WeightsNotConfirmed {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error, if it failed outright.
        last_error: Option<String>,
    },
    /// The chain refused an included extrinsic with a module error.
    #[error("the chain refused the extrinsic: {pallet}::{error}")]
    Dispatch {
        /// The pallet.
        pallet: String,
        /// The error's name (e.g. `SpaceLimitExceeded`).
        error: String,
    },
    /// A commitment text too long for one timelocked field.
    #[error("commitment of {bytes} bytes is too long (at most {max})")]
    CommitmentTooLong {
        /// Its length.
        bytes: usize,
        /// The limit.
        max: usize,
    },
    /// A value cannot be rendered as Python's `json.dumps` would (Python would raise too).
    #[error("cannot render the signature text: {0}")]
    SignData(String),
}

impl Error {
    /// Whether the user can fix this by changing input (flags, files, passwords): exit code 2.
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidAddress { .. }
                | Self::InvalidHex { .. }
                | Self::InvalidKey(_)
                | Self::KeyfileMissing { .. }
                | Self::KeyfileMalformed { .. }
                | Self::KeyfileUnsupportedEncryption { .. }
                | Self::WrongPassword { .. }
                | Self::PasswordUnavailable { .. }
                | Self::NoSecretKey { .. }
                | Self::InvalidEndpoint { .. }
                | Self::NotRegistered { .. }
                | Self::CommitmentTooLong { .. }
        )
    }

    /// Whether retrying the same operation may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::Rpc { .. } | Self::Timeout { .. })
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::KeyfileMissing { .. } => Some(
                "pick the wallet with --wallet.name/--wallet.hotkey/--wallet.path (or BT_WALLET_COLD/BT_WALLET_HOT/BT_WALLET_PATH); create one with btcli",
            ),
            Self::WrongPassword { .. } | Self::PasswordUnavailable { .. } => {
                Some("set AF_WALLET_PASSWORD to the keyfile password, or run af on a terminal to be prompted")
            }
            Self::KeyfileUnsupportedEncryption { .. } => Some("re-encrypt the key with a current btcli (it writes $NACL keyfiles)"),
            Self::Connect { .. } | Self::Timeout { .. } => Some(
                "check the node is up, or pick another with --subtensor-endpoint / SUBTENSOR_ENDPOINT (finney, test, local or a ws:// URL)",
            ),
            Self::UnexpectedMetadata { .. } => {
                Some("the node runs a runtime af does not know; point --subtensor-endpoint at an up-to-date subtensor node")
            }
            _ => None,
        }
    }
}
