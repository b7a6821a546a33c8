//! Environment containers on a Docker engine, through `bollard` (the only module that imports
//! it). Implements the reference's docker mode (spec §1) with owned lifecycles:
//!
//! - connect through `DOCKER_HOST` or the local socket, negotiating the API version;
//! - optional pull with fallback to the local image; the env type from the image label
//!   `affinetes.env.type` (default `function_based`);
//! - one container per replica, with the env vars, a memory limit, restart policy `always` and
//!   the labels `af.managed=true`, `af.env`, `af.run`, `af.pid`, `af.host`; an existing
//!   container with the same name is replaced (`force_recreate`);
//! - no published ports: a container on a bridge network is reached at its IP on port 8000; on
//!   the `host` network each replica gets a free loopback port (`AF_HOST`/`AF_PORT`, which
//!   `af env serve` reads);
//! - readiness by polling `GET /health` every second (120 s `function_based`, 180 s
//!   `http_based`);
//! - before each call `State.StartedAt` is compared with the recorded one; a restart re-resolves
//!   the address and waits for health; a call that fails on transport is an infrastructure
//!   failure, and the replica is skipped until it answers `/health` again;
//! - replicas are picked round-robin;
//! - replicas can live on several engines ([`DockerHost`]): the local one and remote ones
//!   reached over SSH ([`super::ssh`]): the engine socket and each container port are
//!   forwarded by owned `ssh` processes, restarted when they die and killed on shutdown;
//! - run inside a container that uses the host's engine (dood, [`super::runtime`]), containers
//!   join the caller's network and are addressed by name;
//! - [`DockerEnv::shutdown`] (or `Drop`) removes this run's containers, and
//!   [`sweep_stale`] removes `af.managed` containers whose owning process on this host is gone.
//!
//! Also imports an image from a root filesystem tarball ([`import_image`]) for
//! `af env image build`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::models::{ContainerCreateBody, HostConfig, RestartPolicy, RestartPolicyNameEnum};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, CreateImageOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use futures_util::StreamExt as _;
use serde_json::{Map, Value};

use super::client::{CallError, ProtocolClient};
use super::ssh::{SshOptions, SshTarget, Tunnel};
use crate::environments::EnvKind;
use crate::secret::Secret;

/// Image label naming the protocol flavour.
pub const ENV_TYPE_LABEL: &str = "affinetes.env.type";
/// Label on every container `af` starts.
pub const MANAGED_LABEL: &str = "af.managed";
/// Label with the environment id.
pub const ENV_LABEL: &str = "af.env";
/// Label with the run id of the process that owns the container.
pub const RUN_LABEL: &str = "af.run";
/// Label with the owning process id.
pub const PID_LABEL: &str = "af.pid";
/// Label with the owning host name.
pub const HOST_LABEL: &str = "af.host";
/// Label with the content hash of an image `af env image build` made.
pub const CONTENT_LABEL: &str = "af.content";
/// Port environment servers listen on inside their container.
pub const CONTAINER_PORT: u16 = 8000;

/// Docker failures.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The engine could not be reached.
    #[error("cannot reach the Docker engine ({host}): {source}")]
    Connect {
        /// `DOCKER_HOST` or the default socket.
        host: String,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// The image is not present locally (and pulling it failed or was not asked for).
    #[error("image {image} is not available locally{}", pull.as_ref().map(|e| format!(" and pulling it failed: {e}")).unwrap_or_default())]
    ImageMissing {
        /// The image reference.
        image: String,
        /// Why the pull failed, when one was tried.
        pull: Option<String>,
    },
    /// A container could not be created or started, or never became healthy.
    #[error("failed to start container {name}: {message}")]
    Start {
        /// Container name.
        name: String,
        /// What went wrong (with the container's last log lines when known).
        message: String,
    },
    /// An engine request failed.
    #[error("Docker {action} failed: {source}")]
    Engine {
        /// What was being done.
        action: &'static str,
        /// The cause.
        #[source]
        source: bollard::errors::Error,
    },
    /// The protocol client could not be built.
    #[error(transparent)]
    Client(#[from] super::client::Error),
    /// An SSH tunnel to a remote host failed.
    #[error(transparent)]
    Ssh(#[from] super::ssh::Error),
}

impl Error {
    /// Whether the user named something that does not exist (a missing image).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        match self {
            Self::ImageMissing { .. } => true,
            Self::Ssh(error) => error.is_user_input(),
            _ => false,
        }
    }
}

impl crate::error::Classify for Error {
    fn kind(&self) -> crate::error::Kind {
        crate::error::Kind::usage_if(self.is_user_input())
    }

