//! A real SOCKS5 proxy for the tests, in process: the server side of the `fast-socks5` crate (an
//! independent implementation of RFC 1928 and RFC 1929) on a small tokio runtime in its own
//! thread, listening on a free 127.0.0.1 port. No system program is needed.
//!
//! It logs one line per CONNECT it is asked for, naming the target as the client sent it (so a
//! test sees that a host name reached the proxy unresolved), resolves names itself, and
//! refuses what a real proxy refuses: wrong credentials when it wants some, and targets it
//! cannot connect to (reply "connection refused"). [`Proxy::stop`] closes the listener and
//! every tunnel at once, as killing a proxy process would.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::Duration;

use fast_socks5::server::{transfer, Socks5ServerProtocol, SocksServerError};
use fast_socks5::util::target_addr::TargetAddr;
use fast_socks5::{ReplyError, Socks5Command};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// How long the proxy tries to reach a target before it replies with a failure.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// A username and password the proxy insists on (RFC 1929).
type Password = Option<(String, String)>;

/// A running proxy; dropping it stops it.
pub struct Proxy {
    /// Where it listens (on 127.0.0.1).
    pub port: u16,
    /// Its log: `connect HOST:PORT` for each CONNECT request, the target as the client named it.
    pub log: mpsc::Receiver<String>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Starts a proxy that needs no authentication; it accepts connections once this returns.
    pub fn start() -> Self {
        Self::spawn(None)
    }

    /// Starts a proxy that accepts only username/password authentication with these values.
    pub fn start_with_password(username: &str, password: &str) -> Self {
        Self::spawn(Some((username.to_owned(), password.to_owned())))
    }

    fn spawn(password: Password) -> Self {
        // Bound before the thread starts, so the port is taken and listening on return.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (log_tx, log) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("socks5-proxy".into())
            .spawn(move || {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_io()
                    .enable_time()
                    .build()
                    .unwrap();
                let password = Arc::new(password);
                runtime.block_on(async move {
                    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                    let accept_loop = async {
                        loop {
                            match listener.accept().await {
                                Ok((socket, _)) => {
                                    let (password, log) = (password.clone(), log_tx.clone());
                                    tokio::spawn(async move {
                                        let _ = serve(socket, &password, &log).await;
                                    });
                                }
                                // Out of descriptors or similar: try again shortly.
                                Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                            }
                        }
                    };
                    tokio::select! {
                        _ = stopped => {}
                        _ = accept_loop => {}
                    }
                });
                // Dropping the runtime drops every tunnel task, so their sockets close.
                drop(runtime);
            })
            .unwrap();
        Proxy {
            port,
            log,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Stops it: the port stops accepting and every tunnel through it closes.
    pub fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One client of the proxy: authentication, the request, then the tunnel until either end
/// closes.
async fn serve(
    socket: TcpStream,
    password: &Password,
    log: &mpsc::Sender<String>,
) -> Result<(), SocksServerError> {
    let authenticated = match password {
        None => Socks5ServerProtocol::accept_no_auth(socket).await?,
        Some((username, secret)) => {
            Socks5ServerProtocol::accept_password_auth(socket, |u, p| {
                u == *username && p == *secret
            })
            .await?
            .0
        }
    };
    let (request, command, target) = authenticated.read_command().await?;
    if !matches!(command, Socks5Command::TCPConnect) {
        return request.reply_error(&ReplyError::CommandNotSupported).await;
    }
    let _ = log.send(format!("connect {target}"));
    let Some((outbound, bound)) = connect(&target).await else {
        return request.reply_error(&ReplyError::ConnectionRefused).await;
    };
    let inbound = request.reply_success(bound).await?;
    transfer(inbound, outbound).await;
    Ok(())
}

/// Connects to the target, trying each address a name resolves to (`localhost` may give `::1`
/// before `127.0.0.1`); the stream and its local address, or `None` when nothing answers.
async fn connect(target: &TargetAddr) -> Option<(TcpStream, SocketAddr)> {
    let addresses: Vec<SocketAddr> = match target {
        TargetAddr::Ip(addr) => vec![*addr],
        TargetAddr::Domain(host, port) => tokio::net::lookup_host((host.as_str(), *port))
            .await
            .ok()?
            .collect(),
    };
    for addr in addresses {
        if let Ok(Ok(stream)) =
            tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await
        {
            let local = stream.local_addr().ok()?;
            return Some((stream, local));
        }
    }
    None
}
