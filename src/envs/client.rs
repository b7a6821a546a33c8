//! The Affinetes protocol client shared by the url and Docker backends (spec §2.3-2.5).
//!
//! `function_based` environments take `POST /call` with `{method, args: [], kwargs}`;
//! `http_based` ones take `POST /<method>` with the kwargs as the body. Responses are handled as
//! the reference executor does: a non-2xx status is an answer whose text is
//! `HTTP <code>: <body>` (the validator's error classifier matches on it); a 2xx JSON object
//! with a `status` key is unwrapped to its `result` (or an error when `status` is not
//! `success`); any other object is the result itself.
//!
//! Unlike the reference, a transport failure (refused or reset connection, read timeout, a body
//! that is not JSON) is reported as [`CallError::Infrastructure`], never as the miner's result,
//! so the caller can retry it later instead of recording a zero.

use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::environments::EnvKind;

/// Connect timeout of every request (the reference's 10 s).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long an idle pooled connection is kept (the reference's pool timeout, 10 s).
pub const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(10);
/// Read timeout of a call (the reference's 600 s).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(600);
/// Timeout of one `/health` probe (the reference's 5 s).
pub const HEALTH_PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of the type-detection probes of the url backend (10 s).
pub const DETECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a protocol client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The base URL is not an absolute http(s) URL.
    #[error("environment URL must be an http(s) URL, got {0}")]
    BadUrl(String),
    /// The HTTP client could not be built (TLS backend initialisation).
    #[error("failed to build the HTTP client: {0}")]
    Client(#[source] reqwest::Error),
}

impl Error {
    /// Whether the user gave a bad URL.
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::BadUrl(_))
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }
}

/// How one call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The environment answered, with an error: a non-2xx status (`HTTP <code>: <body>`) or a
    /// `status` other than `success`. Recorded as the evaluation's error text.
    #[error("{0}")]
    Answered(String),
    /// The environment could not be reached or did not answer usably (connection refused or
    /// reset, read timeout, unparsable body, container restarted). Not the miner's fault.
    #[error("{0}")]
    Infrastructure(String),
}

impl CallError {
    /// Whether this is an infrastructure failure (retry later, do not score).
    #[must_use]
    pub fn is_infrastructure(&self) -> bool {
        matches!(self, Self::Infrastructure(_))
    }
}

/// An HTTP client bound to one environment server.
#[derive(Debug, Clone)]
pub struct ProtocolClient {
    http: reqwest::Client,
    base_url: String,
    kind: EnvKind,
}

/// Checks that `base_url` is an absolute http(s) URL and strips trailing slashes.
///
/// # Errors
/// [`Error::BadUrl`].
pub fn normalise_url(base_url: &str) -> Result<String, Error> {
    let valid = reqwest::Url::parse(base_url).is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some());
    if !valid {
        return Err(Error::BadUrl(base_url.to_owned()));
    }
    Ok(base_url.trim_end_matches('/').to_owned())
}

