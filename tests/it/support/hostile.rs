//! Hostile peers for the hostile suites: a raw HTTP/1.1 server on 127.0.0.1 (port 0) whose
//! answers are scripted per path (complete answers, endless or oversized bodies, 429 forever,
//! silence), a real `af env serve` whose process id is known, and a runner that bounds a
//! child `af`'s time, measures its peak RSS and sends it signals.

use std::io::BufRead as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// How the server answers a request whose target starts with a route's prefix.
#[derive(Debug, Clone)]
pub enum Answer {
    /// `status` with a JSON body and its `Content-Length`.
    Json(u16, String),
    /// `status` with an empty body and, when given, `Retry-After: secs` (429 forever).
    Status(u16, Option<u64>),
    /// 200 with a chunked body of zeros that never ends.
    Endless,
    /// 200 declaring `Content-Length: n`, then zeros until the client goes away.
    Declared(u64),
    /// Reads the request and never answers (the socket stays open).
    Silent,
}

/// The running server; stops on drop.
pub struct HostileServer {
    url: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl HostileServer {
    /// Serves `routes` (first matching prefix wins, else 404); returns once it accepts.
    pub async fn start(routes: Vec<(&str, Answer)>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let routes: Arc<Vec<(String, Answer)>> = Arc::new(routes.into_iter().map(|(p, a)| (p.to_owned(), a)).collect());
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (routes, counter) = (Arc::clone(&routes), Arc::clone(&counter));
                tokio::spawn(async move {
                    let _ = serve(stream, &routes, &counter).await;
                });
            }
        });
        Self { url, hits, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// `ws://127.0.0.1:PORT` (for a node that never completes the handshake).
    pub fn ws_url(&self) -> String {
        self.url.replacen("http://", "ws://", 1)
    }

    /// Requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for HostileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: tokio::net::TcpStream, routes: &[(String, Answer)], hits: &AtomicUsize) -> std::io::Result<()> {
    loop {
        let mut head = Vec::new();
        let mut byte = [0_u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if stream.read(&mut byte).await? == 0 {
                return Ok(());
            }
            head.push(byte[0]);
        }
        hits.fetch_add(1, Ordering::SeqCst);
        let text = String::from_utf8_lossy(&head).into_owned();
        let target = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let length: usize = text
            .lines()
            .filter_map(|l| l.split_once(':'))
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0_u8; length];
        stream.read_exact(&mut body).await?;
        let answer = routes.iter().find(|(prefix, _)| target.starts_with(prefix.as_str())).map(|(_, a)| a.clone());
        match answer {
            None => stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n").await?,
            Some(Answer::Json(status, body)) => {
                let head =
                    format!("HTTP/1.1 {status} Scripted\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n", body.len());
                stream.write_all(head.as_bytes()).await?;
                stream.write_all(body.as_bytes()).await?;
            }
            Some(Answer::Status(status, retry_after)) => {
                let extra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
                stream.write_all(format!("HTTP/1.1 {status} Scripted\r\n{extra}Content-Length: 0\r\n\r\n").as_bytes()).await?;
            }
            Some(Answer::Endless) => {
                stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n").await?;
                let chunk = [b"10000\r\n".as_slice(), &vec![b'0'; 0x10000], b"\r\n"].concat();
                loop {
                    stream.write_all(&chunk).await?;
                }
            }
            Some(Answer::Declared(length)) => {
                let head = format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n");
                stream.write_all(head.as_bytes()).await?;
                let zeros = vec![b'0'; 0x10000];
                loop {
                    stream.write_all(&zeros).await?;
                }
            }
            Some(Answer::Silent) => {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// How a child ended.
#[derive(Debug)]
pub struct Finished {
    /// Exit code (`None`: killed by a signal).
    pub code: Option<i32>,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// From start to exit.
    pub elapsed: Duration,
}

impl Finished {
    /// stdout and stderr together, for "never printed" checks.
    pub fn output(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }
}

/// A child whose output is being collected.
pub struct Running {
    child: std::process::Child,
    started: Instant,
    out: std::thread::JoinHandle<String>,
    err: std::thread::JoinHandle<String>,
}

fn collect(mut pipe: impl std::io::Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        String::from_utf8_lossy(&bytes).into_owned()
    })
}

/// Starts `command` with stdout and stderr captured (stdin closed).
pub fn start(mut command: std::process::Command) -> Running {
    let mut child = command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start af");
    let out = collect(child.stdout.take().expect("stdout is piped"));
    let err = collect(child.stderr.take().expect("stderr is piped"));
    Running { child, started: Instant::now(), out, err }
}

impl Running {
    /// Sends `signal` to the child.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, signal).expect("signal the child");
    }

    /// Waits up to `limit`; a child still running then is killed and the test fails.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                let stderr = self.err.join().unwrap_or_default();
                panic!("af still running after {limit:?}; stderr:\n{stderr}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let elapsed = self.started.elapsed();
        Finished { code: status.code(), stdout: self.out.join().unwrap_or_default(), stderr: self.err.join().unwrap_or_default(), elapsed }
    }
}

