//! The devnet's Chutes management API, speaking the documented shapes (spec/services.md §1): `GET
//! /chutes/{id}`, `GET /chutes/`, `POST /chutes/?accept_fee=`, API-key and hotkey-signed
//! authentication (real sr25519 verification with schnorrkel, signing context `substrate`), and
//! the server's refusals: 401, 402 (fee), 403 (non-affine name), 404, 409 (same version), 422,
//! 429 (deploys per day). Every request is recorded.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};

use super::serve::{self, Served};

/// An account of the local server.
#[derive(Debug, Clone)]
pub struct ChutesUser {
    /// Chutes user id.
    pub user_id: String,
    /// Chutes username (the first half of chute names, and of the chute id seed).
    pub username: String,
    /// A `cpk_` key, if the user has one.
    pub api_key: Option<String>,
    /// The hotkey's public key, if the user signs requests.
    pub hotkey: Option<[u8; 32]>,
    /// Balance in USD; a deploy fee is 3 h of one GPU at 2 USD.
    pub balance: f64,
}

/// A recorded request.
#[derive(Debug, Clone)]
pub struct ChutesRequest {
    /// Method.
    pub method: String,
    /// Path and query.
    pub uri: String,
    /// Headers (lowercase names).
    pub headers: HashMap<String, String>,
}

struct StoredChute {
    owner: String,
    public: bool,
    value: Value,
}

struct Inner {
    users: Vec<ChutesUser>,
    chutes: Vec<StoredChute>,
    deploys: HashMap<String, u32>,
    deploy_limit: u32,
    requests: Vec<ChutesRequest>,
}

type Shared = Arc<Mutex<Inner>>;

/// The running server; stops on drop.
pub struct ChutesServer {
    served: Served,
    shared: Shared,
}

/// A `ChuteResponse` with every documented field, including the bulky ones clients drop.
#[must_use]
pub fn chute_fixture(chute_id: &str, name: &str, owner: &ChutesUser, revision: Option<&str>, hot: bool) -> Value {
    json!({
        "chute_id": chute_id, "name": name, "tagline": "a tagline", "readme": "a long readme",
        "public": false, "version": "00000000-0000-5000-8000-000000000000", "tool_description": null,
        "slug": slugify(&owner.username, name), "standard_template": "vllm",
        "cords": [{"method": "POST", "path": "/chat", "public_api_path": "/v1/chat/completions"}], "jobs": [], "cord_ref_id": null,
        "created_at": "2025-11-20T10:00:00Z", "updated_at": "2025-11-20T10:00:00Z",
        "image": {"image_id": "img-1", "name": "sglang", "readme": "image readme", "tag": "nightly-2025081600", "public": true,
                  "status": "built and pushed", "user": {"username": "chutes"}},
        "user": {"username": owner.username, "user_id": owner.user_id, "logo_id": null, "created_at": "2025-01-01T00:00:00Z", "logo": null},
        "supported_gpus": ["a100", "h100"], "node_selector": {"gpu_count": 1, "include": ["a100", "h100"]},
        "invocation_count": 0, "current_estimated_price": null,
        "instances": [{"instance_id": "i-1", "region": "us", "active": hot, "verified": hot, "last_verified_at": null}],
        "logo_id": null, "logo": null, "openrouter": false, "chutes_version": "0.3.61", "revision": revision,
        "concurrency": 20, "boost": null, "max_instances": 1, "scaling_threshold": 0.5, "shutdown_after_seconds": 3600,
        "preemptible": false
    })
}

/// The slug Chutes derives from a username and a chute name (lowercase, `-` for anything else,
/// at most 58 characters): the host part of the chute's inference URL.
#[must_use]
pub fn slugify(username: &str, name: &str) -> String {
    let slug: String =
        format!("{username}-{name}").to_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' }).collect();
    slug.chars().take(58).collect()
}

