//! The `function_based` Affinetes server for the affine environment (`af env serve`).
//!
//! Routes as the reference template serves them (spec §2.2): `POST /call`, `GET /health`,
//! `GET /methods`. Requests are handled concurrently; the server stops accepting on
//! cancellation and finishes the calls in flight.

use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::affine::AffineEnv;
use super::protocol::{
    CallRequest, CallResponse, EVALUATE_SIGNATURE, ErrorBody, EvaluateKwargs, HealthResponse, MethodInfo, MethodsResponse,
};

/// The router over `env`.
pub fn router(env: Arc<AffineEnv>) -> Router {
    Router::new().route("/call", post(call)).route("/health", get(health)).route("/methods", get(methods)).with_state(env)
}

/// Serves `env` on `listener` until `token` is cancelled.
///
/// # Errors
/// The listener fails.
pub async fn serve(listener: TcpListener, env: Arc<AffineEnv>, token: CancellationToken) -> std::io::Result<()> {
    axum::serve(listener, router(env)).with_graceful_shutdown(token.cancelled_owned()).await
}

fn detail(status: StatusCode, detail: Value) -> Response {
    (status, Json(ErrorBody { detail })).into_response()
}

async fn call(State(env): State<Arc<AffineEnv>>, body: Result<Json<CallRequest>, JsonRejection>) -> Response {
    let request = match body {
        Ok(Json(request)) => request,
        Err(rejection) => {
            let error = json!([{"type": "json_invalid", "loc": ["body"], "msg": rejection.body_text(), "input": null}]);
            return detail(StatusCode::UNPROCESSABLE_ENTITY, error);
        }
    };
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

async fn health() -> Json<HealthResponse> {
    Json(HealthResponse { status: "ok".into() })
}

async fn methods() -> Json<MethodsResponse> {
    Json(MethodsResponse {
        methods: vec![MethodInfo { name: "evaluate".into(), signature: EVALUATE_SIGNATURE.into(), source: "Actor".into() }],
    })
}
