//! Errors of a chat-completions call.

/// A failed chat-completions call.
///
/// `Display` mirrors the openai Python SDK's messages, because the validator classifies
/// results by substrings of this text (`Error code: 429`, ...; spec §4.5).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The endpoint answered with a non-2xx status.
    #[error("Error code: {status} - {body}")]
    Status {
        /// HTTP status code.
        status: u16,
        /// Response body text (truncated to 2000 characters).
        body: String,
    },
    /// No response within the request timeout.
    #[error("Request timed out.")]
    Timeout,
    /// The endpoint could not be reached or the connection broke.
    #[error("Connection error.")]
    Connection {
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The body was not a chat-completions response.
    #[error("malformed chat completion response: {reason}")]
    Malformed {
        /// What was wrong.
        reason: String,
    },
    /// `choices` was empty.
    #[error("LLM API returned empty choices list")]
    EmptyChoices,
    /// `choices[0].message.content` was null.
    #[error("LLM API returned None content (possible content filtering or API error)")]
    NullContent,
    /// The base URL is not a valid URL.
    #[error("invalid base url {url}")]
    InvalidUrl {
        /// The rejected URL.
        url: String,
    },
}

impl Error {
    /// The openai SDK exception class the reference would have raised, used as the prefix of
    /// the environment's `error` text (`"<Class>: <message>"`).
    #[must_use]
    pub fn class_name(&self) -> &'static str {
        match self {
            Self::Status { status: 400, .. } => "BadRequestError",
            Self::Status { status: 401, .. } => "AuthenticationError",
            Self::Status { status: 403, .. } => "PermissionDeniedError",
            Self::Status { status: 404, .. } => "NotFoundError",
            Self::Status { status: 429, .. } => "RateLimitError",
            Self::Status { status, .. } if *status >= 500 => "InternalServerError",
            Self::Status { .. } => "APIStatusError",
            Self::Timeout => "APITimeoutError",
            Self::Connection { .. } => "APIConnectionError",
            Self::Malformed { .. } | Self::EmptyChoices | Self::NullContent | Self::InvalidUrl { .. } => "ValueError",
        }
    }

    /// Whether trying again later may succeed (rate limits, server errors, timeouts).
    #[must_use]
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Status { status, .. } => *status == 429 || *status >= 500,
            Self::Timeout | Self::Connection { .. } => true,
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_status_text_keeps_the_classifier_code() {
        let error = Error::Status { status: 429, body: "{\"detail\":\"slow down\"}".into() };
        assert_eq!(error.to_string(), "Error code: 429 - {\"detail\":\"slow down\"}");
        assert_eq!(error.class_name(), "RateLimitError");
        assert!(error.is_transient());
        assert!(!Error::EmptyChoices.is_transient());
    }
}
