//! The S3/R2 backend: one long-lived `aws-sdk-s3` client with static credentials, region
//! `auto`, path-style addressing for explicit endpoints, and checksums only when required
//! (R2 rejects some of the SDK's default checksum headers). The SDK's own retries are off:
//! [`mod@crate::store::retry`] is the one place that retries.

use std::time::Duration;

use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;

use crate::store::backend::{Fetched, Object, Precondition, PutOutcome, status_kind};
use crate::store::config::S3Config;
use crate::store::error::{Error, FailureKind};

/// An S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Backend {
    client: aws_sdk_s3::Client,
    bucket: String,
    label: String,
    deadline: Duration,
}

type Response = aws_sdk_s3::config::http::HttpResponse;

/// Classifies an SDK failure and returns the HTTP status (0 when there was no response).
fn classify<E>(error: &SdkError<E, Response>) -> (FailureKind, u16) {
    match error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (FailureKind::Unavailable, 0),
        SdkError::ServiceError(context) => {
            let raw = context.raw();
            let status = raw.status().as_u16();
            (status_kind(status, raw.headers().get("retry-after")), status)
        }
        _ => (FailureKind::Other, 0),
    }
}

impl S3Backend {
    /// Builds the client (no request is made).
    #[must_use]
    pub fn new(config: &S3Config, timeout: Duration) -> Self {
        let credentials = Credentials::new(&config.access_key_id, config.secret_access_key.expose(), None, None, "af-static");
        let sdk = aws_sdk_s3::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("auto"))
            .endpoint_url(&config.endpoint)
            .force_path_style(config.explicit_endpoint)
            .credentials_provider(credentials)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_config(RetryConfig::disabled())
            .timeout_config(TimeoutConfig::builder().connect_timeout(Duration::from_secs(10)).operation_timeout(timeout).build())
            .build();
        Self {
            client: aws_sdk_s3::Client::from_conf(sdk),
            bucket: config.bucket.clone(),
            label: format!("s3 bucket {} at {}", config.bucket, crate::secret::redact(&config.endpoint)),
            deadline: timeout,
        }
    }

    /// The total time of one request, retries included.
    #[must_use]
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// The backend as named in messages (endpoint and bucket, never credentials).
    #[must_use]
    pub fn label(&self) -> &str {
        &self.label
    }

    fn error<E: std::error::Error + Send + Sync + 'static>(&self, op: &'static str, key: &str, error: SdkError<E, Response>) -> Error {
        let (kind, _) = classify(&error);
        Error::Backend { op, key: key.to_owned(), backend: self.label.clone(), kind, source: Some(Box::new(error)) }
    }

    /// Reads `key`; with `if_none_match`, an unchanged object answers [`Fetched::NotModified`].
    ///
    /// # Errors
    /// Transport failures, throttling, server errors, a truncated body.
    pub async fn get(&self, key: &str, if_none_match: Option<&str>) -> Result<Fetched, Error> {
        let request = self.client.get_object().bucket(&self.bucket).key(key).set_if_none_match(if_none_match.map(str::to_owned));
        let output = match request.send().await {
            Ok(output) => output,
            Err(error) => {
                if error.as_service_error().is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key) {
                    return Ok(Fetched::Missing);
                }
                return match classify(&error) {
                    (_, 304) => Ok(Fetched::NotModified),
                    (_, 404) => Ok(Fetched::Missing),
                    _ => Err(self.error("get", key, error)),
                };
            }
        };
        let etag = output.e_tag().map(str::to_owned);
        let too_large = |error: crate::http_body::BodyError| Error::Malformed { key: key.to_owned(), reason: error.to_string() };
        let declared = output.content_length().and_then(|length| u64::try_from(length).ok());
        let mut bytes = crate::http_body::Capped::new(crate::http_body::BodyKind::StoreObject, declared).map_err(too_large)?;
        let mut body = output.body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|source| Error::Backend {
                op: "get",
                key: key.to_owned(),
                backend: self.label.clone(),
                kind: FailureKind::Unavailable,
                source: Some(Box::new(source)),
            })?;
            bytes.push(&chunk).map_err(too_large)?;
        }
        Ok(Fetched::Found(Object { bytes: bytes.into_bytes(), etag }))
    }

    /// Writes `key` under `precondition`.
    ///
    /// # Errors
    /// Transport failures, throttling, server errors, denied credentials.
    pub async fn put(&self, key: &str, bytes: Vec<u8>, precondition: Precondition<'_>) -> Result<PutOutcome, Error> {
        let mut request =
            self.client.put_object().bucket(&self.bucket).key(key).content_type("application/json").body(ByteStream::from(bytes));
        match precondition {
            Precondition::None => {}
            Precondition::IfAbsent => request = request.if_none_match("*"),
            Precondition::IfMatch(etag) => request = request.if_match(etag),
        }
        match request.send().await {
            Ok(output) => Ok(PutOutcome::Written(output.e_tag().map(str::to_owned))),
            Err(error) => match classify(&error) {
                (_, 412 | 409) => Ok(PutOutcome::Conflict),
                // AWS and moto answer `If-Match` on a vanished key with 404 NoSuchKey.
                (_, 404) if matches!(precondition, Precondition::IfMatch(_)) => Ok(PutOutcome::Conflict),
                _ => Err(self.error("put", key, error)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;

    /// Builds the rustls client for an `https` endpoint (both TLS crypto providers are in the
    /// dependency tree, so this must not depend on a process-wide default) and classifies a
    /// refused connection as transient.
    #[tokio::test]
    async fn s3_https_refused_connection_is_transient() {
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let config = S3Config {
            endpoint: format!("https://127.0.0.1:{port}"),
            explicit_endpoint: true,
            bucket: "b".into(),
            access_key_id: "k".into(),
            secret_access_key: Secret::new("s"),
        };
        let backend = S3Backend::new(&config, Duration::from_secs(5));
        let error = backend.get("k", None).await.expect_err("nothing listens");
        assert!(error.is_transient(), "{error:?}");
        assert!(!format!("{error:?}").contains("Secret(\"s\")"));
    }
}
