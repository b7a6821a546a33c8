//! The HTTP client of the signer service, for the runner (`/sign`) and the validator
//! (`/set_weights`), with the reference's timeouts and checks.
//!
//! Timeouts: 2 s to connect, 60 s in all for `/sign` and 600 s for `/set_weights` (the
//! reference's `ClientTimeout`s). When a token is configured every request carries
//! `Authorization: Bearer <token>`.
//!
//! Errors say whether the signer answered. [`Error::is_unreachable`] is true when no answer
//! arrived at all (connection refused, name not resolved, the connect timeout, the connection
//! closed or the deadline passed before a status line): the one case in which the validator
//! falls back to its own hotkey. A signer that answered with an error status, refused, or sent
//! a malformed answer is never a reason to fall back.
//!
//! Answers are read through the bounded body reader ([`crate::http_body`], 2 MiB: the most
//! signatures the signer returns and then some).

use std::time::Duration;

use reqwest::{StatusCode, Url};
use serde_json::Value;

use super::wire::{SetWeightsRequest, SetWeightsResponse, SignRequest, truthy};
use crate::chain::signing::PublicKey;
use crate::secret::Secret;

/// Time allowed to open a connection (the reference's `connect=2`).
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Deadline of a whole `/sign` call (the runner's `total=60`).
pub const SIGN_TIMEOUT: Duration = Duration::from_secs(60);
/// Deadline of a whole `/set_weights` call (the validator's `total=600`): the signer answers
/// only after the confirmation, which takes several blocks per attempt.
pub const SET_WEIGHTS_TIMEOUT: Duration = Duration::from_secs(600);
/// Deadline of a `/healthz` call.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Characters of an error answer kept in a message.
const ERROR_TEXT_CHARS: usize = 500;

/// What went wrong talking to the signer.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The configured URL is not an http(s) base URL.
    #[error("invalid signer URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as configured.
        url: String,
        /// Why it is refused.
        reason: String,
    },
    /// The HTTP client could not be built (TLS set-up).
    #[error("failed to set up the signer's HTTP client")]
    Client(#[source] reqwest::Error),
    /// No answer arrived: the one case for the validator's local fallback.
    #[error("signer at {url} is unreachable: {reason}")]
    Unreachable {
        /// The endpoint called.
        url: String,
        /// What happened, in words.
        reason: &'static str,
        /// The transport error.
        #[source]
        source: reqwest::Error,
    },
    /// The signer answered with an error status.
    #[error("signer at {url} answered HTTP {status}: {message}")]
    Status {
        /// The endpoint called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The answer's `error` field, or the start of its text.
        message: String,
    },
    /// The signer answered 200 with `success` false.
    #[error("signer at {url} refused: {message}")]
    Refused {
        /// The endpoint called.
        url: String,
        /// The answer's `error` field.
        message: String,
    },
    /// The signer answered, but not in the expected shape.
    #[error("signer at {url} sent an invalid answer: {reason}")]
    InvalidAnswer {
        /// The endpoint called.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
}

impl Error {
    /// Whether no answer arrived (refused, unresolved, timed out or dropped before a status),
    /// so the signer cannot have reported anything: the validator's fallback rule.
    #[must_use]
    pub fn is_unreachable(&self) -> bool {
        matches!(self, Self::Unreachable { .. })
    }

    /// Whether it is the user's to fix (a bad URL, a wrong token).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::InvalidUrl { .. } | Self::Status { status: 401 | 403, .. })
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Status { status: 401, .. } => Some("set SIGNER_TOKEN to the signer's token"),
            Self::Status { status: 403, .. } => Some("the signer serves loopback only without a token: set SIGNER_TOKEN on both sides"),
            _ => None,
        }
    }
}

/// The signatures of one `/sign` batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signatures {
    /// The signer's hotkey (SS58).
    pub hotkey: String,
    /// Lowercase hex signatures, in payload order.
    pub signatures: Vec<String>,
}

/// A `/set_weights` call the signer confirmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeightsSet {
    /// The block `LastUpdate` reached, when the signer says (`af signer` does).
    pub block: Option<u64>,
    /// The signer's attempts, when it says.
    pub attempts: Option<u32>,
}

/// A handle on one signer service.
#[derive(Debug, Clone)]
pub struct SignerClient {
    http: reqwest::Client,
    base: Url,
    token: Option<Secret>,
    set_weights_timeout: Duration,
}

