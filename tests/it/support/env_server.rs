//! A real `af env serve` process on 127.0.0.1 (port 0), and the shared Docker test image.

use std::io::BufRead as _;
use std::path::PathBuf;

use super::{af, dataset::fixture_root, sandbox_python};

/// A running `af env serve`; killed on drop.
pub struct EnvServer {
    /// `http://127.0.0.1:<port>`
    pub url: String,
    child: std::process::Child,
}

impl EnvServer {
    /// Starts `af env serve` on 127.0.0.1:0 over the fixture dataset; returns once it listens.
    pub async fn start() -> Self {
        Self::start_with_env(&[]).await
    }

    /// [`EnvServer::start`] with extra environment variables for the server process.
    pub async fn start_with_env(vars: &[(&str, &str)]) -> Self {
        let mut child = af()
            .args(["-v", "env", "serve", "--env", "affine", "--host", "127.0.0.1", "--port", "0", "--python"])
            .arg(sandbox_python())
            .arg("--dataset-dir")
            .arg(fixture_root())
            .envs(vars.iter().copied())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn af env serve");
        let stderr = child.stderr.take().expect("stderr");
        let address = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stderr).lines();
            let line = lines.find_map(|line| line.ok().filter(|l| l.contains("address="))).expect("address log line");
            std::thread::spawn(move || lines.for_each(drop));
            line.split("address=").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("address").to_owned()
        })
        .await
        .expect("join");
        Self { url: format!("http://{address}"), child }
    }

    /// Sends SIGTERM and waits for the process to exit.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}

impl Drop for EnvServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `af env serve` image built from this worktree's `af` binary, once per content (the build
/// is cached by content hash, and a file lock serialises the test processes that ask for it).
/// The tag is unique to the worktree so parallel checkouts do not retag each other's image.
pub fn test_image() -> String {
    use sha2::Digest as _;
    let manifest = env!("CARGO_MANIFEST_DIR");
    let tag = format!("af-test-env:{}", &hex::encode(sha2::Sha256::digest(manifest.as_bytes()))[..12]);
    let lock_path = PathBuf::from(manifest).join("target").join("af-test-image.lock");
    let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&lock_path).expect("open image lock");
    let _lock = nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).expect("lock");
    let output =
        af().args(["env", "image", "build", "--tag", &tag, "--python", "/usr/bin/python3"]).output().expect("run af env image build");
    assert!(output.status.success(), "image build failed: {}", String::from_utf8_lossy(&output.stderr));
    tag
}

/// Ids of containers (running or not) carrying `label` (`key=value`), via the Docker CLI.
pub fn containers_with_label(label: &str) -> Vec<String> {
    let output =
        std::process::Command::new("docker").args(["ps", "-aq", "--filter", &format!("label={label}")]).output().expect("run docker ps");
    assert!(output.status.success(), "docker ps: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).split_whitespace().map(str::to_owned).collect()
}
