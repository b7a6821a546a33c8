//! The `af signer` HTTP service (axum): `GET|HEAD /healthz`, `POST /sign`, `POST /set_weights`
//! with the reference's request and response shapes, behind [`super::policy`].
//!
//! Listener in, token in (mini-redis): [`serve`] takes a bound listener and stops accepting
//! when the token is cancelled, then finishes the requests in flight. A `/set_weights` runs in
//! a tracked task of its own, so neither a caller hanging up nor the shutdown tears it: the
//! caller of [`serve`] waits for [`SignerState::tracker`] within its grace period.
//!
//! Status codes: 200 on success; 400 for a malformed request or a refused vector; 401 or 403
//! for a refused caller; 409 while another set is in flight; 413 for a body over
//! [`MAX_BODY_BYTES`] or more than [`super::policy::MAX_PAYLOADS`] payloads; 500 for a set
//! that failed (`confirmation failed` as the reference) or a signing failure; 503 from a deep
//! health check that failed. Every error body is `{"success": false, "error": "..."}`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Mutex, OnceCell};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::policy::{self, MAX_BODY_BYTES, Refusal};
use super::wire::{SetWeightsResponse, SignResponse};
use crate::chain::client::{ChainClient, ChainConfig};
use crate::chain::signing::Keypair;
use crate::chain::submit::ConfirmPolicy;
use crate::chain::timelock::BeaconPublicKey;
use crate::secret::Secret;
use crate::weights_set::{LocalSet, SetReport};

/// Time allowed to receive a request body (a slow sender cannot hold a connection forever).
const BODY_DEADLINE: Duration = Duration::from_secs(30);
/// Deadline of the chain reads of a deep health check.
const HEALTH_CHAIN_DEADLINE: Duration = Duration::from_secs(10);
/// A deep health check fails when the last chain contact is older than this.
const CHAIN_CONTACT_MAX_AGE: Duration = Duration::from_secs(120);

/// How the signer is configured.
#[derive(Debug, Clone)]
pub struct SignerConfig {
    /// The only subnet `/set_weights` serves.
    pub netuid: u16,
    /// The bearer token; `None` serves loopback callers only.
    pub token: Option<Secret>,
    /// The node weights are set on (connected on first use, so `/sign` works without it).
    pub chain: ChainConfig,
    /// Attempts, pause and confirmation blocks of a set.
    pub policy: ConfirmPolicy,
    /// The drand beacon timelocked weights are encrypted to.
    pub beacon: BeaconPublicKey,
}

/// What the handlers share.
pub struct SignerState {
    config: SignerConfig,
    hotkey: Keypair,
    chain: OnceCell<Arc<ChainClient>>,
    /// Milliseconds after `started` of the last successful chain call (0: none yet).
    chain_contact_ms: AtomicU64,
    started: Instant,
    setting: Arc<Mutex<()>>,
    tracker: TaskTracker,
}

impl std::fmt::Debug for SignerState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignerState")
            .field("hotkey", &self.hotkey.public_key())
            .field("netuid", &self.config.netuid)
            .finish_non_exhaustive()
    }
}

impl SignerState {
    /// The state of a signer holding `hotkey`.
    #[must_use]
    pub fn new(config: SignerConfig, hotkey: Keypair) -> Arc<Self> {
        Arc::new(Self {
            config,
            hotkey,
            chain: OnceCell::new(),
            chain_contact_ms: AtomicU64::new(0),
            started: Instant::now(),
            setting: Arc::new(Mutex::new(())),
            tracker: TaskTracker::new(),
        })
    }

    /// The tasks of weight sets in flight; wait for them after [`serve`] returns.
    #[must_use]
    pub fn tracker(&self) -> &TaskTracker {
        &self.tracker
    }

    async fn chain(&self) -> Result<Arc<ChainClient>, crate::chain::Error> {
        let client = self.chain.get_or_try_init(|| async { ChainClient::connect(self.config.chain.clone()).await.map(Arc::new) }).await?;
        Ok(client.clone())
    }

    fn chain_contact(&self) {
        let ms = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX).max(1);
        self.chain_contact_ms.store(ms, Ordering::Relaxed);
    }

    fn chain_contact_age(&self) -> Option<Duration> {
        let ms = self.chain_contact_ms.load(Ordering::Relaxed);
        (ms > 0).then(|| self.started.elapsed().saturating_sub(Duration::from_millis(ms)))
    }
}

/// The router over `state`; serve it with `into_make_service_with_connect_info::<SocketAddr>`.
pub fn router(state: Arc<SignerState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/sign", post(sign))
        .route("/set_weights", post(set_weights))
        .fallback(|| async { error(StatusCode::NOT_FOUND, "no such route") })
        .layer(middleware::from_fn(access_log))
        .with_state(state)
}