impl SignerClient {
    /// A client for the signer at `base_url` (`http://signer:8080`; a trailing `/` is fine),
    /// sending `token` as a bearer token when given.
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] for anything but an http(s) base URL; [`Error::Client`] when TLS
    /// cannot be set up.
    pub fn new(base_url: &str, token: Option<Secret>) -> Result<Self, Error> {
        let base = crate::api_http::base_url(base_url)
            .map_err(|reason| Error::InvalidUrl { url: crate::secret::redact(base_url).into_owned(), reason })?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("af/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true)
            // A redirect is an answer, not something to follow with the token.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(Error::Client)?;
        let token = token.filter(|token| !token.is_empty());
        Ok(Self { http, base, token, set_weights_timeout: SET_WEIGHTS_TIMEOUT })
    }

    /// The same client with another `/set_weights` deadline (tests, short intervals).
    #[must_use]
    pub fn with_set_weights_timeout(mut self, timeout: Duration) -> Self {
        self.set_weights_timeout = timeout;
        self
    }

    /// The signer's base URL.
    #[must_use]
    pub fn base_url(&self) -> &str {
        self.base.as_str()
    }

    /// Signs `payloads` (result sign texts) with the signer's hotkey.
    ///
    /// # Errors
    /// [`Error::Unreachable`] without an answer; [`Error::Status`], [`Error::Refused`] or
    /// [`Error::InvalidAnswer`] when the signer answered but not with one valid signature per
    /// payload and an SS58 hotkey.
    pub async fn sign(&self, payloads: &[String]) -> Result<Signatures, Error> {
        let (url, body) = self.post("sign", &SignRequest { payloads }, SIGN_TIMEOUT).await?;
        let answer = |reason: String| Error::InvalidAnswer { url: url.clone(), reason };
        let signatures = body
            .get("signatures")
            .and_then(Value::as_array)
            .ok_or_else(|| answer("no signatures list".to_owned()))?
            .iter()
            .map(|signature| signature.as_str().map(str::to_owned))
            .collect::<Option<Vec<String>>>()
            .ok_or_else(|| answer("a signature is not a string".to_owned()))?;
        if signatures.len() != payloads.len() {
            return Err(answer(format!("{} signatures for {} payloads", signatures.len(), payloads.len())));
        }
        if let Some(bad) = signatures.iter().position(|s| s.len() != 128 || !s.bytes().all(|b| b.is_ascii_hexdigit())) {
            return Err(answer(format!("signature {bad} is not 64 bytes of hex")));
        }
        let hotkey = body.get("hotkey").and_then(Value::as_str).unwrap_or_default().to_owned();
        if PublicKey::from_ss58(&hotkey).is_err() {
            return Err(answer(format!("hotkey {hotkey:?} is not an SS58 address")));
        }
        Ok(Signatures { hotkey, signatures })
    }

    /// The signer's hotkey: an empty `/sign` batch, which the reference's signer answers too.
    ///
    /// # Errors
    /// As [`Self::sign`].
    pub async fn hotkey(&self) -> Result<String, Error> {
        Ok(self.sign(&[]).await?.hotkey)
    }

    /// Asks the signer to set and confirm `request`; returns once it did.
    ///
    /// # Errors
    /// [`Error::Unreachable`] without an answer (the signer may still be working on it);
    /// [`Error::Status`] or [`Error::Refused`] when it reports a failure (`confirmation
    /// failed`, a refused vector, another set in flight).
    pub async fn set_weights(&self, request: &SetWeightsRequest) -> Result<WeightsSet, Error> {
        let (url, body) = self.post("set_weights", request, self.set_weights_timeout).await?;
        let parsed: SetWeightsResponse =
            serde_json::from_value(body).map_err(|error| Error::InvalidAnswer { url, reason: error.to_string() })?;
        Ok(WeightsSet { block: parsed.block, attempts: parsed.attempts })
    }

    /// `GET /healthz` (`?deep=1` also checks the wallet and the chain); the answer's JSON.
    ///
    /// # Errors
    /// As [`Self::sign`]; an unhealthy signer answers 503 ([`Error::Status`]).
    pub async fn health(&self, deep: bool) -> Result<Value, Error> {
        let url = self.endpoint(if deep { "healthz?deep=1" } else { "healthz" })?;
        let request = self.authorised(self.http.get(url.clone())).timeout(HEALTH_TIMEOUT);
        self.exchange(url, request).await.map(|(_, body)| body)
    }

    fn endpoint(&self, path: &str) -> Result<Url, Error> {
        self.base.join(path).map_err(|error| Error::InvalidUrl { url: self.base.to_string(), reason: error.to_string() })
    }

    fn authorised(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    async fn post(&self, path: &str, body: &impl serde::Serialize, timeout: Duration) -> Result<(String, Value), Error> {
        let url = self.endpoint(path)?;
        let request = self.authorised(self.http.post(url.clone())).timeout(timeout).json(body);
        self.exchange(url, request).await
    }

    /// Sends `request` and returns the JSON object of a 200 answer whose `success` is truthy
    /// (or that has no `success`, as `/healthz`).
    async fn exchange(&self, url: Url, request: reqwest::RequestBuilder) -> Result<(String, Value), Error> {
        let shown = url.as_str().to_owned();
        let started = std::time::Instant::now();
        let response = request.send().await.map_err(|source| Error::Unreachable {
            url: shown.clone(),
            reason: unreachable_reason(&source),
            source,
        })?;
        let status = response.status();
        tracing::debug!(url = %shown, status = status.as_u16(), ms = started.elapsed().as_millis(), "signer answered");
        let bytes = crate::http_body::read(response, crate::http_body::BodyKind::SignerAnswer).await.map_err(|error| {
            Error::InvalidAnswer { url: shown.clone(), reason: format!("reading the answer: {}", crate::error::one_line(&error)) }
        })?;
        let body: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status != StatusCode::OK {
            let message =
                body.as_ref().and_then(|body| body.get("error")).and_then(Value::as_str).map_or_else(|| text_start(&bytes), str::to_owned);
            return Err(Error::Status { url: shown, status: status.as_u16(), message });
        }
        let body = body
            .filter(Value::is_object)
            .ok_or_else(|| Error::InvalidAnswer { url: shown.clone(), reason: format!("not a JSON object: {}", text_start(&bytes)) })?;
        if let Some(success) = body.get("success")
            && !truthy(success)
        {
            let message = body.get("error").and_then(Value::as_str).unwrap_or("no reason given").to_owned();
            return Err(Error::Refused { url: shown, message });
        }
        Ok((shown, body))
    }
}

/// Why no answer arrived, in words.
fn unreachable_reason(error: &reqwest::Error) -> &'static str {
    if error.is_connect() {
        if error.is_timeout() { "no connection within the connect timeout" } else { "connection refused or name not resolved" }
    } else if error.is_timeout() {
        "no answer before the deadline"
    } else {
        "the connection closed before an answer"
    }
}

