//! The devnet's Hugging Face Hub, speaking the documented shapes: `GET /api/models/{repo}`, `GET
//! /api/models/{repo}/revision/{rev}?blobs=true`, `GET /{repo}/resolve/{rev}/{path}` (small files
//! served directly, LFS files by an absolute 302 to a second "CDN" listener with a presigned
//! query), HTTP ranges, `X-Error-Code` errors. Faults can be injected per file (for tests): a
//! body cut off halfway, corrupted bytes, a broken range implementation, a slow body. Every request is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest as _, Sha256};

use super::serve::{self, Served};

/// One file of a repository.
#[derive(Debug, Clone)]
pub struct HubFile {
    /// Path inside the repository.
    pub name: String,
    /// Content (cheap to clone).
    pub content: Bytes,
    /// Stored in LFS (served through the CDN, listed with its sha256).
    pub lfs: bool,
    sha256: String,
}

impl HubFile {
    /// A file.
    #[must_use]
    pub fn new(name: &str, content: Vec<u8>, lfs: bool) -> Self {
        let sha256 = hex::encode(Sha256::digest(&content));
        Self { name: name.to_owned(), content: Bytes::from(content), lfs, sha256 }
    }

    fn sha256(&self) -> String {
        self.sha256.clone()
    }
}

/// A repository at one commit.
#[derive(Debug, Clone)]
pub struct HubRepo {
    /// `owner/name`.
    pub id: String,
    /// The commit `main` resolves to.
    pub commit: String,
    /// Gated (`"manual"`): file downloads need a token with access.
    pub gated: bool,
    /// Private: everything needs the token.
    pub private: bool,
    /// Files.
    pub files: Vec<HubFile>,
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// `hub` or `cdn`.
    pub host: &'static str,
    /// Path and query.
    pub uri: String,
    /// The `Range` header.
    pub range: Option<String>,
    /// The `Authorization` header.
    pub authorization: Option<String>,
}

#[derive(Default)]
struct Inner {
    repos: Vec<HubRepo>,
    /// file name -> how many more GETs are cut off halfway.
    interrupt: HashMap<String, usize>,
    /// file names served with one byte flipped.
    corrupt: Vec<String>,
    /// file names whose ranged GETs answer 206 from byte 0 (a broken range implementation).
    misrange: Vec<String>,
    /// file names served in 64 KiB chunks with this pause between chunks.
    slow: HashMap<String, std::time::Duration>,
    requests: Vec<Recorded>,
}

struct Shared {
    token: String,
    cdn_url: String,
    inner: Mutex<Inner>,
}

/// The running server; stops on drop.
pub struct HubServer {
    hub: Served,
    _cdn: Served,
    shared: Arc<Shared>,
}

/// The token the server accepts (access to private and gated repos).
pub const HUB_TOKEN: &str = "hf_localtesttoken";

impl HubServer {
    /// Starts the Hub and its CDN on 127.0.0.1 (free ports); returns once both accept
    /// connections.
    pub async fn start(repos: Vec<HubRepo>) -> Self {
        Self::serve(serve::bind_loopback().await, serve::bind_loopback().await, repos)
    }

    /// Serves the Hub on `hub` and its CDN on `cdn`.
    #[must_use]
    pub fn serve(hub: tokio::net::TcpListener, cdn: tokio::net::TcpListener, repos: Vec<HubRepo>) -> Self {
        let cdn_address = cdn.local_addr().map_or_else(|_| "127.0.0.1:0".to_owned(), |a| a.to_string());
        let shared = Arc::new(Shared {
            token: HUB_TOKEN.to_owned(),
            cdn_url: format!("http://{cdn_address}"),
            inner: Mutex::new(Inner { repos, ..Inner::default() }),
        });
        let hub_router = Router::new()
            .route("/api/models/{owner}/{name}", get(model_info))
            .route("/api/models/{owner}/{name}/revision/{revision}", get(revision_info))
            .route("/{owner}/{name}/resolve/{revision}/{*path}", get(resolve))
            .with_state(shared.clone());
        let cdn_router = Router::new().route("/blobs/{sha}", get(cdn_blob)).with_state(shared.clone());
        Self { hub: serve::spawn(hub, hub_router), _cdn: serve::spawn(cdn, cdn_router), shared }
    }

    /// The Hub endpoint.
    #[must_use]
    pub fn url(&self) -> &str {
        self.hub.url()
    }

    /// The next `times` GETs of `file` stop after half of the body.
    pub fn interrupt(&self, file: &str, times: usize) {
        self.shared.inner.lock().expect("the lock is never held across a panic").interrupt.insert(file.to_owned(), times);
    }

    /// `file` is served with one byte changed.
    pub fn corrupt(&self, file: &str) {
        self.shared.inner.lock().expect("the lock is never held across a panic").corrupt.push(file.to_owned());
    }

