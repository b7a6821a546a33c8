//! The protocol client and the url backend against a real `af env serve` process and small
//! local protocol servers; `af eval --env-url` end to end.

use std::sync::Arc;
use std::time::Duration;

use affine::environments::EnvKind;
use affine::envs::client::{CallError, detect_kind};
use affine::envs::url::UrlEnv;
use axum::Json;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use crate::support::af;
use crate::support::dataset::fixture_rows;
use crate::support::env_server::EnvServer;
use crate::support::openai::{Miner, OpenAiServer};

const LIMIT: Duration = Duration::from_secs(240);

async fn run_af(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || af().args(&args).output().expect("run af")).await.expect("join")
}

fn url_eval_args(env: &str, env_url: &str, base_url: &str, task_ids: &str) -> Vec<String> {
    ["eval", "--env", env, "--env-url", env_url, "--model", "test/model", "--base-url", base_url, "--task-id", task_ids, "--json"]
        .iter()
        .map(|s| (*s).to_owned())
        .collect()
}

#[tokio::test]
async fn env_url_eval_oracle_scores_one_and_wrong_miner_zero() {
    tokio::time::timeout(LIMIT, async {
        let server = EnvServer::start().await;
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let wrong = OpenAiServer::start(Miner::Wrong).await;
        for (env, ids) in [("affine:sat", "0..5"), ("affine:abd", "24..27"), ("affine:ded", "24..27")] {
            for (miner, expected) in [(&oracle, 1.0), (&wrong, 0.0)] {
                let output = run_af(url_eval_args(env, &server.url, &miner.base_url, ids)).await;
                assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
                let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
                assert!(!records.is_empty());
                for record in &records {
                    assert_eq!(record["env"], json!(env));
                    assert_eq!(record["score"], json!(expected), "{env}: {record}");
                    assert_eq!(record["extra"]["request"]["model"], json!("test/model"));
                }
            }
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn url_backend_errors_are_answers_and_transport_failures_are_infrastructure() {
    tokio::time::timeout(LIMIT, async {
        let server = EnvServer::start().await;
        assert_eq!(detect_kind(&server.url).await.expect("detect"), EnvKind::FunctionBased);
        let env = UrlEnv::connect(&server.url, None, Duration::from_secs(30), None).await.expect("connect");
        assert_eq!(env.kind(), EnvKind::FunctionBased);
        assert!(env.name().starts_with("url-127.0.0.1:"), "{}", env.name());
        let error = env.call("nope", Map::new()).await.expect_err("unknown method");
        assert_eq!(error, CallError::Answered(r#"HTTP 404: {"detail":"Method not found: nope"}"#.to_owned()));
        let mut kwargs = Map::new();
        kwargs.insert("task_type".into(), json!("bogus"));
        let error = env.call("evaluate", kwargs).await.expect_err("unknown task");
        assert!(
            matches!(&error, CallError::Answered(text) if text.starts_with("HTTP 500: ") && text.contains("Unknown task: bogus")),
            "{error:?}"
        );

        // A port nobody listens on: an infrastructure failure, not an answer.
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let down = UrlEnv::connect(&format!("http://{closed}"), Some(EnvKind::FunctionBased), Duration::from_secs(5), None)
            .await
            .expect("connect");
        let error = down.call("evaluate", Map::new()).await.expect_err("nobody listens");
        assert!(error.is_infrastructure(), "{error:?}");
        assert!(error.to_string().starts_with("Failed to call method 'evaluate': "), "{error}");
    })
    .await
    .expect("in time");
}

/// An `http_based` server: `POST /evaluate` echoes its body inside a result without `status`,
/// `/openapi.json` exists, `/methods` does not.
async fn http_based_server() -> (String, tokio::sync::oneshot::Sender<()>) {
    let app = axum::Router::new()
        .route(
            "/evaluate",
            post(|Json(body): Json<Value>| async move { Json(json!({"score": 0.5, "success": true, "extra": {"echo": body}})) }),
        )
        .route("/openapi.json", get(|| async { Json(json!({"openapi": "3.1.0", "paths": {}})) }))
        .route("/health", get(|| async { Json(json!("ok")) }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = stopped.await;
            })
            .await;
    });
    (format!("http://{address}"), stop)
}

#[tokio::test]
async fn url_backend_detects_http_based_and_posts_kwargs_to_the_method_path() {
    tokio::time::timeout(LIMIT, async {
        let (url, _stop) = http_based_server().await;
        let env = UrlEnv::connect(&url, None, Duration::from_secs(30), None).await.expect("connect");
        assert_eq!(env.kind(), EnvKind::HttpBased);
        let mut kwargs = Map::new();
        kwargs.insert("task_id".into(), json!(7));
        let result = env.call("evaluate", kwargs).await.expect("call");
        assert_eq!(result, json!({"score": 0.5, "success": true, "extra": {"echo": {"task_id": 7}}}));
        let error = env.call("reset", Map::new()).await.expect_err("no such route");
        assert!(matches!(&error, CallError::Answered(text) if text.starts_with("HTTP 404")), "{error:?}");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn env_url_eval_unreachable_server_fails_without_records_of_zero() {
    tokio::time::timeout(LIMIT, async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr");
        let output = run_af(url_eval_args("affine:sat", &format!("http://{closed}"), "http://127.0.0.1:9/v1", "0..2")).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert!(stderr.contains("2 of 2 evaluations failed for infrastructure reasons"), "{stderr}");
        let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
        assert!(records.is_empty(), "no zero-score records for infrastructure failures");
        let bad = run_af(url_eval_args("affine:sat", "ftp://x", "http://127.0.0.1:9/v1", "0..2")).await;
        assert_eq!(bad.status.code(), Some(2), "{}", String::from_utf8_lossy(&bad.stderr));
    })
    .await
    .expect("in time");
}