/// Runs `command` to the end within `limit` (see [`Running::finish`]).
pub fn run_within(command: std::process::Command, limit: Duration) -> Finished {
    start(command).finish(limit)
}

/// Peak resident set, in MiB, of the largest child this test process has waited for
/// (`getrusage(RUSAGE_CHILDREN)`; nextest runs each test in its own process).
pub fn children_peak_rss_mib() -> i64 {
    nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).expect("getrusage").max_rss() / 1024
}

/// Peak resident set, in MiB, of the running process `pid` (`VmHWM`).
pub fn process_peak_rss_mib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/PID/status");
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).expect("VmHWM line");
    line.split_whitespace().nth(1).and_then(|kib| kib.parse::<u64>().ok()).expect("VmHWM in kB") / 1024
}

/// A real `af env serve` on 127.0.0.1:0 with extra arguments; killed on drop.
pub struct ServeProcess {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// `127.0.0.1:<port>`.
    pub address: String,
    child: std::process::Child,
}

impl ServeProcess {
    /// Starts `af env serve` with `args` (after the listen address); returns once it listens.
    pub fn start(args: &[&str]) -> Self {
        let mut child = crate::support::af()
            .args(["-v", "env", "serve", "--env", "affine", "--host", "127.0.0.1", "--port", "0", "--python"])
            .arg(crate::support::sandbox_python())
            .arg("--dataset-dir")
            .arg(crate::support::dataset::fixture_root())
            .args(args)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn af env serve");
        let stderr = child.stderr.take().expect("stderr is piped");
        let mut lines = std::io::BufReader::new(stderr).lines();
        let line = lines.find_map(|line| line.ok().filter(|l| l.contains("address="))).expect("the address log line");
        std::thread::spawn(move || lines.for_each(drop));
        let address = line.split("address=").nth(1).and_then(|rest| rest.split_whitespace().next()).expect("address").to_owned();
        Self { url: format!("http://{address}"), address, child }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal`.
    pub fn signal(&self, signal: nix::sys::signal::Signal) {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits"));
        nix::sys::signal::kill(pid, signal).expect("signal af env serve");
    }

    /// Waits up to `limit` for the process to exit and returns its exit code.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status.code();
            }
            assert!(Instant::now() < deadline, "af env serve still running after {limit:?}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every path under `root`, relative, sorted, except those under `skip` (for "nothing outside
/// the destination changed" checks), with each regular file's bytes.
pub fn tree(root: &std::path::Path, skip: &std::path::Path) -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
    let mut found = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("list").flatten() {
            let path = entry.path();
            if path.starts_with(skip) {
                continue;
            }
            let kind = entry.file_type().expect("file type");
            let relative = path.strip_prefix(root).expect("below root").to_path_buf();
            if kind.is_dir() {
                stack.push(path);
                found.push((relative, None));
            } else {
                let bytes = if kind.is_file() { std::fs::read(&path).ok() } else { None };
                found.push((relative, bytes));
            }
        }
    }
    found.sort();
    found
}
