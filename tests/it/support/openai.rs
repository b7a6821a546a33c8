//! A local OpenAI-compatible chat-completions server that plays scripted miners.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Json, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// How the scripted miner answers.
#[derive(Debug, Clone)]
pub enum Miner {
    /// Solves SAT by brute force and answers ABD/DED from the fixture rows.
    Oracle(Arc<Vec<Value>>),
    /// Answers everything with a wrong but well-formed reply.
    Wrong,
    /// Never answers within any reasonable timeout.
    Hang,
    /// Answers every request with this HTTP status.
    Status(u16),
}

struct Shared {
    miner: Miner,
    requests: Mutex<Vec<(Option<String>, Value)>>,
}

/// A running scripted server; shut down on drop.
pub struct OpenAiServer {
    /// `http://127.0.0.1:<port>/v1`
    pub base_url: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl OpenAiServer {
    /// Binds 127.0.0.1:0 and serves `miner`; returns once the socket accepts connections.
    pub async fn start(miner: Miner) -> Self {
        let shared = Arc::new(Shared { miner, requests: Mutex::new(Vec::new()) });
        let app = Router::new().route("/v1/chat/completions", post(chat)).with_state(Arc::clone(&shared));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address: SocketAddr = listener.local_addr().expect("address");
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { base_url: format!("http://{address}/v1"), shared, shutdown: Some(shutdown) }
    }

    /// `(authorization header, body)` of every request received.
    pub fn requests(&self) -> Vec<(Option<String>, Value)> {
        self.shared.requests.lock().expect("lock").clone()
    }
}

impl Drop for OpenAiServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn chat(State(shared): State<Arc<Shared>>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    let authorization = headers.get("authorization").and_then(|v| v.to_str().ok()).map(str::to_owned);
    shared.requests.lock().expect("lock").push((authorization, body.clone()));
    let prompt = body["messages"][0]["content"].as_str().unwrap_or("").to_owned();
    let content = match &shared.miner {
        Miner::Status(code) => {
            let status = StatusCode::from_u16(*code).expect("valid status");
            return (status, Json(json!({"detail": "scripted failure, try again later"}))).into_response();
        }
        Miner::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            String::new()
        }
        Miner::Wrong => "x1=True\n<INPUT>\nnot the input\n</INPUT>\n```python\nprint('wrong')\n```".to_owned(),
        Miner::Oracle(rows) => oracle_answer(&prompt, rows),
    };
    Json(json!({
        "id": "chatcmpl-test", "object": "chat.completion", "created": 0, "model": body["model"],
        "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
    }))
    .into_response()
}

fn oracle_answer(prompt: &str, rows: &[Value]) -> String {
    if prompt.starts_with("Find a satisfying assignment") {
        return solve_sat(prompt);
    }
    if prompt.contains("Expected Output:") {
        let row = rows.iter().find(|row| prompt.contains(&format!("```python\n{}\n```", row["program"].as_str().unwrap_or("\u{0}"))));
        let inputs = row.and_then(|row| row["inputs"].as_str()).unwrap_or("");
        return format!("<think>It reads the input.</think>\nThe input is:\n<INPUT>\n{inputs}\n</INPUT>");
    }
    let row = rows.iter().find(|row| prompt.starts_with(row["prompt"].as_str().unwrap_or("\u{0}")));
    let program = row.and_then(|row| row["program"].as_str()).unwrap_or("");
    format!("Here is the program.\n```python\n{program}```\n")
}

/// Parses the formula line and brute-forces all assignments of x1..x15.
fn solve_sat(prompt: &str) -> String {
    let formula = prompt.lines().nth(1).unwrap_or("");
    let clauses: Vec<Vec<i32>> = formula
        .split(" ∧ ")
        .map(|clause| {
            clause
                .trim_matches(|c| c == '(' || c == ')')
                .split(" ∨ ")
                .map(|literal| {
                    let negative = literal.starts_with('¬');
                    let variable: i32 = literal.trim_start_matches('¬').trim_start_matches('x').parse().expect("variable number");
                    if negative { -variable } else { variable }
                })
                .collect()
        })
        .collect();
    let variables = 15;
    for mask in 0u32..(1 << variables) {
        let value = |v: i32| mask & (1 << (v - 1)) != 0;
        if clauses.iter().all(|clause| clause.iter().any(|&l| value(l.abs()) == (l > 0))) {
            let parts: Vec<String> = (1..=variables).map(|v| format!("x{v}={}", if value(v) { "True" } else { "False" })).collect();
            return parts.join(", ");
        }
    }
    "UNSAT".to_owned()
}
