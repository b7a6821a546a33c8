//! Chutes management API client (spec/services.md §1): get and list chutes, deploy one, the
//! per-chute inference URL, the deterministic chute id, and the deploy body `af chutes-push`
//! sends.
//!
//! Two authentication schemes: the `cpk_` API key sent raw in `Authorization` (what the
//! validator uses), and hotkey-signed requests (`X-Chutes-UserID`, `X-Chutes-Hotkey`,
//! `X-Chutes-Nonce`, `X-Chutes-Signature` over `hotkey:nonce:sha256(body)`, or
//! `hotkey:nonce:purpose` without a body). The signature comes from a [`SignMessage`] supplied
//! by the caller, so this module holds no key material.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

pub use super::chutes_error::{Detail, Error};
use crate::api_http;
use crate::secret::Secret;

/// The public management API.
pub const DEFAULT_API_URL: &str = "https://api.chutes.ai";
/// Timeout of a chute lookup (the reference uses 5 s).
pub const GET_TIMEOUT: Duration = Duration::from_secs(5);
/// Timeout of a list call.
pub const LIST_TIMEOUT: Duration = Duration::from_secs(30);
/// Timeout of a deploy: the server fetches the model's config from Hugging Face first.
pub const DEPLOY_TIMEOUT: Duration = Duration::from_secs(300);
/// The `SGLang` image the reference deploys.
pub const SGLANG_IMAGE: &str = "chutes/sglang:nightly-2025081600";

/// Header names of hotkey-signed requests.
pub mod headers {
    /// The Chutes user id.
    pub const USER_ID: &str = "X-Chutes-UserID";
    /// The hotkey's SS58 address.
    pub const HOTKEY: &str = "X-Chutes-Hotkey";
    /// Unix time in whole seconds.
    pub const NONCE: &str = "X-Chutes-Nonce";
    /// Lowercase hex sr25519 signature of the signing message.
    pub const SIGNATURE: &str = "X-Chutes-Signature";
}

/// Signs the UTF-8 message of a hotkey-authenticated request; returns the signature as
/// lowercase hex without `0x`. The chain code implements it with the miner's sr25519 hotkey
/// (signing context `substrate`); closures work too.
pub trait SignMessage: Send + Sync {
    /// The hex signature of `message`.
    fn sign(&self, message: &[u8]) -> String;
}

impl<F: Fn(&[u8]) -> String + Send + Sync> SignMessage for F {
    fn sign(&self, message: &[u8]) -> String {
        self(message)
    }
}

/// Credentials of hotkey-signed requests.
#[derive(Clone)]
pub struct HotkeyAuth {
    /// `user_id` from `~/.chutes/config.ini`.
    pub user_id: String,
    /// The hotkey's SS58 address.
    pub hotkey: String,
    /// Signs with that hotkey.
    pub signer: Arc<dyn SignMessage>,
}

impl fmt::Debug for HotkeyAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HotkeyAuth").field("user_id", &self.user_id).field("hotkey", &self.hotkey).finish_non_exhaustive()
    }
}

/// How requests authenticate.
#[derive(Debug, Clone, Default)]
pub enum ChutesAuth {
    /// No credentials (chute get and list still work for public and `*/affine*` chutes).
    #[default]
    Anonymous,
    /// A `cpk_` API key, sent raw in `Authorization` as the reference does.
    ApiKey(Secret),
    /// Hotkey-signed requests.
    Hotkey(HotkeyAuth),
}

/// Where the API is and how to authenticate.
#[derive(Debug, Clone)]
pub struct ChutesConfig {
    /// Base URL, default [`DEFAULT_API_URL`].
    pub api_url: String,
    /// Credentials.
    pub auth: ChutesAuth,
}

impl Default for ChutesConfig {
    fn default() -> Self {
        Self { api_url: DEFAULT_API_URL.to_owned(), auth: ChutesAuth::Anonymous }
    }
}

