//! Hugging Face Hub client: model info (gating), revision info with file blobs (the safetensors
//! sha256 set used to spot copied weights), and resumable snapshot downloads.
//!
//! Only the three conversations the validator and miners need (spec/services.md §2): `GET
//! /api/models/{repo}`, `GET /api/models/{repo}/revision/{rev}?blobs=true` and `GET
//! /{repo}/resolve/{commit}/{file}`. The token goes to the Hub host only; reqwest drops the
//! `Authorization` header when a redirect leaves the host (the CDN answers presigned URLs).

mod download;
mod error;

use std::collections::BTreeSet;
use std::time::Duration;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use reqwest::{StatusCode, Url};
use serde::{Deserialize, Serialize};

pub use download::{SnapshotOptions, SnapshotReport};
pub use error::Error;

use crate::api_http;
use crate::http_body::{self, BodyKind};
use crate::names;
use crate::secret::Secret;

/// The public Hub.
pub const DEFAULT_ENDPOINT: &str = "https://huggingface.co";

/// Timeout of the model info call (the reference's gating check uses 5 s).
pub const MODEL_INFO_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of the revision info call (larger: repositories with many files list them all).
pub const METADATA_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest silence while a file downloads before the attempt fails (and is retried, resuming).
pub const DOWNLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Characters escaped in a revision path segment: everything but unreserved ones, so a branch
/// such as `refs/pr/1` stays one segment (`refs%2Fpr%2F1`), as `huggingface_hub` sends it.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// Where the Hub is and how to authenticate.
#[derive(Debug, Clone)]
pub struct HubConfig {
    /// Base URL, default [`DEFAULT_ENDPOINT`].
    pub endpoint: String,
    /// `HF_TOKEN`, sent as a bearer token to the Hub host only.
    pub token: Option<Secret>,
}

impl Default for HubConfig {
    fn default() -> Self {
        Self { endpoint: DEFAULT_ENDPOINT.to_owned(), token: None }
    }
}

/// A Hub client; cheap to clone (one shared connection pool).
#[derive(Debug, Clone)]
pub struct HubClient {
    http: reqwest::Client,
    endpoint: Url,
    token: Option<Secret>,
}

/// Whether and how a model is gated: the Hub sends `false`, `"auto"` or `"manual"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Gating {
    /// `true`/`false`.
    Flag(bool),
    /// The gating mode (`auto`, `manual`).
    Mode(String),
}

impl Default for Gating {
    fn default() -> Self {
        Self::Flag(false)
    }
}

impl Gating {
    /// Whether access needs approval (any truthy value, as the reference reads it).
    #[must_use]
    pub fn is_gated(&self) -> bool {
        match self {
            Self::Flag(flag) => *flag,
            Self::Mode(mode) => !mode.is_empty(),
        }
    }
}

/// `GET /api/models/{repo}`: the fields `af` uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelInfo {
    /// `owner/name`.
    pub id: String,
    /// The commit of the default branch.
    #[serde(default)]
    pub sha: Option<String>,
    /// Private repository.
    #[serde(default)]
    pub private: bool,
    /// Disabled by the Hub.
    #[serde(default)]
    pub disabled: bool,
    /// Gating.
    #[serde(default)]
    pub gated: Gating,
}

/// LFS pointer data of a file: its content hash and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LfsInfo {
    /// sha256 of the content, lowercase hex.
    pub sha256: String,
    /// Content size in bytes.
    pub size: u64,
}

/// One file of a revision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sibling {
    /// Path inside the repository (`/`-separated).
    pub rfilename: String,
    /// Size in bytes (with `blobs=true`).
    #[serde(default)]
    pub size: Option<u64>,
    /// The git blob id (with `blobs=true`).
    #[serde(default, rename = "blobId")]
    pub blob_id: Option<String>,
    /// Set for files stored in LFS.
    #[serde(default)]
    pub lfs: Option<LfsInfo>,
}

