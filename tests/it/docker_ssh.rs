//! Remote Docker hosts over SSH (`AFFINETES_HOSTS=ssh://…`): a real `sshd` started by the test
//! on a loopback port points back at this machine's engine; `af` reaches the engine socket and
//! each container through `ssh -L` children it owns. Checks results, load sharing with a local
//! replica, tunnel restarts, cleanup of containers and ssh processes, and the one-line errors
//! of a refused key, an unknown host key and an unreachable host.

use std::sync::Arc;
use std::time::{Duration, Instant};

use affine::environments::env_spec;
use affine::envs::docker::{ContainerSpec, DockerEnv, DockerHost, new_run_id};
use affine::envs::ssh::{SshOptions, SshTarget, Tunnel};
use affine::secret::Secret;
use serde_json::{Map, Value, json};

use crate::support::af;
use crate::support::dataset::fixture_rows;
use crate::support::env_server::{containers_with_label, test_image};
use crate::support::openai::{Miner, OpenAiServer};
use crate::support::sshd::{Sshd, ssh_clients};

const LIMIT: Duration = Duration::from_secs(300);

async fn image() -> String {
    tokio::task::spawn_blocking(test_image).await.expect("join")
}

async fn sshd() -> Sshd {
    tokio::task::spawn_blocking(Sshd::start).await.expect("join")
}

fn options(sshd: &Sshd) -> SshOptions {
    SshOptions { identity: Some(sshd.key.clone()), known_hosts: Some(sshd.known_hosts.clone()), ..SshOptions::default() }
}

fn spec(image: &str, hosts: Vec<DockerHost>, ssh: SshOptions, network: Option<&str>) -> ContainerSpec {
    ContainerSpec {
        env_id: "affine:sat".to_owned(),
        image: image.to_owned(),
        name_prefix: "af-test-ssh".to_owned(),
        env_vars: vec![("ENV_NAME".to_owned(), Secret::new("sat"))],
        mem_limit: 1 << 30,
        network: network.map(str::to_owned),
        replicas: 1,
        pull: false,
        kind: None,
        read_timeout: Duration::from_secs(60),
        ready_timeout: Some(Duration::from_secs(60)),
        hosts,
        ssh,
    }
}

fn sat_kwargs(base_url: &str, task_id: u64) -> Map<String, Value> {
    let spec = env_spec("affine:sat").expect("sat");
    affine::envs::affine::TaskRequest { spec, model: "test/model", base_url, task_id, timeout_secs: 30.0 }.payload()
}

fn ssh_host(sshd: &Sshd) -> DockerHost {
    DockerHost::Ssh(SshTarget::parse(&sshd.url()).expect("ssh url"))
}

fn median(mut values: Vec<Duration>) -> Duration {
    values.sort_unstable();
    values[values.len() / 2]
}