impl ChutesServer {
    /// Starts the server on 127.0.0.1 (a free port) with `users` and `(owner user id, chute)`
    /// pairs.
    pub async fn start(users: Vec<ChutesUser>, chutes: Vec<(String, Value)>) -> Self {
        Self::serve(serve::bind_loopback().await, users, chutes)
    }

    /// Serves on `listener` with `users` and `(owner user id, chute)` pairs.
    #[must_use]
    pub fn serve(listener: tokio::net::TcpListener, users: Vec<ChutesUser>, chutes: Vec<(String, Value)>) -> Self {
        let chutes = chutes.into_iter().map(|(owner, value)| StoredChute { owner, public: false, value }).collect();
        let shared: Shared = Arc::new(Mutex::new(Inner { users, chutes, deploys: HashMap::new(), deploy_limit: 24, requests: Vec::new() }));
        let router =
            Router::new().route("/chutes/", get(list_chutes).post(deploy)).route("/chutes/{id}", get(get_chute)).with_state(shared.clone());
        Self { served: serve::spawn(listener, router), shared }
    }

    /// The API base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.served.url()
    }

    /// At most `limit` deploys per user (the real server: 24 per 24 h).
    pub fn set_deploy_limit(&self, limit: u32) {
        lock(&self.shared).deploy_limit = limit;
    }

    /// Every request so far.
    #[must_use]
    pub fn requests(&self) -> Vec<ChutesRequest> {
        lock(&self.shared).requests.clone()
    }
}

fn lock(shared: &Shared) -> std::sync::MutexGuard<'_, Inner> {
    shared.lock().expect("the lock is never held across a panic")
}

fn detail(status: StatusCode, detail: impl Into<Value>) -> Response {
    (status, axum::Json(json!({ "detail": detail.into() }))).into_response()
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap) {
    let headers = headers.iter().map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or_default().to_owned())).collect();
    lock(shared).requests.push(ChutesRequest { method: method.to_string(), uri: uri.to_string(), headers });
}

/// The caller: `None` when anonymous; an error answer when credentials are present but wrong.
#[expect(clippy::result_large_err, reason = "the error is the early answer of a handler")]
fn authenticate(shared: &Shared, headers: &HeaderMap, body: &[u8], purpose: &str) -> Result<Option<ChutesUser>, Response> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let inner = lock(shared);
    if let (Some(hotkey), Some(signature)) = (text("x-chutes-hotkey"), text("x-chutes-signature")) {
        let nonce = text("x-chutes-nonce").unwrap_or_default();
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let fresh =
            !nonce.is_empty() && nonce.bytes().all(|b| b.is_ascii_digit()) && nonce.parse::<u64>().is_ok_and(|n| n.abs_diff(now) <= 600);
        if !fresh {
            return Err(detail(StatusCode::UNAUTHORIZED, "Invalid nonce!"));
        }
        let user_id = text("x-chutes-userid").unwrap_or_default();
        let public = crate::chain::ss58::decode(&hotkey).ok();
        let Some(user) = inner.users.iter().find(|u| u.user_id == user_id && u.hotkey.is_some() && u.hotkey == public) else {
            return Err(detail(StatusCode::UNAUTHORIZED, "Invalid hotkey or user"));
        };
        let suffix = if body.is_empty() { purpose.to_owned() } else { hex::encode(Sha256::digest(body)) };
        let message = format!("{hotkey}:{nonce}:{suffix}");
        let verified = user.hotkey.zip(hex::decode(&signature).ok()).is_some_and(|(key, signature)| {
            crate::chain::signing::verify(&crate::chain::signing::PublicKey(key), message.as_bytes(), &signature)
        });
        if !verified {
            return Err(detail(StatusCode::UNAUTHORIZED, "Invalid request signature"));
        }
        return Ok(Some(user.clone()));
    }
    let token = text("authorization").unwrap_or_default();
    let token = token.split(' ').next_back().unwrap_or_default();
    if token.is_empty() {
        return Ok(None);
    }
    if !token.starts_with("cpk_") {
        return Err(detail(StatusCode::UNAUTHORIZED, "Missing or invalid authorization header(s)"));
    }
    match inner.users.iter().find(|u| u.api_key.as_deref() == Some(token)) {
        Some(user) => Ok(Some(user.clone())),
        None => Err(detail(StatusCode::UNAUTHORIZED, "Invalid token or user not found")),
    }
}

