//! The affine environment end to end against real local servers: a scripted OpenAI-compatible
//! miner, the fixture dataset over HTTP, the real sandbox and Python.

use std::sync::Arc;
use std::time::Duration;

use affine::environments::{ErrorClass, classify_error, env_spec};
use affine::envs::affine::{AffineEnv, TaskRequest};
use affine::envs::dataset::{Dataset, DatasetSource};
use affine::envs::server;
use affine::inference::{ApiKey, ChatRequest, InferenceClient};
use affine::model::ResultRecord;
use serde_json::{Value, json};

use crate::support::dataset::{DatasetServer, fixture_root, fixture_rows};
use crate::support::openai::{Miner, OpenAiServer};
use crate::support::sandbox;

const LIMIT: Duration = Duration::from_secs(240);

fn env_over_http(dataset: &DatasetServer) -> AffineEnv {
    let cache = tempfile::tempdir().expect("tempdir").keep();
    let dataset = Dataset::new("satpalsr/rl-python", DatasetSource::Http(dataset.base_url.clone()), Some(cache));
    AffineEnv::new(Arc::new(dataset), sandbox(), Some(ApiKey::new("sk-validator")))
}

fn oracle() -> Miner {
    Miner::Oracle(Arc::new(fixture_rows()))
}

async fn evaluate(env: &AffineEnv, id: &str, base_url: &str, task_id: u64, timeout_secs: f64) -> ResultRecord {
    let spec = env_spec(id).expect("known env");
    env.evaluate_task(&TaskRequest { spec, model: "test/model", base_url, task_id, timeout_secs }).await
}

