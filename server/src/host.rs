//! The SMP server as a [`Service`] a shell drives: the [`ServerDriver`] with its files and its
//! log lines. Both shells run this one type, so they behave the same.
//!
//! Logs (tracing, one line per event) carry counts and settings only: never a queue id, a key
//! or a client address (the host never learns addresses).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::driver::{Service, ShellClock, ShellInput, SocketAction, Waker};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;

use crate::driver::{Clock, DriverConfig, DriverError, DriverInput, DriverOutput, ServerDriver};
use crate::files::{DataFiles, FileError, FileWriter, LoadReport};
use crate::sharded::ShardedDriver;
use crate::trace::{ReplayError, TraceHeader, TraceWriter};
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
    /// How the sockets of each listener carry blocks, by [`simplex_core::driver::ListenerId`]
    /// (the TLS port and, when enabled, the WebSockets port); a listener not listed is raw TLS.
    pub listeners: Vec<Framing>,
    /// Record a trace of the run to this file (`crate::trace`; one shard then, since only
    /// the single driver is deterministic). The file holds clients' (TLS-encrypted) traffic.
    pub trace: Option<PathBuf>,
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
    /// The trace file could not be created.
    #[error("creating the trace file {path}: {source}")]
    TraceFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The traced starting state did not rebuild (a bug if it ever happens).
    #[error("starting a traced run: {0}")]
    Trace(#[from] ReplayError),
}

/// A trace being recorded and streamed to its file after every input.
struct HostTrace {
    writer: TraceWriter,
    /// Written after every input (no buffering), so a crash loses at most the last input.
    file: std::fs::File,
}

impl HostTrace {
    fn create(path: &Path, header: &TraceHeader) -> Result<Self, HostError> {
        let failed = |source| HostError::TraceFile {
            path: path.to_path_buf(),
            source,
        };
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let file = options.open(path).map_err(failed)?;
        let mut trace = Self {
            writer: TraceWriter::new(header),
            file,
        };
        trace.write_out().map_err(failed)?;
        Ok(trace)
    }

    /// Writes what was recorded since the last call.
    fn write_out(&mut self) -> io::Result<()> {
        io::Write::write_all(&mut self.file, &self.writer.take_bytes())
    }
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
    listeners: Vec<Framing>,
    waker: Arc<OnceLock<Waker>>,
    files: FileWriter,
    stopped: bool,
    file_errors: u64,
    trace: Option<HostTrace>,
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
        if shards > 1 && config.trace.is_some() {
            tracing::warn!("a traced run has one shard (only one driver is deterministic)");
            shards = 1;
        }
        // Read before the load below compacts or renames the files.
        let starting = match config.trace {
            Some(_) => Some(config.files.starting_contents()?),
            None => None,
        };
        let server_seeds: Vec<[u8; 32]> = (0..shards)
            .map(|_| {
                let mut seed = [0u8; 32];
                rng.fill_bytes(&mut seed);
                seed
            })
            .collect();
        let mut servers: Vec<Server<ChaCha20Rng>> = (0..shards)
            .zip(&server_seeds)
            .map(|(index, shard_seed)| {
                let server_config = ServerConfig {
                    shard: Shard {
                        index,
                        count: shards,
                    },
                    ..config.server.clone()
                };
                Server::new(
                    server_config,
                    ChaCha20Rng::from_seed(*shard_seed),
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
        let mut trace = None;
        let driver = if let (Some(path), Some(starting)) = (&config.trace, starting) {
            // The driver is rebuilt from the trace's own header, exactly as a replay will.
            let server = servers.pop().ok_or(HostError::NoShard)?;
            let header = TraceHeader {
                server_seed: server_seeds.first().copied().ok_or(HostError::NoShard)?,
                tls_seed,
                start: (clock.now, clock.wall_clock),
                config: server.config().clone(),
                handshake_timeout_micros: u64::try_from(
                    config.driver.handshake_timeout.as_micros(),
                )
                .unwrap_or(u64::MAX),
                key_hash: identity.key_hash(),
                store_log: starting.store_log,
                journal: starting.journal,
                saved_messages: starting.messages,
                stats_backup: starting.stats_backup,
            };
            drop(server);
            let driver = header.build_driver(identity)?;
            trace = Some(HostTrace::create(path, &header)?);
            tracing::info!("recording a trace");
            Engine::Single(Box::new(driver))
        } else if shards == 1 {
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
        let mut host = Self {
            driver,
            listeners: config.listeners,
            waker,
            files,
            stopped: false,
            file_errors: 0,
            trace: None,
        };
        if trace.is_some() {
            // What the restored server says before its first input is not part of a trace
            // (a replay drains it the same way); no socket exists yet, so it is only files.
            let mut none = Vec::new();
            host.drain(&mut none);
            host.trace = trace;
        }
        Ok((host, report))
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
            let output = self.driver.poll_output();
            if let Some(trace) = &mut self.trace {
                trace.writer.output(&output);
            }
            match output {
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

    /// Streams the trace after an input; synced to disk at a stop. A trace that cannot be
    /// written is abandoned (the server goes on).
    fn write_trace(&mut self, stopping: bool) {
        let Some(trace) = &mut self.trace else {
            return;
        };
        let written = trace.write_out().and_then(|()| {
            if stopping {
                trace.file.sync_all()
            } else {
                Ok(())
            }
        });
        if let Err(e) = written {
            tracing::error!(error = %e, "writing the trace failed; no longer tracing");
            self.trace = None;
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
            ShellInput::Accepted(conn, listener) => DriverInput::Accepted {
                conn,
                framing: self.listeners.get(listener).copied().unwrap_or_default(),
            },
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
        if let Some(trace) = &mut self.trace {
            trace.writer.input(clock, &input);
        }
        match self.driver.handle_input(clock, input) {
            // Bytes or a close racing the driver's own close of that socket.
            Ok(()) | Err(DriverError::UnknownConn) => {}
            Err(e) => tracing::error!(error = %e, "driver refused an input"),
        }
        let closed_before = actions.len();
        let deadline = self.drain(actions);
        self.write_trace(shutdown);
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
