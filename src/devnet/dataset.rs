//! The ABD/DED dataset the devnet serves so the environments work offline: the repository's
//! fixture rows (a statement, a reference program, an input and test cases each), repeated to
//! fill the environments' task-id range, in the public bucket's layout
//! (`affine/datasets/satpalsr/rl-python/index.json` and `part-NNN.json`).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::serve::{self, Served};

/// The fixture's part files, in task-id order.
const FIXTURE_PARTS: [&str; 3] = [
    include_str!("../../tests/fixtures/rl-python/affine/datasets/satpalsr/rl-python/part-000.json"),
    include_str!("../../tests/fixtures/rl-python/affine/datasets/satpalsr/rl-python/part-001.json"),
    include_str!("../../tests/fixtures/rl-python/affine/datasets/satpalsr/rl-python/part-002.json"),
];

/// Rows the devnet's dataset holds: the ABD and DED task-id range `[0, 240)`.
pub const DEVNET_ROWS: usize = 240;
/// Rows per part file.
const ROWS_PER_FILE: usize = 30;
/// The folder of the dataset in the bucket layout.
pub const FOLDER: &str = "affine/datasets/satpalsr/rl-python";

/// The fixture's rows in task-id order.
///
/// # Panics
/// Never: the embedded files are checked by a unit test.
#[must_use]
pub fn fixture_rows() -> Vec<Value> {
    FIXTURE_PARTS.iter().flat_map(|text| serde_json::from_str::<Vec<Value>>(text).expect("the fixture parts are JSON arrays")).collect()
}

/// The devnet dataset's rows: the fixture repeated to [`DEVNET_ROWS`].
#[must_use]
pub fn rows() -> Vec<Value> {
    let fixture = fixture_rows();
    (0..DEVNET_ROWS).map(|index| fixture[index % fixture.len()].clone()).collect()
}

/// Every object of the dataset: key -> bytes.
#[must_use]
pub fn objects() -> BTreeMap<String, Vec<u8>> {
    let rows = rows();
    let mut objects = BTreeMap::new();
    let mut files = Vec::new();
    for (index, chunk) in rows.chunks(ROWS_PER_FILE).enumerate() {
        let key = format!("{FOLDER}/part-{index:03}.json");
        objects.insert(key.clone(), serde_json::to_vec(chunk).expect("rows serialise"));
        files.push(json!({"key": key, "row_count": chunk.len()}));
    }
    let index = json!({"files": files, "total_rows": rows.len()});
    objects.insert(format!("{FOLDER}/index.json"), serde_json::to_vec_pretty(&index).expect("the index serialises"));
    objects
}

/// Writes the dataset under `root` in the bucket layout (what `AF_DATASET_DIR` reads).
///
/// # Errors
/// The files cannot be written.
pub fn write_layout(root: &Path) -> std::io::Result<()> {
    for (key, bytes) in objects() {
        let path = root.join(&key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, bytes)?;
    }
    Ok(())
}

/// A read-only HTTP server over a set of objects (what `R2_PUBLIC_BASE` reads); stops on drop.
pub struct DatasetServer {
    served: Served,
}

impl DatasetServer {
    /// Serves `objects` (key -> bytes) on `listener`.
    #[must_use]
    pub fn serve(listener: tokio::net::TcpListener, objects: BTreeMap<String, Vec<u8>>) -> Self {
        let router = Router::new().fallback(serve_object).with_state(Arc::new(objects));
        Self { served: serve::spawn(listener, router) }
    }

    /// Serves the files under `root` (read once, at start) on a free loopback port.
    ///
    /// # Errors
    /// `root` cannot be read.
    pub async fn from_dir(root: &Path) -> std::io::Result<Self> {
        let mut objects = BTreeMap::new();
        let mut pending = vec![root.to_path_buf()];
        while let Some(dir) = pending.pop() {
            for entry in std::fs::read_dir(&dir)? {
                let path = entry?.path();
                if path.is_dir() {
                    pending.push(path);
                } else if let Ok(key) = path.strip_prefix(root) {
                    objects.insert(key.to_string_lossy().replace('\\', "/"), std::fs::read(&path)?);
                }
            }
        }
        Ok(Self::serve(serve::bind_loopback().await, objects))
    }

    /// `http://host:port`, the bucket's base URL.
    #[must_use]
    pub fn url(&self) -> &str {
        self.served.url()
    }
}

async fn serve_object(State(objects): State<Arc<BTreeMap<String, Vec<u8>>>>, request: Request) -> Response {
    match objects.get(request.uri().path().trim_start_matches('/')) {
        Some(bytes) => bytes.clone().into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_devnet_dataset_fills_the_task_range_with_the_fixture_rows() {
        let fixture = fixture_rows();
        assert_eq!(fixture.len(), 32);
        let rows = rows();
        assert_eq!(rows.len(), DEVNET_ROWS);
        assert_eq!(rows[32], fixture[0]);
        let objects = objects();
        let index: Value = serde_json::from_slice(&objects[&format!("{FOLDER}/index.json")]).expect("index");
        assert_eq!(index["total_rows"], 240);
        assert_eq!(objects.len(), 1 + DEVNET_ROWS / ROWS_PER_FILE);
    }
}
