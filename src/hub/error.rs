//! Errors of the Hugging Face Hub client.

use std::path::PathBuf;

/// Failures talking to the Hub or writing a snapshot.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured endpoint is not an absolute http(s) URL.
    #[error("invalid hugging face endpoint {endpoint:?}: {reason}")]
    InvalidEndpoint {
        /// What was configured.
        endpoint: String,
        /// Why it was refused.
        reason: String,
    },
    /// A repository id that is not `owner/name`.
    #[error("invalid repository id {repo:?}: expected owner/name")]
    InvalidRepo {
        /// What was given.
        repo: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("failed to build the http client")]
    Client(#[source] reqwest::Error),
    /// The request did not complete (connection, timeout, body cut off).
    #[error("request to {url} failed")]
    Request {
        /// The URL, without credentials.
        url: String,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },
    /// 401/403 without a gating code: the repository is private or gated, or the token is
    /// missing or wrong (the Hub answers 401 for unknown repositories too when no token is sent).
    #[error("access to {repo} denied (HTTP {status}): the repository is private, gated or does not exist")]
    AccessDenied {
        /// The repository.
        repo: String,
        /// 401 or 403.
        status: u16,
        /// The Hub's message, if any.
        message: Option<String>,
    },
    /// The repository is gated and the token has not been granted access.
    #[error("{repo} is gated (HTTP {status}): access must be requested on the model page")]
    Gated {
        /// The repository.
        repo: String,
        /// 401 or 403.
        status: u16,
    },
    /// No such repository.
    #[error("repository {repo} not found")]
    RepoNotFound {
        /// The repository.
        repo: String,
    },
    /// The repository exists but not at this revision.
    #[error("revision {revision} not found in {repo}")]
    RevisionNotFound {
        /// The repository.
        repo: String,
        /// The revision asked for.
        revision: String,
    },
    /// A file listed by the revision is missing.
    #[error("{path} not found in {repo}")]
    EntryNotFound {
        /// The repository.
        repo: String,
        /// The file.
        path: String,
    },
    /// Any other non-success status.
    #[error("{url} answered HTTP {status}{}", message.as_deref().map(|m| format!(": {m}")).unwrap_or_default())]
    Status {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The Hub's `X-Error-Message` or `{"error": ...}` text.
        message: Option<String>,
    },
    /// The answer was not the JSON the Hub documents.
    #[error("unexpected answer from {url}")]
    Decode {
        /// The URL.
        url: String,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// The revision lists a name (commit sha, file name, etag) that is not safe to use in a
    /// path or URL: nothing is downloaded.
    #[error("the listing of {repo} is unsafe")]
    UnsafeListing {
        /// The repository.
        repo: String,
        /// The name and the rule it broke.
        #[source]
        source: crate::names::Unsafe,
    },
    /// The revision lists a file without a size, so its download could not be bounded.
    #[error("{path} in {repo} is listed without a size; refusing an unbounded download")]
    Unsized {
        /// The repository.
        repo: String,
        /// The file.
        path: String,
    },
    /// An answer could not be read whole: too large, or cut off.
    #[error("failed to read the answer of {url}")]
    Body {
        /// The URL, without credentials.
        url: String,
        /// Why.
        #[source]
        source: crate::http_body::BodyError,
    },
    /// A local file could not be read or written.
    #[error("failed to write {}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// A downloaded file has the wrong size.
    #[error("{path} has {actual} bytes, expected {expected}")]
    SizeMismatch {
        /// The file in the repository.
        path: String,
        /// The size the revision lists.
        expected: u64,
        /// The size received.
        actual: u64,
    },
    /// A downloaded LFS file does not hash to the sha256 the revision lists.
    #[error("{path} is corrupted: sha256 {actual}, expected {expected}")]
    Integrity {
        /// The file in the repository.
        path: String,
        /// The sha256 the revision lists.
        expected: String,
        /// The sha256 of what was received.
        actual: String,
    },
    /// The download was stopped by a signal; partial files are kept for the next run.
    #[error("download interrupted")]
    Cancelled,
}

impl Error {
    /// Whether retrying the same request may succeed (transport failures, 429, 5xx, a body cut
    /// short).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Request { .. } | Self::SizeMismatch { .. } => true,
            Self::Body { source, .. } => !source.is_too_large(),
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// Whether the error comes from what the user asked for (a wrong, private or gated
    /// repository or revision) rather than a failure while running.
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(
            self,
            Self::InvalidEndpoint { .. }
                | Self::InvalidRepo { .. }
                | Self::AccessDenied { .. }
                | Self::Gated { .. }
                | Self::RepoNotFound { .. }
                | Self::RevisionNotFound { .. }
        )
    }

    /// Whether setting (or fixing) `HF_TOKEN` is the likely fix.
    #[must_use]
    pub fn needs_token(&self) -> bool {
        matches!(self, Self::AccessDenied { .. } | Self::Gated { .. })
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        match self {
            Self::Cancelled => crate::error::Kind::Interrupted,
            error => crate::error::Kind::usage_if(error.is_user_input()),
        }
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Gated { .. } => {
                Some("request access on the model page, then set HF_TOKEN (or pass --hf-token) to a token of that account")
            }
            Self::AccessDenied { .. } => {
                Some("the repository is private, gated or misspelled: set HF_TOKEN (or pass --hf-token) to a token that can read it")
            }
            Self::RepoNotFound { .. } | Self::RevisionNotFound { .. } => {
                Some("check --repo (owner/name) and --revision (a commit sha or branch that exists in that repository)")
            }
            Self::Integrity { .. } | Self::SizeMismatch { .. } => {
                Some("the damaged file was discarded; run the command again to fetch it afresh")
            }
            error if error.is_transient() => {
                Some("the Hub or the network failed; run the command again, finished files are kept and partial ones resumed")
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_classification_separates_input_transient_and_token_problems() {
        let gated = Error::Gated { repo: "a/b".into(), status: 403 };
        assert!(gated.is_user_input() && gated.needs_token() && !gated.is_transient());
        let busy = Error::Status { url: "u".into(), status: 503, message: None };
        assert!(busy.is_transient() && !busy.is_user_input());
        let missing = Error::RevisionNotFound { repo: "a/b".into(), revision: "r".into() };
        assert!(missing.is_user_input() && !missing.needs_token());
        assert_eq!(Error::Status { url: "u".into(), status: 500, message: Some("boom".into()) }.to_string(), "u answered HTTP 500: boom");
    }
}
