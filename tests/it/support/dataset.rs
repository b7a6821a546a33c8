//! The fixture ABD/DED dataset and a local HTTP server that serves it in the R2 layout.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// `tests/fixtures/rl-python`: the root of the bucket layout.
pub fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join("rl-python")
}

/// All fixture rows in task-id order (files sorted by key).
pub fn fixture_rows() -> Vec<Value> {
    affine::devnet::dataset::fixture_rows()
}

/// A static file server over a directory; shut down on drop.
pub struct DatasetServer {
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    _server: affine::devnet::dataset::DatasetServer,
}

impl DatasetServer {
    /// Serves `root` on 127.0.0.1:0.
    pub async fn start(root: PathBuf) -> Self {
        let server = affine::devnet::dataset::DatasetServer::from_dir(&root).await.expect("read the dataset folder");
        Self { base_url: server.url().to_owned(), _server: server }
    }
}
