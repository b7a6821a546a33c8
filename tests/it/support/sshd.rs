//! A real OpenSSH server on a free loopback port, started by the test with a throwaway host key
//! and one authorized throwaway user key (plus a second key it does not accept), for the
//! current user. Killed on drop.

use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

/// A running `sshd -D`.
pub struct Sshd {
    /// Loopback port it listens on.
    pub port: u16,
    /// Login name (the current user).
    pub user: String,
    /// A key the server accepts.
    pub key: PathBuf,
    /// A key the server refuses.
    pub wrong_key: PathBuf,
    /// An empty, private `known_hosts` path for the client.
    pub known_hosts: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

fn keygen(path: &std::path::Path) {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "af-test", "-f"])
        .arg(path)
        .status()
        .expect("run ssh-keygen (apt-get install openssh-client)");
    assert!(status.success(), "ssh-keygen failed");
}

impl Sshd {
    /// Starts the server and waits until it accepts TCP connections.
    pub fn start() -> Self {
        let program = ["/usr/sbin/sshd", "/usr/local/sbin/sshd"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.is_file())
            .expect("no sshd (apt-get install openssh-server; .ci/setup installs it)");
        let dir = tempfile::tempdir().expect("tempdir");
        let (host_key, key, wrong_key) = (dir.path().join("host_key"), dir.path().join("user_key"), dir.path().join("wrong_key"));
        for path in [&host_key, &key, &wrong_key] {
            keygen(path);
        }
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(key.with_extension("pub"), &authorized).expect("authorize the key");
        // Privilege separation directory sshd insists on.
        let _ = std::fs::create_dir_all("/run/sshd");
        let user = nix::unistd::User::from_uid(nix::unistd::Uid::current()).ok().flatten().expect("current user").name;
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\nPidFile none\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\nAllowTcpForwarding yes\n\
                 AllowStreamLocalForwarding yes\nMaxStartups 100\nMaxSessions 100\nLogLevel ERROR\n",
                host_key.display(),
                authorized.display()
            ),
        )
        .expect("write sshd_config");
        let child = Command::new(program)
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start sshd");
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "sshd did not listen on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        let known_hosts = dir.path().join("known_hosts");
        Self { port, user, key, wrong_key, known_hosts, child, _dir: dir }
    }

    /// `ssh://user@127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("ssh://{}@127.0.0.1:{}", self.user, self.port)
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Process ids of live (not zombie) `ssh` clients to loopback port `port` (`-p <port>`).
pub fn ssh_clients(port: u16) -> Vec<u32> {
    let port = port.to_string();
    let Ok(entries) = std::fs::read_dir("/proc") else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            let words: Vec<String> = cmdline.split(|b| *b == 0).map(|w| String::from_utf8_lossy(w).into_owned()).collect();
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let zombie = stat.rsplit_once(')').is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            let is_ssh = words.first().is_some_and(|w| w == "ssh" || w.ends_with("/ssh"));
            (is_ssh && !zombie && words.windows(2).any(|pair| pair[0] == "-p" && pair[1] == port)).then_some(pid)
        })
        .collect()
}
