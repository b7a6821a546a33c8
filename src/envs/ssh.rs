//! Tunnels to remote Docker hosts through the system `ssh` client (OpenSSH).
//!
//! A [`Tunnel`] is one `ssh -N` child process with one local forward: the remote engine's
//! socket to a local Unix socket (`-L <dir>/docker.sock:/var/run/docker.sock`), or a container
//! port to a free loopback port (`-L 127.0.0.1:<port>:<container ip>:<port>`). The child is
//! owned: [`Tunnel::ensure`] restarts it when it died, [`Tunnel::close`] (or `Drop`) kills it,
//! and where util-linux `setpriv` is available the child is started through
//! `setpriv --pdeathsig TERM` so it also ends when `af` is killed outright.
//! Connection options: `BatchMode` (never prompt), no connection sharing (`ControlMaster=no`,
//! `ControlPath=none`), `ExitOnForwardFailure`, keep-alives, an optional identity file and a
//! host-key policy ([`HostKeyPolicy`]). Key material is never read or logged by `af`.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::AsyncBufReadExt as _;
use tokio::process::{Child, Command};

/// Remote path of the Docker engine socket.
pub const REMOTE_DOCKER_SOCKET: &str = "/var/run/docker.sock";

/// SSH failures, each naming the host.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The `ssh` program could not be run.
    #[error("{host}: cannot run the ssh client {program:?}: {source} (install openssh-client)")]
    Missing {
        /// `ssh://user@host:port`.
        host: String,
        /// The program tried.
        program: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The server refused every key offered.
    #[error("{host}: SSH authentication refused (set AF_SSH_IDENTITY to a key the host accepts): {detail}")]
    AuthRefused {
        /// `ssh://user@host:port`.
        host: String,
        /// ssh's last error line.
        detail: String,
    },
    /// The host key is unknown (strict policy) or changed.
    #[error("{host}: SSH host key not trusted (add it to known_hosts or set AF_SSH_HOST_KEYS): {detail}")]
    HostKey {
        /// `ssh://user@host:port`.
        host: String,
        /// ssh's last error line.
        detail: String,
    },
    /// The host could not be reached.
    #[error("{host}: SSH host unreachable: {detail}")]
    Unreachable {
        /// `ssh://user@host:port`.
        host: String,
        /// ssh's last error line.
        detail: String,
    },
    /// ssh exited or did not open the forward for another reason.
    #[error("{host}: SSH tunnel failed: {detail}")]
    Tunnel {
        /// `ssh://user@host:port`.
        host: String,
        /// What happened (ssh's last error line).
        detail: String,
    },
}

impl Error {
    /// Whether the configuration is at fault (no client, a key or host key that is refused).
    #[must_use]
    pub fn is_user_input(&self) -> bool {
        matches!(self, Self::Missing { .. } | Self::AuthRefused { .. } | Self::HostKey { .. })
    }
}

/// A remote host `ssh://user@host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SshTarget {
    /// Login name (required, as in the reference).
    pub user: String,
    /// Host name or address.
    pub host: String,
    /// SSH port (22 when not given).
    pub port: u16,
}

impl SshTarget {
    /// Parses `ssh://user@host[:port]` (IPv6 addresses in brackets).
    ///
    /// # Errors
    /// Another scheme, a missing user or host, or a bad port.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| format!("{text:?} is not ssh://user@host[:port]: {why}");
        let rest = text.trim().strip_prefix("ssh://").ok_or_else(|| bad("the scheme must be ssh://"))?;
        let rest = rest.trim_end_matches('/');
        let (user, address) = rest.rsplit_once('@').ok_or_else(|| bad("the user is missing"))?;
        if user.is_empty() || user.contains([':', '/', ' ']) {
            return Err(bad("the user is missing or invalid"));
        }
        let (host, port) = if let Some(bracketed) = address.strip_prefix('[') {
            let (host, after) = bracketed.split_once(']').ok_or_else(|| bad("unclosed ["))?;
            (host, after.strip_prefix(':'))
        } else {
            match address.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (address, None),
            }
        };
        if host.is_empty() || host.contains(['/', ' ', '@']) {
            return Err(bad("the host is missing or invalid"));
        }
        let port = match port {
            None => 22,
            Some(port) => port.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| bad("bad port"))?,
        };
        Ok(Self { user: user.to_owned(), host: host.to_owned(), port })
    }
}

