//! A TCP proxy on a fixed loopback port that can be taken down and brought back, so a test can
//! make a server (moto's S3) unreachable for a while without losing its state.

use std::io::{Read as _, Write as _};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The proxy; stops on drop.
pub struct Proxy {
    address: SocketAddr,
    target: SocketAddr,
    up: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<TcpStream>>>,
    listener: Option<std::thread::JoinHandle<()>>,
}

fn pump(mut from: TcpStream, mut to: TcpStream) {
    let mut buffer = [0_u8; 16 * 1024];
    loop {
        match from.read(&mut buffer) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buffer[..n]).is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
}

impl Proxy {
    /// Forwards a free loopback port to `target` (`http://127.0.0.1:PORT`).
    pub fn start(target: &str) -> Self {
        let target: SocketAddr = target.trim_start_matches("http://").parse().expect("target address");
        let address = TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("free port");
        let mut proxy = Self { address, target, up: Arc::new(AtomicBool::new(false)), connections: Arc::default(), listener: None };
        proxy.bring_up();
        proxy
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Listens again on the same port.
    pub fn bring_up(&mut self) {
        let listener = (0..100)
            .find_map(|_| {
                TcpListener::bind(self.address).ok().or_else(|| {
                    std::thread::sleep(Duration::from_millis(50));
                    None
                })
            })
            .expect("rebind the proxy port");
        listener.set_nonblocking(true).expect("nonblocking");
        self.up.store(true, Ordering::SeqCst);
        let (up, connections, target) = (Arc::clone(&self.up), Arc::clone(&self.connections), self.target);
        self.listener = Some(std::thread::spawn(move || {
            while up.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let _ = client.set_nonblocking(false);
                        let Ok(server) = TcpStream::connect(target) else { continue };
                        if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                            connections.lock().expect("lock").extend([c, s]);
                        }
                        let (client_read, server_read) = (client.try_clone().expect("clone"), server.try_clone().expect("clone"));
                        std::thread::spawn(move || pump(client_read, server));
                        std::thread::spawn(move || pump(server_read, client));
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(Duration::from_millis(10)),
                    Err(_) => break,
                }
            }
        }));
    }

    /// Stops listening and cuts every open connection: the port refuses connections.
    pub fn take_down(&mut self) {
        self.up.store(false, Ordering::SeqCst);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
        for connection in self.connections.lock().expect("lock").drain(..) {
            let _ = connection.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.take_down();
    }
}