/// A chute as the API returns it, with the bulky fields the reference drops (`readme`, `cords`,
/// `tagline`, `instances`, `image.readme`) removed. Serializes back to exactly the remaining
/// object, which is what result records embed as the miner's `chute`.
#[derive(Debug, Clone, PartialEq)]
pub struct Chute {
    /// The chute's UUID.
    pub chute_id: String,
    /// Its name (for affine miners, the Hugging Face repo id).
    pub name: String,
    /// Host label of its inference endpoint.
    pub slug: Option<String>,
    /// Whether an instance is active and verified.
    pub hot: bool,
    /// The Hugging Face revision it serves, if pinned.
    pub revision: Option<String>,
    fields: serde_json::Map<String, serde_json::Value>,
}

impl Chute {
    /// Reads a `ChuteResponse` object, dropping the bulky fields.
    ///
    /// # Errors
    /// Not an object, or `chute_id`/`name` missing.
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        let serde_json::Value::Object(mut fields) = value else { return Err("a chute is not a JSON object".to_owned()) };
        for key in ["readme", "cords", "tagline", "instances"] {
            fields.shift_remove(key);
        }
        if let Some(serde_json::Value::Object(image)) = fields.get_mut("image") {
            image.shift_remove("readme");
        }
        let text = |key: &str| fields.get(key).and_then(serde_json::Value::as_str).map(str::to_owned);
        let chute_id = text("chute_id").ok_or("chute without chute_id")?;
        let name = text("name").ok_or("chute without name")?;
        let slug = text("slug");
        let revision = text("revision");
        let hot = fields.get("hot").and_then(serde_json::Value::as_bool).unwrap_or(false);
        Ok(Self { chute_id, name, slug, hot, revision, fields })
    }

    /// The whole object as kept (after the drops).
    #[must_use]
    pub fn fields(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.fields
    }

    /// Its OpenAI-compatible endpoint under `template`, if it has a slug.
    #[must_use]
    pub fn inference_url(&self, template: &super::InferenceUrlTemplate) -> Option<String> {
        self.slug.as_deref().map(|slug| template.base_url(slug))
    }
}

impl Serialize for Chute {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.fields.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Chute {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Self::from_value(serde_json::Value::deserialize(deserializer)?).map_err(serde::de::Error::custom)
    }
}

/// Query of `GET /chutes/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// Case-insensitive substring filter on the name.
    pub name: Option<String>,
    /// Include public chutes (otherwise an authenticated caller sees only its own).
    pub include_public: bool,
    /// Page, from 0.
    pub page: u32,
    /// Items per page (server default 25).
    pub limit: u32,
}

impl Default for ListQuery {
    fn default() -> Self {
        Self { name: None, include_public: false, page: 0, limit: 25 }
    }
}

/// A page of `GET /chutes/`. The server orders by invocation count and caches answers for
/// 60 s, so a chute deployed a moment ago may be missing: look chutes up by id instead.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ChuteList {
    /// Chutes matching the query, when the server says.
    pub total: Option<u64>,
    /// This page.
    pub page: Option<u32>,
    /// Page size.
    pub limit: Option<u32>,
    /// The chutes on this page.
    pub items: Vec<Chute>,
}

impl ChuteList {
    /// Reads `{total, page, limit, items}` or, from older servers, a bare list.
    ///
    /// # Errors
    /// Neither shape, or an item that is not a chute.
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        let (meta, items) = match value {
            serde_json::Value::Array(items) => (serde_json::Map::new(), items),
            serde_json::Value::Object(mut object) => match object.remove("items") {
                Some(serde_json::Value::Array(items)) => (object, items),
                _ => return Err("list without items".to_owned()),
            },
            _ => return Err("list is neither an object nor an array".to_owned()),
        };
        let number = |key: &str| meta.get(key).and_then(serde_json::Value::as_u64);
        Ok(Self {
            total: number("total"),
            page: number("page").and_then(|n| u32::try_from(n).ok()),
            limit: number("limit").and_then(|n| u32::try_from(n).ok()),
            items: items.into_iter().map(Chute::from_value).collect::<Result<_, _>>()?,
        })
    }
}

/// The message a hotkey signs: `{hotkey}:{nonce}:{sha256_hex(body)}` when there is a body,
/// else `{hotkey}:{nonce}:{purpose}`.
#[must_use]
pub fn signing_message(hotkey: &str, nonce: &str, body: Option<&[u8]>, purpose: &str) -> String {
    match body {
        Some(body) if !body.is_empty() => format!("{hotkey}:{nonce}:{}", hex::encode(Sha256::digest(body))),
        _ => format!("{hotkey}:{nonce}:{purpose}"),
    }
}