    fn hint(&self) -> Option<&'static str> {
        match self {
            Self::Connect { host, .. } if host.starts_with("ssh://") => {
                Some("the SSH login works; can that user reach /var/run/docker.sock on the host (docker group)?")
            }
            Self::Connect { .. } => Some("is the Docker engine running? set DOCKER_HOST to reach another engine"),
            Self::ImageMissing { .. } => {
                Some("build the af environment image with `af env image build --tag TAG`, or pass --pull for a registry image")
            }
            _ => None,
        }
    }
}

fn engine(action: &'static str) -> impl FnOnce(bollard::errors::Error) -> Error {
    move |source| Error::Engine { action, source }
}

/// Connects to the engine named by `DOCKER_HOST` (or the local socket) and checks it answers.
///
/// # Errors
/// [`Error::Connect`].
pub async fn connect() -> Result<Docker, Error> {
    let host = std::env::var(crate::env_vars::DOCKER_HOST).unwrap_or_else(|_| "unix:///var/run/docker.sock".to_owned());
    let connect_error = |source| Error::Connect { host: host.clone(), source };
    let docker = Docker::connect_with_defaults().map_err(connect_error)?;
    let docker = docker.negotiate_version().await.map_err(connect_error)?;
    docker.ping().await.map_err(connect_error)?;
    Ok(docker)
}

/// Connects to an engine through a local Unix socket (an SSH-forwarded remote socket).
async fn connect_socket(path: &std::path::Path, host: &str) -> Result<Docker, Error> {
    let connect_error = |source| Error::Connect { host: host.to_owned(), source };
    let path = path.to_string_lossy();
    let docker = Docker::connect_with_unix(&path, 180, bollard::API_DEFAULT_VERSION).map_err(connect_error)?;
    let docker = docker.negotiate_version().await.map_err(connect_error)?;
    docker.ping().await.map_err(connect_error)?;
    Ok(docker)
}

/// Where a replica's engine is: `localhost` or `ssh://user@host[:port]` (`AFFINETES_HOSTS`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum DockerHost {
    /// The engine of `DOCKER_HOST` or the local socket.
    Local,
    /// A remote engine reached over SSH.
    Ssh(SshTarget),
}

impl DockerHost {
    /// Parses one entry.
    ///
    /// # Errors
    /// Anything but `localhost` or a valid `ssh://` URL.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("localhost") || text.eq_ignore_ascii_case("local") {
            return Ok(Self::Local);
        }
        if text.starts_with("ssh://") {
            return SshTarget::parse(text).map(Self::Ssh);
        }
        Err(format!("Docker host {text:?}: use localhost or ssh://user@host[:port]"))
    }

    /// Parses a comma-separated list (empty entries are skipped).
    ///
    /// # Errors
    /// An entry [`DockerHost::parse`] rejects.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        text.split(',').filter(|entry| !entry.trim().is_empty()).map(Self::parse).collect()
    }
}

impl std::fmt::Display for DockerHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("localhost"),
            Self::Ssh(target) => target.fmt(f),
        }
    }
}

/// One engine and, for a remote one, the tunnel to its socket.
#[derive(Debug)]
struct Engine {
    host: DockerHost,
    docker: Docker,
    tunnel: Option<Tunnel>,
    ssh: SshOptions,
    /// In dood: the caller's network, which containers join and where names resolve.
    dood_network: Option<String>,
}

impl Engine {
    async fn connect(host: &DockerHost, ssh: &SshOptions, detect_dood: bool) -> Result<Self, Error> {
        match host {
            DockerHost::Local => {
                let docker = connect().await?;
                let dood_network = if detect_dood { dood_network(&docker).await } else { None };
                Ok(Self { host: host.clone(), docker, tunnel: None, ssh: ssh.clone(), dood_network })
            }
            DockerHost::Ssh(target) => {
                let tunnel = Tunnel::docker_socket(target, ssh).await?;
                let socket = tunnel.local_socket().map(std::path::Path::to_path_buf).unwrap_or_default();
                let docker = connect_socket(&socket, &target.to_string()).await?;
                Ok(Self { host: host.clone(), docker, tunnel: Some(tunnel), ssh: ssh.clone(), dood_network: None })
            }
        }
    }

    /// A fresh connection to the same engine (for cleanup from another runtime).
    async fn reconnect(&self) -> Result<Docker, Error> {
        match &self.tunnel {
            None => connect().await,
            Some(tunnel) => {
                let socket = tunnel.local_socket().map(std::path::Path::to_path_buf).unwrap_or_default();
                connect_socket(&socket, &self.host.to_string()).await
            }
        }
    }
}

