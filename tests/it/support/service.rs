//! A long-running `af` command (`af signer`, `af validate`) as a child process: stdout and
//! stderr collected as they come, waits that poll for a line instead of sleeping, SIGTERM with
//! the exit code, and a kill on drop so a failing test leaves nothing running.

use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A running `af` child.
pub struct Service {
    child: Option<Child>,
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    name: String,
}

fn collect(mut pipe: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<u8>>> {
    let sink = Arc::new(Mutex::new(Vec::new()));
    let buffer = sink.clone();
    std::thread::spawn(move || {
        let mut chunk = [0_u8; 8192];
        while let Ok(n) = pipe.read(&mut chunk) {
            if n == 0 {
                return;
            }
            buffer.lock().expect("output lock").extend_from_slice(&chunk[..n]);
        }
    });
    sink
}

impl Service {
    /// Spawns `command` (stdin closed, stdout and stderr collected).
    pub fn spawn(name: &str, mut command: Command) -> Self {
        let mut child = command.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("start af");
        let stdout = collect(child.stdout.take().expect("piped"));
        let stderr = collect(child.stderr.take().expect("piped"));
        Self { child: Some(child), stdout, stderr, name: name.to_owned() }
    }

    /// Everything written to stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr lock")).into_owned()
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("stdout lock")).into_owned()
    }

    /// The JSON documents on stdout so far (one per tempo with `--json`).
    pub fn documents(&self) -> Vec<Value> {
        let text = self.stdout();
        serde_json::Deserializer::from_str(&text).into_iter::<Value>().map_while(Result::ok).collect()
    }

    /// The exit status, once the process has exited.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|child| child.try_wait().expect("poll af"))
    }

    /// Polls `probe` every 50 ms until it returns `Some`, for at most `timeout`; panics with
    /// the process's output otherwise (or when it exits first).
    pub fn wait_for<T>(&mut self, what: &str, timeout: Duration, mut probe: impl FnMut(&Self) -> Option<T>) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(found) = probe(self) {
                return found;
            }
            if let Some(status) = self.exited() {
                std::thread::sleep(Duration::from_millis(100));
                if let Some(found) = probe(self) {
                    return found;
                }
                panic!("{} exited ({status}) before {what}\nstdout:\n{}\nstderr:\n{}", self.name, self.stdout(), self.stderr());
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {what} within {timeout:?}\nstdout:\n{}\nstderr:\n{}",
                self.name,
                self.stdout(),
                self.stderr()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until stderr contains `text`.
    pub fn wait_for_stderr(&mut self, text: &str, timeout: Duration) {
        self.wait_for(&format!("{text:?} on stderr"), timeout, |service| service.stderr().contains(text).then_some(()));
    }

    /// Sends SIGTERM and waits (up to `timeout`) for the exit; returns the exit code.
    pub fn terminate(&mut self, timeout: Duration) -> Option<i32> {
        let child = self.child.as_ref().expect("running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal af");
        self.exit_code(timeout)
    }

    /// Waits (up to `timeout`) for the exit and returns the code.
    pub fn exit_code(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                // Let the collector threads drain the pipes.
                std::thread::sleep(Duration::from_millis(100));
                return status.code();
            }
            assert!(Instant::now() < deadline, "{} did not exit within {timeout:?}\nstderr:\n{}", self.name, self.stderr());
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `address=IP:PORT` an `af signer` logged when it started listening.
pub fn listening_address(stderr: &str) -> Option<String> {
    let line = stderr.lines().find(|line| line.contains("signer listening"))?;
    let start = line.find("address=")? + "address=".len();
    Some(line[start..].split_whitespace().next()?.to_owned())
}

/// A JSON-RPC call to the devnet node (its WebSocket port answers HTTP POSTs too).
pub fn devnet_rpc(ws_url: &str, method: &str, params: &Value) -> Value {
    let url = ws_url.replacen("ws://", "http://", 1);
    let body = serde_json::json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let answer: Value = runtime.block_on(async {
        reqwest::Client::new().post(&url).json(&body).send().await.expect("rpc call").json().await.expect("rpc answer")
    });
    assert!(answer.get("error").is_none(), "{method}: {answer}");
    answer["result"].clone()
}
