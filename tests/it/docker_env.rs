//! The Docker runner on the machine's real engine: the image `af env image build` makes, started
//! by `af eval --image` and by [`DockerEnv`], evaluated against the scripted miners. Containers
//! use host networking so they reach the miners on 127.0.0.1; every test checks that no
//! container of its run is left behind.

use std::sync::Arc;
use std::time::Duration;

use affine::environments::env_spec;
use affine::envs::client::CallError;
use affine::envs::docker::{ContainerSpec, DockerEnv, Error, new_run_id};
use affine::secret::Secret;
use serde_json::{Map, Value, json};

use crate::support::af;
use crate::support::dataset::{DatasetServer, fixture_root, fixture_rows};
use crate::support::env_server::{containers_with_label, test_image};
use crate::support::openai::{Miner, OpenAiServer};

const LIMIT: Duration = Duration::from_secs(300);

async fn image() -> String {
    tokio::task::spawn_blocking(test_image).await.expect("join")
}

/// Runs `af eval --image` and returns its output and process id.
async fn eval_in_docker(image: &str, env: &str, base_url: &str, task_ids: &str, dataset_url: &str) -> (std::process::Output, u32) {
    let args: Vec<String> = [
        "eval",
        "--env",
        env,
        "--image",
        image,
        "--docker-network",
        "host",
        "--mem-limit",
        "2g",
        "--model",
        "test/model",
        "--base-url",
        base_url,
        "--task-id",
        task_ids,
        "--dataset-url",
        dataset_url,
        "--json",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    tokio::task::spawn_blocking(move || {
        let child =
            af().args(&args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().expect("spawn af eval");
        let pid = child.id();
        (child.wait_with_output().expect("wait"), pid)
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn docker_eval_sat_ten_tasks_oracle_scores_one_and_leaves_no_container() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let (output, pid) = eval_in_docker(&image, "affine:sat", &oracle.base_url, "0..10", "http://127.0.0.1:9").await;
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
        assert_eq!(records.len(), 10);
        for (record, task_id) in records.iter().zip(0..) {
            assert_eq!(record["task_id"], json!(task_id));
            assert_eq!(record["score"], json!(1.0), "{record}");
        }
        assert_eq!(oracle.requests().len(), 10);
        assert!(containers_with_label(&format!("af.pid={pid}")).is_empty(), "af eval left a container");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_eval_abd_ded_oracle_one_and_wrong_miner_zero() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let dataset = DatasetServer::start(fixture_root()).await;
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let wrong = OpenAiServer::start(Miner::Wrong).await;
        for env in ["affine:abd", "affine:ded", "affine:sat"] {
            for (miner, expected) in [(&oracle, 1.0), (&wrong, 0.0)] {
                let (output, pid) = eval_in_docker(&image, env, &miner.base_url, "24..27", &dataset.base_url).await;
                assert_eq!(output.status.code(), Some(0), "{env}: {}", String::from_utf8_lossy(&output.stderr));
                let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
                assert_eq!(records.len(), 3);
                for record in &records {
                    assert_eq!(record["env"], json!(env));
                    assert_eq!(record["score"], json!(expected), "{env}: {record}");
                }
                assert!(containers_with_label(&format!("af.pid={pid}")).is_empty(), "af eval left a container");
            }
        }
    })
    .await
    .expect("in time");
}

fn spec(image: &str, replicas: usize) -> ContainerSpec {
    ContainerSpec {
        env_id: "affine:sat".to_owned(),
        image: image.to_owned(),
        name_prefix: "af-test-sat".to_owned(),
        env_vars: vec![("ENV_NAME".to_owned(), Secret::new("sat"))],
        mem_limit: 1 << 30,
        network: Some("host".to_owned()),
        replicas,
        pull: false,
        kind: None,
        read_timeout: Duration::from_secs(60),
        ready_timeout: Some(Duration::from_secs(60)),
        hosts: Vec::new(),
        ssh: affine::envs::ssh::SshOptions::default(),
    }
}

fn sat_kwargs(base_url: &str, task_id: u64) -> Map<String, Value> {
    let spec = env_spec("affine:sat").expect("sat");
    affine::envs::affine::TaskRequest { spec, model: "test/model", base_url, task_id, timeout_secs: 30.0 }.payload()
}

fn docker_cli(args: &[&str]) -> String {
    let output = std::process::Command::new("docker").args(args).output().expect("run docker");
    assert!(output.status.success(), "docker {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[tokio::test]
async fn docker_env_killed_mid_call_is_infrastructure_then_restarted_container_answers() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let run_id = new_run_id();
        let env = Arc::new(DockerEnv::start(&spec(&image, 1), &run_id).await.expect("start"));
        let name = env.container_names().remove(0);
        let hang = OpenAiServer::start(Miner::Hang).await;
        let in_flight = {
            let env = Arc::clone(&env);
            let kwargs = sat_kwargs(&hang.base_url, 3);
            tokio::spawn(async move { env.call("evaluate", kwargs).await })
        };
        while hang.requests().is_empty() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let started_before = docker_cli(&["inspect", "-f", "{{.State.StartedAt}}", &name]);
        let pid: i32 = docker_cli(&["inspect", "-f", "{{.State.Pid}}", &name]).parse().expect("pid");
        nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL).expect("kill the server");
        let error = in_flight.await.expect("join").expect_err("the container died");
        assert!(matches!(&error, CallError::Infrastructure(text) if text.contains(&name)), "{error:?}");
        // Docker restarts it (restart policy always); the next call follows it.
        loop {
            let state = docker_cli(&["inspect", "-f", "{{.State.Running}} {{.State.StartedAt}}", &name]);
            if state.starts_with("true") && !state.ends_with(&started_before) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let result = env.call("evaluate", sat_kwargs(&oracle.base_url, 3)).await.expect("call after the restart");
        assert_eq!(result["score"], json!(1.0), "{result}");
        env.shutdown().await;
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_env_two_replicas_share_load_round_robin() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let run_id = new_run_id();
        let env = DockerEnv::start(&spec(&image, 2), &run_id).await.expect("start");
        assert_eq!(containers_with_label(&format!("af.run={run_id}")).len(), 2);
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let calls = (0..4).map(|task_id| env.call("evaluate", sat_kwargs(&oracle.base_url, task_id)));
        for result in futures_util::future::join_all(calls).await {
            assert_eq!(result.expect("call")["score"], json!(1.0));
        }
        assert_eq!(env.calls_per_replica(), vec![2, 2]);
        env.shutdown().await;
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_env_missing_image_is_a_clear_error_and_starts_nothing() {
    tokio::time::timeout(LIMIT, async {
        let run_id = new_run_id();
        let image = format!("af-test-missing-{run_id}:none");
        let mut missing = spec(&image, 1);
        missing.pull = true;
        let error = DockerEnv::start(&missing, &run_id).await.expect_err("no such image");
        assert!(matches!(error, Error::ImageMissing { pull: Some(_), .. }), "{error:?}");
        assert!(error.to_string().starts_with(&format!("image {image} is not available locally and pulling it failed")), "{error}");
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());

        let output = tokio::task::spawn_blocking(move || {
            af().args(["eval", "--env", "affine:sat", "--image", &image, "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
                .output()
                .expect("run af")
        })
        .await
        .expect("join");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("is not available locally") && stderr.contains("af env image build"), "{stderr}");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_env_start_sweeps_containers_of_dead_runs_only() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let host = nix::unistd::gethostname().expect("hostname").to_string_lossy().into_owned();
        // A process that is gone (its pid is free) and one that is alive (this test).
        let mut finished = std::process::Command::new("true").spawn().expect("spawn true");
        let dead_pid = finished.id();
        finished.wait().expect("wait");
        let stale_run = new_run_id();
        let live_run = new_run_id();
        let _cleanup = RemoveOnDrop(vec![format!("af-test-sweep-{stale_run}"), format!("af-test-sweep-{live_run}")]);
        for (run, pid) in [(&stale_run, dead_pid), (&live_run, std::process::id())] {
            docker_cli(&[
                "create",
                "--name",
                &format!("af-test-sweep-{run}"),
                "--label",
                "af.managed=true",
                "--label",
                &format!("af.run={run}"),
                "--label",
                &format!("af.pid={pid}"),
                "--label",
                &format!("af.host={host}"),
                &image,
            ]);
        }
        let run_id = new_run_id();
        let env = DockerEnv::start(&spec(&image, 1), &run_id).await.expect("start");
        assert!(containers_with_label(&format!("af.run={stale_run}")).is_empty(), "the dead run's container was swept");
        assert_eq!(containers_with_label(&format!("af.run={live_run}")).len(), 1, "a live run's container is kept");
        env.shutdown().await;
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
    })
    .await
    .expect("in time");
}

/// Removes the named containers when dropped, also when the test fails.
struct RemoveOnDrop(Vec<String>);

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("docker").args(["rm", "-f"]).args(&self.0).output();
    }
}

#[tokio::test]
async fn env_image_build_second_run_is_cached_and_labelled_function_based() {
    tokio::time::timeout(LIMIT, async {
        let tag = image().await;
        let build = |tag: String| {
            tokio::task::spawn_blocking(move || af().args(["env", "image", "build", "--tag", &tag, "--json"]).output().expect("run af"))
        };
        let output = build(tag.clone()).await.expect("join");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let report: Value = serde_json::from_slice(&output.stdout).expect("json");
        assert_eq!(report["cached"], json!(true), "{report}");
        assert_eq!(report["tag"], json!(tag));
        let labels: Value = serde_json::from_str(&docker_cli(&["inspect", "-f", "{{json .Config.Labels}}", &tag])).expect("labels");
        assert_eq!(labels["affinetes.env.type"], json!("function_based"));
        assert_eq!(labels["af.content"], report["content_hash"]);
        let cmd = docker_cli(&["inspect", "-f", "{{json .Config.Cmd}}", &tag]);
        assert_eq!(cmd, r#"["/usr/local/bin/af","env","serve","--env","affine"]"#);
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_env_replica_that_stays_down_is_skipped() {
    tokio::time::timeout(LIMIT, async {
        let image = image().await;
        let run_id = new_run_id();
        let env = DockerEnv::start(&spec(&image, 2), &run_id).await.expect("start");
        let down = env.container_names().remove(0);
        docker_cli(&["update", "--restart", "no", &down]);
        docker_cli(&["kill", &down]);
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let mut failures = 0;
        for task_id in 0..4 {
            match env.call("evaluate", sat_kwargs(&oracle.base_url, task_id)).await {
                Ok(result) => assert_eq!(result["score"], json!(1.0)),
                Err(error) => {
                    assert!(matches!(&error, CallError::Infrastructure(text) if text.contains(&down)), "{error:?}");
                    failures += 1;
                }
            }
        }
        assert!(failures <= 1, "the dead replica is skipped after its first failure ({failures} failures)");
        assert_eq!(oracle.requests().len(), 4 - failures);
        env.shutdown().await;
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
    })
    .await
    .expect("in time");
}