impl std::fmt::Display for SshTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.host.contains(':') {
            write!(f, "ssh://{}@[{}]:{}", self.user, self.host, self.port)
        } else {
            write!(f, "ssh://{}@{}:{}", self.user, self.host, self.port)
        }
    }
}

/// How the server's host key is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostKeyPolicy {
    /// Trust a host seen for the first time and record its key; refuse a changed key
    /// (`StrictHostKeyChecking=accept-new`).
    #[default]
    AcceptNew,
    /// Only hosts already in `known_hosts` (`StrictHostKeyChecking=yes`).
    Strict,
    /// No checking at all, nothing recorded (the reference's behaviour; trusted networks only).
    Off,
}

impl HostKeyPolicy {
    /// Parses `accept-new`, `strict` or `off`.
    ///
    /// # Errors
    /// Any other word.
    pub fn parse(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "accept-new" => Ok(Self::AcceptNew),
            "strict" | "yes" => Ok(Self::Strict),
            "off" | "no" => Ok(Self::Off),
            other => Err(format!("SSH host-key policy {other:?}: use accept-new, strict or off")),
        }
    }
}

/// Options of every `ssh` child.
#[derive(Debug, Clone)]
pub struct SshOptions {
    /// The client program (`ssh` on `PATH`).
    pub program: PathBuf,
    /// Identity file (`-i`, with `IdentitiesOnly`); `None` uses ssh's defaults and agent.
    pub identity: Option<PathBuf>,
    /// Host-key checking.
    pub host_keys: HostKeyPolicy,
    /// `known_hosts` file; `None` is ssh's default (`~/.ssh/known_hosts`).
    pub known_hosts: Option<PathBuf>,
    /// TCP connect timeout and budget for the forward to open.
    pub connect_timeout: Duration,
}

