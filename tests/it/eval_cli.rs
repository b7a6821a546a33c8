//! `af eval` and `af env serve` as built binaries against local servers.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::dataset::{fixture_root, fixture_rows};
use crate::support::env_server::EnvServer;
use crate::support::openai::{Miner, OpenAiServer};
use crate::support::{af, sandbox_python};

const LIMIT: Duration = Duration::from_secs(240);

async fn run_af(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || af().args(&args).output().expect("run af")).await.expect("join")
}

fn eval_args(env: &str, base_url: &str, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> =
        ["eval", "--env", env, "--model", "test/model", "--base-url", base_url, "--python"].iter().map(|s| (*s).to_owned()).collect();
    args.push(sandbox_python().display().to_string());
    args.push("--dataset-dir".into());
    args.push(fixture_root().display().to_string());
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

#[tokio::test]
async fn cli_eval_sat_oracle_prints_table_with_mean_and_interval() {
    tokio::time::timeout(LIMIT, async {
        let miner = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let output = run_af(eval_args("affine:sat", &miner.base_url, &["--task-id", "0..20", "--concurrency", "4"])).await;
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        assert!(stdout.lines().next().is_some_and(|l| l.starts_with("affine:sat on test/model")), "{stdout}");
        assert_eq!(stdout.lines().filter(|l| l.trim_end().contains("1.0") && l.contains(" ok")).count(), 20, "{stdout}");
        assert!(stdout.contains("mean 1.0000 over 20 samples, 90% interval ["), "{stdout}");
        assert_eq!(miner.requests().len(), 20);
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn cli_eval_json_prints_r2_records_for_abd_and_ded() {
    tokio::time::timeout(LIMIT, async {
        let miner = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        for env in ["affine:abd", "affine:ded"] {
            let output = run_af(eval_args(env, &miner.base_url, &["--task-id", "24..32", "--json"])).await;
            assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
            let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
            assert_eq!(records.len(), 8);
            for (record, task_id) in records.iter().zip(24..) {
                for field in [
                    "version",
                    "signature",
                    "hotkey",
                    "miner",
                    "env",
                    "score",
                    "latency_seconds",
                    "success",
                    "error",
                    "task_id",
                    "extra",
                    "timestamp",
                ] {
                    assert!(record.get(field).is_some(), "missing {field}");
                }
                assert_eq!(record["env"], json!(env));
                assert_eq!(record["task_id"], json!(task_id));
                assert_eq!(record["score"], json!(1.0), "{env} {task_id}: {}", record["error"]);
                assert_eq!(record["extra"]["request"]["model"], json!("test/model"));
            }
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn cli_eval_rejects_bad_input_with_exit_2() {
    tokio::time::timeout(LIMIT, async {
        for (extra, env, message) in [
            (vec!["--task-id", "5..5"], "affine:sat", "is empty"),
            (vec!["--task-id", "600"], "affine:sat", "outside affine:sat"),
            (vec![], "agentgym:webshop", "needs its container"),
            (vec![], "nope", "unknown environment nope"),
            (vec!["--concurrency", "0"], "affine:sat", "--concurrency"),
        ] {
            let output = run_af(eval_args(env, "http://127.0.0.1:9/v1", &extra)).await;
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert_eq!(output.status.code(), Some(2), "{stderr}");
            assert!(stderr.starts_with("error: ") && stderr.contains(message), "{stderr}");
        }
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn cli_env_serve_answers_a_call_and_stops_on_sigterm() {
    tokio::time::timeout(LIMIT, async {
        let miner = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let server = EnvServer::start_with_env(&[("CHUTES_API_KEY", "sk-from-env")]).await;
        let client = reqwest::Client::new();
        let body = json!({"method": "evaluate", "kwargs": {"task_type": "ded", "task_id": 3, "model": "m", "base_url": miner.base_url, "temperature": 0}});
        let response = client.post(format!("{}/call", server.url)).json(&body).send().await.expect("call");
        assert_eq!(response.status().as_u16(), 200);
        let reply: Value = response.json().await.expect("json");
        assert_eq!(reply["status"], json!("success"));
        assert_eq!(reply["result"]["score"], json!(1.0), "{reply}");
        assert_eq!(miner.requests()[0].0.as_deref(), Some("Bearer sk-from-env"));
        assert_eq!(server.terminate().await.code(), Some(0));
    })
    .await
    .expect("in time");
}