    /// Ranged GETs of `file` answer 206 from byte 0 whatever range was asked for.
    pub fn misrange(&self, file: &str) {
        self.shared.inner.lock().expect("the lock is never held across a panic").misrange.push(file.to_owned());
    }

    /// `file` is served in 64 KiB chunks with `pause` between them.
    pub fn slow(&self, file: &str, pause: std::time::Duration) {
        self.shared.inner.lock().expect("the lock is never held across a panic").slow.insert(file.to_owned(), pause);
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.inner.lock().expect("the lock is never held across a panic").requests.clone()
    }
}

fn record(shared: &Shared, host: &'static str, uri: String, headers: &HeaderMap) {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let recorded = Recorded { host, uri, range: text(header::RANGE), authorization: text(header::AUTHORIZATION) };
    shared.inner.lock().expect("the lock is never held across a panic").requests.push(recorded);
}

fn hub_error(status: StatusCode, code: &str, message: &str) -> Response {
    let mut response = (status, axum::Json(serde_json::json!({ "error": message }))).into_response();
    response.headers_mut().insert("x-error-code", HeaderValue::from_str(code).expect("header"));
    response.headers_mut().insert("x-error-message", HeaderValue::from_str(message).expect("header"));
    response
}

fn authorized(shared: &Shared, headers: &HeaderMap) -> bool {
    headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {}", shared.token))
}

/// The repo if visible; else the Hub's answer (401 without a valid token, 404 with one).
#[expect(clippy::result_large_err, reason = "the error is the early answer of a handler")]
fn find_repo(shared: &Shared, id: &str, headers: &HeaderMap) -> Result<HubRepo, Response> {
    let authorized = authorized(shared, headers);
    let repo = shared.inner.lock().expect("the lock is never held across a panic").repos.iter().find(|r| r.id == id).cloned();
    match repo {
        Some(repo) if !repo.private || authorized => Ok(repo),
        _ if !authorized => Err(hub_error(StatusCode::UNAUTHORIZED, "RepoNotFound", "Repository not found")),
        _ => Err(hub_error(StatusCode::NOT_FOUND, "RepoNotFound", "Repository not found")),
    }
}

fn gated_value(repo: &HubRepo) -> serde_json::Value {
    if repo.gated { serde_json::json!("manual") } else { serde_json::json!(false) }
}

async fn model_info(State(shared): State<Arc<Shared>>, Path((owner, name)): Path<(String, String)>, headers: HeaderMap) -> Response {
    record(&shared, "hub", format!("/api/models/{owner}/{name}"), &headers);
    let repo = match find_repo(&shared, &format!("{owner}/{name}"), &headers) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    let siblings: Vec<_> = repo.files.iter().map(|f| serde_json::json!({ "rfilename": f.name })).collect();
    axum::Json(serde_json::json!({
        "_id": "0", "id": repo.id, "modelId": repo.id, "sha": repo.commit, "private": repo.private, "disabled": false,
        "gated": gated_value(&repo), "downloads": 0, "likes": 0, "tags": [], "siblings": siblings
    }))
    .into_response()
}

async fn revision_info(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, revision)): Path<(String, String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    record(&shared, "hub", format!("/api/models/{owner}/{name}/revision/{revision}"), &headers);
    let repo = match find_repo(&shared, &format!("{owner}/{name}"), &headers) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    if revision != repo.commit && revision != "main" {
        return hub_error(StatusCode::NOT_FOUND, "RevisionNotFound", &format!("Invalid rev id: {revision}"));
    }
    let blobs = query.get("blobs").is_some_and(|v| v == "true");
    let siblings: Vec<_> = repo
        .files
        .iter()
        .map(|f| {
            if !blobs {
                return serde_json::json!({ "rfilename": f.name });
            }
            let mut entry = serde_json::json!({
                "rfilename": f.name, "size": f.content.len(), "blobId": format!("{:040x}", f.content.len()),
            });
            if f.lfs {
                entry["lfs"] = serde_json::json!({ "sha256": f.sha256(), "size": f.content.len(), "pointerSize": 134 });
            }
            entry
        })
        .collect();
    axum::Json(serde_json::json!({
        "_id": "0", "id": repo.id, "sha": repo.commit, "private": repo.private, "gated": gated_value(&repo), "siblings": siblings
    }))
    .into_response()
}