/// Serves `state` on `listener` until `token` is cancelled, then finishes the requests in
/// flight. Sets still running are in [`SignerState::tracker`].
///
/// # Errors
/// The listener fails.
pub async fn serve(listener: TcpListener, state: Arc<SignerState>, token: CancellationToken) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(token.cancelled_owned()).await
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    (status, axum::Json(json!({"success": false, "error": message.into()}))).into_response()
}

/// The body hash the access log prints, carried from the handler in the response.
#[derive(Debug, Clone)]
struct PayloadHash(String);

/// One line per request with the real status, the caller, the time taken and a hash of the
/// body (never the body); health checks only at debug level.
async fn access_log(ConnectInfo(peer): ConnectInfo<SocketAddr>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let hash = response.extensions().get::<PayloadHash>().map_or("-", |h| h.0.as_str()).to_owned();
    let ms = started.elapsed().as_millis();
    if path == "/healthz" {
        tracing::debug!(target: "affine::signer::access", %peer, %method, path, status, ms, "signer request");
    } else {
        tracing::info!(target: "affine::signer::access", %peer, %method, path, status, ms, payload = hash, "signer request");
    }
    response
}

/// The answer to a caller the policy turns away, or `None` to serve it.
fn refusal(state: &SignerState, peer: SocketAddr, headers: &HeaderMap) -> Option<Response> {
    let authorization = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
    let refusal = policy::admit(peer.ip(), state.config.token.as_ref(), authorization).err()?;
    let status = match refusal {
        Refusal::NotLoopback => StatusCode::FORBIDDEN,
        Refusal::Unauthenticated => StatusCode::UNAUTHORIZED,
    };
    Some(error(status, refusal.message()))
}

/// Reads the body up to [`MAX_BODY_BYTES`] within [`BODY_DEADLINE`].
async fn read_body(body: Body) -> Result<Bytes, Response> {
    match tokio::time::timeout(BODY_DEADLINE, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Err(_) => Err(error(StatusCode::REQUEST_TIMEOUT, "the request body did not arrive in time")),
        Ok(Err(_)) => Err(error(StatusCode::PAYLOAD_TOO_LARGE, format!("the body is over {} MiB", MAX_BODY_BYTES >> 20))),
        Ok(Ok(bytes)) => Ok(bytes),
    }
}

fn with_hash(mut response: Response, body: &[u8]) -> Response {
    response.extensions_mut().insert(PayloadHash(policy::payload_hash(body)));
    response
}

#[derive(Debug, serde::Deserialize)]
struct HealthQuery {
    deep: Option<String>,
}

async fn healthz(
    State(state): State<Arc<SignerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Query(query): Query<HealthQuery>,
) -> Response {
    // The cheap variant stays open: compose's healthcheck calls it without a token.
    if !query.deep.as_deref().is_some_and(|deep| matches!(deep, "1" | "true" | "yes")) {
        return axum::Json(json!({"ok": true})).into_response();
    }
    if let Some(refused) = refusal(&state, peer, &headers) {
        return refused;
    }
    let hotkey = state.hotkey.public_key();
    let netuid = state.config.netuid;
    let checked = tokio::time::timeout(HEALTH_CHAIN_DEADLINE, async {
        let chain = state.chain().await?;
        let metagraph = chain.metagraph(netuid).await?;
        Ok::<_, crate::chain::Error>(metagraph)
    })
    .await;
    let (block, uid, chain_error) = match checked {
        Ok(Ok(metagraph)) => {
            state.chain_contact();
            let uid = metagraph.neurons.iter().find(|n| n.hotkey == hotkey).map(|n| n.uid);
            (Some(metagraph.block), uid, None)
        }
        Ok(Err(error)) => (None, None, Some(crate::error::one_line(&error))),
        Err(_) => (None, None, Some("the chain did not answer in time".to_owned())),
    };
    let age = state.chain_contact_age();
    let ok = chain_error.is_none() && uid.is_some() && age.is_some_and(|age| age <= CHAIN_CONTACT_MAX_AGE);
    let body = json!({
        "ok": ok,
        "hotkey": hotkey.to_ss58(),
        "netuid": netuid,
        "uid": uid,
        "block": block,
        "chain_contact_age_secs": age.map(|a| a.as_secs_f64()),
        "error": chain_error.or_else(|| uid.is_none().then(|| format!("hotkey not registered on netuid {netuid}"))),
    });
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, axum::Json(body)).into_response()
}

/// What `/sign` and `/set_weights` share: the caller admitted, the body read (capped, with a
/// deadline) and parsed as JSON; the answer carries the body's hash for the access log.
async fn admitted_json(state: &SignerState, peer: SocketAddr, headers: &HeaderMap, body: Body) -> Result<(Bytes, Value), Response> {
    if let Some(refused) = refusal(state, peer, headers) {
        return Err(refused);
    }
    let bytes = read_body(body).await?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(json) => Ok((bytes, json)),
        Err(_) => Err(with_hash(error(StatusCode::BAD_REQUEST, "the body is not JSON"), &bytes)),
    }
}