/// A Chutes API client; cheap to clone.
#[derive(Debug, Clone)]
pub struct ChutesClient {
    http: reqwest::Client,
    base: Url,
    auth: ChutesAuth,
}

impl ChutesClient {
    /// A client for `config.api_url`.
    ///
    /// # Errors
    /// The URL is not an absolute http(s) URL, or TLS cannot be set up.
    pub fn new(config: ChutesConfig) -> Result<Self, Error> {
        let base = api_http::base_url(&config.api_url).map_err(|reason| Error::InvalidBaseUrl { url: config.api_url.clone(), reason })?;
        let http = api_http::client().map_err(Error::Client)?;
        Ok(Self { http, base, auth: config.auth })
    }

    /// `GET /chutes/{id}`: one chute by UUID (names are matched loosely by the server, so ids
    /// are preferred).
    ///
    /// # Errors
    /// [`Error::Api`] with status 404 when the chute does not exist or is not visible;
    /// transport failures; a body that is not a chute.
    pub async fn get_chute(&self, chute_id: &str) -> Result<Chute, Error> {
        let url = self.url(&format!("chutes/{}", percent_encoding::utf8_percent_encode(chute_id, PATH_SEGMENT)));
        let (endpoint, value) = self.call(Method::GET, url, None, "chutes", GET_TIMEOUT).await?;
        Chute::from_value(value).map_err(|reason| Error::Decode { endpoint, reason })
    }

    /// `GET /chutes/`: a page of chutes.
    ///
    /// # Errors
    /// Transport failures, error statuses, a body of neither list shape.
    pub async fn list_chutes(&self, query: &ListQuery) -> Result<ChuteList, Error> {
        let mut url = self.url("chutes/");
        {
            let mut pairs = url.query_pairs_mut();
            if let Some(name) = &query.name {
                pairs.append_pair("name", name);
            }
            pairs.append_pair("include_public", if query.include_public { "true" } else { "false" });
            pairs.append_pair("page", &query.page.to_string());
            pairs.append_pair("limit", &query.limit.to_string());
        }
        let (endpoint, value) = self.call(Method::GET, url, None, "chutes", LIST_TIMEOUT).await?;
        ChuteList::from_value(value).map_err(|reason| Error::Decode { endpoint, reason })
    }

    /// The caller's chute named `name` (exact, case-insensitive), found through the list's
    /// `name` filter. Prefer [`chute_id`] plus [`ChutesClient::get_chute`]: the list is cached
    /// by the server for 60 s, so a chute deployed a moment ago may not be listed yet.
    ///
    /// # Errors
    /// As [`ChutesClient::list_chutes`].
    pub async fn find_chute_by_name(&self, name: &str) -> Result<Option<Chute>, Error> {
        let query = ListQuery { name: Some(name.to_owned()), include_public: false, page: 0, limit: 100 };
        Ok(self.list_chutes(&query).await?.items.into_iter().find(|chute| chute.name.eq_ignore_ascii_case(name)))
    }

    /// `POST /chutes/?accept_fee=…`: creates the chute, or updates it in place when the name
    /// exists with other code or image. The body is serialized once and the same bytes are
    /// signed and sent.
    ///
    /// # Errors
    /// [`Error::Api`] with the server's status and detail: 402 (fee not accepted or balance
    /// too low), 403 (name not allowed for this user), 409 (same version already deployed),
    /// 429 (too many deploys today), 400 (refused body); transport failures.
    pub async fn deploy(&self, request: &DeployRequest, accept_fee: bool) -> Result<Chute, Error> {
        let mut url = self.url("chutes/");
        url.query_pairs_mut().append_pair("accept_fee", if accept_fee { "true" } else { "false" });
        let body = serde_json::to_vec(request).map_err(|e| Error::InvalidDeploy(format!("deploy body does not serialize: {e}")))?;
        let (endpoint, value) = self.call(Method::POST, url, Some(body), "chutes", DEPLOY_TIMEOUT).await?;
        Chute::from_value(value).map_err(|reason| Error::Decode { endpoint, reason })
    }