async fn resolve(
    State(shared): State<Arc<Shared>>,
    Path((owner, name, revision, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    record(&shared, "hub", format!("/{owner}/{name}/resolve/{revision}/{path}"), &headers);
    let repo = match find_repo(&shared, &format!("{owner}/{name}"), &headers) {
        Ok(repo) => repo,
        Err(response) => return response,
    };
    if repo.gated && !authorized(&shared, &headers) {
        return hub_error(StatusCode::FORBIDDEN, "GatedRepo", "Access to this model is restricted");
    }
    if revision != repo.commit && revision != "main" {
        return hub_error(StatusCode::NOT_FOUND, "RevisionNotFound", "Invalid rev id");
    }
    let Some(file) = repo.files.iter().find(|f| f.name == path) else {
        return hub_error(StatusCode::NOT_FOUND, "EntryNotFound", "Entry not found");
    };
    if file.lfs {
        let location = format!("{}/blobs/{}?X-Amz-Signature=presigned", shared.cdn_url, file.sha256());
        let mut response = StatusCode::FOUND.into_response();
        let set = |response: &mut Response, name: &'static str, value: String| {
            response.headers_mut().insert(name, HeaderValue::from_str(&value).expect("header"));
        };
        set(&mut response, "location", location);
        set(&mut response, "x-repo-commit", repo.commit.clone());
        set(&mut response, "x-linked-etag", format!("\"{}\"", file.sha256()));
        set(&mut response, "x-linked-size", file.content.len().to_string());
        return response;
    }
    serve_file(&shared, file, &headers)
}

async fn cdn_blob(State(shared): State<Arc<Shared>>, Path(sha): Path<String>, headers: HeaderMap) -> Response {
    record(&shared, "cdn", format!("/blobs/{sha}"), &headers);
    let file = shared
        .inner
        .lock()
        .expect("the lock is never held across a panic")
        .repos
        .iter()
        .flat_map(|r| r.files.iter())
        .find(|f| f.lfs && f.sha256 == sha)
        .cloned();
    match file {
        Some(file) => serve_file(&shared, &file, &headers),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Serves a file honouring `Range: bytes=N-` / `bytes=N-M`, with the injected faults.
fn serve_file(shared: &Shared, file: &HubFile, headers: &HeaderMap) -> Response {
    let (interrupt, corrupt, slow, misrange) = {
        let mut inner = shared.inner.lock().expect("the lock is never held across a panic");
        let interrupt = match inner.interrupt.get_mut(&file.name) {
            Some(left) if *left > 0 => {
                *left -= 1;
                true
            }
            _ => false,
        };
        (interrupt, inner.corrupt.contains(&file.name), inner.slow.get(&file.name).copied(), inner.misrange.contains(&file.name))
    };
    let content = if corrupt && !file.content.is_empty() {
        let mut changed = file.content.to_vec();
        let middle = changed.len() / 2;
        changed[middle] ^= 0xff;
        Bytes::from(changed)
    } else {
        file.content.clone()
    };
    let total = content.len();
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("bytes=")).map(|spec| {
        let (start, end) = spec.split_once('-').unwrap_or((spec, ""));
        (start.parse::<usize>().unwrap_or(0), end.parse::<usize>().ok())
    });
    let (status, start, end) = match range {
        Some((start, _)) if start >= total => {
            let mut response = StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            response.headers_mut().insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes */{total}")).expect("header"));
            return response;
        }
        Some(_) if misrange => (StatusCode::PARTIAL_CONTENT, 0, total),
        Some((start, end)) => {
            let end = end.map_or(total, |e| e.saturating_add(1).min(total));
            if end <= start {
                return StatusCode::RANGE_NOT_SATISFIABLE.into_response();
            }
            (StatusCode::PARTIAL_CONTENT, start, end)
        }
        None => (StatusCode::OK, 0, total),
    };
    let body = content.slice(start..end);
    let length = body.len();
    let body = if interrupt {
        // Half of the body, then the connection is dropped mid-response.
        let half = body.slice(..length / 2);
        let chunks: Vec<Result<Bytes, std::io::Error>> = vec![Ok(half), Err(std::io::Error::other("connection cut by the test"))];
        Body::from_stream(futures_util::stream::iter(chunks))
    } else if let Some(pause) = slow {
        let stream = futures_util::stream::unfold(body, move |rest: Bytes| async move {
            if rest.is_empty() {
                return None;
            }
            tokio::time::sleep(pause).await;
            let take = rest.len().min(64 << 10);
            Some((Ok::<_, std::io::Error>(rest.slice(..take)), rest.slice(take..)))
        });
        Body::from_stream(stream)
    } else {
        Body::from(body)
    };
    let mut response = Response::builder()
        .status(status)
        .header(header::CONTENT_LENGTH, length)
        .header(header::ACCEPT_RANGES, "bytes")
        .body(body)
        .expect("response");
    if status == StatusCode::PARTIAL_CONTENT {
        response
            .headers_mut()
            .insert(header::CONTENT_RANGE, HeaderValue::from_str(&format!("bytes {start}-{}/{total}", end - 1)).expect("header"));
    }
    response
}
