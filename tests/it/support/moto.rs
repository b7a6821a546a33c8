//! The S3 server of `moto` (the Python package `moto[server]`, installed into the CI venv by `.ci/setup`), started
//! per test on 127.0.0.1 and served one request at a time (Werkzeug `threaded=False`), so
//! conditional writes are exact (spec/services.md section 4). Killed on drop.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use affine::secret::Secret;
use affine::store::{S3Config, Store, StoreConfig};

const LAUNCHER: &str = "import sys
from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
run_simple('127.0.0.1', int(sys.argv[1]), DomainDispatcherApplication(create_backend_app),
           threaded=False, request_handler=MotoRequestHandler)";

/// The venv interpreter: `AF_TEST_PYTHON`, else `target/ci-venv/bin/python`. Panics with a
/// clear message when it is missing: a test that needs moto must not pass without it.
pub fn python() -> PathBuf {
    let path = std::env::var_os("AF_TEST_PYTHON")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/ci-venv/bin/python"), PathBuf::from);
    assert!(path.exists(), "moto tests need the CI venv at {} (run `bash .ci/setup`, or set AF_TEST_PYTHON)", path.display());
    path
}

/// A running moto server.
pub struct Moto {
    child: Child,
    url: String,
}

/// One raw HTTP/1.0 request; returns the status code.
pub fn http_status(url: &str, method: &str, path: &str) -> std::io::Result<u16> {
    let address = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(stream, "{method} {path} HTTP/1.0\r\nHost: {address}\r\nContent-Length: 0\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    response.split(' ').nth(1).and_then(|code| code.parse().ok()).ok_or_else(|| std::io::Error::other("no status line"))
}

impl Moto {
    /// Starts a server on a free port and returns once it answers S3 requests.
    pub fn start() -> Self {
        let python = python();
        for _ in 0..3 {
            let port = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port").port();
            let mut child = Command::new(&python)
                .args(["-c", LAUNCHER, &port.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start moto with {}: {e}", python.display()));
            let url = format!("http://127.0.0.1:{port}");
            let deadline = Instant::now() + Duration::from_secs(60);
            while Instant::now() < deadline {
                if child.try_wait().expect("poll moto").is_some() {
                    break;
                }
                if http_status(&url, "GET", "/").is_ok_and(|s| s == 200) {
                    return Self { child, url };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("moto did not start (is moto[server] installed in the venv? run `bash .ci/setup`)");
    }

    /// The endpoint URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Creates `bucket` and returns the S3 settings for it.
    pub fn bucket(&self, bucket: &str) -> S3Config {
        let status = http_status(&self.url, "PUT", &format!("/{bucket}")).expect("create bucket");
        assert_eq!(status, 200, "create bucket {bucket}");
        S3Config {
            endpoint: self.url.clone(),
            explicit_endpoint: true,
            bucket: bucket.to_owned(),
            access_key_id: "testing".to_owned(),
            secret_access_key: Secret::new("testing"),
        }
    }

    /// A store that reads and writes a new bucket.
    pub fn store(&self, bucket: &str) -> Store {
        Store::new(StoreConfig::s3(self.bucket(bucket))).expect("store")
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
