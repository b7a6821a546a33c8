//! Scripted miners for tests: one devnet inference endpoint answering by a policy.

use std::sync::Arc;
use std::time::Duration;

use affine::devnet::inference::{InferenceServer, SINGLE_SLUG};
use affine::devnet::policy::Policy;
use serde_json::Value;

/// How the scripted miner answers.
#[derive(Debug, Clone)]
pub enum Miner {
    /// Solves SAT by search and answers ABD/DED from these rows.
    Oracle(Arc<Vec<Value>>),
    /// A wrong but well-formed reply to everything.
    Wrong,
    /// Never answers within any reasonable timeout.
    Hang,
    /// Answers every request with this HTTP status.
    Status(u16),
}

/// A running miner; shut down on drop.
pub struct OpenAiServer {
    /// `http://127.0.0.1:<port>/<slug>/v1`
    pub base_url: String,
    server: InferenceServer,
}

impl OpenAiServer {
    /// Serves `miner` on a free loopback port.
    pub async fn start(miner: Miner) -> Self {
        let (policy, rows) = match miner {
            Miner::Oracle(rows) => (Policy::Oracle, rows),
            Miner::Wrong => (Policy::Fixed(0.0), Arc::new(Vec::new())),
            Miner::Hang => (Policy::Slow(Duration::from_secs(3600)), Arc::new(Vec::new())),
            Miner::Status(code) => (Policy::Status(code), Arc::new(Vec::new())),
        };
        let server = InferenceServer::single(policy, rows).await;
        Self { base_url: server.base_url(SINGLE_SLUG), server }
    }

    /// `(authorization header, body)` of every request received.
    pub fn requests(&self) -> Vec<(Option<String>, Value)> {
        self.server.requests(SINGLE_SLUG)
    }
}
