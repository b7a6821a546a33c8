//! `af devnet` as a user starts it: the built binary in a child process on free ports, its
//! banner read from stdout, its settings from `devnet.env`. Killed on drop.

use std::collections::HashMap;
use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `af devnet`.
pub struct DevnetProcess {
    child: Option<Child>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    /// The `--json` banner.
    pub banner: Value,
    /// The variables of `devnet.env`.
    pub env: HashMap<String, String>,
}

impl Drop for DevnetProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Reads `KEY=VALUE` lines (comments and blanks skipped).
pub fn read_env_file(path: &Path) -> HashMap<String, String> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
        .collect()
}

impl DevnetProcess {
    /// Starts `af devnet --dir DIR --port 0 --json ARGS` and waits (up to a minute) for its
    /// banner.
    pub fn start(dir: &Path, args: &[&str]) -> Self {
        let mut child = super::af()
            .args(["devnet", "--dir"])
            .arg(dir)
            .args(["--port", "0", "--json"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start af devnet");
        let stderr = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = stderr.clone();
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 4096];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    return;
                }
                sink.lock().expect("stderr lock").extend_from_slice(&buffer[..n]);
            }
        });
        let mut stdout = child.stdout.take().expect("stdout is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut text = Vec::new();
            let mut buffer = [0_u8; 4096];
            loop {
                match stdout.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => text.extend_from_slice(&buffer[..n]),
                }
                if let Ok(value) = serde_json::from_slice::<Value>(&text) {
                    let _ = sender.send(value);
                    // Keep draining so the child never blocks on a full pipe.
                    let _ = std::io::copy(&mut stdout, &mut std::io::sink());
                    return;
                }
            }
        });
        let Ok(banner) = receiver.recv_timeout(Duration::from_secs(60)) else {
            let _ = child.kill();
            let _ = child.wait();
            std::thread::sleep(Duration::from_millis(100));
            panic!("af devnet printed no banner: {}", String::from_utf8_lossy(&stderr.lock().expect("stderr lock")));
        };
        let env = read_env_file(&dir.join("devnet.env"));
        Self { child: Some(child), stderr, banner, env }
    }

    /// The built `af` with the devnet's variables (and nothing else) set.
    pub fn af(&self) -> Command {
        let mut command = super::af();
        command.envs(&self.env);
        command
    }

    /// Runs `af ARGS` against the devnet; panics unless it exits 0; returns stdout.
    pub fn run(&self, args: &[&str]) -> String {
        let output = self.af().args(args).output().expect("run af");
        assert!(output.status.success(), "af {args:?} failed ({:?}): {}", output.status.code(), String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).expect("UTF-8 stdout")
    }

    /// Sends SIGTERM and waits (up to 30 s) for the exit; returns the exit code and stderr.
    pub fn terminate(mut self) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal af devnet");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().expect("poll af devnet") {
                std::thread::sleep(Duration::from_millis(100));
                return (status.code(), String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned());
            }
            assert!(Instant::now() < deadline, "af devnet did not exit within 30 s of SIGTERM");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