    fn url(&self, path: &str) -> Url {
        let mut url = self.base.clone();
        let base = url.path().trim_end_matches('/').to_owned();
        url.set_path(&format!("{base}/{path}"));
        url
    }

    /// Sends one request with the configured authentication and returns the JSON answer.
    async fn call(
        &self,
        method: Method,
        url: Url,
        body: Option<Vec<u8>>,
        purpose: &str,
        timeout: Duration,
    ) -> Result<(String, serde_json::Value), Error> {
        let endpoint = format!("{method} {}", url.as_str().split('?').next().unwrap_or_default());
        let mut request = self.http.request(method, url).timeout(timeout);
        match &self.auth {
            ChutesAuth::Anonymous => {}
            ChutesAuth::ApiKey(key) => request = request.header(reqwest::header::AUTHORIZATION, key.expose()),
            ChutesAuth::Hotkey(auth) => {
                let nonce = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_secs().to_string();
                let message = signing_message(&auth.hotkey, &nonce, body.as_deref(), purpose);
                request = request
                    .header(headers::USER_ID, &auth.user_id)
                    .header(headers::HOTKEY, &auth.hotkey)
                    .header(headers::NONCE, &nonce)
                    .header(headers::SIGNATURE, auth.signer.sign(message.as_bytes()));
            }
        }
        if let Some(body) = body {
            request = request.header(reqwest::header::CONTENT_TYPE, "application/json").body(body);
        }
        tracing::trace!(%endpoint, "chutes request");
        let response =
            request.send().await.map_err(|source| Error::Request { endpoint: endpoint.clone(), source: source.without_url() })?;
        let status = response.status();
        if !status.is_success() {
            let text = crate::http_body::error_text(response).await;
            let detail = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(serde_json::Value::Object(mut object)) if object.contains_key("detail") => object.remove("detail").unwrap_or_default(),
                _ => serde_json::Value::String(text.chars().take(500).collect()),
            };
            tracing::debug!(%endpoint, status = status.as_u16(), "chutes error answer");
            return Err(Error::Api { endpoint, status: status.as_u16(), detail: Detail(detail) });
        }
        let bytes = crate::http_body::read(response, crate::http_body::BodyKind::ApiJson)
            .await
            .map_err(|source| Error::Body { endpoint: endpoint.clone(), source })?;
        let value = serde_json::from_slice(&bytes).map_err(|e| Error::Decode { endpoint: endpoint.clone(), reason: e.to_string() })?;
        Ok((endpoint, value))
    }
}

/// Characters escaped in one path segment.
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// The chute id the server assigns to a new chute: `uuid5(NAMESPACE_OID,
/// "{username}::chute::{name}")`, so a deploy can be confirmed with one `GET /chutes/{id}`.
#[must_use]
pub fn chute_id(username: &str, name: &str) -> uuid::Uuid {
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("{username}::chute::{name}").as_bytes())
}

/// Deployment settings of `af chutes-push` (the values the reference intended).
#[derive(Debug, Clone, PartialEq)]
pub struct DeploySettings {
    /// Image, `user/name:tag`.
    pub image: String,
    /// Concurrent requests per instance.
    pub concurrency: u32,
    /// GPUs per instance.
    pub gpu_count: u32,
    /// GPU types allowed.
    pub gpus: Vec<String>,
    /// Instances at most.
    pub max_instances: u32,
    /// Utilisation above which another instance starts.
    pub scaling_threshold: f64,
    /// Idle seconds before shutdown.
    pub shutdown_after_seconds: u64,
}

impl Default for DeploySettings {
    fn default() -> Self {
        Self {
            image: SGLANG_IMAGE.to_owned(),
            concurrency: 20,
            gpu_count: 1,
            gpus: vec!["a100".to_owned(), "h100".to_owned()],
            max_instances: 1,
            scaling_threshold: 0.5,
            shutdown_after_seconds: 3600,
        }
    }
}

/// `node_selector` of a deploy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeSelector {
    /// GPUs per instance (1–8).
    pub gpu_count: u32,
    /// Minimum VRAM per GPU (server default 16).
    pub min_vram_gb_per_gpu: u32,
    /// Allowed GPU types.
    pub include: Vec<String>,
    /// Excluded GPU types.
    pub exclude: Option<Vec<String>>,
}