impl Sibling {
    /// The size to expect: the LFS size, else the listed size.
    #[must_use]
    pub fn expected_size(&self) -> Option<u64> {
        self.lfs.as_ref().map(|lfs| lfs.size).or(self.size)
    }

    /// The etag the Hub reports for this file (LFS sha256, else git blob id).
    #[must_use]
    pub fn etag(&self) -> Option<&str> {
        self.lfs.as_ref().map(|lfs| lfs.sha256.as_str()).or(self.blob_id.as_deref())
    }
}

/// `GET /api/models/{repo}/revision/{rev}?blobs=true`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RevisionInfo {
    /// `owner/name`.
    pub id: String,
    /// The commit the revision resolves to.
    pub sha: String,
    /// Gating.
    #[serde(default)]
    pub gated: Gating,
    /// Every file.
    #[serde(default)]
    pub siblings: Vec<Sibling>,
}

impl RevisionInfo {
    /// Checks every name in the listing that becomes part of a path or URL: the commit sha,
    /// each file name, and each file's etag (LFS sha256 or blob id).
    ///
    /// # Errors
    /// The first name that is not safe.
    pub fn check(&self) -> Result<(), names::Unsafe> {
        names::commit_sha(&self.sha)?;
        for sibling in &self.siblings {
            names::relative_file_name(&sibling.rfilename)?;
            if let Some(lfs) = &sibling.lfs {
                names::etag(&lfs.sha256)?;
            }
            if let Some(blob) = &sibling.blob_id {
                names::etag(blob)?;
            }
        }
        Ok(())
    }

    /// The sha256 set of the `.safetensors` files stored in LFS: two miners whose sets are equal
    /// serve the same weights.
    #[must_use]
    pub fn weights_shas(&self) -> BTreeSet<String> {
        self.siblings
            .iter()
            .filter(|sibling| sibling.rfilename.ends_with(".safetensors"))
            .filter_map(|sibling| sibling.lfs.as_ref().map(|lfs| lfs.sha256.clone()))
            .collect()
    }
}

/// What a request was about, to turn 401/403/404 into the right error.
#[derive(Debug, Clone, Copy)]
enum Target<'a> {
    Repo(&'a str),
    Revision(&'a str, &'a str),
    File(&'a str, &'a str),
}

impl Target<'_> {
    fn repo(&self) -> &str {
        match self {
            Self::Repo(repo) | Self::Revision(repo, _) | Self::File(repo, _) => repo,
        }
    }
}

impl HubClient {
    /// A client for `config.endpoint`.
    ///
    /// # Errors
    /// The endpoint is not an absolute http(s) URL, or TLS cannot be set up.
    pub fn new(config: HubConfig) -> Result<Self, Error> {
        let endpoint =
            api_http::base_url(&config.endpoint).map_err(|reason| Error::InvalidEndpoint { endpoint: config.endpoint.clone(), reason })?;
        let http = api_http::client_builder().read_timeout(DOWNLOAD_IDLE_TIMEOUT).build().map_err(Error::Client)?;
        Ok(Self { http, endpoint, token: config.token })
    }

    /// The endpoint, with a trailing slash.
    #[must_use]
    pub fn endpoint(&self) -> &Url {
        &self.endpoint
    }

    /// Model info, fetched **without** the token as the validator's gating check does: a model
    /// counts as usable only if anyone can see it.
    ///
    /// # Errors
    /// Transport failures, 401/403/404 as typed errors, malformed JSON.
    pub async fn model_info(&self, repo: &str) -> Result<ModelInfo, Error> {
        let url = self.url(&format!("api/models/{}", repo_path(repo)?));
        let request = self.http.get(url.clone()).timeout(MODEL_INFO_TIMEOUT);
        let response = self.send(request, &url, Target::Repo(repo)).await?;
        let body = read_json_body(response, &url).await?;
        serde_json::from_slice(&body).map_err(|source| Error::Decode { url: redact(&url), source })
    }