/// In dood (this process in a container on the host's engine), the caller's own network: env
/// containers join it and are addressed by name. `None` elsewhere, and when the caller's
/// container or a user-defined network cannot be found (the default bridge has no name
/// resolution, so containers there are addressed by IP).
async fn dood_network(docker: &Docker) -> Option<String> {
    if super::runtime::detect() != super::runtime::Runtime::Dood {
        return None;
    }
    let Some(id) = super::runtime::own_container_id() else {
        tracing::warn!("running in a container without dockerd, but its id is not in /proc/self/mountinfo; addressing containers by IP");
        return None;
    };
    let inspect = match docker.inspect_container(&id, None).await {
        Ok(inspect) => inspect,
        Err(error) => {
            tracing::warn!(%error, container = &id[..12], "cannot inspect this process's own container; addressing containers by IP");
            return None;
        }
    };
    let networks = inspect.network_settings.and_then(|n| n.networks).unwrap_or_default();
    let mut names: Vec<&str> = networks.keys().map(String::as_str).collect();
    names.sort_unstable();
    let network = super::runtime::caller_network(names).filter(|name| name != "bridge");
    tracing::info!(container = &id[..12], network = network.as_deref().unwrap_or("bridge (by IP)"), "docker-outside-of-docker");
    network
}

/// A fresh run id: 12 hex digits from the process id, the clock and a counter.
#[must_use]
pub fn new_run_id() -> String {
    use std::hash::{BuildHasher as _, Hasher as _};
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u32(std::process::id());
    hasher.write_usize(COUNTER.fetch_add(1, Ordering::Relaxed));
    hasher.write_u128(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos()));
    format!("{:012x}", hasher.finish() & 0xffff_ffff_ffff)
}

/// What to start.
#[derive(Debug, Clone)]
pub struct ContainerSpec {
    /// Environment id (`affine:sat`), for the `af.env` label.
    pub env_id: String,
    /// Image reference.
    pub image: String,
    /// Container name prefix (`affine-sat`); the run id and replica index are appended.
    pub name_prefix: String,
    /// Environment variables (values never logged).
    pub env_vars: Vec<(String, Secret)>,
    /// Memory limit in bytes.
    pub mem_limit: i64,
    /// Network mode (`host`, a network name); `None` is the engine's default bridge.
    pub network: Option<String>,
    /// Number of containers.
    pub replicas: usize,
    /// Pull the image first (falling back to the local one).
    pub pull: bool,
    /// Protocol flavour; `None` reads the image label.
    pub kind: Option<EnvKind>,
    /// Read timeout of calls.
    pub read_timeout: Duration,
    /// Readiness budget; `None` is the reference's (120 s / 180 s).
    pub ready_timeout: Option<Duration>,
    /// One replica per entry (then `replicas` is ignored); empty: `replicas` on the local engine.
    pub hosts: Vec<DockerHost>,
    /// How `ssh://` hosts are reached.
    pub ssh: SshOptions,
}

impl ContainerSpec {
    /// The engine of each replica, in replica order.
    #[must_use]
    pub fn replica_hosts(&self) -> Vec<DockerHost> {
        if self.hosts.is_empty() { vec![DockerHost::Local; self.replicas] } else { self.hosts.clone() }
    }
}

/// Parses a docker-py memory size (`10g`, `512m`, `1024k`, `100b`, plain bytes; 1024-based).
///
/// # Errors
/// Text that is not a positive size.
pub fn parse_mem_limit(text: &str) -> Result<i64, String> {
    let text = text.trim().to_ascii_lowercase();
    let (digits, unit) = match text.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((at, _)) => text.split_at(at),
        None => (text.as_str(), ""),
    };
    let factor: i64 = match unit.trim_end_matches('b') {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        _ => return Err(format!("memory limit {text:?}: unit must be b, k, m or g")),
    };
    let count: i64 = digits.parse().map_err(|_| format!("memory limit {text:?} is not a size like 10g"))?;
    count.checked_mul(factor).filter(|bytes| *bytes > 0).ok_or_else(|| format!("memory limit {text:?} is out of range"))
}

#[derive(Debug)]
struct Replica {
    name: String,
    engine: std::sync::Arc<Engine>,
    /// Free loopback port on the host network, else `None` (container IP, port 8000).
    host_port: Option<u16>,
    state: tokio::sync::Mutex<ReplicaState>,
    healthy: AtomicBool,
    calls: AtomicUsize,
}

#[derive(Debug)]
struct ReplicaState {
    client: ProtocolClient,
    started_at: String,
    /// The SSH forward of a container on a remote engine.
    tunnel: Option<Tunnel>,
}

/// Running containers of one environment, owned by this process.
#[derive(Debug)]
pub struct DockerEnv {
    engines: Vec<std::sync::Arc<Engine>>,
    name: String,
    run_id: String,
    kind: EnvKind,
    read_timeout: Duration,
    ready_timeout: Duration,
    replicas: Vec<Replica>,
    next: AtomicUsize,
    shut_down: AtomicBool,
}

