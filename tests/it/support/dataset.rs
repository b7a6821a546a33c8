//! The fixture ABD/DED dataset and a local HTTP server that serves it in the R2 layout.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;

/// `tests/fixtures/rl-python`: the root of the bucket layout.
pub fn fixture_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("fixtures").join("rl-python")
}

/// All fixture rows in task-id order (files sorted by key).
pub fn fixture_rows() -> Vec<Value> {
    let folder = fixture_root().join("affine/datasets/satpalsr/rl-python");
    let mut names: Vec<PathBuf> = std::fs::read_dir(&folder)
        .expect("fixture folder")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("part-")))
        .collect();
    names.sort();
    names.iter().flat_map(|path| serde_json::from_slice::<Vec<Value>>(&std::fs::read(path).expect("read")).expect("rows")).collect()
}

/// A static file server over a directory; shut down on drop.
pub struct DatasetServer {
    /// `http://127.0.0.1:<port>`
    pub base_url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl DatasetServer {
    /// Serves `root` on 127.0.0.1:0.
    pub async fn start(root: PathBuf) -> Self {
        let app = Router::new().fallback(serve_file).with_state(Arc::new(root));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address: SocketAddr = listener.local_addr().expect("address");
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp| {
            let _ = tcp.set_nodelay(true);
        });
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { base_url: format!("http://{address}"), shutdown: Some(shutdown) }
    }
}

impl Drop for DatasetServer {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

async fn serve_file(State(root): State<Arc<PathBuf>>, request: Request) -> Response {
    let path = request.uri().path().trim_start_matches('/');
    if path.split('/').any(|part| part == "..") {
        return StatusCode::BAD_REQUEST.into_response();
    }
    match tokio::fs::read(root.join(path)).await {
        Ok(bytes) => bytes.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
