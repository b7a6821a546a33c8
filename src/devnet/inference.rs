//! The devnet's OpenAI-compatible inference endpoint: one chat-completions route per miner,
//! `POST /{slug}/v1/chat/completions`, each answering by its [`Policy`].

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Json, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::policy::{Policy, Reply, reply};
use super::serve::{self, Served};

/// Requests kept per miner for inspection.
const KEPT_REQUESTS: usize = 1000;

/// A request a miner received: its `Authorization` header and body.
pub type Recorded = (Option<String>, Value);

#[derive(Default)]
struct Log {
    count: u64,
    recent: VecDeque<Recorded>,
}

struct Shared {
    miners: HashMap<String, Policy>,
    rows: Arc<Vec<Value>>,
    log: Mutex<HashMap<String, Log>>,
    answered: AtomicU64,
}

/// The running endpoint; stops on drop.
pub struct InferenceServer {
    served: Served,
    shared: Arc<Shared>,
}

/// The slug [`InferenceServer::single`] serves.
pub const SINGLE_SLUG: &str = "miner";

impl InferenceServer {
    /// Serves `miners` (`(slug, policy)` with copies already resolved to their target's
    /// policy) on `listener`; ABD/DED answers come from `rows`.
    #[must_use]
    pub fn serve(listener: tokio::net::TcpListener, miners: Vec<(String, Policy)>, rows: Arc<Vec<Value>>) -> Self {
        let shared =
            Arc::new(Shared { miners: miners.into_iter().collect(), rows, log: Mutex::new(HashMap::new()), answered: AtomicU64::new(0) });
        let router = Router::new()
            .route("/{slug}/v1/chat/completions", post(chat))
            .route("/{slug}/v1/models", get(models))
            .with_state(shared.clone());
        Self { served: serve::spawn(listener, router), shared }
    }

    /// One miner with `policy` on a free loopback port, under [`SINGLE_SLUG`].
    pub async fn single(policy: Policy, rows: Arc<Vec<Value>>) -> Self {
        Self::serve(serve::bind_loopback().await, vec![(SINGLE_SLUG.to_owned(), policy)], rows)
    }

    /// `http://host:port`.
    #[must_use]
    pub fn url(&self) -> &str {
        self.served.url()
    }

    /// The `OpenAI` base URL of miner `slug`: `http://host:port/{slug}/v1`.
    #[must_use]
    pub fn base_url(&self, slug: &str) -> String {
        format!("{}/{slug}/v1", self.served.url())
    }

    /// The template that maps any slug to its base URL here (`AF_INFERENCE_URL_TEMPLATE`).
    #[must_use]
    pub fn url_template(&self) -> String {
        format!("{}/{{slug}}/v1", self.served.url())
    }

    /// How many requests miner `slug` has received.
    #[must_use]
    pub fn request_count(&self, slug: &str) -> u64 {
        self.shared.log.lock().expect("the lock is never held across a panic").get(slug).map_or(0, |log| log.count)
    }

    /// The last requests (up to a thousand) miner `slug` received, oldest first.
    #[must_use]
    pub fn requests(&self, slug: &str) -> Vec<Recorded> {
        self.shared
            .log
            .lock()
            .expect("the lock is never held across a panic")
            .get(slug)
            .map_or_else(Vec::new, |log| log.recent.iter().cloned().collect())
    }

    /// Requests answered with a completion, across miners.
    #[must_use]
    pub fn answered(&self) -> u64 {
        self.shared.answered.load(Ordering::Relaxed)
    }
}

fn error_body(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({"detail": message}))).into_response()
}

async fn models(State(shared): State<Arc<Shared>>, Path(slug): Path<String>) -> Response {
    if !shared.miners.contains_key(&slug) {
        return error_body(StatusCode::NOT_FOUND, "No matching chute found!");
    }
    Json(json!({"object": "list", "data": [{"id": slug, "object": "model", "owned_by": "devnet"}]})).into_response()
}

async fn chat(State(shared): State<Arc<Shared>>, Path(slug): Path<String>, headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let Some(policy) = shared.miners.get(&slug).cloned() else {
        return error_body(StatusCode::NOT_FOUND, "No matching chute found!");
    };
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    {
        let mut log = shared.log.lock().expect("the lock is never held across a panic");
        let entry = log.entry(slug).or_default();
        entry.count += 1;
        entry.recent.push_back((authorization, body.clone()));
        if entry.recent.len() > KEPT_REQUESTS {
            entry.recent.pop_front();
        }
    }
    let prompt = body["messages"][0]["content"].as_str().unwrap_or("");
    match reply(&policy, prompt, &shared.rows, fastrand::f64()) {
        Reply::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            error_body(status, "scripted failure, try again later")
        }
        Reply::Text { content, delay } => {
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            shared.answered.fetch_add(1, Ordering::Relaxed);
            Json(json!({
                "id": "chatcmpl-devnet", "object": "chat.completion", "created": 0, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
            }))
            .into_response()
        }
    }
}
