//! How the devnet's HTTP services run: each on a listener bound before anything starts (so a
//! taken port fails the whole devnet up front), served by axum until dropped.

use std::net::SocketAddr;

use axum::Router;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

/// A listening service; stops when dropped.
#[derive(Debug)]
pub struct Served {
    url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Served {
    /// `http://<address>`.
    #[must_use]
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Binds `address`.
///
/// # Errors
/// The address is taken or not allowed.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

/// Binds a free loopback port.
///
/// # Panics
/// When the loopback interface cannot give an ephemeral port (no usable network stack).
pub async fn bind_loopback() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").await.expect("the loopback interface has a free port")
}

/// Serves `router` on `listener` in the background.
#[must_use]
pub fn spawn(listener: TcpListener, router: Router) -> Served {
    let address = listener.local_addr().unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0)));
    let listener = listener.tap_io(|tcp| {
        let _ = tcp.set_nodelay(true);
    });
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    Served { url: format!("http://{address}"), task }
}
