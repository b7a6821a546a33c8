//! The `function_based` Affinetes server for the affine environment (`af env serve`).
//!
//! Routes as the reference template serves them (spec §2.2): `POST /call`, `GET /health`,
//! `GET /methods`. Requests are handled concurrently; the server stops accepting on
//! cancellation and finishes the calls in flight (for up to [`Limits::drain`]).
//!
//! Anyone who can reach the port is a client, so every resource a connection holds is
//! bounded ([`Limits`]): a request body over [`Limits::body_bytes`] is answered 413, a
//! request head or body that does not arrive within [`Limits::idle`] (half-sent, or a
//! keep-alive connection that sends nothing) closes the connection or is answered 408, and
//! the model replies an `evaluate` fetches go through the inference client's capped reader.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Json, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::affine::AffineEnv;
use super::protocol::{
    CallRequest, CallResponse, EVALUATE_SIGNATURE, ErrorBody, EvaluateKwargs, HealthResponse, MethodInfo, MethodsResponse,
};

/// What one client may cost the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest request body (a call's kwargs are a few hundred bytes).
    pub body_bytes: usize,
    /// Time a connection may take to send a request head (also the idle keep-alive limit) or
    /// a request body.
    pub idle: Duration,
    /// Time calls in flight get to finish after cancellation.
    pub drain: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self { body_bytes: 1 << 20, idle: Duration::from_secs(30), drain: Duration::from_secs(30) }
    }
}

#[derive(Clone)]
struct Shared {
    env: Arc<AffineEnv>,
    limits: Limits,
}

/// The router over `env`.
pub fn router(env: Arc<AffineEnv>, limits: Limits) -> Router {
    Router::new()
        .route("/call", post(call))
        .route("/health", get(health))
        .route("/methods", get(methods))
        .with_state(Shared { env, limits })
}

/// Serves `env` on `listener` until `token` is cancelled, then lets the calls in flight finish
/// for up to `limits.drain`.
///
/// # Errors
/// None so far: a failed accept (a client gone, descriptors exhausted) is logged and retried.
pub async fn serve(listener: TcpListener, env: Arc<AffineEnv>, limits: Limits, token: CancellationToken) -> std::io::Result<()> {
    let app = router(env, limits);
    let connections = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            biased;
            () = token.cancelled() => break,
            accepted = listener.accept() => accepted,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(error) => {
                tracing::debug!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let token = token.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(limits.idle).max_buf_size(64 << 10);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            tokio::pin!(connection);
            let served = tokio::select! {
                served = connection.as_mut() => served,
                () = token.cancelled() => {
                    connection.as_mut().graceful_shutdown();
                    connection.await
                }
            };
            if let Err(error) = served {
                tracing::debug!(%error, "connection closed");
            }
        });
    }
    connections.close();
    if tokio::time::timeout(limits.drain, connections.wait()).await.is_err() {
        tracing::warn!(connections = connections.len(), "calls still running after the drain deadline; stopping");
    }
    Ok(())
}

fn detail(status: StatusCode, detail: Value) -> Response {
    (status, Json(ErrorBody { detail })).into_response()
}

async fn call(State(shared): State<Shared>, request: Request<Body>) -> Response {
    let too_large = || detail(StatusCode::PAYLOAD_TOO_LARGE, json!(format!("request body over {} bytes", shared.limits.body_bytes)));
    let declared = request.headers().get(axum::http::header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|length| length > shared.limits.body_bytes as u64) {
        return too_large();
    }
    let body = tokio::time::timeout(shared.limits.idle, axum::body::to_bytes(request.into_body(), shared.limits.body_bytes)).await;
    let bytes = match body {
        Err(_) => return detail(StatusCode::REQUEST_TIMEOUT, json!("request body not received in time")),
        Ok(Err(error)) if is_length_limit(&error) => return too_large(),
        Ok(Err(error)) => return detail(StatusCode::BAD_REQUEST, json!(format!("failed to read the request body: {error}"))),
        Ok(Ok(bytes)) => bytes,
    };
    let request: CallRequest = match serde_json::from_slice(&bytes) {
        Ok(request) => request,
        Err(error) => {
            let error = json!([{"type": "json_invalid", "loc": ["body"], "msg": error.to_string(), "input": null}]);
            return detail(StatusCode::UNPROCESSABLE_ENTITY, error);
        }
    };
    let env = shared.env;
    if request.method != "evaluate" {
        return detail(StatusCode::NOT_FOUND, json!(format!("Method not found: {}", request.method)));
    }
    let kwargs = match EvaluateKwargs::from_call(&request.args, &request.kwargs) {
        Ok(kwargs) => kwargs,
        Err(message) => return detail(StatusCode::INTERNAL_SERVER_ERROR, json!(format!("TypeError: {message}"))),
    };
    let task_type = kwargs.task_type.clone();
    match env.evaluate(kwargs).await {
        Ok(result) => {
            let result = serde_json::to_value(result).unwrap_or(Value::Null);
            (StatusCode::OK, Json(CallResponse { status: "success".into(), result, error: None })).into_response()
        }
        Err(error) => {
            tracing::warn!(%error, task_type, "evaluate failed");
            detail(StatusCode::INTERNAL_SERVER_ERROR, json!(error.to_string()))
        }
    }
}

/// Whether a body error is the length limit of `to_bytes` (somewhere in its cause chain).
fn is_length_limit(error: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = current.source();
    }
    false
}

async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into() })
}

async fn methods() -> Json<MethodsResponse> {
    Json(MethodsResponse {
        methods: vec![MethodInfo { name: "evaluate".into(), signature: EVALUATE_SIGNATURE.into(), source: "Actor".into() }],
    })
}