    /// Whether the model is gated (see [`HubClient::model_info`]).
    ///
    /// # Errors
    /// As [`HubClient::model_info`].
    pub async fn is_gated(&self, repo: &str) -> Result<bool, Error> {
        Ok(self.model_info(repo).await?.gated.is_gated())
    }

    /// Revision info with file blobs (sizes, LFS sha256), with the token.
    ///
    /// # Errors
    /// Transport failures, 401/403/404 as typed errors, malformed JSON.
    pub async fn revision_info(&self, repo: &str, revision: &str) -> Result<RevisionInfo, Error> {
        let segment = utf8_percent_encode(revision, SEGMENT);
        let mut url = self.url(&format!("api/models/{}/revision/{segment}", repo_path(repo)?));
        url.set_query(Some("blobs=true"));
        let request = self.authorized(self.http.get(url.clone()).timeout(METADATA_TIMEOUT));
        let response = self.send(request, &url, Target::Revision(repo, revision)).await?;
        let body = read_json_body(response, &url).await?;
        let info: RevisionInfo = serde_json::from_slice(&body).map_err(|source| Error::Decode { url: redact(&url), source })?;
        info.check().map_err(|unsafe_name| Error::UnsafeListing { repo: repo.to_owned(), source: unsafe_name })?;
        Ok(info)
    }

    /// The safetensors sha256 set of a revision; empty when the repository has no LFS
    /// safetensors files.
    ///
    /// # Errors
    /// As [`HubClient::revision_info`].
    pub async fn weights_shas(&self, repo: &str, revision: &str) -> Result<BTreeSet<String>, Error> {
        Ok(self.revision_info(repo, revision).await?.weights_shas())
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.endpoint.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{path}"));
        url
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token.expose()),
            None => request,
        }
    }

    async fn send(&self, request: reqwest::RequestBuilder, url: &Url, target: Target<'_>) -> Result<reqwest::Response, Error> {
        let response = request.send().await.map_err(|e| request_error(url, e))?;
        if response.status().is_success() {
            return Ok(response);
        }
        Err(status_error(response, url, target).await)
    }
}

/// `owner/name` checked and kept as two path segments (the slash is a separator on the Hub).
fn repo_path(repo: &str) -> Result<String, Error> {
    let mut parts = repo.split('/');
    let (Some(owner), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(Error::InvalidRepo { repo: repo.to_owned() });
    };
    let valid = |part: &str| !part.is_empty() && part != "." && part != ".." && !part.contains(['?', '#', '%', '\\']);
    if !valid(owner) || !valid(name) {
        return Err(Error::InvalidRepo { repo: repo.to_owned() });
    }
    Ok(format!("{}/{}", utf8_percent_encode(owner, SEGMENT), utf8_percent_encode(name, SEGMENT)))
}

/// A JSON answer read up to [`BodyKind::ApiJson`]'s cap.
async fn read_json_body(response: reqwest::Response, url: &Url) -> Result<Vec<u8>, Error> {
    http_body::read(response, BodyKind::ApiJson).await.map_err(|source| Error::Body { url: redact(url), source })
}

/// A transport error; reqwest's own URL is stripped from it because CDN redirect targets carry
/// presigned credentials in their query.
fn request_error(url: &Url, source: reqwest::Error) -> Error {
    Error::Request { url: redact(url), source: source.without_url() }
}

/// The URL without query (CDN redirects carry presigned credentials there).
fn redact(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    let _ = url.set_password(None);
    let _ = url.set_username("");
    url.to_string()
}