fn visible(chute: &StoredChute, user: Option<&ChutesUser>) -> bool {
    let name = chute.value["name"].as_str().unwrap_or_default().to_lowercase();
    chute.public || name.contains("/affine") || user.is_some_and(|u| u.user_id == chute.owner)
}

/// The answer body: `hot` computed from the instances, as the real server does.
fn response_value(chute: &StoredChute) -> Value {
    let mut value = chute.value.clone();
    let hot = value["instances"].as_array().is_some_and(|all| all.iter().any(|i| i["active"] == true && i["verified"] == true));
    value["hot"] = json!(hot);
    value
}

async fn get_chute(State(shared): State<Shared>, Path(id): Path<String>, method: Method, uri: Uri, headers: HeaderMap) -> Response {
    record(&shared, &method, &uri, &headers);
    let user = match authenticate(&shared, &headers, &[], "chutes") {
        Ok(user) => user,
        Err(response) => return response,
    };
    let inner = lock(&shared);
    let found = inner
        .chutes
        .iter()
        .find(|c| c.value["chute_id"] == id.as_str() || c.value["name"].as_str().is_some_and(|n| n.eq_ignore_ascii_case(&id)));
    match found {
        Some(chute) if visible(chute, user.as_ref()) => axum::Json(response_value(chute)).into_response(),
        _ => detail(StatusCode::NOT_FOUND, "Chute not found, or does not belong to you"),
    }
}

async fn list_chutes(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    record(&shared, &method, &uri, &headers);
    let user = match authenticate(&shared, &headers, &[], "chutes") {
        Ok(user) => user,
        Err(response) => return response,
    };
    let include_public = query.get("include_public").is_some_and(|v| v == "true");
    let page: usize = query.get("page").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = query.get("limit").and_then(|v| v.parse().ok()).unwrap_or(25);
    let name = query.get("name").map(|n| n.to_lowercase());
    let inner = lock(&shared);
    let mut items: Vec<&StoredChute> = inner
        .chutes
        .iter()
        .filter(|c| match &user {
            Some(user) if !include_public => c.owner == user.user_id,
            user => visible(c, user.as_ref()),
        })
        .filter(|c| name.as_ref().is_none_or(|n| c.value["name"].as_str().unwrap_or_default().to_lowercase().contains(n.as_str())))
        .collect();
    items.sort_by_key(|c| std::cmp::Reverse(c.value["invocation_count"].as_u64().unwrap_or(0)));
    let total = items.len();
    let page_items: Vec<Value> = items
        .into_iter()
        .skip(page * limit)
        .take(limit)
        .map(|c| {
            let mut value = response_value(c);
            value["cords"] = Value::Null;
            value["cord_ref_id"] = json!("ref-1");
            value
        })
        .collect();
    axum::Json(json!({ "total": total, "page": page, "limit": limit, "items": page_items, "cord_refs": {} })).into_response()
}

const ALLOWED_IMPORTS: [&str; 3] =
    ["import os", "from chutes.chute import NodeSelector", "from chutes.chute.template.sglang import build_sglang_chute"];