impl DockerEnv {
    /// Starts `spec.replicas` containers concurrently and waits until each answers `/health`.
    /// Containers started before a failure are removed.
    ///
    /// # Errors
    /// No engine, a missing image, or a container that does not start or become healthy.
    pub async fn start(spec: &ContainerSpec, run_id: &str) -> Result<Self, Error> {
        let hosts = spec.replica_hosts();
        let mut distinct: Vec<DockerHost> = Vec::new();
        for host in &hosts {
            if !distinct.contains(host) {
                distinct.push(host.clone());
            }
        }
        let detect_dood = spec.network.is_none();
        let connected = futures_util::future::join_all(distinct.iter().map(|host| Engine::connect(host, &spec.ssh, detect_dood))).await;
        let mut engines = Vec::new();
        for engine in connected {
            engines.push(std::sync::Arc::new(engine?));
        }
        let mut image = None;
        for engine in &engines {
            sweep_stale(&engine.docker).await;
            let inspect = ensure_image(&engine.docker, &spec.image, spec.pull).await.map_err(|error| match (&engine.host, error) {
                (DockerHost::Ssh(target), Error::ImageMissing { image, pull }) => {
                    Error::ImageMissing { image: format!("{image} on {target}"), pull }
                }
                (_, error) => error,
            })?;
            image.get_or_insert(inspect);
        }
        let image = image.ok_or_else(|| Error::Start { name: spec.name_prefix.clone(), message: "no replicas requested".to_owned() })?;
        let kind = spec.kind.unwrap_or_else(|| image_kind(&image));
        // Only `af env serve` images (they carry the content label) listen on `AF_PORT`; other
        // images listen on 8000, so on the host network only one of them fits per engine.
        let reads_port = image.config.as_ref().and_then(|c| c.labels.as_ref()).is_some_and(|l| l.contains_key(CONTENT_LABEL));
        let host_network = spec.network.as_deref() == Some("host");
        let most_per_engine = distinct.iter().map(|d| hosts.iter().filter(|h| *h == d).count()).max().unwrap_or(0);
        if host_network && !reads_port && most_per_engine > 1 {
            return Err(Error::Start {
                name: spec.name_prefix.clone(),
                message: format!(
                    "{most_per_engine} replicas on one engine's host network need an image that listens on AF_PORT (af env image build); this one listens on {CONTAINER_PORT}"
                ),
            });
        }
        let ready_timeout = spec.ready_timeout.unwrap_or(match kind {
            EnvKind::FunctionBased => Duration::from_secs(120),
            EnvKind::HttpBased => Duration::from_secs(180),
        });
        let base = format!("{}-{run_id}", spec.name_prefix);
        let names: Vec<String> =
            if hosts.len() == 1 { vec![base.clone()] } else { (0..hosts.len()).map(|i| format!("{base}-{i}")).collect() };
        let started = futures_util::future::join_all(names.iter().zip(&hosts).map(|(name, host)| {
            let engine = engines.iter().find(|e| &e.host == host).map(std::sync::Arc::clone);
            async move {
                let engine = engine.ok_or_else(|| Error::Start { name: name.clone(), message: format!("no engine for {host}") })?;
                start_replica(engine, spec, run_id, name, (kind, reads_port), ready_timeout).await
            }
        }))
        .await;
        let mut replicas = Vec::new();
        let mut failure = None;
        for result in started {
            match result {
                Ok(replica) => replicas.push(replica),
                Err(error) => failure = failure.or(Some(error)),
            }
        }
        let env = Self {
            engines,
            name: base,
            run_id: run_id.to_owned(),
            kind,
            read_timeout: spec.read_timeout,
            ready_timeout,
            replicas,
            next: AtomicUsize::new(0),
            shut_down: AtomicBool::new(false),
        };
        if let Some(error) = failure {
            env.shutdown().await;
            return Err(error);
        }
        Ok(env)
    }

    /// The container name prefix (`<prefix>-<run id>`), used in error texts.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The protocol flavour of the image.
    #[must_use]
    pub fn kind(&self) -> EnvKind {
        self.kind
    }