/// The start of an answer's text, for an error message.
fn text_start(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let mut start: String = text.chars().take(ERROR_TEXT_CHARS).filter(|c| !c.is_control()).collect();
    if text.chars().count() > ERROR_TEXT_CHARS {
        start.push('…');
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_a_trailing_slash_is_harmless() {
        let client = SignerClient::new("http://signer:8080/", None).expect("valid");
        assert_eq!(client.endpoint("set_weights").expect("join").as_str(), "http://signer:8080/set_weights");
        let client = SignerClient::new("http://127.0.0.1:9/base", None).expect("valid");
        assert_eq!(client.endpoint("sign").expect("join").as_str(), "http://127.0.0.1:9/base/sign");
        assert!(matches!(SignerClient::new("signer:8080", None), Err(Error::InvalidUrl { .. })));
        let error = SignerClient::new("ftp://user:pw@signer", None).expect_err("scheme");
        assert!(!error.to_string().contains("pw"), "{error}");
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable_and_says_so() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let client = SignerClient::new(&format!("http://127.0.0.1:{port}"), None).expect("valid");
        let error = client.sign(&["affine:sat:{}".to_owned()]).await.expect_err("nothing listens");
        assert!(error.is_unreachable(), "{error}");
        assert!(error.to_string().contains("connection refused"), "{error}");
    }

    /// A server answering every request with one scripted status and body, recording the
    /// `Authorization` header it saw.
    async fn scripted(status: u16, body: &'static str) -> (String, std::sync::Arc<std::sync::Mutex<Option<String>>>) {
        let seen = std::sync::Arc::new(std::sync::Mutex::new(None));
        let record = seen.clone();
        let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap| {
            let record = record.clone();
            async move {
                let auth = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
                *record.lock().expect("lock") = auth;
                (axum::http::StatusCode::from_u16(status).expect("status"), [("content-type", "application/json")], body)
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (url, seen)
    }

    const HOTKEY: &str = "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV";

    #[tokio::test]
    async fn answers_are_checked_and_errors_are_not_unreachable() {
        let signature = "ab".repeat(64);
        let good: &'static str =
            Box::leak(format!(r#"{{"success": true, "signatures": ["{signature}"], "hotkey": "{HOTKEY}"}}"#).into_boxed_str());
        let (url, seen) = scripted(200, good).await;
        let client = SignerClient::new(&url, Some(Secret::new("t0ken"))).expect("valid");
        let signed = client.sign(&["x".to_owned()]).await.expect("signed");
        assert_eq!(signed, Signatures { hotkey: HOTKEY.to_owned(), signatures: vec![signature] });
        assert_eq!(seen.lock().expect("lock").as_deref(), Some("Bearer t0ken"));
        // One signature for two payloads.
        let error = client.sign(&["x".to_owned(), "y".to_owned()]).await.expect_err("length");
        assert!(matches!(error, Error::InvalidAnswer { .. }) && !error.is_unreachable(), "{error}");

        let (url, seen) = scripted(500, r#"{"success": false, "error": "confirmation failed"}"#).await;
        let client = SignerClient::new(&url, None).expect("valid");
        let request = SetWeightsRequest { netuid: 120, weights: vec![1.0], uids: vec![0], wait_for_inclusion: false };
        let error = client.set_weights(&request).await.expect_err("500");
        assert!(matches!(&error, Error::Status { status: 500, message, .. } if message == "confirmation failed"), "{error}");
        assert!(!error.is_unreachable());
        assert_eq!(*seen.lock().expect("lock"), None, "no token, no header");

        let (url, _) = scripted(200, r#"{"success": false, "error": "busy"}"#).await;
        let error = SignerClient::new(&url, None).expect("valid").set_weights(&request).await.expect_err("refused");
        assert!(matches!(error, Error::Refused { .. }), "{error}");

        let (url, _) = scripted(200, r#"{"success": true, "block": 1234}"#).await;
        let set = SignerClient::new(&url, None).expect("valid").set_weights(&request).await.expect("set");
        assert_eq!(set.block, Some(1234));
    }
}
