//! The url backend (spec §2.5): an environment server that is already running somewhere,
//! reached at a base URL. No Docker, no readiness wait, no restart detection; the protocol
//! flavour is detected by probing `GET /methods`, then `GET /openapi.json`.

use std::time::Duration;

use serde_json::{Map, Value};

use super::client::{self, CallError, ProtocolClient};
use crate::environments::EnvKind;
use crate::inference::ApiKey;

/// An environment served at a fixed URL.
#[derive(Debug, Clone)]
pub struct UrlEnv {
    name: String,
    client: ProtocolClient,
    api_key: Option<ApiKey>,
}

impl UrlEnv {
    /// Connects to `base_url`, detecting its protocol flavour unless `kind` is given. A
    /// `function_based` server gets `api_key` (when given) as the `api_key` keyword of every
    /// call, since it does not hold the caller's key itself.
    ///
    /// # Errors
    /// A bad URL or an HTTP client that cannot be built. An unreachable server is not an
    /// error here (detection then falls back to `function_based`, as the reference does); the
    /// calls report it.
    pub async fn connect(
        base_url: &str,
        kind: Option<EnvKind>,
        read_timeout: Duration,
        api_key: Option<ApiKey>,
    ) -> Result<Self, client::Error> {
        let kind = match kind {
            Some(kind) => kind,
            None => client::detect_kind(base_url).await?,
        };
        let client = ProtocolClient::new(base_url, kind, read_timeout)?;
        let host = reqwest::Url::parse(client.base_url()).map(|url| {
            let host = url.host_str().unwrap_or_default().to_owned();
            url.port().map_or(host.clone(), |port| format!("{host}:{port}"))
        });
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let name = format!("url-{}-{now}", host.unwrap_or_default());
        tracing::info!(name, url = client.base_url(), ?kind, "environment at a URL");
        Ok(Self { name, client, api_key })
    }

    /// The backend's name, `url-<host[:port]>-<unix time>` as the reference names it.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The detected or given protocol flavour.
    #[must_use]
    pub fn kind(&self) -> EnvKind {
        self.client.kind()
    }

    /// Calls `method` with `kwargs`.
    ///
    /// # Errors
    /// See [`ProtocolClient::call`].
    pub async fn call(&self, method: &str, mut kwargs: Map<String, Value>) -> Result<Value, CallError> {
        if let (Some(key), EnvKind::FunctionBased) = (&self.api_key, self.client.kind()) {
            kwargs.entry("api_key").or_insert_with(|| Value::String(key.expose().to_owned()));
        }
        self.client.call(method, kwargs).await
    }
}
