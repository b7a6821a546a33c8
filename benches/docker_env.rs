//! Figures for the Docker runner: image build (cold and cached), container start-to-ready, and
//! the per-call overhead of evaluating a SAT task in a container (host network) versus
//! in-process, against a local OpenAI-compatible stub that answers instantly.
//!
//! `cargo bench --bench docker_env` (needs a running Docker engine; builds `af-bench-env:local`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use affine::environments::env_spec;
use affine::envs::affine::{AffineEnv, TaskRequest};
use affine::envs::dataset::{DEFAULT_DATASET, Dataset, DatasetSource};
use affine::envs::docker::{ContainerSpec, DockerEnv, new_run_id};
use affine::envs::sandbox::{Limits, Sandbox};
use affine::secret::Secret;
use axum::Json;
use axum::routing::post;
use serde_json::{Value, json};

const CALLS: u64 = 50;

async fn stub() -> String {
    let reply = |Json(body): Json<Value>| async move {
        Json(json!({"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": "x1=True"}}]}))
    };
    let app = axum::Router::new().route("/v1/chat/completions", post(reply));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}/v1")
}

fn median(mut samples: Vec<Duration>) -> f64 {
    samples.sort();
    samples[samples.len() / 2].as_secs_f64() * 1e3
}

#[expect(clippy::print_stdout, reason = "a bench prints its figures")]
fn main() {
    let af = env!("CARGO_BIN_EXE_af");
    let tag = "af-bench-env:local";
    for label in ["forced", "cached"] {
        let started = Instant::now();
        let mut build = std::process::Command::new(af);
        build.args(["env", "image", "build", "--tag", tag]);
        if label == "forced" {
            build.arg("--force");
        }
        assert!(build.status().expect("run af").success());
        println!("image build ({label}): {:.2} s", started.elapsed().as_secs_f64());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let base_url = stub().await;
        let spec = env_spec("affine:sat").expect("sat");
        let task = |task_id| TaskRequest { spec, model: "bench", base_url: &base_url, task_id, timeout_secs: 30.0 };

        let python = std::path::PathBuf::from("/usr/bin/python3");
        let dataset = Arc::new(Dataset::new(DEFAULT_DATASET, DatasetSource::Dir(std::env::temp_dir()), None));
        let local = AffineEnv::new(dataset, Sandbox::new(af.into(), python, Limits::default()), None);
        let mut in_process = Vec::new();
        for task_id in 0..CALLS {
            let started = Instant::now();
            let record = local.evaluate_task(&task(task_id)).await;
            assert!(record.error.is_none());
            in_process.push(started.elapsed());
        }

        let container = ContainerSpec {
            env_id: spec.id.to_owned(),
            image: tag.to_owned(),
            name_prefix: "af-bench-sat".to_owned(),
            env_vars: vec![("ENV_NAME".to_owned(), Secret::new("sat"))],
            mem_limit: 1 << 30,
            network: Some("host".to_owned()),
            replicas: 1,
            pull: false,
            kind: None,
            read_timeout: Duration::from_secs(60),
            ready_timeout: Some(Duration::from_secs(60)),
            hosts: Vec::new(),
            ssh: affine::envs::ssh::SshOptions::default(),
        };
        let mut ready = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let env = DockerEnv::start(&container, &new_run_id()).await.expect("start");
            ready.push(started.elapsed());
            env.shutdown().await;
        }
        println!("container start-to-ready: median {:.0} ms (5 starts, create + start + /health)", median(ready));

        let env = DockerEnv::start(&container, &new_run_id()).await.expect("start");
        let remote = affine::envs::remote::RemoteEnv::Docker(Arc::new(env));
        let mut in_container = Vec::new();
        for task_id in 0..CALLS {
            let started = Instant::now();
            let record = remote.evaluate_task(&task(task_id)).await.expect("no infrastructure failure");
            assert!(record.error.is_none());
            in_container.push(started.elapsed());
        }
        if let affine::envs::remote::RemoteEnv::Docker(env) = &remote {
            env.shutdown().await;
        }
        let (local_ms, docker_ms) = (median(in_process), median(in_container));
        println!("sat evaluate in-process:  median {local_ms:.2} ms ({CALLS} calls)");
        println!("sat evaluate in docker:   median {docker_ms:.2} ms ({CALLS} calls)");
        println!("per-call overhead:        {:.2} ms (restart check + HTTP /call)", docker_ms - local_ms);
    });
}
