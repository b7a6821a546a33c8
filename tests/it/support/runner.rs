//! `af runner` as an operator starts it: the built binary in a child process, its stderr kept
//! (and searchable) while it runs. Killed on drop.

use std::collections::HashMap;
use std::io::Read as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A running `af -vv runner`.
pub struct RunnerProcess {
    child: Option<Child>,
    log: Arc<Mutex<String>>,
}

impl Drop for RunnerProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl RunnerProcess {
    /// Starts `af -vv runner ARGS` with exactly `env` (plus `PATH`, `HOME`).
    pub fn start(env: &HashMap<String, String>, args: &[String]) -> Self {
        let mut command: Command = super::af();
        command.envs(env).arg("-vv").arg("runner").args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = command.spawn().expect("start af runner");
        let log = Arc::new(Mutex::new(String::new()));
        let mut pipe = child.stderr.take().expect("stderr is piped");
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            let mut buffer = [0_u8; 8192];
            while let Ok(n) = pipe.read(&mut buffer) {
                if n == 0 {
                    return;
                }
                sink.lock().expect("log lock").push_str(&String::from_utf8_lossy(&buffer[..n]));
            }
        });
        Self { child: Some(child), log }
    }

    /// Everything logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log lock").clone()
    }

    /// Waits (up to `limit`) until the log holds `count` lines containing `pattern`.
    pub fn wait_for(&self, pattern: &str, count: usize, limit: Duration) {
        let deadline = Instant::now() + limit;
        loop {
            if self.log().lines().filter(|line| line.contains(pattern)).count() >= count {
                return;
            }
            assert!(Instant::now() < deadline, "no {count} lines with {pattern:?} within {limit:?}; log:\n{}", tail(&self.log()));
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The process id.
    pub fn pid(&self) -> nix::unistd::Pid {
        nix::unistd::Pid::from_raw(i32::try_from(self.child.as_ref().expect("running").id()).expect("pid fits"))
    }

    /// SIGKILL, then reaps the child.
    pub fn kill9(mut self) {
        let mut child = self.child.take().expect("running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Sends SIGTERM and waits (up to `limit`); returns the exit code, how long the exit took
    /// and the whole log.
    pub fn terminate(mut self, limit: Duration) -> (Option<i32>, Duration, String) {
        let mut child = self.child.take().expect("running");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid fits"));
        let started = Instant::now();
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).expect("signal the runner");
        let status = wait_until(&mut child, started + limit);
        std::thread::sleep(Duration::from_millis(100));
        (status.and_then(|s| s.code()), started.elapsed(), self.log())
    }

    /// Waits (up to `limit`) for the runner to exit on its own; returns its code and log.
    pub fn wait_exit(mut self, limit: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("running");
        let status = wait_until(&mut child, Instant::now() + limit);
        std::thread::sleep(Duration::from_millis(100));
        (status.and_then(|s| s.code()), self.log())
    }
}

fn wait_until(child: &mut Child, deadline: Instant) -> Option<std::process::ExitStatus> {
    loop {
        if let Some(status) = child.try_wait().expect("poll the runner") {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The last lines of a log, for failure messages.
pub fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().filter(|line| !line.contains(" DEBUG ") && !line.contains(" TRACE ")).collect();
    lines[lines.len().saturating_sub(60)..].join("\n")
}