impl Default for SshOptions {
    fn default() -> Self {
        Self {
            program: PathBuf::from("ssh"),
            identity: None,
            host_keys: HostKeyPolicy::AcceptNew,
            known_hosts: None,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

/// What a tunnel forwards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forward {
    /// A local Unix socket to a remote Unix socket.
    Socket {
        /// Local socket path (created by ssh).
        local: PathBuf,
        /// Remote socket path.
        remote: String,
    },
    /// `127.0.0.1:<local_port>` to `<remote_host>:<remote_port>` as seen from the remote host.
    Port {
        /// Local loopback port.
        local_port: u16,
        /// Address on the remote side (a container IP, or 127.0.0.1).
        remote_host: String,
        /// Port on the remote side.
        remote_port: u16,
    },
}

impl Forward {
    fn spec(&self) -> String {
        match self {
            Self::Socket { local, remote } => format!("{}:{remote}", local.display()),
            Self::Port { local_port, remote_host, remote_port } => {
                let remote_host = if remote_host.contains(':') { format!("[{remote_host}]") } else { remote_host.clone() };
                format!("127.0.0.1:{local_port}:{remote_host}:{remote_port}")
            }
        }
    }
}

/// The ssh arguments for `target` forwarding `forward` (everything after the program name).
#[must_use]
pub fn ssh_args(target: &SshTarget, options: &SshOptions, forward: &Forward) -> Vec<String> {
    let mut args: Vec<String> = vec!["-N".into(), "-T".into(), "-x".into(), "-a".into()];
    let mut option = |text: String| {
        args.push("-o".into());
        args.push(text);
    };
    option("BatchMode=yes".into());
    option("ControlMaster=no".into());
    option("ControlPath=none".into());
    option("ExitOnForwardFailure=yes".into());
    option("ServerAliveInterval=15".into());
    option("ServerAliveCountMax=3".into());
    option(format!("ConnectTimeout={}", options.connect_timeout.as_secs().max(1)));
    option("LogLevel=ERROR".into());
    option("StreamLocalBindUnlink=yes".into());
    match options.host_keys {
        HostKeyPolicy::AcceptNew => option("StrictHostKeyChecking=accept-new".into()),
        HostKeyPolicy::Strict => option("StrictHostKeyChecking=yes".into()),
        HostKeyPolicy::Off => {
            option("StrictHostKeyChecking=no".into());
            option("UserKnownHostsFile=/dev/null".into());
            option("GlobalKnownHostsFile=/dev/null".into());
        }
    }
    if options.host_keys != HostKeyPolicy::Off
        && let Some(file) = &options.known_hosts
    {
        option(format!("UserKnownHostsFile={}", file.display()));
    }
    if let Some(identity) = &options.identity {
        option("IdentitiesOnly=yes".into());
        args.push("-i".into());
        args.push(identity.display().to_string());
    }
    args.push("-p".into());
    args.push(target.port.to_string());
    args.push("-L".into());
    args.push(forward.spec());
    args.push("-l".into());
    args.push(target.user.clone());
    args.push("--".into());
    args.push(target.host.clone());
    args
}

/// Maps ssh's last error line to an error naming the host.
fn classify(host: &str, detail: &str) -> Error {
    let (host, lower) = (host.to_owned(), detail.to_ascii_lowercase());
    let detail = if detail.trim().is_empty() { "ssh exited without a message".to_owned() } else { detail.trim().to_owned() };
    if lower.contains("permission denied") || lower.contains("too many authentication failures") {
        Error::AuthRefused { host, detail }
    } else if lower.contains("host key verification failed")
        || lower.contains("host key is known")
        || lower.contains("remote host identification has changed")
    {
        Error::HostKey { host, detail }
    } else if [
        "connection refused",
        "timed out",
        "no route to host",
        "could not resolve",
        "network is unreachable",
        "connection closed",
        "connection reset",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
    {
        Error::Unreachable { host, detail }
    } else {
        Error::Tunnel { host, detail }
    }
}

/// The last lines ssh wrote to stderr.
type Lines = Arc<Mutex<VecDeque<String>>>;

#[derive(Debug)]
struct Running {
    child: Child,
    stderr: Lines,
}

/// One owned `ssh -N -L …` process.
#[derive(Debug)]
pub struct Tunnel {
    target: SshTarget,
    options: SshOptions,
    forward: Forward,
    running: tokio::sync::Mutex<Option<Running>>,
    restarts: AtomicUsize,
    /// Directory holding the local socket, removed on drop.
    socket_dir: Option<PathBuf>,
}

static SOCKET_COUNTER: AtomicUsize = AtomicUsize::new(0);

impl Tunnel {
    /// Forwards the remote engine's socket to a fresh local socket in a private directory.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn docker_socket(target: &SshTarget, options: &SshOptions) -> Result<Self, Error> {
        remove_stale_socket_dirs();
        let dir = std::env::temp_dir().join(format!("af-ssh-{}-{}", std::process::id(), SOCKET_COUNTER.fetch_add(1, Ordering::Relaxed)));
        let made = std::fs::create_dir_all(&dir).and_then(|()| {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
        });
        if let Err(error) = made {
            return Err(Error::Tunnel { host: target.to_string(), detail: format!("cannot create {}: {error}", dir.display()) });
        }
        let forward = Forward::Socket { local: dir.join("docker.sock"), remote: REMOTE_DOCKER_SOCKET.to_owned() };
        Self::open(target, options, forward, Some(dir)).await
    }

    /// Forwards a free loopback port to `remote_host:remote_port` on the remote side.
    ///
    /// # Errors
    /// See [`Error`].
    pub async fn port(target: &SshTarget, options: &SshOptions, remote_host: &str, remote_port: u16) -> Result<Self, Error> {
        let local_port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| Error::Tunnel { host: target.to_string(), detail: format!("no free local port: {e}") })?
            .port();
        let forward = Forward::Port { local_port, remote_host: remote_host.to_owned(), remote_port };
        Self::open(target, options, forward, None).await
    }

    async fn open(target: &SshTarget, options: &SshOptions, forward: Forward, socket_dir: Option<PathBuf>) -> Result<Self, Error> {
        let tunnel = Self {
            target: target.clone(),
            options: options.clone(),
            forward,
            running: tokio::sync::Mutex::new(None),
            restarts: AtomicUsize::new(0),
            socket_dir,
        };
        let started = Instant::now();
        let running = tunnel.spawn().await?;
        *tunnel.running.lock().await = Some(running);
        tracing::info!(host = %tunnel.target, forward = tunnel.forward.spec(), setup_ms = started.elapsed().as_millis(), "ssh tunnel open");
        Ok(tunnel)
    }

    /// The host this tunnel goes to.
    #[must_use]
    pub fn target(&self) -> &SshTarget {
        &self.target
    }

    /// The local socket path of a [`Forward::Socket`] tunnel.
    #[must_use]
    pub fn local_socket(&self) -> Option<&Path> {
        match &self.forward {
            Forward::Socket { local, .. } => Some(local),
            Forward::Port { .. } => None,
        }
    }

    /// The local port of a [`Forward::Port`] tunnel.
    #[must_use]
    pub fn local_port(&self) -> Option<u16> {
        match &self.forward {
            Forward::Port { local_port, .. } => Some(*local_port),
            Forward::Socket { .. } => None,
        }
    }

    /// How many times the ssh process was restarted.
    #[must_use]
    pub fn restarts(&self) -> usize {
        self.restarts.load(Ordering::Relaxed)
    }

    /// The process id of the running ssh child.
    pub async fn pid(&self) -> Option<u32> {
        self.running.lock().await.as_ref().and_then(|r| r.child.id())
    }

    /// Restarts the ssh process when it has exited; returns whether it did.
    ///
    /// # Errors
    /// The restart failed.
    pub async fn ensure(&self) -> Result<bool, Error> {
        let mut running = self.running.lock().await;
        let alive = match running.as_mut() {
            Some(r) => matches!(r.child.try_wait(), Ok(None)),
            None => false,
        };
        if alive {
            return Ok(false);
        }
        tracing::warn!(host = %self.target, forward = self.forward.spec(), "ssh tunnel exited; restarting it");
        *running = None;
        *running = Some(self.spawn().await?);
        self.restarts.fetch_add(1, Ordering::Relaxed);
        Ok(true)
    }

    /// Kills the ssh process and waits for it. Idempotent.
    pub async fn close(&self) {
        if let Some(mut running) = self.running.lock().await.take() {
            let _ = running.child.start_kill();
            let _ = tokio::time::timeout(Duration::from_secs(2), running.child.wait()).await;
        }
    }

    async fn spawn(&self) -> Result<Running, Error> {
        let host = self.target.to_string();
        if let Forward::Socket { local, .. } = &self.forward {
            let _ = std::fs::remove_file(local);
        }
        // Through setpriv a missing client would only show as setpriv's exit: look for it first.
        let missing = |source| Error::Missing { host: host.clone(), program: self.options.program.clone(), source };
        if !program_exists(&self.options.program) {
            return Err(missing(std::io::Error::new(std::io::ErrorKind::NotFound, "not found on PATH")));
        }
        let mut command = match parent_death_wrapper() {
            Some(setpriv) => {
                let mut command = Command::new(setpriv);
                command.args(["--pdeathsig", "TERM", "--"]).arg(&self.options.program);
                command
            }
            None => Command::new(&self.options.program),
        };
        command
            .args(ssh_args(&self.target, &self.options, &self.forward))
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        tracing::debug!(host, forward = self.forward.spec(), "starting ssh");
        let mut child = command.spawn().map_err(missing)?;
        let stderr: Lines = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(pipe) = child.stderr.take() {
            let (lines, host) = (Arc::clone(&stderr), host.clone());
            tokio::spawn(async move {
                let mut reader = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = reader.next_line().await {
                    tracing::debug!(host, line, "ssh");
                    if let Ok(mut lines) = lines.lock() {
                        if lines.len() == 20 {
                            lines.pop_front();
                        }
                        lines.push_back(line);
                    }
                }
            });
        }
        let mut running = Running { child, stderr };
        let deadline = Instant::now() + self.options.connect_timeout + Duration::from_secs(5);
        loop {
            if let Ok(Some(status)) = running.child.try_wait() {
                // Let the reader catch the last lines.
                tokio::time::sleep(Duration::from_millis(50)).await;
                let detail = last_error(&running.stderr).unwrap_or_else(|| format!("ssh exited with {status}"));
                return Err(classify(&host, &detail));
            }
            if self.forward_open().await {
                return Ok(running);
            }
            if Instant::now() >= deadline {
                let _ = running.child.start_kill();
                let _ = running.child.wait().await;
                let detail = last_error(&running.stderr).unwrap_or_else(|| "the forward did not open in time".to_owned());
                return Err(classify(&host, &format!("timed out: {detail}")));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn forward_open(&self) -> bool {
        match &self.forward {
            Forward::Socket { local, .. } => tokio::net::UnixStream::connect(local).await.is_ok(),
            Forward::Port { local_port, .. } => tokio::net::TcpStream::connect(("127.0.0.1", *local_port)).await.is_ok(),
        }
    }
}

/// Removes `af-ssh-<pid>-<n>` socket directories of processes that are gone (an `af` that was
/// killed before it could clean up).
fn remove_stale_socket_dirs() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else { return };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("af-ssh-")).and_then(|rest| rest.split('-').next()) else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else { continue };
        let gone = matches!(nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None), Err(nix::errno::Errno::ESRCH));
        if gone && pid > 0 {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// Whether `program` (a path, or a name looked up on `PATH`) is an existing file.
fn program_exists(program: &Path) -> bool {
    if program.components().count() > 1 {
        return program.is_file();
    }
    std::env::var_os("PATH").is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `setpriv` when it supports `--pdeathsig` (util-linux 2.33+): the kernel then signals the ssh
/// child when the thread that started it, and so `af`, is gone. Checked once.
fn parent_death_wrapper() -> Option<&'static Path> {
    static WRAPPER: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    WRAPPER
        .get_or_init(|| {
            let path = ["/usr/bin/setpriv", "/bin/setpriv"].into_iter().map(PathBuf::from).find(|p| p.is_file())?;
            let help = std::process::Command::new(&path).arg("--help").output().ok()?;
            String::from_utf8_lossy(&help.stdout).contains("--pdeathsig").then_some(path)
        })
        .as_deref()
}

fn last_error(lines: &Lines) -> Option<String> {
    let lines = lines.lock().ok()?;
    lines.iter().rev().find(|line| !line.trim().is_empty()).cloned()
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        // kill_on_drop kills a child still owned here; remove the socket directory.
        if let Some(running) = self.running.get_mut().as_mut() {
            let _ = running.child.start_kill();
        }
        if let Some(dir) = &self.socket_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_ssh_targets() {
        let target = SshTarget::parse("ssh://root@10.0.0.5:2222").expect("parses");
        assert_eq!((target.user.as_str(), target.host.as_str(), target.port), ("root", "10.0.0.5", 2222));
        assert_eq!(SshTarget::parse("ssh://me@box").expect("default port").port, 22);
        assert_eq!(SshTarget::parse("ssh://me@[::1]:22").expect("v6").host, "::1");
        assert_eq!(SshTarget::parse("ssh://me@[::1]:22").expect("v6").to_string(), "ssh://me@[::1]:22");
        for bad in ["ssh://box", "ssh://@box", "ssh://me@", "ssh://me@box:0", "ssh://me@box:x", "tcp://me@box", "me@box"] {
            assert!(SshTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_args_never_prompt_and_follow_the_host_key_policy() {
        let target = SshTarget::parse("ssh://deploy@host:2200").expect("parses");
        let forward = Forward::Port { local_port: 4000, remote_host: "172.17.0.2".into(), remote_port: 8000 };
        let mut options = SshOptions { identity: Some("/k/id".into()), known_hosts: Some("/k/kh".into()), ..SshOptions::default() };
        let args = ssh_args(&target, &options, &forward).join(" ");
        for needle in [
            "BatchMode=yes",
            "ControlMaster=no",
            "StrictHostKeyChecking=accept-new",
            "UserKnownHostsFile=/k/kh",
            "-i /k/id",
            "-p 2200",
            "-L 127.0.0.1:4000:172.17.0.2:8000",
            "-l deploy -- host",
        ] {
            assert!(args.contains(needle), "{needle} in {args}");
        }
        options.host_keys = HostKeyPolicy::Off;
        let args = ssh_args(&target, &options, &forward).join(" ");
        assert!(args.contains("StrictHostKeyChecking=no") && args.contains("UserKnownHostsFile=/dev/null"), "{args}");
        assert!(!args.contains("/k/kh"), "{args}");
        assert_eq!(HostKeyPolicy::parse("strict"), Ok(HostKeyPolicy::Strict));
        assert!(HostKeyPolicy::parse("maybe").is_err());
    }

    #[test]
    fn ssh_failures_are_classified() {
        let host = "ssh://a@b:22";
        assert!(matches!(classify(host, "a@b: Permission denied (publickey)."), Error::AuthRefused { .. }));
        assert!(matches!(classify(host, "Host key verification failed."), Error::HostKey { .. }));
        assert!(matches!(classify(host, "ssh: connect to host b port 22: Connection refused"), Error::Unreachable { .. }));
        assert!(matches!(classify(host, "something odd"), Error::Tunnel { .. }));
        assert!(classify(host, "Permission denied").to_string().starts_with("ssh://a@b:22: SSH authentication refused"));
    }
}