impl ProtocolClient {
    /// A client for the server at `base_url` speaking `kind`, with the reference's timeouts
    /// (connect 10 s, `read_timeout` per read, idle connections dropped after 10 s).
    ///
    /// # Errors
    /// A bad URL or a client that cannot be built.
    pub fn new(base_url: &str, kind: EnvKind, read_timeout: Duration) -> Result<Self, Error> {
        let base_url = normalise_url(base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(read_timeout)
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(20)
            .tcp_nodelay(true)
            .build()
            .map_err(Error::Client)?;
        Ok(Self { http, base_url, kind })
    }

    /// The server's base URL (no trailing slash).
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The protocol flavour this client speaks.
    #[must_use]
    pub fn kind(&self) -> EnvKind {
        self.kind
    }

    /// Whether `GET /health` answers 200 within [`HEALTH_PROBE_TIMEOUT`].
    pub async fn healthy(&self) -> bool {
        let probe = self.http.get(format!("{}/health", self.base_url)).timeout(HEALTH_PROBE_TIMEOUT).send();
        matches!(probe.await, Ok(response) if response.status() == reqwest::StatusCode::OK)
    }

    /// Calls `method` with keyword arguments `kwargs` and returns its result.
    ///
    /// # Errors
    /// [`CallError::Answered`] when the environment answered with an error,
    /// [`CallError::Infrastructure`] when it could not be reached or its answer was unusable.
    pub async fn call(&self, method: &str, kwargs: Map<String, Value>) -> Result<Value, CallError> {
        let request = match self.kind {
            EnvKind::FunctionBased => self
                .http
                .post(format!("{}/call", self.base_url))
                .json(&json!({"method": method, "args": [], "kwargs": Value::Object(kwargs)})),
            EnvKind::HttpBased => self.http.post(format!("{}/{method}", self.base_url)).json(&Value::Object(kwargs)),
        };
        let failed = |error: &dyn std::fmt::Display| CallError::Infrastructure(format!("Failed to call method '{method}': {error}"));
        let response = request.send().await.map_err(|e| failed(&crate::error::one_line(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = crate::http_body::error_text(response).await;
            return Err(CallError::Answered(format!("HTTP {}: {body}", status.as_u16())));
        }
        let body = crate::http_body::read(response, crate::http_body::BodyKind::EnvAnswer)
            .await
            .map_err(|e| failed(&crate::error::one_line(&e)))?;
        let value: Value = serde_json::from_slice(&body).map_err(|e| failed(&format!("response is not JSON: {e}")))?;
        unwrap_result(value)
    }
}

/// Applies the reference's response rule to a 2xx body: an object with a `status` key is
/// unwrapped to `result` (an error unless `status == "success"`); anything else is the result.
fn unwrap_result(value: Value) -> Result<Value, CallError> {
    match value {
        Value::Object(mut object) if object.contains_key("status") => {
            if object.get("status").and_then(Value::as_str) == Some("success") {
                Ok(object.remove("result").unwrap_or(Value::Null))
            } else {
                let error =
                    object.get("error").and_then(Value::as_str).map_or_else(|| Value::Object(object.clone()).to_string(), str::to_owned);
                Err(CallError::Answered(error))
            }
        }
        other => Ok(other),
    }
}

/// Detects the protocol of the server at `base_url` as the reference url backend does:
/// `GET /methods` answering 200 means `function_based`, else `GET /openapi.json` answering 200
/// means `http_based`, else `function_based`.
///
/// # Errors
/// A bad URL or a client that cannot be built.
pub async fn detect_kind(base_url: &str) -> Result<EnvKind, Error> {
    let base_url = normalise_url(base_url)?;
    let http = reqwest::Client::builder().timeout(DETECT_TIMEOUT).build().map_err(Error::Client)?;
    let ok = |path: &'static str| {
        let request = http.get(format!("{base_url}{path}")).send();
        async move { matches!(request.await, Ok(response) if response.status() == reqwest::StatusCode::OK) }
    };
    if ok("/methods").await {
        return Ok(EnvKind::FunctionBased);
    }
    if ok("/openapi.json").await {
        return Ok(EnvKind::HttpBased);
    }
    Ok(EnvKind::FunctionBased)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwrap_result_follows_the_reference_rule() {
        assert_eq!(unwrap_result(json!({"status": "success", "result": {"score": 1.0}, "error": null})), Ok(json!({"score": 1.0})));
        assert_eq!(unwrap_result(json!({"status": "failed", "result": null, "error": "boom"})), Err(CallError::Answered("boom".into())));
        // http_based results without a `status` key are returned whole.
        assert_eq!(unwrap_result(json!({"score": 0.5, "extra": {}})), Ok(json!({"score": 0.5, "extra": {}})));
    }

    #[test]
    fn normalise_url_rejects_non_http_and_strips_slashes() {
        assert_eq!(normalise_url("http://127.0.0.1:8000/").expect("valid"), "http://127.0.0.1:8000");
        assert!(normalise_url("ftp://x").unwrap_err().is_user_input());
        assert!(normalise_url("not a url").is_err());
    }
}