/// One endpoint of the chute (the `OpenAI` passthrough routes the `SGLang` template defines).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cord {
    /// HTTP method inside the chute.
    pub method: String,
    /// Path inside the chute (the function name).
    pub path: String,
    /// Public path.
    pub public_api_path: String,
    /// Public method.
    pub public_api_method: String,
    /// Whether the answer streams.
    pub stream: bool,
    /// Function name.
    pub function: String,
    /// Request schema (left to the server; the SDK sends pydantic schemas here).
    pub input_schema: Option<serde_json::Value>,
    /// Response schema.
    pub output_schema: Option<serde_json::Value>,
    /// Response content type.
    pub output_content_type: Option<String>,
    /// Minimal request schema.
    pub minimal_input_schema: Option<serde_json::Value>,
    /// Passed through to the engine.
    pub passthrough: bool,
}

/// The body of `POST /chutes/` for an affine miner's `SGLang` chute. Field order follows the
/// chutes SDK.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeployRequest {
    /// The Hugging Face repo id.
    pub name: String,
    /// Empty.
    pub tagline: String,
    /// The repo id (as the reference).
    pub readme: String,
    /// No logo.
    pub logo_id: Option<String>,
    /// The image.
    pub image: String,
    /// Private (public chutes need a special permission).
    pub public: bool,
    /// `vllm`, which covers the `SGLang` template too.
    pub standard_template: String,
    /// Where it may run.
    pub node_selector: NodeSelector,
    /// The file name of `code`.
    pub filename: String,
    /// `module:attribute` of the chute in `code`.
    pub ref_str: String,
    /// The Python module that defines the chute (checked against the server's whitelist).
    pub code: String,
    /// Concurrent requests per instance.
    pub concurrency: u32,
    /// Instances at most.
    pub max_instances: u32,
    /// Scale-up threshold.
    pub scaling_threshold: f64,
    /// Idle shutdown.
    pub shutdown_after_seconds: u64,
    /// No outbound network from the chute.
    pub allow_external_egress: bool,
    /// No encrypted filesystem.
    pub encrypted_fs: bool,
    /// The 40-hex Hugging Face commit.
    pub revision: String,
    /// Endpoints.
    pub cords: Vec<Cord>,
    /// No jobs.
    pub jobs: Vec<serde_json::Value>,
}

/// Refuses names the server refuses for affine miners (`^[^/]+/affine.*`, case-insensitive,
/// 3–128 characters) and characters a Hugging Face repo id cannot hold.
///
/// # Errors
/// [`Error::InvalidDeploy`] with the reason.
pub fn check_repo(repo: &str) -> Result<(), Error> {
    let refuse = |why: &str| Err(Error::InvalidDeploy(format!("cannot deploy {repo:?}: {why}")));
    let Some((owner, name)) = repo.split_once('/') else { return refuse("expected owner/name") };
    let allowed = |part: &str| !part.is_empty() && part.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !allowed(owner) || !allowed(name) {
        return refuse("a repo id is owner/name with letters, digits, '-', '_' and '.' only");
    }
    if !(3..=128).contains(&repo.len()) {
        return refuse("chute names are 3 to 128 characters");
    }
    if !name.to_ascii_lowercase().starts_with("affine") {
        return refuse("affine miners may only deploy chutes named */affine* (the part after '/' must start with \"affine\")");
    }
    Ok(())
}

/// Refuses a revision that is not a 40-character hex commit.
///
/// # Errors
/// [`Error::InvalidDeploy`] with the reason.
pub fn check_revision(revision: &str) -> Result<(), Error> {
    if revision.len() == 40 && revision.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(())
    } else {
        Err(Error::InvalidDeploy(format!("revision {revision:?} is not a 40-character hex commit sha")))
    }
}

fn check_username(user: &str) -> Result<(), Error> {
    if !user.is_empty() && user.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_')) {
        Ok(())
    } else {
        Err(Error::InvalidDeploy(format!("chute user {user:?} must be a Chutes username (letters, digits, '-', '_')")))
    }
}

