//! The SMP server as a [`Service`] a shell drives: the [`ServerDriver`] with its files and its
//! log lines. Both shells run this one type, so they behave the same.
//!
//! Logs (tracing, one line per event) carry counts and settings only: never a queue id, a key
//! or a client address (the host never learns addresses).

use std::io;
use std::sync::{Arc, OnceLock};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::driver::{Service, ShellClock, ShellInput, SocketAction, Waker};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;

use crate::driver::{Clock, DriverConfig, DriverError, DriverInput, DriverOutput, ServerDriver};
use crate::files::{DataFiles, FileError, FileWriter, LoadReport};
use crate::sharded::ShardedDriver;
use crate::{Server, ServerConfig, Shard};

/// Everything a host is started with.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The server machine's settings.
    pub server: ServerConfig,
    /// Connection settings.
    pub driver: DriverConfig,
    /// The data files.
    pub files: DataFiles,
    /// Queue-space shards, each a server machine on its own thread (1: one machine on the
    /// shell's thread, deterministic). More than one needs inactive-client expiry off (it is
    /// not split between shards yet); otherwise 1 is used.
    pub shards: u16,
}

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A data file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
    /// A shard thread could not be started.
    #[error("starting a shard thread: {0}")]
    Thread(io::Error),
    /// No server machine was made (a bug if it ever happens).
    #[error("no server shard")]
    NoShard,
}

#[derive(Debug)]
enum Engine {
    Single(Box<ServerDriver<ChaCha20Rng>>),
    Sharded(Box<ShardedDriver>),
}

impl Engine {
    fn handle_input(&mut self, clock: Clock, input: DriverInput<'_>) -> Result<(), DriverError> {
        match self {
            Engine::Single(d) => d.handle_input(clock, input),
            Engine::Sharded(d) => d.handle_input(clock, input),
        }
    }

    fn poll_output(&mut self) -> DriverOutput {
        match self {
            Engine::Single(d) => d.poll_output(),
            Engine::Sharded(d) => d.poll_output(),
        }
    }

    fn connection_count(&self) -> usize {
        match self {
            Engine::Single(d) => d.connection_count(),
            Engine::Sharded(d) => d.connection_count(),
        }
    }
}

/// The running server behind a shell. See the module docs.
pub struct Host {
    driver: Engine,
    waker: Arc<OnceLock<Waker>>,
    files: FileWriter,
    stopped: bool,
    file_errors: u64,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Host")
            .field("driver", &self.driver)
            .field("stopped", &self.stopped)
            .finish_non_exhaustive()
    }
}

impl Host {
    /// Builds the server, reads its files and opens them for appending. `seed` is the root of
    /// all its randomness (from the OS in production, fixed in tests).
    pub fn start(
        config: HostConfig,
        identity: ServerIdentity,
        clock: ShellClock,
        seed: [u8; 32],
    ) -> Result<(Self, LoadReport), HostError> {
        let mut rng = ChaCha20Rng::from_seed(seed);
        let mut tls_seed = [0u8; 32];
        rng.fill_bytes(&mut tls_seed);
        let mut shards = config.shards.max(1);
        if shards > 1 && config.server.inactive_client_expiration.is_some() {
            tracing::warn!("inactive-client expiry is not split between shards: one shard");
            shards = 1;
        }
        let mut servers: Vec<Server<ChaCha20Rng>> = (0..shards)
            .map(|index| {
                let mut shard_seed = [0u8; 32];
                rng.fill_bytes(&mut shard_seed);
                let server_config = ServerConfig {
                    shard: Shard {
                        index,
                        count: shards,
                    },
                    ..config.server.clone()
                };
                Server::new(
                    server_config,
                    ChaCha20Rng::from_seed(shard_seed),
                    clock.now,
                    clock.wall_clock,
                )
            })
            .collect();
        let (report, router) = config.files.load_sharded(&mut servers)?;
        let files = FileWriter::open(config.files.clone())?;
        tracing::info!(
            queues = report.queues,
            bad_store_log_lines = report.bad_store_log_lines,
            restored_messages = report.messages.restored + report.journal.restored,
            skipped_messages = report.messages.bad_lines
                + report.messages.unknown_queue
                + report.messages.over_quota
                + report.journal.unknown_queue
                + report.journal.over_quota,
            stats_restored = report.stats_restored,
            "state restored"
        );
        let waker: Arc<OnceLock<Waker>> = Arc::new(OnceLock::new());
        let driver = if shards == 1 {
            let server = servers.pop().ok_or(HostError::NoShard)?;
            Engine::Single(Box::new(ServerDriver::new(
                server,
                identity,
                config.driver,
                tls_seed,
            )))
        } else {
            let slot = waker.clone();
            let wake: Waker = Arc::new(move || {
                if let Some(w) = slot.get() {
                    w();
                }
            });
            Engine::Sharded(Box::new(
                ShardedDriver::new(servers, router, identity, config.driver, tls_seed, wake)
                    .map_err(HostError::Thread)?,
            ))
        };
        tracing::info!(shards, "server started");
        Ok((
            Self {
                driver,
                waker,
                files,
                stopped: false,
                file_errors: 0,
            },
            report,
        ))
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.driver.connection_count()
    }

