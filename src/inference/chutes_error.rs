//! Errors of the inference clients, keeping the server's status and `detail` so callers can
//! classify on structure rather than on text.

use std::fmt;

/// The `detail` of a `FastAPI` error body: a string, an object (402 quota answers), or absent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detail(pub serde_json::Value);

impl Detail {
    /// The detail when it is a plain string.
    #[must_use]
    pub fn as_str(&self) -> Option<&str> {
        self.0.as_str()
    }
}

impl fmt::Display for Detail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            serde_json::Value::String(text) => f.write_str(text),
            serde_json::Value::Null => f.write_str("no detail"),
            other => write!(f, "{other}"),
        }
    }
}

/// Failures talking to Chutes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured base URL is not an absolute http(s) URL.
    #[error("invalid chutes api url {url:?}: {reason}")]
    InvalidBaseUrl {
        /// What was configured.
        url: String,
        /// Why it was refused.
        reason: String,
    },
    /// The HTTP client could not be built (TLS setup).
    #[error("failed to build the http client")]
    Client(#[source] reqwest::Error),
    /// The request did not complete (connection refused, timeout, body cut off).
    #[error("request to {endpoint} failed")]
    Request {
        /// Method and URL.
        endpoint: String,
        /// The transport failure.
        #[source]
        source: reqwest::Error,
    },
    /// The answer could not be read whole: too large, or cut off.
    #[error("failed to read the answer of {endpoint}")]
    Body {
        /// Method and URL.
        endpoint: String,
        /// Why.
        #[source]
        source: crate::http_body::BodyError,
    },
    /// The server answered with an error status.
    #[error("{endpoint} answered HTTP {status}: {detail}")]
    Api {
        /// Method and URL.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The body's `detail` (or the raw body text when it is not JSON).
        detail: Detail,
    },
    /// A success answer that is not the documented JSON.
    #[error("unexpected answer from {endpoint}: {reason}")]
    Decode {
        /// Method and URL.
        endpoint: String,
        /// What was wrong.
        reason: String,
    },
    /// The chutes `config.ini` could not be read.
    #[error("failed to read chutes config {}", path.display())]
    ConfigRead {
        /// Its path.
        path: std::path::PathBuf,
        /// The I/O failure.
        #[source]
        source: std::io::Error,
    },
    /// The chutes `config.ini` lacks a key or holds a malformed one.
    #[error("invalid chutes config {}: {reason}", path.display())]
    Config {
        /// Its path.
        path: std::path::PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// A deploy the server would refuse, caught before sending it.
    #[error("{0}")]
    InvalidDeploy(String),
}

impl Error {
    /// The HTTP status of an [`Error::Api`].
    #[must_use]
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The chute (or the listed resource) does not exist or is not visible to the caller.
    #[must_use]
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Retrying later may succeed: transport failures, 429 and 5xx.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Request { .. } => true,
            Self::Body { source, .. } => !source.is_too_large(),
            Self::Api { status, .. } => *status == 429 || *status >= 500,
            _ => false,
        }
    }

    /// The credentials were refused (401) or the action is not allowed for them (403).
    #[must_use]
    pub fn is_auth(&self) -> bool {
        matches!(self.status(), Some(401 | 403))
    }

    /// Caused by what the user supplied (a bad URL, a refused deploy, rejected credentials)
    /// rather than a failure while running.
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::InvalidBaseUrl { .. } | Self::InvalidDeploy(_) | Self::Config { .. } | Self::ConfigRead { .. })
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self.status()? {
            401 => Some("check CHUTES_API_KEY (a cpk_ key) or the hotkey registered with Chutes"),
            402 => Some("accept the deployment fee or top up the Chutes account"),
            429 => Some("Chutes is rate limiting (at most 24 chute deploys per day); try again later"),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_keep_status_and_render_string_or_object_detail() {
        let cold = Error::Api {
            endpoint: "GET http://x/chutes/1".into(),
            status: 503,
            detail: Detail(serde_json::json!("No instances available (yet) for chute_id='1'")),
        };
        assert!(cold.is_transient() && !cold.is_not_found());
        assert_eq!(cold.to_string(), "GET http://x/chutes/1 answered HTTP 503: No instances available (yet) for chute_id='1'");
        let quota = Error::Api { endpoint: "e".into(), status: 402, detail: Detail(serde_json::json!({"message": "Quota exceeded"})) };
        assert_eq!(quota.to_string(), r#"e answered HTTP 402: {"message":"Quota exceeded"}"#);
        assert!(!quota.is_transient());
        let missing = Error::Api { endpoint: "e".into(), status: 404, detail: Detail(serde_json::Value::Null) };
        assert!(missing.is_not_found());
        assert!(Error::InvalidDeploy("x".into()).is_user_input());
    }
}
