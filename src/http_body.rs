//! Bounded reading of HTTP response bodies: every HTTP client of `af` reads through here, with
//! a cap per kind of answer, so no server can exhaust memory with one response.
//!
//! A body is read chunk by chunk; a `Content-Length` above the cap is refused before anything
//! is read, and a body that passes the cap while streaming (chunked, or lying about its
//! length) is cut off there. Error answers are read only for their first few KiB
//! ([`error_text`]), which is all a message needs. Large downloads that go to disk (Hub files)
//! stream through their own loop, limited to the size the listing gave.

use std::fmt;

/// What a body is, which decides its cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    /// A management API's JSON answer (Hub model and revision info, Chutes): 32 MiB.
    ApiJson,
    /// A chat-completions answer: 16 MiB.
    ChatCompletion,
    /// An environment server's answer to a call: 32 MiB.
    EnvAnswer,
    /// A store object: a result shard, the index, a summary ([`crate::fsio::SHARD_MAX_BYTES`]).
    StoreObject,
    /// A file of the ABD/DED dataset ([`crate::fsio::DATASET_FILE_MAX_BYTES`]).
    DatasetFile,
    /// The signer's answer: at most 4096 signatures of 130 bytes and a hotkey: 2 MiB.
    SignerAnswer,
}

impl BodyKind {
    /// The most bytes accepted.
    #[must_use]
    pub const fn limit(self) -> u64 {
        match self {
            Self::ApiJson | Self::EnvAnswer => 32 << 20,
            Self::ChatCompletion => 16 << 20,
            Self::StoreObject => crate::fsio::SHARD_MAX_BYTES,
            Self::DatasetFile => crate::fsio::DATASET_FILE_MAX_BYTES,
            Self::SignerAnswer => 2 << 20,
        }
    }

    const fn name(self) -> &'static str {
        match self {
            Self::ApiJson => "API answer",
            Self::ChatCompletion => "chat completion",
            Self::EnvAnswer => "environment answer",
            Self::StoreObject => "store object",
            Self::DatasetFile => "dataset file",
            Self::SignerAnswer => "signer answer",
        }
    }
}

/// Why a body could not be read.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    /// The body is larger than its kind allows.
    #[error("response too large: {kind} over the {} limit", crate::fsio::human(*limit))]
    TooLarge {
        /// What was being read.
        kind: &'static str,
        /// The cap in bytes.
        limit: u64,
    },
    /// The transfer failed (reset, timeout, cut short); the URL is stripped from the cause.
    #[error("failed to read the response body")]
    Transport(#[source] reqwest::Error),
}

impl BodyError {
    /// Whether the body passed its cap (not worth retrying).
    #[must_use]
    pub fn is_too_large(&self) -> bool {
        matches!(self, Self::TooLarge { .. })
    }

    /// Whether the transfer timed out.
    #[must_use]
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Transport(error) if error.is_timeout())
    }
}

/// Collects chunks up to a cap; for body streams that are not a [`reqwest::Response`] (the S3
/// SDK's byte stream).
#[derive(Debug)]
pub struct Capped {
    kind: BodyKind,
    bytes: Vec<u8>,
}

impl Capped {
    /// An empty collector for `kind`; `expected` (a `Content-Length`) above the cap is refused
    /// at once.
    ///
    /// # Errors
    /// [`BodyError::TooLarge`].
    pub fn new(kind: BodyKind, expected: Option<u64>) -> Result<Self, BodyError> {
        let limit = kind.limit();
        if expected.is_some_and(|length| length > limit) {
            return Err(too_large(kind));
        }
        let capacity = expected.unwrap_or(0).min(limit).min(64 << 20);
        Ok(Self { kind, bytes: Vec::with_capacity(usize::try_from(capacity).unwrap_or(0)) })
    }

    /// Appends a chunk.
    ///
    /// # Errors
    /// [`BodyError::TooLarge`] once the cap is passed.
    pub fn push(&mut self, chunk: &[u8]) -> Result<(), BodyError> {
        if (self.bytes.len() + chunk.len()) as u64 > self.kind.limit() {
            return Err(too_large(self.kind));
        }
        self.bytes.extend_from_slice(chunk);
        Ok(())
    }

    /// The bytes collected.
    #[must_use]
    pub fn into_bytes(self) -> Vec<u8> {
        self.bytes
    }
}

fn too_large(kind: BodyKind) -> BodyError {
    BodyError::TooLarge { kind: kind.name(), limit: kind.limit() }
}

/// Reads the body of `response` up to the cap of `kind`.
///
/// # Errors
/// [`BodyError::TooLarge`] (before reading when `Content-Length` says so), or
/// [`BodyError::Transport`].
pub async fn read(mut response: reqwest::Response, kind: BodyKind) -> Result<Vec<u8>, BodyError> {
    let mut body = Capped::new(kind, response.content_length())?;
    while let Some(chunk) = response.chunk().await.map_err(|e| BodyError::Transport(e.without_url()))? {
        body.push(&chunk)?;
    }
    Ok(body.into_bytes())
}

/// How much of an error answer is read for its message.
pub const ERROR_TEXT_BYTES: usize = 8 << 10;

/// The first [`ERROR_TEXT_BYTES`] of an error answer as (lossy) text, `…` appended when cut;
/// the rest is never read. A transfer failure gives what arrived.
pub async fn error_text(mut response: reqwest::Response) -> String {
    let mut bytes = Vec::new();
    let mut cut = false;
    while let Ok(Some(chunk)) = response.chunk().await {
        let room = ERROR_TEXT_BYTES - bytes.len();
        if chunk.len() > room {
            bytes.extend_from_slice(&chunk[..room]);
            cut = true;
            break;
        }
        bytes.extend_from_slice(&chunk);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if cut {
        text.push('…');
    }
    text
}

impl fmt::Display for BodyKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_refuses_a_declared_or_streamed_excess() {
        let limit = BodyKind::ChatCompletion.limit();
        assert!(Capped::new(BodyKind::ChatCompletion, Some(limit + 1)).expect_err("declared").is_too_large());
        let mut body = Capped::new(BodyKind::ChatCompletion, None).expect("no length");
        body.push(&vec![0; usize::try_from(limit).expect("fits")]).expect("exactly the cap");
        let error = body.push(b"x").expect_err("one byte more");
        assert_eq!(error.to_string(), "response too large: chat completion over the 16 MiB limit");
    }
}
