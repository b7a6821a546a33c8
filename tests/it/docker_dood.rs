//! Docker-outside-of-Docker: `af eval --image` run inside a container (the test image, which
//! holds `af`) with the engine socket mounted, on a network the test creates. `af` must detect
//! dood, attach the env container to its own network, address it by name, and remove it.

use std::sync::Arc;
use std::time::Duration;

use affine::envs::docker::new_run_id;
use serde_json::{Value, json};

use crate::support::dataset::fixture_rows;
use crate::support::env_server::{containers_with_label, test_image};
use crate::support::openai::{Miner, OpenAiServer};

const LIMIT: Duration = Duration::from_secs(300);

fn docker(args: &[&str]) -> std::process::Output {
    std::process::Command::new("docker").args(args).output().expect("run docker")
}

/// Removes the network and containers when dropped, also when the test fails.
struct Cleanup {
    network: String,
    containers: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !self.containers.is_empty() {
            let _ = std::process::Command::new("docker").args(["rm", "-f"]).args(&self.containers).output();
        }
        let _ = docker(&["network", "rm", &self.network]);
    }
}

/// Accepts on `listen` and copies each connection to `target` (the oracle binds loopback only).
async fn relay(listen: &str, target: std::net::SocketAddr) -> u16 {
    let listener = tokio::net::TcpListener::bind((listen, 0)).await.expect("bind relay");
    let port = listener.local_addr().expect("addr").port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn docker_dood_eval_inside_a_container_joins_its_network_and_addresses_by_name() {
    tokio::time::timeout(LIMIT, async {
        let image = tokio::task::spawn_blocking(test_image).await.expect("join");
        let run = new_run_id();
        let network = format!("af-test-dood-{run}");
        let caller = format!("af-test-dood-caller-{run}");
        let mut cleanup = Cleanup { network: network.clone(), containers: Vec::new() };
        let created = docker(&["network", "create", "--label", &format!("af.test={run}"), &network]);
        assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
        let gateway = docker(&["network", "inspect", "-f", "{{(index .IPAM.Config 0).Gateway}}", &network]);
        let gateway = String::from_utf8_lossy(&gateway.stdout).trim().to_owned();
        assert!(!gateway.is_empty(), "network {network} has no gateway");

        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let (oracle_host, oracle_path) = oracle.base_url.trim_start_matches("http://").split_once('/').expect("host/path");
        let oracle_addr: std::net::SocketAddr = oracle_host.parse().expect("oracle address");
        let port = relay(&gateway, oracle_addr).await;
        let base_url = format!("http://{gateway}:{port}/{oracle_path}");

        cleanup.containers.push(caller.clone());
        let hostname = format!("dood-{run}");
        let args: Vec<String> = [
            "run",
            "--name",
            &caller,
            "--hostname",
            &hostname,
            "--network",
            &network,
            "-v",
            "/var/run/docker.sock:/var/run/docker.sock",
            &image,
            "/usr/local/bin/af",
            "-v",
            "eval",
            "--env",
            "affine:sat",
            "--image",
            &image,
            "--mem-limit",
            "1g",
            "--model",
            "test/model",
            "--base-url",
            &base_url,
            "--task-id",
            "0..3",
            "--json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let output = tokio::task::spawn_blocking(move || std::process::Command::new("docker").args(&args).output().expect("docker run"))
            .await
            .expect("join");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(0), "{stderr}");
        let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
        assert_eq!(records.len(), 3, "{stderr}");
        for record in &records {
            assert_eq!(record["score"], json!(1.0), "{record}");
        }
        assert_eq!(oracle.requests().len(), 3);
        // Detected dood, joined the caller's network, reached the container by its name.
        assert!(stderr.contains("docker-outside-of-docker") && stderr.contains(&network), "{stderr}");
        assert!(stderr.contains("url=\"http://affine-sat-") && stderr.contains(":8000"), "{stderr}");
        // The env container is gone (the caller's own container is the test's to remove).
        assert!(containers_with_label(&format!("af.host={hostname}")).is_empty(), "af eval left an env container");
    })
    .await
    .expect("in time");
}