async fn deploy(
    State(shared): State<Shared>,
    Query(query): Query<HashMap<String, String>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers);
    let user = match authenticate(&shared, &headers, &body, "chutes") {
        Ok(Some(user)) => user,
        Ok(None) => return detail(StatusCode::UNAUTHORIZED, "Can't find a user with that api key in our db :("),
        Err(response) => return response,
    };
    let Ok(request) = serde_json::from_slice::<Value>(&body) else {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, json!([{"msg": "JSON decode error"}]));
    };
    let text = |key: &str| request[key].as_str().unwrap_or_default().to_owned();
    let (name, image, code, revision) = (text("name"), text("image"), text("code"), text("revision"));
    if !(3..=128).contains(&name.len()) {
        return detail(StatusCode::UNPROCESSABLE_ENTITY, json!([{"loc": ["body", "name"], "msg": "String should have 3-128 characters"}]));
    }
    if revision.len() != 40 || !revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        return detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!([{"loc": ["body", "revision"], "msg": "String should match pattern '^[a-fA-F0-9]{40}$'"}]),
        );
    }
    let affine_name = name.split_once('/').is_some_and(|(_, rest)| rest.to_lowercase().starts_with("affine"));
    if !affine_name {
        return detail(StatusCode::FORBIDDEN, "Affine miners may only deploy chutes named */affine*");
    }
    if !(image.starts_with("chutes/sglang") || image.starts_with("chutes/vllm")) {
        return detail(StatusCode::BAD_REQUEST, "Only official chutes sglang/vllm images may be used for affine chutes");
    }
    let bad_import =
        code.lines().map(str::trim).find(|l| (l.starts_with("import ") || l.starts_with("from ")) && !ALLOWED_IMPORTS.contains(l));
    if code.len() > 10_000 || bad_import.is_some() {
        return detail(StatusCode::BAD_REQUEST, format!("Invalid code: disallowed import {bad_import:?}"));
    }
    let public = request["public"].as_bool().unwrap_or(false);
    let chute_id = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{}::chute::{name}", user.username).as_bytes()).to_string();
    let version = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{image}:{code}").as_bytes()).to_string();
    let accept_fee = query.get("accept_fee").is_some_and(|v| v == "true");

    let mut inner = lock(&shared);
    let existing = inner.chutes.iter().position(|c| c.value["chute_id"] == chute_id.as_str());
    if let Some(index) = existing
        && inner.chutes[index].value["version"] == version.as_str()
        && inner.chutes[index].public == public
    {
        return detail(StatusCode::CONFLICT, format!("Chute with name={name}, version={version} and public={public} already exists"));
    }
    let done = inner.deploys.get(&user.user_id).copied().unwrap_or(0);
    if done >= inner.deploy_limit {
        return detail(StatusCode::TOO_MANY_REQUESTS, "You many only update/create 24 chutes per 24 hours.");
    }
    if existing.is_none() {
        let gpus = request["node_selector"]["gpu_count"].as_f64().unwrap_or(1.0);
        let fee = gpus * 2.0 * 3.0;
        if !accept_fee {
            return detail(
                StatusCode::PAYMENT_REQUIRED,
                format!(
                    "DEPLOYMENT FEE NOTICE:\n===\nThere is a deployment fee of ${fee:.2} for creating this chute.\nTo acknowledge, pass accept_fee=true"
                ),
            );
        }
        if user.balance <= fee {
            return detail(
                StatusCode::PAYMENT_REQUIRED,
                format!("The deployment fee is ${fee:.2}, please top up your account to continue."),
            );
        }
    }
    *inner.deploys.entry(user.user_id.clone()).or_default() += 1;
    let mut value = chute_fixture(&chute_id, &name, &user, Some(&revision), false);
    for key in
        ["readme", "tagline", "node_selector", "concurrency", "max_instances", "scaling_threshold", "shutdown_after_seconds", "cords"]
    {
        value[key] = request[key].clone();
    }
    value["version"] = json!(version);
    value["public"] = json!(public);
    value["instances"] = json!([]);
    let stored = StoredChute { owner: user.user_id.clone(), public, value };
    let answer = response_value(&stored);
    match existing {
        Some(index) => inner.chutes[index] = stored,
        None => inner.chutes.push(stored),
    }
    axum::Json(answer).into_response()
}