fn check_settings(settings: &DeploySettings) -> Result<(), Error> {
    let refuse = |why: String| Err(Error::InvalidDeploy(why));
    if settings.concurrency == 0 || settings.concurrency > 256 {
        return refuse(format!("concurrency {} is outside 1..=256", settings.concurrency));
    }
    if !(1..=8).contains(&settings.gpu_count) {
        return refuse(format!("gpu count {} is outside 1..=8", settings.gpu_count));
    }
    if settings.gpus.is_empty() || settings.gpus.iter().any(|g| g.is_empty() || !g.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) {
        return refuse("gpu types must be non-empty names such as a100, h100".to_owned());
    }
    if !(1..=100).contains(&settings.max_instances) {
        return refuse(format!("max instances {} is outside 1..=100", settings.max_instances));
    }
    if !(0.0..=1.0).contains(&settings.scaling_threshold) {
        return refuse(format!("scaling threshold {} is outside 0..=1", settings.scaling_threshold));
    }
    if !(60..=604_800).contains(&settings.shutdown_after_seconds) {
        return refuse(format!("shutdown after {} s is outside 60..=604800", settings.shutdown_after_seconds));
    }
    let image_ok = settings.image.starts_with("chutes/sglang") || settings.image.starts_with("chutes/vllm");
    if !image_ok || settings.image.contains(['"', '\\', '\n']) {
        return refuse(format!("image {:?} is not an official chutes/sglang* or chutes/vllm* image", settings.image));
    }
    Ok(())
}

/// The file name and attribute the generated module is sent under.
const CHUTE_FILENAME: &str = "af_chute.py";
const CHUTE_REF: &str = "af_chute:chute";

/// The Python module that defines the chute, as the SDK uploads it: the reference's template
/// with the keyword it meant (`scaling_threshold`; the reference wrote `scale_threshold`,
/// which `build_sglang_chute` rejects). Inputs are validated first, so the literals need no
/// escaping.
fn chute_code(user: &str, repo: &str, revision: &str, settings: &DeploySettings) -> String {
    let gpus = settings.gpus.iter().map(|g| format!("\"{g}\"")).collect::<Vec<_>>().join(", ");
    format!(
        r#"import os
from chutes.chute import NodeSelector
from chutes.chute.template.sglang import build_sglang_chute
os.environ["NO_PROXY"] = "localhost,127.0.0.1"

chute = build_sglang_chute(
    username="{user}",
    readme="{repo}",
    model_name="{repo}",
    image="{image}",
    concurrency={concurrency},
    revision="{revision}",
    node_selector=NodeSelector(
        gpu_count={gpu_count},
        include=[{gpus}],
    ),
    max_instances={max_instances},
    scaling_threshold={threshold:?},
    shutdown_after_seconds={shutdown},
)
"#,
        image = settings.image,
        concurrency = settings.concurrency,
        gpu_count = settings.gpu_count,
        max_instances = settings.max_instances,
        threshold = settings.scaling_threshold,
        shutdown = settings.shutdown_after_seconds,
    )
}

/// The five passthrough endpoints of the `SGLang` template.
fn sglang_cords() -> Vec<Cord> {
    let cord = |function: &str, path: &str, method: &str, stream: bool| Cord {
        method: method.to_owned(),
        path: format!("/{function}"),
        public_api_path: path.to_owned(),
        public_api_method: method.to_owned(),
        stream,
        function: function.to_owned(),
        input_schema: None,
        output_schema: None,
        output_content_type: None,
        minimal_input_schema: None,
        passthrough: true,
    };
    vec![
        cord("chat_stream", "/v1/chat/completions", "POST", true),
        cord("completion_stream", "/v1/completions", "POST", true),
        cord("chat", "/v1/chat/completions", "POST", false),
        cord("completion", "/v1/completions", "POST", false),
        cord("get_models", "/v1/models", "GET", false),
    ]
}