#[tokio::test]
async fn inference_client_sends_reference_body_and_keeps_status_codes() {
    tokio::time::timeout(LIMIT, async {
        let server = OpenAiServer::start(Miner::Wrong).await;
        let client = InferenceClient::new(&server.base_url, Some(ApiKey::new("sk-1"))).expect("client");
        let request =
            ChatRequest { model: "m".into(), prompt: "hi".into(), temperature: 0.0, seed: Some(7), timeout: Duration::from_secs(5) };
        let reply = client.chat(&request).await.expect("reply");
        assert!(reply.starts_with("x1=True"));
        let (authorization, body) = server.requests().pop().expect("one request");
        assert_eq!(authorization.as_deref(), Some("Bearer sk-1"));
        assert_eq!(
            body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "temperature": 0.0, "stream": false, "seed": 7})
        );

        let limited = OpenAiServer::start(Miner::Status(429)).await;
        let error = InferenceClient::new(&limited.base_url, None).expect("client").chat(&request).await.expect_err("429");
        assert!(error.to_string().starts_with("Error code: 429 - "), "{error}");
        assert!(error.is_transient());

        let hanging = OpenAiServer::start(Miner::Hang).await;
        let quick = ChatRequest { timeout: Duration::from_millis(300), ..request };
        let error = InferenceClient::new(&hanging.base_url, None).expect("client").chat(&quick).await.expect_err("timeout");
        assert!(matches!(error, affine::inference::Error::Timeout), "{error:?}");
        assert_eq!(hanging.requests().len(), 1, "no hidden retries");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn sat_oracle_scores_one_and_wrong_miner_zero() {
    tokio::time::timeout(LIMIT, async {
        let dataset = DatasetServer::start(fixture_root()).await;
        let env = env_over_http(&dataset);
        let miner = OpenAiServer::start(oracle()).await;
        let wrong = OpenAiServer::start(Miner::Wrong).await;
        for task_id in [0, 1, 42, 499] {
            let record = evaluate(&env, "affine:sat", &miner.base_url, task_id, 30.0).await;
            assert!((record.score - 1.0).abs() < f64::EPSILON, "task {task_id}: {record:?}");
            assert!(record.success && record.error.is_none());
            assert_eq!(record.task_id, Some(i64::try_from(task_id).expect("small")));
            assert_eq!(record.extra["image"], json!("bignickeye/affine:v3"));
            assert_eq!(record.extra["request"]["task_type"], json!("sat"));
            assert_eq!(record.extra["request"]["seed"], json!(affine::environments::task_seed("affine:sat", task_id)));
            assert_eq!(record.extra["conversation"][1]["role"], json!("assistant"));
            let wrong_record = evaluate(&env, "affine:sat", &wrong.base_url, task_id, 30.0).await;
            assert!(wrong_record.score.abs() < f64::EPSILON && !wrong_record.success);
            assert_eq!(classify_error(wrong_record.error.as_deref()), ErrorClass::None);
        }
        let (authorization, body) = miner.requests().pop().expect("requests");
        assert_eq!(authorization.as_deref(), Some("Bearer sk-validator"));
        assert_eq!(body["temperature"], json!(0.0));
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn abd_and_ded_oracle_passes_every_fixture_task() {
    tokio::time::timeout(LIMIT, async {
        let dataset = DatasetServer::start(fixture_root()).await;
        let env = env_over_http(&dataset);
        let miner = OpenAiServer::start(oracle()).await;
        let rows = fixture_rows();
        assert!(rows.len() >= 30);
        for env_id in ["affine:abd", "affine:ded"] {
            for task_id in 0..rows.len() as u64 {
                let record = evaluate(&env, env_id, &miner.base_url, task_id, 30.0).await;
                assert!(
                    (record.score - 1.0).abs() < f64::EPSILON,
                    "{env_id} task {task_id}: {:?} {:?}",
                    record.error,
                    record.extra["conversation"]
                );
            }
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn abd_and_ded_wrong_miner_scores_zero() {
    tokio::time::timeout(LIMIT, async {
        let dataset = DatasetServer::start(fixture_root()).await;
        let env = env_over_http(&dataset);
        let wrong = OpenAiServer::start(Miner::Wrong).await;
        for env_id in ["affine:abd", "affine:ded"] {
            // (Not task 29: "not the input" has three words, which is a right answer there.)
            for task_id in [0, 6, 20] {
                let record = evaluate(&env, env_id, &wrong.base_url, task_id, 30.0).await;
                assert!(record.score.abs() < f64::EPSILON, "{env_id} {task_id}");
                assert!(record.error.is_none());
            }
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn failing_miners_are_classified_as_service_or_model_errors() {
    tokio::time::timeout(LIMIT, async {
        let dataset = DatasetServer::start(fixture_root()).await;
        let env = env_over_http(&dataset);
        for code in [429, 503] {
            let server = OpenAiServer::start(Miner::Status(code)).await;
            let record = evaluate(&env, "affine:sat", &server.base_url, 3, 30.0).await;
            let error = record.error.clone().expect("error text");
            assert!(error.contains(&format!("Error code: {code}")), "{error}");
            assert_eq!(classify_error(Some(&error)), ErrorClass::Service);
            assert!(record.score.abs() < f64::EPSILON);
            assert!(record.extra["conversation"][1]["content"].is_null());
        }
        let hanging = OpenAiServer::start(Miner::Hang).await;
        let record = evaluate(&env, "affine:ded", &hanging.base_url, 0, 0.5).await;
        let error = record.error.clone().expect("timeout error");
        assert!(error.starts_with("APITimeoutError: "), "{error}");
        assert_eq!(classify_error(Some(&error)), ErrorClass::Model);
        assert_eq!(record.extra["request"]["timeout"], json!(0.5));

        let oracle = OpenAiServer::start(oracle()).await;
        let out_of_range = evaluate(&env, "affine:abd", &oracle.base_url, 200, 30.0).await;
        let error = out_of_range.error.expect("dataset error");
        assert!(error.starts_with("HTTP 500: ") && error.contains("out of range"), "{error}");
        assert_eq!(out_of_range.extra.as_object().map(serde_json::Map::len), Some(2), "failed records carry only image and request");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn dataset_reads_a_local_directory_and_caches_http_files() {
    tokio::time::timeout(LIMIT, async {
        let rows = fixture_rows();
        let local = Dataset::new("satpalsr/rl-python", DatasetSource::Dir(fixture_root()), None);
        assert_eq!(local.total_rows().await.expect("index"), rows.len() as u64);
        for task_id in [0usize, 11, 12, 23, 24, rows.len() - 1] {
            assert_eq!(local.get_by_id(i64::try_from(task_id).expect("small")).await.expect("row"), rows[task_id]);
        }
        assert!(local.get_by_id(-1).await.is_err());
        let server = DatasetServer::start(fixture_root()).await;
        let cache = tempfile::tempdir().expect("tempdir");
        let remote = Dataset::new("satpalsr/rl-python", DatasetSource::Http(server.base_url.clone()), Some(cache.path().to_owned()));
        assert_eq!(remote.get_by_id(30).await.expect("row"), rows[30]);
        assert!(cache.path().join("satpalsr_rl-python").join("part-002.json").is_file());
        drop(server);
        let offline =
            Dataset::new("satpalsr/rl-python", DatasetSource::Dir(std::path::PathBuf::from("/nonexistent")), Some(cache.path().to_owned()));
        assert!(offline.get_by_id(30).await.is_err(), "the index itself is not cached");
    })
    .await
    .expect("in time");
}

async fn post(client: &reqwest::Client, url: &str, body: &Value) -> (u16, Value) {
    let response = client.post(url).json(body).send().await.expect("post");
    let status = response.status().as_u16();
    (status, response.json().await.expect("json body"))
}

#[tokio::test]
async fn env_server_answers_call_health_and_methods_like_the_reference() {
    tokio::time::timeout(LIMIT, async {
        let dataset = DatasetServer::start(fixture_root()).await;
        let env = Arc::new(env_over_http(&dataset));
        let miner = OpenAiServer::start(oracle()).await;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let token = tokio_util::sync::CancellationToken::new();
        let serving = tokio::spawn(server::serve(listener, env, server::Limits::default(), token.clone()));
        let client = reqwest::Client::new();

        let health: Value = client.get(format!("{base}/health")).send().await.expect("health").json().await.expect("json");
        assert_eq!(health, json!({"status": "ok"}));
        let methods: Value = client.get(format!("{base}/methods")).send().await.expect("methods").json().await.expect("json");
        assert_eq!(methods["methods"][0]["name"], json!("evaluate"));

        let kwargs = json!({"temperature": 0, "timeout": 600, "model": "m", "base_url": miner.base_url, "seed": 1_800_179_350u32, "task_id": 0, "task_type": "sat"});
        let (status, body) = post(&client, &format!("{base}/call"), &json!({"method": "evaluate", "args": [], "kwargs": kwargs})).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["status"], json!("success"));
        assert!(body["error"].is_null());
        assert_eq!(body["result"]["task_name"], json!("affine:sat"));
        assert_eq!(body["result"]["score"], json!(1.0));
        assert_eq!(body["result"]["extra"]["seed"], json!(1_800_179_350u32));
        assert!(body["result"].get("error").is_none());

        let (status, body) = post(&client, &format!("{base}/call"), &json!({"method": "nope"})).await;
        assert_eq!((status, body), (404, json!({"detail": "Method not found: nope"})));
        let (status, body) = post(&client, &format!("{base}/call"), &json!({"method": "evaluate", "kwargs": {"bogus": 1}})).await;
        assert_eq!(status, 500);
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("unexpected keyword argument 'bogus'")));
        let (status, body) = post(&client, &format!("{base}/call"), &json!({"method": "evaluate", "kwargs": {"task_type": "abd", "task_id": 9999, "base_url": miner.base_url}})).await;
        assert_eq!(status, 500);
        assert!(body["detail"].as_str().is_some_and(|d| d.contains("out of range")), "{body}");
        let response = client.post(format!("{base}/call")).header("content-type", "application/json").body("{not json").send().await.expect("post");
        assert_eq!(response.status().as_u16(), 422);

        token.cancel();
        serving.await.expect("join").expect("clean shutdown");
    })
    .await
    .expect("in time");
}
