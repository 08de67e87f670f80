//! Starting a real server (either shell) on 127.0.0.1 with the reference's test identity
//! (`spec/fixtures/`), for the end-to-end tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_core::time::Clock;
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use simplex_core::crypto::hash::KeyHash;
use simplex_core::driver::{unix_time, ShellLimits, StopFlag};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;
use simplex_server::driver::DriverConfig;
use simplex_server::files::DataFiles;
use simplex_server::host::{Host, HostConfig};
use simplex_server::ServerConfig;

use crate::net::NetClient;

const T: Duration = Duration::from_secs(10);

/// Which shell runs the server.
#[derive(Debug, Clone, Copy)]
pub enum Runtime {
    /// `simplex-io-mio`.
    Mio,
    /// `simplex-io-smol`.
    Smol,
}

/// A file of the reference's test identity, `spec/fixtures/` in the repository.
pub fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/fixtures")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {} missing: {e}", path.display()))
}

/// The reference's test identity.
pub fn identity() -> ServerIdentity {
    ServerIdentity::from_pem(
        &fixture("server.crt"),
        &fixture("ca.crt"),
        &fixture("server.key"),
    )
    .unwrap()
}

/// A server running on its own thread.
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where it listens for WebSockets, when enabled.
    pub ws_addr: Option<SocketAddr>,
    /// Its identity.
    pub key_hash: KeyHash,
    stop: StopFlag,
    thread: Option<JoinHandle<usize>>,
}

/// How the server is set up.
pub struct Options {
    /// The machine.
    pub server: ServerConfig,
    /// TLS + hello deadline.
    pub handshake_timeout: Duration,
    /// Data files.
    pub files: DataFiles,
    /// Socket limits.
    pub limits: ShellLimits,
    /// Server shards (threads).
    pub shards: u16,
    /// Record a trace of the run to this file.
    pub trace: Option<std::path::PathBuf>,
    /// Also listen for WebSockets (on a second port).
    pub websockets: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            server: ServerConfig::default(),
            handshake_timeout: Duration::from_secs(10),
            files: DataFiles::default(),
            limits: ShellLimits::default(),
            shards: 1,
            trace: None,
            websockets: false,
        }
    }
}

impl TestServer {
    /// Starts a server.
    pub fn start(runtime: Runtime, options: Options) -> Self {
        Self::start_on(runtime, options, TcpListener::bind("127.0.0.1:0").unwrap())
    }

    /// Starts a server on `addr` (e.g. where a stopped one listened, so its clients come back).
    pub fn start_at(runtime: Runtime, options: Options, addr: SocketAddr) -> Self {
        let until = std::time::Instant::now() + T;
        let listener = loop {
            match TcpListener::bind(addr) {
                Ok(listener) => break listener,
                Err(e) if std::time::Instant::now() < until => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("cannot listen on {addr} again: {e}"),
            }
        };
        Self::start_on(runtime, options, listener)
    }

    /// The server's address, `smp://FINGERPRINT@127.0.0.1:PORT`.
    pub fn address(&self) -> String {
        self.address_with_host("127.0.0.1")
    }

    /// The server's address naming it by `host` (e.g. `localhost`).
    pub fn address_with_host(&self, host: &str) -> String {
        format!(
            "smp://{}@{host}:{}",
            self.key_hash.to_base64url(),
            self.addr.port()
        )
    }

    fn start_on(runtime: Runtime, options: Options, listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let mut listeners = vec![listener];
        let mut framings = vec![Framing::Raw];
        let mut ws_addr = None;
        if options.websockets {
            let ws = TcpListener::bind("127.0.0.1:0").unwrap();
            ws_addr = Some(ws.local_addr().unwrap());
            listeners.push(ws);
            framings.push(Framing::WebSocket);
        }
        let key_hash = identity().key_hash();
        let stop = StopFlag::new();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread_stop = stop.clone();
        let thread = std::thread::spawn(move || {
            let config = HostConfig {
                server: options.server,
                driver: DriverConfig {
                    handshake_timeout: options.handshake_timeout,
                },
                files: options.files,
                shards: options.shards,
                trace: options.trace,
                listeners: framings,
            };
            let clock = Clock {
                now: Instant::ZERO,
                wall_clock: unix_time(SystemTime::now().duration_since(UNIX_EPOCH).unwrap()),
            };
            let (mut hosts, _) = Host::start(config, identity(), clock, [7; 32]).unwrap();
            ready_tx.send(()).unwrap();
            match runtime {
                Runtime::Mio => {
                    simplex_io_mio::run_workers(listeners, &mut hosts, &thread_stop, options.limits)
                }
                Runtime::Smol => simplex_io_smol::run_workers(
                    listeners,
                    &mut hosts,
                    &thread_stop,
                    options.limits,
                ),
            }
            .unwrap();
            assert!(hosts.iter().all(Host::is_stopped));
            hosts.iter().map(Host::connection_count).sum()
        });
        ready_rx.recv_timeout(T).unwrap();
        TestServer {
            addr,
            ws_addr,
            key_hash,
            stop,
            thread: Some(thread),
        }
    }

    /// A connected client.
    pub fn client(&self, seed: u64) -> NetClient {
        NetClient::connect(self.addr, self.key_hash, seed, T).unwrap()
    }

    /// A client connected to the WebSockets port (the server must have been started with
    /// [`Options::websockets`]).
    pub fn ws_client(&self, seed: u64) -> NetClient {
        let addr = self.ws_addr.expect("WebSockets not enabled");
        NetClient::connect_framed(addr, self.key_hash, seed, T, Framing::WebSocket).unwrap()
    }

    /// Stops the server and returns the connections its driver still knew (0 expected).
    pub fn stop(mut self) -> usize {
        self.stop.stop();
        let thread = self.thread.take().unwrap();
        let until = std::time::Instant::now() + T;
        while !thread.is_finished() {
            assert!(std::time::Instant::now() < until, "server did not stop");
            std::thread::sleep(Duration::from_millis(10));
        }
        thread.join().unwrap()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop.stop();
    }
}