/// The deploy body for `repo` at `revision` under the Chutes user `user`, after refusing what
/// the server would refuse.
///
/// # Errors
/// [`Error::InvalidDeploy`]: a non-affine or malformed repo, a revision that is not 40 hex
/// characters, a malformed user name, or settings outside the server's ranges.
pub fn deploy_request(user: &str, repo: &str, revision: &str, settings: &DeploySettings) -> Result<DeployRequest, Error> {
    check_username(user)?;
    check_repo(repo)?;
    check_revision(revision)?;
    check_settings(settings)?;
    Ok(DeployRequest {
        name: repo.to_owned(),
        tagline: String::new(),
        readme: repo.to_owned(),
        logo_id: None,
        image: settings.image.clone(),
        public: false,
        standard_template: "vllm".to_owned(),
        node_selector: NodeSelector {
            gpu_count: settings.gpu_count,
            min_vram_gb_per_gpu: 16,
            include: settings.gpus.clone(),
            exclude: None,
        },
        filename: CHUTE_FILENAME.to_owned(),
        ref_str: CHUTE_REF.to_owned(),
        code: chute_code(user, repo, revision, settings),
        concurrency: settings.concurrency,
        max_instances: settings.max_instances,
        scaling_threshold: settings.scaling_threshold,
        shutdown_after_seconds: settings.shutdown_after_seconds,
        allow_external_egress: false,
        encrypted_fs: false,
        revision: revision.to_owned(),
        cords: sglang_cords(),
        jobs: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const REV: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn chute_id_matches_the_sdk_value() {
        // Computed with Python's uuid.uuid5(uuid.NAMESPACE_OID, "alice::chute::alice/Affine-test").
        assert_eq!(chute_id("alice", "alice/Affine-test").to_string(), "7131030b-33bb-53e3-968b-15761013fa0e");
    }

    #[test]
    fn chute_from_value_drops_bulky_fields_and_keeps_the_rest_in_order() {
        let value = serde_json::json!({
            "chute_id": "c1", "name": "o/affine-m", "tagline": "t", "readme": "r", "slug": "o-affine-m",
            "image": {"image_id": "i", "readme": "long", "tag": "x"}, "cords": [1], "instances": [{"active": true}],
            "revision": REV, "hot": true, "invocation_count": 7
        });
        let chute = Chute::from_value(value).expect("chute");
        assert!(chute.hot);
        assert_eq!(chute.revision.as_deref(), Some(REV));
        assert_eq!(
            chute.inference_url(&crate::inference::InferenceUrlTemplate::default()).as_deref(),
            Some("https://o-affine-m.chutes.ai/v1")
        );
        let keys: Vec<&str> = chute.fields().keys().map(String::as_str).collect();
        assert_eq!(keys, ["chute_id", "name", "slug", "image", "revision", "hot", "invocation_count"]);
        assert_eq!(serde_json::to_value(&chute).expect("json")["image"], serde_json::json!({"image_id": "i", "tag": "x"}));
        assert!(Chute::from_value(serde_json::json!({"name": "x"})).is_err());
        let cold = Chute::from_value(serde_json::json!({"chute_id": "c", "name": "n", "revision": null})).expect("chute");
        assert!(!cold.hot && cold.revision.is_none() && cold.slug.is_none());
    }

    #[test]
    fn chute_list_accepts_the_page_object_and_a_bare_list() {
        let page = ChuteList::from_value(serde_json::json!({"total": 2, "page": 0, "limit": 25, "items": [
            {"chute_id": "a", "name": "o/affine-a"}, {"chute_id": "b", "name": "o/affine-b"}], "cord_refs": {}}))
        .expect("page");
        assert_eq!((page.total, page.items.len()), (Some(2), 2));
        let bare = ChuteList::from_value(serde_json::json!([{"chute_id": "a", "name": "n"}])).expect("bare");
        assert_eq!((bare.total, bare.items[0].chute_id.as_str()), (None, "a"));
        assert!(ChuteList::from_value(serde_json::json!({"detail": "x"})).is_err());
    }

    #[test]
    fn signing_message_hashes_the_body_or_uses_the_purpose() {
        let body = br#"{"a":1}"#;
        let expected = format!("5Hot:1700000000:{}", hex::encode(Sha256::digest(body)));
        assert_eq!(signing_message("5Hot", "1700000000", Some(body), "chutes"), expected);
        assert_eq!(signing_message("5Hot", "1700000000", None, "chutes"), "5Hot:1700000000:chutes");
    }

    #[test]
    fn check_repo_refuses_non_affine_and_malformed_names() {
        for good in ["alice/affine-1", "alice/Affine_Test.v2", "a/AFFINE"] {
            check_repo(good).unwrap_or_else(|e| panic!("{good}: {e}"));
        }
        for bad in ["alice/model", "affine/model", "alice", "alice/affine/x", "/affine", "al ice/affine", "a/affine\"x"] {
            let error = check_repo(bad).expect_err(bad);
            assert!(error.is_user_input(), "{bad}");
        }
        let long = format!("o/affine{}", "x".repeat(130));
        assert!(check_repo(&long).is_err());
    }

    #[test]
    fn check_revision_requires_40_hex_characters() {
        check_revision(REV).expect("lowercase");
        check_revision(&REV.to_uppercase()).expect("uppercase hex");
        for bad in ["main", &REV[..39], &format!("{REV}0"), &format!("{}g", &REV[..39])] {
            assert!(check_revision(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn deploy_request_has_the_reference_deployment_settings() {
        let body = deploy_request("alice", "alice/affine-m", REV, &DeploySettings::default()).expect("body");
        let json = serde_json::to_value(&body).expect("json");
        assert_eq!(json["name"], "alice/affine-m");
        assert_eq!(json["readme"], "alice/affine-m");
        assert_eq!(json["image"], "chutes/sglang:nightly-2025081600");
        assert_eq!(json["concurrency"], 20);
        assert_eq!(json["node_selector"]["gpu_count"], 1);
        assert_eq!(json["node_selector"]["include"], serde_json::json!(["a100", "h100"]));
        assert_eq!(json["max_instances"], 1);
        assert_eq!(json["scaling_threshold"], 0.5);
        assert_eq!(json["shutdown_after_seconds"], 3600);
        assert_eq!(json["revision"], REV);
        assert_eq!(json["standard_template"], "vllm");
        assert_eq!(json["public"], false);
        assert_eq!(json["cords"].as_array().map(Vec::len), Some(5));
        let code = json["code"].as_str().expect("code");
        assert!(code.contains("scaling_threshold=0.5,") && !code.contains("scale_threshold"), "{code}");
        assert!(code.contains(r#"username="alice","#) && code.contains(&format!(r#"revision="{REV}","#)));
        assert!(code.contains(r#"include=["a100", "h100"],"#));
        assert!(code.len() < 10_000, "the server's whitelist caps code at 10000 bytes");
        let imports: Vec<&str> = code.lines().filter(|l| l.starts_with("import") || l.starts_with("from")).collect();
        assert_eq!(
            imports,
            ["import os", "from chutes.chute import NodeSelector", "from chutes.chute.template.sglang import build_sglang_chute"]
        );
    }

    #[test]
    fn deploy_request_refuses_bad_input_before_sending() {
        let settings = DeploySettings::default();
        assert!(deploy_request("alice", "alice/model", REV, &settings).is_err());
        assert!(deploy_request("alice", "alice/affine-m", "main", &settings).is_err());
        assert!(deploy_request("al\"ice", "alice/affine-m", REV, &settings).is_err());
        assert!(deploy_request("", "alice/affine-m", REV, &settings).is_err());
        for broken in [
            DeploySettings { concurrency: 0, ..DeploySettings::default() },
            DeploySettings { gpu_count: 9, ..DeploySettings::default() },
            DeploySettings { gpus: vec![], ..DeploySettings::default() },
            DeploySettings { max_instances: 0, ..DeploySettings::default() },
            DeploySettings { scaling_threshold: 1.5, ..DeploySettings::default() },
            DeploySettings { shutdown_after_seconds: 10, ..DeploySettings::default() },
            DeploySettings { image: "evil/image:1".into(), ..DeploySettings::default() },
        ] {
            assert!(deploy_request("alice", "alice/affine-m", REV, &broken).is_err(), "{broken:?}");
        }
    }

    #[test]
    fn client_refuses_a_base_url_that_is_not_http() {
        for bad in ["ftp://x", "nope", "mailto:a@b"] {
            let error = ChutesClient::new(ChutesConfig { api_url: bad.into(), auth: ChutesAuth::Anonymous }).expect_err(bad);
            assert!(error.is_user_input());
        }
        let key = ChutesAuth::ApiKey(Secret::new("cpk_secret"));
        assert!(!format!("{key:?}").contains("cpk_secret"));
    }
}