    /// The container names, in replica order.
    #[must_use]
    pub fn container_names(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.name.clone()).collect()
    }

    /// The engine of each replica (`localhost` or `ssh://…`), in replica order.
    #[must_use]
    pub fn replica_hosts(&self) -> Vec<String> {
        self.replicas.iter().map(|r| r.engine.host.to_string()).collect()
    }

    /// Process ids of the running `ssh` children (engine sockets and container ports).
    pub async fn ssh_pids(&self) -> Vec<u32> {
        let mut pids = Vec::new();
        for engine in &self.engines {
            if let Some(tunnel) = &engine.tunnel
                && let Some(pid) = tunnel.pid().await
            {
                pids.push(pid);
            }
        }
        for replica in &self.replicas {
            if let Some(tunnel) = &replica.state.lock().await.tunnel
                && let Some(pid) = tunnel.pid().await
            {
                pids.push(pid);
            }
        }
        pids
    }

    /// How many calls each replica was picked for, in replica order.
    #[must_use]
    pub fn calls_per_replica(&self) -> Vec<usize> {
        self.replicas.iter().map(|r| r.calls.load(Ordering::Relaxed)).collect()
    }

    /// Calls `method` on the next replica (round-robin, skipping replicas that failed until
    /// they answer `/health` again).
    ///
    /// # Errors
    /// [`CallError::Answered`] when the environment answered with an error;
    /// [`CallError::Infrastructure`] when the container was down, restarted or unreachable.
    pub async fn call(&self, method: &str, kwargs: Map<String, Value>) -> Result<Value, CallError> {
        let replica = self.pick().await;
        replica.calls.fetch_add(1, Ordering::Relaxed);
        let client = self.prepare(replica).await?;
        let result = client.call(method, kwargs).await;
        if let Err(CallError::Infrastructure(message)) = &result {
            replica.healthy.store(false, Ordering::Relaxed);
            let restarted = match inspect_start(&replica.engine.docker, &replica.name).await {
                Ok((started_at, running)) => !running || started_at != replica.state.lock().await.started_at,
                Err(_) => true,
            };
            let what = if restarted { "died or restarted during the call" } else { "did not answer" };
            return Err(CallError::Infrastructure(format!("container {} {what}: {message}", replica.name)));
        }
        result
    }

    async fn pick(&self) -> &Replica {
        let count = self.replicas.len();
        let first = self.next.fetch_add(1, Ordering::Relaxed);
        for offset in 0..count {
            let replica = &self.replicas[(first + offset) % count];
            if replica.healthy.load(Ordering::Relaxed) {
                return replica;
            }
            // Re-check an unhealthy replica before skipping it (restarting its SSH forward first
            // when that is what died).
            let client = {
                let state = replica.state.lock().await;
                if let Some(tunnel) = &state.tunnel
                    && let Err(error) = tunnel.ensure().await
                {
                    tracing::debug!(container = replica.name, %error, "ssh forward still down");
                }
                state.client.clone()
            };
            if client.healthy().await {
                replica.healthy.store(true, Ordering::Relaxed);
                return replica;
            }
        }
        &self.replicas[first % count]
    }

    /// Detects a restart since the last call (new `State.StartedAt`) and follows the
    /// container to its new address; returns the client to call through.
    async fn prepare(&self, replica: &Replica) -> Result<ProtocolClient, CallError> {
        let infra = |text: String| CallError::Infrastructure(format!("container {}: {text}", replica.name));
        if let Some(tunnel) = &replica.engine.tunnel {
            tunnel.ensure().await.map_err(|e| infra(e.to_string()))?;
        }
        let (started_at, running) = inspect_start(&replica.engine.docker, &replica.name).await.map_err(|e| infra(e.to_string()))?;
        if !running {
            replica.healthy.store(false, Ordering::Relaxed);
            return Err(infra("is not running".to_owned()));
        }
        let mut state = replica.state.lock().await;
        if state.started_at == started_at
            && let Some(tunnel) = &state.tunnel
        {
            tunnel.ensure().await.map_err(|e| infra(e.to_string()))?;
        }
        if state.started_at != started_at {
            tracing::warn!(container = replica.name, "container restarted; re-resolving its address");
            if let Some(old) = state.tunnel.take() {
                old.close().await;
            }
            let (url, tunnel) = address(&replica.engine, &replica.name, replica.host_port).await.map_err(|e| infra(e.to_string()))?;
            state.tunnel = tunnel;
            state.client = ProtocolClient::new(&url, self.kind, self.read_timeout).map_err(|e| infra(e.to_string()))?;
            state.started_at = started_at;
            if !wait_healthy(&state.client, self.ready_timeout).await {
                replica.healthy.store(false, Ordering::Relaxed);
                return Err(infra(format!("restarted and did not become healthy within {} s", self.ready_timeout.as_secs())));
            }
            replica.healthy.store(true, Ordering::Relaxed);
        }
        Ok(state.client.clone())
    }

    /// Removes this run's containers. Idempotent.
    pub async fn shutdown(&self) {
        if self.shut_down.swap(true, Ordering::SeqCst) {
            return;
        }
        for engine in &self.engines {
            remove_run(&engine.docker, &self.run_id).await;
        }
        for replica in &self.replicas {
            if let Some(tunnel) = replica.state.lock().await.tunnel.take() {
                tunnel.close().await;
            }
        }
        for engine in &self.engines {
            if let Some(tunnel) = &engine.tunnel {
                tunnel.close().await;
            }
        }
    }
}

