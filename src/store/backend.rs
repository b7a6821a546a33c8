//! The operations every backend offers, and the types they exchange.

use std::time::Duration;

use crate::store::error::FailureKind;

/// An object's bytes and entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The body.
    pub bytes: Vec<u8>,
    /// The entity tag, when the backend reports one (quoted, as received).
    pub etag: Option<String>,
}

/// The answer to a (possibly conditional) read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fetched {
    /// No such key.
    Missing,
    /// The object still has the entity tag the caller sent.
    NotModified,
    /// The object.
    Found(Object),
}

/// The condition of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition<'a> {
    /// Write unconditionally.
    None,
    /// Write only if the key does not exist (`If-None-Match: *`).
    IfAbsent,
    /// Write only if the object still has this entity tag (`If-Match`).
    IfMatch(&'a str),
}

/// The answer to a write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    /// Written; the new entity tag when reported.
    Written(Option<String>),
    /// The precondition did not hold (412, 409, or 404 answering `If-Match`); nothing changed.
    Conflict,
}

/// Classifies an HTTP status that is not a success.
#[must_use]
pub fn status_kind(status: u16, retry_after: Option<&str>) -> FailureKind {
    match status {
        429 | 503 => FailureKind::Throttled { retry_after: retry_after.and_then(parse_retry_after) },
        500..=599 | 408 => FailureKind::Unavailable,
        401 | 403 => FailureKind::Denied,
        _ => FailureKind::Other,
    }
}

/// `Retry-After` in seconds (the HTTP-date form is ignored and falls back to backoff).
fn parse_retry_after(value: &str) -> Option<Duration> {
    value.trim().parse::<u64>().ok().map(|seconds| Duration::from_secs(seconds.min(300)))
}

/// A content fingerprint: length and 64-bit FNV-1a, quoted like an entity tag. Used as the
/// local backend's entity tag and to detect corrupt cache files (not a security hash).
#[must_use]
pub fn content_tag(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{:x}-{hash:016x}\"", bytes.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_kind_separates_throttling_outages_and_denials() {
        assert_eq!(status_kind(429, Some("3")), FailureKind::Throttled { retry_after: Some(Duration::from_secs(3)) });
        assert_eq!(status_kind(503, Some("Wed, 21 Oct 2015 07:28:00 GMT")), FailureKind::Throttled { retry_after: None });
        assert_eq!(status_kind(500, None), FailureKind::Unavailable);
        assert_eq!(status_kind(403, None), FailureKind::Denied);
        assert_eq!(status_kind(400, None), FailureKind::Other);
    }

    #[test]
    fn content_tag_changes_with_content() {
        assert_eq!(content_tag(b"[]"), content_tag(b"[]"));
        assert_ne!(content_tag(b"[1]"), content_tag(b"[2]"));
        assert!(content_tag(b"").starts_with("\"0-"));
    }
}