#[tokio::test]
async fn docker_ssh_eval_sat_oracle_scores_one_and_leaves_no_container_or_ssh_process() {
    tokio::time::timeout(LIMIT, async {
        let (image, sshd) = (image().await, sshd().await);
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        let args: Vec<String> = [
            "eval",
            "--env",
            "affine:sat",
            "--image",
            &image,
            "--docker-network",
            "host",
            "--mem-limit",
            "2g",
            "--model",
            "test/model",
            "--base-url",
            &oracle.base_url,
            "--task-id",
            "0..5",
            "--json",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let (url, key, known_hosts) = (sshd.url(), sshd.key.clone(), sshd.known_hosts.clone());
        let (output, pid) = tokio::task::spawn_blocking(move || {
            let child = af()
                .args(&args)
                .env("AFFINETES_HOSTS", &url)
                .env("AF_SSH_IDENTITY", &key)
                .env("AF_SSH_KNOWN_HOSTS", &known_hosts)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn af eval");
            let pid = child.id();
            (child.wait_with_output().expect("wait"), pid)
        })
        .await
        .expect("join");
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let records: Vec<Value> = serde_json::from_slice(&output.stdout).expect("json array");
        assert_eq!(records.len(), 5);
        for record in &records {
            assert_eq!(record["score"], json!(1.0), "{record}");
        }
        assert_eq!(oracle.requests().len(), 5);
        assert!(containers_with_label(&format!("af.pid={pid}")).is_empty(), "af eval left a container");
        assert!(ssh_clients(sshd.port).is_empty(), "af eval left ssh processes: {:?}", ssh_clients(sshd.port));
        // accept-new recorded the host key in the configured known_hosts file.
        let found = std::process::Command::new("ssh-keygen")
            .args(["-F", &format!("[127.0.0.1]:{}", sshd.port), "-f"])
            .arg(&sshd.known_hosts)
            .output()
            .expect("ssh-keygen -F");
        assert!(found.status.success(), "the host key was not recorded in {}", sshd.known_hosts.display());
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_ssh_mixed_local_and_ssh_replicas_share_load() {
    tokio::time::timeout(LIMIT, async {
        let (image, sshd) = (image().await, sshd().await);
        let run_id = new_run_id();
        let hosts = vec![DockerHost::Local, ssh_host(&sshd)];
        let env = DockerEnv::start(&spec(&image, hosts, options(&sshd), Some("host")), &run_id).await.expect("start");
        assert_eq!(env.replica_hosts(), vec!["localhost".to_owned(), sshd.url()]);
        assert_eq!(containers_with_label(&format!("af.run={run_id}")).len(), 2);
        let oracle = OpenAiServer::start(Miner::Oracle(Arc::new(fixture_rows()))).await;
        // Sequential calls alternate local, ssh, local, ...: time each side.
        let (mut local, mut remote) = (Vec::new(), Vec::new());
        for task_id in 0..20 {
            let started = Instant::now();
            let result = env.call("evaluate", sat_kwargs(&oracle.base_url, task_id % 10)).await.expect("call");
            assert_eq!(result["score"], json!(1.0), "{result}");
            if task_id % 2 == 0 { local.push(started.elapsed()) } else { remote.push(started.elapsed()) }
        }
        assert_eq!(env.calls_per_replica(), vec![10, 10]);
        eprintln!("evaluate call median: local {:?}, over ssh {:?} (10 calls each)", median(local), median(remote));
        let pids = env.ssh_pids().await;
        assert_eq!(pids.len(), 2, "engine socket and container port tunnels");
        env.shutdown().await;
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
        assert!(ssh_clients(sshd.port).is_empty(), "shutdown left ssh processes");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_ssh_bridge_container_by_ip_survives_killed_tunnels() {
    tokio::time::timeout(LIMIT, async {
        let (image, sshd) = (image().await, sshd().await);
        let run_id = new_run_id();
        let env = DockerEnv::start(&spec(&image, vec![ssh_host(&sshd)], options(&sshd), None), &run_id).await.expect("start");
        // The container is on the default bridge, reached at its IP through the tunnel; the LLM
        // is unreachable from there, so the env answers with a model error (not infrastructure).
        let answered = env.call("evaluate", sat_kwargs("http://127.0.0.1:9/v1", 1)).await.expect("answered");
        assert_eq!(answered["score"], json!(0.0), "{answered}");
        // Kill both ssh children: the next call restarts them and gets through.
        for pid in env.ssh_pids().await {
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(i32::try_from(pid).expect("pid")), nix::sys::signal::Signal::SIGKILL)
                .expect("kill ssh");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let again = env.call("evaluate", sat_kwargs("http://127.0.0.1:9/v1", 2)).await.expect("answered after tunnel restart");
        assert_eq!(again["score"], json!(0.0), "{again}");
        assert_eq!(env.ssh_pids().await.len(), 2);
        drop(env); // Drop (not shutdown) must clean up too.
        assert!(containers_with_label(&format!("af.run={run_id}")).is_empty());
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(ssh_clients(sshd.port).is_empty(), "drop left ssh processes");
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_ssh_tunnel_setup_time() {
    tokio::time::timeout(LIMIT, async {
        let sshd = sshd().await;
        let target = SshTarget::parse(&sshd.url()).expect("url");
        let mut times = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            let tunnel = Tunnel::docker_socket(&target, &options(&sshd)).await.expect("tunnel");
            times.push(started.elapsed());
            let socket = tunnel.local_socket().expect("socket").to_path_buf();
            assert!(tokio::net::UnixStream::connect(&socket).await.is_ok());
            tunnel.close().await;
        }
        eprintln!("ssh docker-socket tunnel setup median {:?} (5 runs)", median(times));
        assert!(ssh_clients(sshd.port).is_empty());
    })
    .await
    .expect("in time");
}

/// Runs `af eval --image` against `host` with `extra` args; returns exit code and stderr.
async fn eval_error(host: String, extra: Vec<String>) -> (Option<i32>, String) {
    tokio::task::spawn_blocking(move || {
        let output = af()
            .args(["eval", "--env", "affine:sat", "--image", "af-test-unused:none", "--model", "m", "--base-url", "http://127.0.0.1:9/v1"])
            .args(["--hosts", &host])
            .args(&extra)
            .output()
            .expect("run af");
        (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
    })
    .await
    .expect("join")
}

#[tokio::test]
async fn docker_ssh_refused_key_unknown_host_key_and_unreachable_host_are_one_line_errors() {
    tokio::time::timeout(LIMIT, async {
        let sshd = sshd().await;
        let path = |p: &std::path::Path| p.display().to_string();
        let known = path(&sshd.known_hosts);
        let (code, stderr) =
            eval_error(sshd.url(), vec!["--ssh-identity".into(), path(&sshd.wrong_key), "--ssh-known-hosts".into(), known.clone()]).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{}: SSH authentication refused", sshd.url())), "{stderr}");
        assert!(!stderr.contains("PRIVATE KEY"), "{stderr}");

        let empty = sshd.known_hosts.with_file_name("strict_known_hosts");
        std::fs::write(&empty, "").expect("empty known_hosts");
        let strict = vec![
            "--ssh-identity".into(),
            path(&sshd.key),
            "--ssh-known-hosts".into(),
            path(&empty),
            "--ssh-host-keys".into(),
            "strict".into(),
        ];
        let (code, stderr) = eval_error(sshd.url(), strict).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("SSH host key not trusted"), "{stderr}");

        let closed = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("port").port();
        let (code, stderr) = eval_error(format!("ssh://nobody@127.0.0.1:{closed}"), vec!["--ssh-identity".into(), path(&sshd.key)]).await;
        assert_eq!(code, Some(1), "{stderr}");
        assert!(stderr.contains(&format!("ssh://nobody@127.0.0.1:{closed}: SSH host unreachable")), "{stderr}");

        let url = sshd.url();
        let (code, stderr) = tokio::task::spawn_blocking(move || {
            let output = af()
                .args([
                    "eval",
                    "--env",
                    "affine:sat",
                    "--image",
                    "af-test-unused:none",
                    "--model",
                    "m",
                    "--base-url",
                    "http://127.0.0.1:9/v1",
                ])
                .args(["--hosts", &url])
                .env("PATH", "/nonexistent-af-test")
                .output()
                .expect("run af");
            (output.status.code(), String::from_utf8_lossy(&output.stderr).into_owned())
        })
        .await
        .expect("join");
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains(&format!("{}: cannot run the ssh client", sshd.url())), "{stderr}");

        let (code, stderr) = eval_error(sshd.url(), vec!["--ssh-host-keys".into(), "whenever".into()]).await;
        assert_eq!(code, Some(2), "{stderr}");
        assert!(stderr.contains("--ssh-host-keys"), "{stderr}");
        assert!(ssh_clients(sshd.port).is_empty());
    })
    .await
    .expect("in time");
}

#[tokio::test]
async fn docker_ssh_tunnels_end_when_af_is_killed_outright() {
    tokio::time::timeout(LIMIT, async {
        let (image, sshd) = (image().await, sshd().await);
        let hang = OpenAiServer::start(Miner::Hang).await;
        let mut child = af()
            .args(["eval", "--env", "affine:sat", "--image", &image, "--docker-network", "host", "--mem-limit", "1g"])
            .args(["--model", "test/model", "--base-url", &hang.base_url, "--task-id", "0", "--json"])
            .args(["--hosts", &sshd.url()])
            .env("AF_SSH_IDENTITY", &sshd.key)
            .env("AF_SSH_KNOWN_HOSTS", &sshd.known_hosts)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn af eval");
        let pid = child.id();
        let started = Instant::now();
        while hang.requests().is_empty() {
            assert!(started.elapsed() < Duration::from_secs(60), "the evaluation never reached the miner");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(ssh_clients(sshd.port).len(), 2, "engine and container tunnels are up");
        child.kill().expect("SIGKILL af");
        child.wait().expect("reap af");
        let killed = Instant::now();
        while !ssh_clients(sshd.port).is_empty() {
            assert!(killed.elapsed() < Duration::from_secs(5), "ssh children outlived af: {:?}", ssh_clients(sshd.port));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // The next tunnel removes the killed run's socket directory.
        let stale = std::env::temp_dir().join(format!("af-ssh-{pid}-0"));
        assert!(stale.is_dir(), "the killed af had its socket directory at {}", stale.display());
        let target = SshTarget::parse(&sshd.url()).expect("url");
        Tunnel::docker_socket(&target, &options(&sshd)).await.expect("tunnel").close().await;
        assert!(!stale.exists(), "stale socket directory {} was not removed", stale.display());
        // The container of the killed run is left for the next run's sweep; remove it here.
        for id in containers_with_label(&format!("af.pid={pid}")) {
            let _ = std::process::Command::new("docker").args(["rm", "-f", &id]).output();
        }
    })
    .await
    .expect("in time");
}