impl Drop for DockerEnv {
    fn drop(&mut self) {
        if self.shut_down.load(Ordering::SeqCst) {
            return;
        }
        // No async in Drop: remove the containers from a helper thread with its own runtime
        // and its own engine connection (this one's pool belongs to the caller's runtime).
        // The SSH tunnels are still open here; they are killed when the fields drop.
        let run_id = self.run_id.clone();
        let engines = self.engines.clone();
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else { return };
            runtime.block_on(async {
                for engine in engines {
                    if let Ok(docker) = engine.reconnect().await {
                        remove_run(&docker, &run_id).await;
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Connects to each engine of `spec` and removes every container of run `run_id` (for a
/// start that was abandoned before it returned its [`DockerEnv`]).
pub async fn cleanup_run(spec: &ContainerSpec, run_id: &str) {
    let mut done = Vec::new();
    for host in spec.replica_hosts() {
        if done.contains(&host) {
            continue;
        }
        match Engine::connect(&host, &spec.ssh, false).await {
            Ok(engine) => {
                remove_run(&engine.docker, run_id).await;
                if let Some(tunnel) = &engine.tunnel {
                    tunnel.close().await;
                }
            }
            Err(error) => tracing::warn!(%error, run_id, %host, "cannot remove the run's containers"),
        }
        done.push(host);
    }
}

/// Removes every container labelled `af.run=<run_id>` (forced).
pub async fn remove_run(docker: &Docker, run_id: &str) {
    for (id, _) in list_managed(docker, Some(run_id)).await {
        remove(docker, &id).await;
    }
}

async fn remove(docker: &Docker, id: &str) {
    let options = RemoveContainerOptionsBuilder::default().force(true).build();
    match docker.remove_container(id, Some(options)).await {
        Ok(()) => tracing::info!(container = id, "removed container"),
        Err(error) => tracing::warn!(container = id, %error, "failed to remove container"),
    }
}

/// `(id, labels)` of the `af.managed` containers, optionally of one run only.
async fn list_managed(docker: &Docker, run_id: Option<&str>) -> Vec<(String, HashMap<String, String>)> {
    let mut labels = vec![format!("{MANAGED_LABEL}=true")];
    if let Some(run_id) = run_id {
        labels.push(format!("{RUN_LABEL}={run_id}"));
    }
    let filters: HashMap<&str, Vec<String>> = HashMap::from([("label", labels)]);
    let options = ListContainersOptionsBuilder::default().all(true).filters(&filters).build();
    match docker.list_containers(Some(options)).await {
        Ok(containers) => containers.into_iter().filter_map(|c| Some((c.id?, c.labels.unwrap_or_default()))).collect(),
        Err(error) => {
            tracing::warn!(%error, "failed to list managed containers");
            Vec::new()
        }
    }
}

/// This machine's host name (the `af.host` label).
fn host_name() -> String {
    nix::unistd::gethostname().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default()
}

/// Removes `af.managed` containers left by processes on this host that no longer exist
/// (a crashed or killed run). Containers of live processes and of other hosts are kept.
pub async fn sweep_stale(docker: &Docker) {
    let host = host_name();
    for (id, labels) in list_managed(docker, None).await {
        if labels.get(HOST_LABEL) != Some(&host) {
            continue;
        }
        let Some(pid) = labels.get(PID_LABEL).and_then(|pid| pid.parse::<i32>().ok()) else { continue };
        let alive = !matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH));
        if !alive {
            tracing::warn!(container = id, pid, "removing a container left by a run that is gone");
            remove(docker, &id).await;
        }
    }
}

/// Pulls `image` if asked (falling back to the local copy) and inspects it.
async fn ensure_image(docker: &Docker, image: &str, pull: bool) -> Result<bollard::models::ImageInspect, Error> {
    let mut pull_error = None;
    if pull {
        let options = CreateImageOptionsBuilder::default().from_image(image).build();
        let mut stream = docker.create_image(Some(options), None, None);
        while let Some(item) = stream.next().await {
            if let Err(error) = item {
                tracing::warn!(image, %error, "pull failed; trying the local image");
                pull_error = Some(error.to_string());
                break;
            }
        }
    }
    match docker.inspect_image(image).await {
        Ok(inspect) => Ok(inspect),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => {
            Err(Error::ImageMissing { image: image.to_owned(), pull: pull_error })
        }
        Err(source) => Err(Error::Engine { action: "image inspect", source }),
    }
}

fn image_kind(image: &bollard::models::ImageInspect) -> EnvKind {
    let label = image.config.as_ref().and_then(|c| c.labels.as_ref()).and_then(|l| l.get(ENV_TYPE_LABEL));
    match label.map(String::as_str) {
        Some("http_based") => EnvKind::HttpBased,
        _ => EnvKind::FunctionBased,
    }
}

/// A free port on the loopback interface (released before the container binds it).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn start_replica(
    engine: std::sync::Arc<Engine>,
    spec: &ContainerSpec,
    run_id: &str,
    name: &str,
    (kind, reads_port): (EnvKind, bool),
    ready_timeout: Duration,
) -> Result<Replica, Error> {
    let docker = &engine.docker;
    let failed = |message: String| Error::Start { name: name.to_owned(), message };
    let network = spec.network.clone().or_else(|| engine.dood_network.clone());
    let host_port = match (spec.network.as_deref() == Some("host"), reads_port) {
        (true, true) => Some(free_port().map_err(|e| failed(format!("no free port: {e}")))?),
        (true, false) => Some(CONTAINER_PORT),
        (false, _) => None,
    };
    let mut env: Vec<String> = spec.env_vars.iter().map(|(key, value)| format!("{key}={}", value.expose())).collect();
    if let (Some(port), true) = (host_port, reads_port) {
        env.push(format!("{}=127.0.0.1", crate::env_vars::AF_HOST));
        env.push(format!("{}={port}", crate::env_vars::AF_PORT));
    }
    let labels = HashMap::from([
        (MANAGED_LABEL.to_owned(), "true".to_owned()),
        (ENV_LABEL.to_owned(), spec.env_id.clone()),
        (RUN_LABEL.to_owned(), run_id.to_owned()),
        (PID_LABEL.to_owned(), std::process::id().to_string()),
        (HOST_LABEL.to_owned(), host_name()),
    ]);
    let body = ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(env),
        tty: Some(true),
        open_stdin: Some(true),
        stdin_once: Some(false),
        labels: Some(labels),
        host_config: Some(HostConfig {
            restart_policy: Some(RestartPolicy { name: Some(RestartPolicyNameEnum::ALWAYS), maximum_retry_count: None }),
            memory: Some(spec.mem_limit),
            network_mode: network,
            ..HostConfig::default()
        }),
        ..ContainerCreateBody::default()
    };
    // force_recreate: a container with this name is replaced.
    if docker.inspect_container(name, None).await.is_ok() {
        remove(docker, name).await;
    }
    let started = Instant::now();
    let options = CreateContainerOptionsBuilder::default().name(name).build();
    docker.create_container(Some(options), body).await.map_err(|e| failed(format!("create: {e}")))?;
    let result = async {
        docker.start_container(name, None).await.map_err(|e| failed(format!("start: {e}")))?;
        let (started_at, running) = inspect_start(docker, name).await?;
        if !running {
            return Err(failed(format!("it is not running{}", last_logs(docker, name).await)));
        }
        let (url, tunnel) = address(&engine, name, host_port).await?;
        let client = ProtocolClient::new(&url, kind, spec.read_timeout)?;
        if !wait_healthy(&client, ready_timeout).await {
            if let Some(tunnel) = tunnel {
                tunnel.close().await;
            }
            return Err(failed(format!("HTTP server did not start within {} s{}", ready_timeout.as_secs(), last_logs(docker, name).await)));
        }
        tracing::info!(container = name, host = %engine.host, url, ready_ms = started.elapsed().as_millis(), "container ready");
        Ok(Replica {
            name: name.to_owned(),
            engine: std::sync::Arc::clone(&engine),
            host_port,
            state: tokio::sync::Mutex::new(ReplicaState { client, started_at, tunnel }),
            healthy: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
        })
    }
    .await;
    if result.is_err() {
        remove(docker, name).await;
    }
    result
}

/// `(State.StartedAt, State.Running)` of a container.
async fn inspect_start(docker: &Docker, name: &str) -> Result<(String, bool), Error> {
    let inspect = docker.inspect_container(name, None).await.map_err(engine("container inspect"))?;
    let state = inspect.state.unwrap_or_default();
    Ok((state.started_at.unwrap_or_default(), state.running.unwrap_or(false)))
}

/// The base URL of a container and, on a remote engine, the SSH forward it goes through.
///
/// - host network: its own port on loopback (of the engine's machine);
/// - dood on the caller's network: its name, port 8000;
/// - otherwise: the first network IP, port 8000.
async fn address(engine: &Engine, name: &str, host_port: Option<u16>) -> Result<(String, Option<Tunnel>), Error> {
    let (remote_host, remote_port) = match host_port {
        Some(port) => ("127.0.0.1".to_owned(), port),
        None if engine.dood_network.is_some() => (name.to_owned(), CONTAINER_PORT),
        None => (container_ip(&engine.docker, name).await?, CONTAINER_PORT),
    };
    match &engine.host {
        DockerHost::Local => Ok((format!("http://{remote_host}:{remote_port}"), None)),
        DockerHost::Ssh(target) => {
            let tunnel = Tunnel::port(target, &engine.ssh, &remote_host, remote_port).await?;
            let port = tunnel.local_port().unwrap_or_default();
            Ok((format!("http://127.0.0.1:{port}"), Some(tunnel)))
        }
    }
}

/// The first non-empty network IP of a container (networks in name order).
async fn container_ip(docker: &Docker, name: &str) -> Result<String, Error> {
    let inspect = docker.inspect_container(name, None).await.map_err(engine("container inspect"))?;
    let networks = inspect.network_settings.and_then(|n| n.networks).unwrap_or_default();
    let mut names: Vec<&String> = networks.keys().collect();
    names.sort();
    names
        .into_iter()
        .find_map(|net| networks[net].ip_address.clone().filter(|ip| !ip.is_empty()))
        .ok_or_else(|| Error::Start { name: name.to_owned(), message: "the container has no IP address".to_owned() })
}

/// Polls `/health` every second until it answers 200 or `budget` runs out.
async fn wait_healthy(client: &ProtocolClient, budget: Duration) -> bool {
    let deadline = Instant::now() + budget;
    loop {
        if client.healthy().await {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250).min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// `; last log lines: …` for error messages, or nothing.
async fn last_logs(docker: &Docker, name: &str) -> String {
    let options = LogsOptionsBuilder::default().stdout(true).stderr(true).tail("20").build();
    let mut stream = docker.logs(name, Some(options));
    let mut text = String::new();
    while let Some(Ok(chunk)) = stream.next().await {
        text.push_str(&String::from_utf8_lossy(&chunk.into_bytes()));
    }
    let text = text.trim();
    if text.is_empty() { String::new() } else { format!("; last log lines:\n{text}") }
}

/// Labels and config of an imported image.
#[derive(Debug, Clone)]
pub struct ImportSpec {
    /// `repo:tag`.
    pub tag: String,
    /// Dockerfile instructions applied on import (`CMD`, `ENV`, `LABEL`, ...).
    pub changes: Vec<String>,
}

/// The value of label `key` on image `image`, `None` when the image or label is absent.
///
/// # Errors
/// No engine.
pub async fn image_label(docker: &Docker, image: &str, key: &str) -> Result<Option<String>, Error> {
    match docker.inspect_image(image).await {
        Ok(inspect) => Ok(inspect.config.and_then(|c| c.labels).and_then(|mut l| l.remove(key))),
        Err(bollard::errors::Error::DockerResponseServerError { status_code: 404, .. }) => Ok(None),
        Err(source) => Err(Error::Engine { action: "image inspect", source }),
    }
}

/// Imports a root filesystem tarball as image `spec.tag` (`POST /images/create?fromSrc=-`).
///
/// # Errors
/// The engine rejects the import.
pub async fn import_image(docker: &Docker, rootfs: Vec<u8>, spec: &ImportSpec) -> Result<(), Error> {
    let (repo, tag) = match spec.tag.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => (repo, tag),
        _ => (spec.tag.as_str(), "latest"),
    };
    let options = CreateImageOptionsBuilder::default().from_src("-").repo(repo).tag(tag).changes(spec.changes.clone()).build();
    let previous = docker.inspect_image(&spec.tag).await.ok().and_then(|image| image.id);
    let body = bollard::body_full(rootfs.into());
    let mut stream = docker.create_image(Some(options), Some(body), None);
    while let Some(item) = stream.next().await {
        item.map_err(engine("image import"))?;
    }
    // The image the tag pointed at is now untagged: remove it so rebuilds do not pile up
    // (the engine refuses while a container uses it, which is fine).
    let current = docker.inspect_image(&spec.tag).await.ok().and_then(|image| image.id);
    if let Some(previous) = previous.filter(|previous| Some(previous) != current.as_ref())
        && let Err(error) = docker.remove_image(&previous, None::<bollard::query_parameters::RemoveImageOptions>, None).await
    {
        tracing::debug!(%error, image = previous, "previous image kept");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_mem_limit_reads_docker_py_sizes() {
        assert_eq!(parse_mem_limit("10g"), Ok(10_737_418_240));
        assert_eq!(parse_mem_limit("512m"), Ok(512 << 20));
        assert_eq!(parse_mem_limit("1024"), Ok(1024));
        assert_eq!(parse_mem_limit("2kb"), Ok(2048));
        assert!(parse_mem_limit("ten").is_err());
        assert!(parse_mem_limit("0").is_err());
        assert!(parse_mem_limit("5t").is_err());
    }
}
