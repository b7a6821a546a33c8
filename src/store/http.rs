//! The public read-only backend: plain HTTP GETs of `{base}/{key}` (Cloudflare r2.dev serves the
//! bucket root this way; it cannot list and takes no credentials).

use std::time::Duration;

use crate::store::backend::{Fetched, Object, status_kind};
use crate::store::error::{Error, FailureKind};

/// A public bucket URL.
#[derive(Debug, Clone)]
pub struct PublicBackend {
    client: reqwest::Client,
    base: String,
    label: String,
    deadline: Duration,
}

/// Longest silence while reading an answer before the attempt fails (and is retried).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl PublicBackend {
    /// A reader of `base` (no request is made).
    ///
    /// # Errors
    /// The HTTP client cannot be built.
    pub fn new(base: &str, timeout: Duration) -> Result<Self, Error> {
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(timeout)
            .read_timeout(timeout.min(IDLE_TIMEOUT))
            .tcp_nodelay(true)
            .user_agent(concat!("af/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|source| Error::Setup { reason: "cannot build the HTTP client".to_owned(), source: Some(Box::new(source)) })?;
        let base = base.trim_end_matches('/').to_owned();
        Ok(Self { client, label: format!("public bucket {}", crate::secret::redact(&base)), base, deadline: timeout })
    }

    /// The total time of one request, retries included.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The backend as named in messages.
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    fn error(&self, key: &str, kind: FailureKind, source: Option<reqwest::Error>) -> Error {
        Error::Backend {
            op: "get",
            key: key.to_owned(),
            backend: self.label.clone(),
            kind,
            source: source.map(|e| Box::new(e.without_url()) as crate::store::error::BoxError),
        }
    }

    /// Reads `key`; with `if_none_match`, a 304 answers [`Fetched::NotModified`].
    ///
    /// # Errors
    /// Transport failures, throttling, server errors, a truncated body.
    pub async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, Error> {
        let mut request = self.client.get(format!("{}/{key}", self.base));
        if let Some(etag) = if_none_match {
            request = request.header(reqwest::header::IF_NONE_MATCH, etag);
        }
        let response = request.send().await.map_err(|e| self.error(key, FailureKind::Unavailable, Some(e)))?;
        let status = response.status().as_u16();
        match status {
            304 => return Ok(Fetched::NotModified),
            404 => return Ok(Fetched::Missing),
            200..=299 => {}
            _ => {
                let retry_after = response.headers().get(reqwest::header::RETRY_AFTER).and_then(|v| v.to_str().ok());
                let kind = status_kind(status, retry_after);
                return Err(Error::Backend {
                    op: "get",
                    key: key.to_owned(),
                    backend: self.label.clone(),
                    kind,
                    source: Some(format!("HTTP status {status}").into()),
                });
            }
        }
        let etag = response.headers().get(reqwest::header::ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
        // A body shorter than its Content-Length fails here and is retried as transient; one
        // over the cap is refused for good.
        let bytes = crate::http_body::read(response, crate::http_body::BodyKind::StoreObject).await.map_err(|error| match error {
            crate::http_body::BodyError::Transport(source) => self.error(key, FailureKind::Unavailable, Some(source)),
            too_large @ crate::http_body::BodyError::TooLarge { .. } => {
                Error::Malformed { key: key.to_owned(), reason: too_large.to_string() }
            }
        })?;
        Ok(Fetched::Found(Object { bytes, etag }))
    }
}
