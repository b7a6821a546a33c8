//! The chat-completions client.

use std::fmt;
use std::time::Duration;

use serde_json::{Value, json};

use super::Error;

/// Largest error body kept in an error message.
const MAX_ERROR_BODY_CHARS: usize = 2000;

/// A bearer key; `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    #[must_use]
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, for the `Authorization` header only.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

/// One chat-completions request: a single user message.
#[derive(Debug, Clone)]
pub struct ChatRequest {
    /// Model name as the endpoint knows it.
    pub model: String,
    /// The user message.
    pub prompt: String,
    /// Sampling temperature.
    pub temperature: f64,
    /// Sampling seed, sent when present.
    pub seed: Option<u64>,
    /// Total time allowed for the request.
    pub timeout: Duration,
}

/// An OpenAI-compatible endpoint: base URL (ending in `/v1` or similar) and an optional key.
#[derive(Debug, Clone)]
pub struct InferenceClient {
    http: reqwest::Client,
    base_url: String,
    api_key: Option<ApiKey>,
}

impl InferenceClient {
    /// A client for `base_url` (a trailing `/` is dropped, as the reference does).
    ///
    /// # Errors
    /// [`Error::InvalidUrl`] when `base_url` does not parse as an http(s) URL.
    pub fn new(base_url: &str, api_key: Option<ApiKey>) -> Result<Self, Error> {
        let base_url = base_url.trim_end_matches('/').to_owned();
        let valid = reqwest::Url::parse(&base_url).is_ok_and(|url| matches!(url.scheme(), "http" | "https"));
        if !valid {
            return Err(Error::InvalidUrl { url: base_url });
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .tcp_nodelay(true)
            .build()
            .map_err(|source| Error::Connection { source })?;
        Ok(Self { http, base_url, api_key })
    }

    /// The base URL requests go to.
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Sends `request` once and returns the reply text, trimmed.
    ///
    /// # Errors
    /// A non-2xx status, a timeout, a transport failure, or a body without content.
    pub async fn chat(&self, request: &ChatRequest) -> Result<String, Error> {
        let mut body = json!({
            "model": request.model,
            "messages": [{"role": "user", "content": request.prompt}],
            "temperature": request.temperature,
            "stream": false,
        });
        if let Some(seed) = request.seed {
            body["seed"] = json!(seed);
        }
        let mut builder = self.http.post(format!("{}/chat/completions", self.base_url)).timeout(request.timeout).json(&body);
        if let Some(key) = &self.api_key {
            builder = builder.bearer_auth(key.expose());
        }
        let response = builder.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let body: String = crate::http_body::error_text(response).await.chars().take(MAX_ERROR_BODY_CHARS).collect();
            return Err(Error::Status { status: status.as_u16(), body });
        }
        let bytes = crate::http_body::read(response, crate::http_body::BodyKind::ChatCompletion).await.map_err(|error| match error {
            crate::http_body::BodyError::Transport(source) => transport(source),
            too_large @ crate::http_body::BodyError::TooLarge { .. } => Error::Malformed { reason: too_large.to_string() },
        })?;
        let parsed: Value = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed { reason: e.to_string() })?;
        let choices =
            parsed.get("choices").and_then(Value::as_array).ok_or_else(|| Error::Malformed { reason: "no choices array".into() })?;
        let first = choices.first().ok_or(Error::EmptyChoices)?;
        match first.get("message").and_then(|m| m.get("content")) {
            Some(Value::String(content)) => Ok(content.trim().to_owned()),
            Some(Value::Null) | None => Err(Error::NullContent),
            Some(_) => Err(Error::Malformed { reason: "message content is not a string".into() }),
        }
    }
}

fn transport(source: reqwest::Error) -> Error {
    if source.is_timeout() { Error::Timeout } else { Error::Connection { source } }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inference_client_rejects_bad_urls_and_hides_keys() {
        assert!(InferenceClient::new("not a url", None).is_err());
        assert!(InferenceClient::new("ftp://x", None).is_err());
        let client = InferenceClient::new("http://127.0.0.1:1/v1/", Some(ApiKey::new("sk-secret"))).expect("valid");
        assert_eq!(client.base_url(), "http://127.0.0.1:1/v1");
        assert!(!format!("{client:?}").contains("sk-secret"));
    }
}