async fn sign(
    State(state): State<Arc<SignerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match admitted_json(&state, peer, &headers, body).await {
        Ok((bytes, json)) => with_hash(sign_answer(&state, &json).await, &bytes),
        Err(response) => response,
    }
}

async fn sign_answer(state: &Arc<SignerState>, body: &Value) -> Response {
    let payloads = match policy::sign_payloads(body) {
        Ok(payloads) => payloads,
        Err(Some(reason)) => return error(StatusCode::BAD_REQUEST, reason),
        Err(None) => return error(StatusCode::PAYLOAD_TOO_LARGE, format!("more than {} payloads", policy::MAX_PAYLOADS)),
    };
    for (i, payload) in payloads.iter().enumerate() {
        if let Err(reason) = policy::check_sign_payload(payload) {
            return error(StatusCode::BAD_REQUEST, format!("payload {i}: {reason}"));
        }
    }
    let keypair = state.hotkey.clone();
    let count = payloads.len();
    // Signing a full batch takes tens of milliseconds: off the runtime's threads.
    let signed =
        tokio::task::spawn_blocking(move || payloads.iter().map(|p| hex::encode(keypair.sign(p.as_bytes()))).collect::<Vec<_>>()).await;
    match signed {
        Ok(signatures) => {
            tracing::debug!(count, "signed result texts");
            let answer = SignResponse { success: true, signatures, hotkey: Some(state.hotkey.public_key().to_ss58()), error: None };
            axum::Json(answer).into_response()
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "signing failed"),
    }
}

async fn set_weights(
    State(state): State<Arc<SignerState>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    match admitted_json(&state, peer, &headers, body).await {
        Ok((bytes, json)) => with_hash(set_weights_answer(&state, &json).await, &bytes),
        Err(response) => response,
    }
}

async fn set_weights_answer(state: &Arc<SignerState>, body: &Value) -> Response {
    let order = match policy::weights_order(body, state.config.netuid) {
        Ok(order) => order,
        Err(reason) => return error(StatusCode::BAD_REQUEST, reason),
    };
    let Ok(guard) = state.setting.clone().try_lock_owned() else {
        return error(StatusCode::CONFLICT, "another weight set is in flight");
    };
    tracing::info!(uids = order.vector.len(), netuid = order.netuid, "set_weights request received");
    // The set runs in a task of its own: a caller that hangs up, or a shutdown, never tears
    // it; the lock is released when it ends.
    let task_state = state.clone();
    let task = state.tracker.spawn(async move {
        let _guard = guard;
        run_set(&task_state, &order).await
    });
    match task.await {
        Ok(Ok(report)) => {
            tracing::info!(block = report.block, attempts = report.attempts, seconds = report.elapsed_secs, "set_weights: confirmation=ok");
            axum::Json(SetWeightsResponse { success: true, error: None, block: report.block, attempts: report.attempts }).into_response()
        }
        Ok(Err((status, message))) => {
            tracing::warn!(status = status.as_u16(), error = %message, "set_weights: confirmation=failed");
            error(status, message)
        }
        Err(_) => error(StatusCode::INTERNAL_SERVER_ERROR, "the set task failed"),
    }
}

async fn run_set(state: &SignerState, order: &policy::WeightsOrder) -> Result<SetReport, (StatusCode, String)> {
    let failed = |error: &dyn std::error::Error| (StatusCode::INTERNAL_SERVER_ERROR, crate::error::one_line(error));
    let chain = state.chain().await.map_err(|e| failed(&e))?;
    let set = LocalSet {
        netuid: order.netuid,
        hotkey: &state.hotkey,
        vector: &order.vector,
        expected_hotkeys: None,
        policy: state.config.policy,
        beacon: &state.config.beacon,
        dry_run: false,
    };
    let mut report = SetReport::default();
    match crate::weights_set::set_weights(&chain, set, None, &mut report).await {
        Ok(()) => {
            state.chain_contact();
            Ok(report)
        }
        Err(error) if error.is_refusal() => Err((StatusCode::BAD_REQUEST, crate::error::one_line(&error))),
        // The reference's text for a set that never confirmed; the detail stays in the log.
        Err(error @ crate::weights_set::Error::Chain { source: crate::chain::Error::WeightsNotConfirmed { .. }, .. }) => {
            tracing::warn!(error = %crate::error::one_line(&error), "weights not confirmed");
            Err((StatusCode::INTERNAL_SERVER_ERROR, "confirmation failed".to_owned()))
        }
        Err(error) => Err(failed(&error)),
    }
}