/// Maps a non-success answer to a typed error, using `X-Error-Code` where the Hub sends it.
async fn status_error(response: reqwest::Response, url: &Url, target: Target<'_>) -> Error {
    let status = response.status();
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let code = header("x-error-code");
    let mut message = header("x-error-message");
    if message.is_none() {
        let body = http_body::error_text(response).await;
        message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|value| value.get("error").and_then(serde_json::Value::as_str).map(str::to_owned));
    }
    let repo = target.repo().to_owned();
    match (status, code.as_deref()) {
        (_, Some("GatedRepo")) => Error::Gated { repo, status: status.as_u16() },
        (_, Some("RepoNotFound")) if status == StatusCode::NOT_FOUND => Error::RepoNotFound { repo },
        (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _) => Error::AccessDenied { repo, status: status.as_u16(), message },
        (StatusCode::NOT_FOUND, Some("RevisionNotFound")) => match target {
            Target::Revision(_, revision) => Error::RevisionNotFound { repo, revision: revision.to_owned() },
            _ => Error::Status { url: redact(url), status: status.as_u16(), message },
        },
        (StatusCode::NOT_FOUND, _) => match target {
            Target::Repo(_) => Error::RepoNotFound { repo },
            Target::Revision(_, revision) => Error::RevisionNotFound { repo, revision: revision.to_owned() },
            Target::File(_, path) => Error::EntryNotFound { repo, path: path.to_owned() },
        },
        _ => Error::Status { url: redact(url), status: status.as_u16(), message },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_info_parses_blobs_and_collects_safetensors_shas() {
        let body = r#"{"id":"o/affine-x","sha":"0123456789abcdef0123456789abcdef01234567","gated":"manual","siblings":[
            {"rfilename":"config.json","size":10,"blobId":"b1"},
            {"rfilename":"model-00001.safetensors","size":100,"blobId":"b2","lfs":{"sha256":"bb","size":100,"pointerSize":130}},
            {"rfilename":"model-00002.safetensors","size":100,"blobId":"b3","lfs":{"sha256":"aa","size":100,"pointerSize":130}},
            {"rfilename":"tokenizer.bin","size":5,"blobId":"b4","lfs":{"sha256":"cc","size":5,"pointerSize":130}}]}"#;
        let info: RevisionInfo = serde_json::from_str(body).expect("parse");
        assert!(info.gated.is_gated());
        assert_eq!(info.weights_shas().into_iter().collect::<Vec<_>>(), vec!["aa".to_owned(), "bb".to_owned()]);
        assert_eq!(info.siblings[0].etag(), Some("b1"));
        assert_eq!(info.siblings[1].expected_size(), Some(100));
    }

    #[test]
    fn gating_reads_false_auto_and_manual() {
        for (json, gated) in [("false", false), ("true", true), ("\"auto\"", true), ("\"manual\"", true)] {
            let info: ModelInfo = serde_json::from_str(&format!(r#"{{"id":"a/b","gated":{json}}}"#)).expect("parse");
            assert_eq!(info.gated.is_gated(), gated, "{json}");
        }
        let info: ModelInfo = serde_json::from_str(r#"{"id":"a/b"}"#).expect("parse");
        assert!(!info.gated.is_gated());
    }

    #[test]
    fn urls_keep_the_repo_slash_and_encode_the_revision() {
        let client = HubClient::new(HubConfig { endpoint: "http://127.0.0.1:9/hub/".into(), token: None }).expect("client");
        let segment = utf8_percent_encode("refs/pr/1", SEGMENT);
        let url = client.url(&format!("api/models/{}/revision/{segment}", repo_path("o/affine-m").expect("repo")));
        assert_eq!(url.as_str(), "http://127.0.0.1:9/hub/api/models/o/affine-m/revision/refs%2Fpr%2F1");
    }

    #[test]
    fn repo_ids_must_be_owner_slash_name() {
        for bad in ["a", "a/b/c", "/b", "a/", "../b", "a/..", "a/b?x"] {
            assert!(matches!(repo_path(bad), Err(Error::InvalidRepo { .. })), "{bad}");
        }
        assert!(HubClient::new(HubConfig { endpoint: "ftp://x".into(), token: None }).is_err());
        assert!(HubClient::new(HubConfig { endpoint: "not a url".into(), token: None }).is_err());
    }
}
