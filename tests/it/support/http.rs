//! A small HTTP/1.1 file server on 127.0.0.1 (port 0) serving a folder with the store's key
//! layout, as the public r2.dev bucket does: `GET /{key}` answers the bytes with an `ETag`,
//! honours `If-None-Match` with 304, and 404s missing keys. Faults can be scripted per key
//! (a status with optional `Retry-After`, or a body cut short of its `Content-Length`), and
//! every request is counted. One connection per request (`Connection: close`).

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A scripted failure for the next request of a key.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Answer this status, with `Retry-After: secs` when given.
    Status(u16, Option<u64>),
    /// Send the headers with the full `Content-Length`, then half the body, then close.
    Truncate,
}

#[derive(Default)]
struct State {
    faults: HashMap<String, VecDeque<Fault>>,
    requests: HashMap<String, usize>,
}

/// The running server; stops on drop.
pub struct FileServer {
    url: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

fn fingerprint(bytes: &[u8]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in bytes {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("\"{:x}-{hash:016x}\"", bytes.len())
}

impl FileServer {
    /// Serves `root`; returns once the listener accepts connections.
    pub async fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind 127.0.0.1:0");
        let url = format!("http://{}", listener.local_addr().expect("local addr"));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else { continue };
                let (root, state) = (root.clone(), shared.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, &root, &state).await;
                });
            }
        });
        Self { url, state, task }
    }

    /// The base URL (`http://127.0.0.1:PORT`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Queues `fault` for the next request of `key`.
    pub fn fail_next(&self, key: &str, fault: Fault) {
        self.state.lock().expect("lock").faults.entry(key.to_owned()).or_default().push_back(fault);
    }

    /// Requests seen for `key`.
    pub fn requests(&self, key: &str) -> usize {
        self.state.lock().expect("lock").requests.get(key).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(mut stream: tokio::net::TcpStream, root: &std::path::Path, state: &Mutex<State>) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut head = Vec::new();
    let mut buffer = [0_u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head).into_owned();
    let mut lines = text.split("\r\n");
    let path = lines.next().and_then(|l| l.split(' ').nth(1)).unwrap_or("/").to_owned();
    let if_none_match =
        lines.filter_map(|l| l.split_once(':')).find(|(n, _)| n.eq_ignore_ascii_case("if-none-match")).map(|(_, v)| v.trim().to_owned());
    let key = path.trim_start_matches('/').to_owned();
    let fault = {
        let mut state = state.lock().expect("lock");
        *state.requests.entry(key.clone()).or_default() += 1;
        state.faults.get_mut(&key).and_then(VecDeque::pop_front)
    };
    if let Some(Fault::Status(status, retry_after)) = fault {
        let extra = retry_after.map(|s| format!("Retry-After: {s}\r\n")).unwrap_or_default();
        let response = format!("HTTP/1.1 {status} Scripted\r\n{extra}Content-Length: 0\r\nConnection: close\r\n\r\n");
        return stream.write_all(response.as_bytes()).await;
    }
    let safe = !key.split('/').any(|p| p == ".." || p.is_empty());
    let file = root.join(&key);
    let bytes = if safe { tokio::task::spawn_blocking(move || std::fs::read(file).ok()).await.ok().flatten() } else { None };
    let Some(bytes) = bytes else {
        return stream.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await;
    };
    let etag = fingerprint(&bytes);
    if if_none_match.as_deref() == Some(etag.as_str()) {
        let response = format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nConnection: close\r\n\r\n");
        return stream.write_all(response.as_bytes()).await;
    }
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nETag: {etag}\r\nConnection: close\r\n\r\n",
        bytes.len()
    );
    stream.write_all(header.as_bytes()).await?;
    if matches!(fault, Some(Fault::Truncate)) {
        stream.write_all(&bytes[..bytes.len() / 2]).await?;
        return stream.shutdown().await;
    }
    stream.write_all(&bytes).await?;
    stream.shutdown().await
}