    /// Whether [`ShellInput::Shutdown`] was handled.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn drain(&mut self, actions: &mut Vec<SocketAction>) -> Option<Instant> {
        loop {
            match self.driver.poll_output() {
                DriverOutput::Write { conn, bytes } => {
                    actions.push(SocketAction::Write(conn, bytes))
                }
                DriverOutput::CloseSocket { conn } => actions.push(SocketAction::Close(conn)),
                DriverOutput::Timeout(deadline) => {
                    // Before any answer leaves: what it acknowledges is on disk.
                    if let Err(e) = self.files.sync_journal() {
                        self.file_error(&e);
                    }
                    return deadline;
                }
                other => {
                    if matches!(other, DriverOutput::Stats(_)) {
                        tracing::info!("stats line written");
                    }
                    self.file(&other)
                }
            }
        }
    }

    fn file(&mut self, output: &DriverOutput) {
        if let Err(e) = self.files.write(output) {
            self.file_error(&e);
        }
    }

    fn file_error(&mut self, e: &io::Error) {
        // Counted, and logged the first time and then every thousandth time.
        self.file_errors += 1;
        if self.file_errors % 1000 == 1 {
            tracing::error!(error = %e, count = self.file_errors, "writing a data file failed");
        }
    }
}

impl Service for Host {
    fn set_waker(&mut self, waker: Waker) {
        let _ = self.waker.set(waker);
    }

    fn handle(
        &mut self,
        clock: ShellClock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let clock = Clock {
            now: clock.now,
            wall_clock: clock.wall_clock,
        };
        let input = match input {
            ShellInput::Accepted(conn) => DriverInput::Accepted { conn },
            ShellInput::Received(conn, bytes) => DriverInput::Received { conn, bytes },
            ShellInput::PeerClosed(conn) => DriverInput::PeerClosed { conn },
            // The server never dials out: nothing to hear about outgoing sockets.
            ShellInput::Tick | ShellInput::Connected(_) | ShellInput::ConnectFailed(_) => {
                DriverInput::Tick
            }
            ShellInput::Shutdown => DriverInput::Shutdown,
        };
        let shutdown = matches!(input, DriverInput::Shutdown);
        let accepted = matches!(input, DriverInput::Accepted { .. });
        match self.driver.handle_input(clock, input) {
            // Bytes or a close racing the driver's own close of that socket.
            Ok(()) | Err(DriverError::UnknownConn) => {}
            Err(e) => tracing::error!(error = %e, "driver refused an input"),
        }
        let closed_before = actions.len();
        let deadline = self.drain(actions);
        if accepted {
            tracing::debug!(
                connections = self.driver.connection_count(),
                "connection accepted"
            );
        }
        let closed = actions
            .get(closed_before..)
            .unwrap_or_default()
            .iter()
            .filter(|a| matches!(a, SocketAction::Close(_)))
            .count();
        if closed > 0 {
            tracing::debug!(
                closed,
                connections = self.driver.connection_count(),
                "connections closed"
            );
        }
        if shutdown {
            self.stopped = true;
            if let Err(e) = self.files.finish() {
                tracing::error!(error = %e, "syncing data files at stop failed");
            }
            tracing::info!("server stopped, state saved");
        }
        deadline
    }
}
