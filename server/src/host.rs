//! The SMP server as a [`Service`] a shell drives: the [`ServerDriver`] with its files and its
//! log lines. Both shells run this one type, so they behave the same.
//!
//! A server on several cores is several hosts, one per worker ([`crate::workers`]), run by a
//! shell's `run_workers`; they share the data files (`SharedFiles`), where the shards'
//! stats lines and backups are merged into one.
//!
//! Logs (tracing, one line per event) carry counts and settings only: never a queue id, a key
//! or a client address (the host never learns addresses).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::driver::{Service, ShellInput, SocketAction, Waker, Workers};
use simplex_core::time::{Clock, Instant};
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;

use crate::driver::{DriverConfig, DriverError, DriverInput, DriverOutput, ServerDriver};
use crate::files::{DataFiles, FileError, FileWriter, LoadReport};
use crate::trace::{ReplayError, TraceHeader, TraceWriter};
use crate::workers::Post;
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
    /// Queue-space shards, one per worker, each worker a shell loop on its own thread (1: one
    /// machine on the shell's thread, deterministic). More than one needs inactive-client
    /// expiry off (it is not split between shards yet); otherwise 1 is used.
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

/// A shell ran a host at another place among the workers than the one it was started for
/// (`Host::start` makes host `i` of `n` for worker `i` of `n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the shell runs this host as {shell:?}, but it was started as {host:?}")]
pub struct MisplacedWorker {
    /// The place the shell gave.
    pub shell: Workers,
    /// The place the host was started for.
    pub host: Workers,
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

/// The data files, shared by the workers of a server, with what merges their shards' stats.
struct SharedFiles {
    writer: FileWriter,
    workers: usize,
    /// Each shard's daily stats line of the current period, until all have come.
    stats_lines: Vec<String>,
    /// Each shard's stats backup at shutdown, until all have come.
    stats_backups: Vec<String>,
    /// Workers that handled `Shutdown`.
    stopped: usize,
    errors: u64,
}

impl SharedFiles {
    fn write(&mut self, output: &DriverOutput) -> io::Result<()> {
        // One line and one backup for the server: the shards' are merged once all came (they
        // share the schedule, and their sets of active queues are disjoint).
        let merged = match output {
            DriverOutput::Stats(line) if self.workers > 1 => {
                self.stats_lines.push(line.clone());
                if self.stats_lines.len() < self.workers {
                    return Ok(());
                }
                DriverOutput::Stats(crate::stats::merge_lines(&std::mem::take(
                    &mut self.stats_lines,
                )))
            }
            DriverOutput::StatsBackup(backup) if self.workers > 1 => {
                self.stats_backups.push(backup.clone());
                if self.stats_backups.len() < self.workers {
                    return Ok(());
                }
                DriverOutput::StatsBackup(crate::stats::merge_backups(&std::mem::take(
                    &mut self.stats_backups,
                )))
            }
            _ => return self.writer.write(output),
        };
        if matches!(merged, DriverOutput::Stats(_)) {
            tracing::info!("stats line written");
        }
        self.writer.write(&merged)
    }

    /// Carries out the file outputs of one drain, in order, then syncs the journal: the
    /// index of the first store-log or journal record that is not on disk (its write failed,
    /// or the sync after it), if any. Every write is tried even after one failed; a failed
    /// stats write is only counted, since no answer depends on it.
    fn commit(&mut self, outputs: &[DriverOutput]) -> Option<usize> {
        let mut failed = None;
        for (i, output) in outputs.iter().enumerate() {
            let guarding = matches!(output, DriverOutput::Persist(_) | DriverOutput::Journal(_));
            if !guarding && !is_file_output(output) {
                continue;
            }
            if let Err(e) = self.write(output) {
                self.error(&e);
                if guarding {
                    failed = failed.or(Some(i));
                }
            }
        }
        if let Err(e) = self.writer.sync_journal() {
            self.error(&e);
            let first_journal = outputs
                .iter()
                .position(|o| matches!(o, DriverOutput::Journal(_)));
            failed = match (failed, first_journal) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        failed
    }

    /// A worker stopped; the last one syncs the files.
    fn worker_stopped(&mut self) {
        self.stopped += 1;
        if self.stopped < self.workers {
            return;
        }
        if let Err(e) = self.writer.finish() {
            tracing::error!(error = %e, "syncing data files at stop failed");
        }
        tracing::info!("server stopped, state saved");
    }

    fn error(&mut self, e: &io::Error) {
        // Counted, and logged the first time and then every thousandth time.
        self.errors += 1;
        if self.errors % 1000 == 1 {
            tracing::error!(error = %e, count = self.errors, "writing a data file failed");
        }
    }
}

/// Whether the output is one the files carry out.
fn is_file_output(output: &DriverOutput) -> bool {
    matches!(
        output,
        DriverOutput::Persist(_)
            | DriverOutput::Journal(_)
            | DriverOutput::SaveMessage { .. }
            | DriverOutput::StatsBackup(_)
            | DriverOutput::Stats(_)
    )
}

/// One worker of the running server behind a shell (the only one on one core). See the
/// module docs.
pub struct Host {
    driver: Box<ServerDriver<ChaCha20Rng>>,
    /// The thread post to the other workers, when this is one of several: the driver says
    /// where its mail goes, the host carries it.
    post: Option<Post>,
    listeners: Vec<Framing>,
    files: Arc<Mutex<SharedFiles>>,
    stopped: bool,
    trace: Option<HostTrace>,
    /// Set when the shell gave this host another place than it was started for: it then
    /// serves nothing (see [`Host::check_workers`]).
    misplaced: Option<MisplacedWorker>,
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
    /// Builds the server, reads its files and opens them for appending: one host per worker
    /// (`config.shards` of them, or one), for a shell's `run_workers` (host `i` is worker
    /// `i`). `seed` is the root of all its randomness (from the OS in production, fixed in
    /// tests).
    pub fn start(
        config: HostConfig,
        identity: ServerIdentity,
        clock: Clock,
        seed: [u8; 32],
    ) -> Result<(Vec<Self>, LoadReport), HostError> {
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
                Server::new(server_config, ChaCha20Rng::from_seed(*shard_seed), clock)
            })
            .collect();
        let (report, router) = config.files.load_sharded(&mut servers)?;
        let files = Arc::new(Mutex::new(SharedFiles {
            writer: FileWriter::open(config.files.clone())?,
            workers: usize::from(shards),
            stats_lines: Vec::new(),
            stats_backups: Vec::new(),
            stopped: 0,
            errors: 0,
        }));
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
        let host = |driver: ServerDriver<ChaCha20Rng>, post: Option<Post>| Self {
            driver: Box::new(driver),
            post,
            listeners: config.listeners.clone(),
            files: files.clone(),
            stopped: false,
            trace: None,
            misplaced: None,
        };
        let hosts = if let (Some(path), Some(starting)) = (&config.trace, starting) {
            // The driver is rebuilt from the trace's own header, exactly as a replay will.
            let server = servers.pop().ok_or(HostError::NoShard)?;
            let header = TraceHeader {
                server_seed: server_seeds.first().copied().ok_or(HostError::NoShard)?,
                tls_seed,
                start: clock,
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
            let mut traced = host(header.build_driver(identity)?, None);
            let trace = HostTrace::create(path, &header)?;
            tracing::info!("recording a trace");
            // What the restored server says before its first input is not part of a trace
            // (a replay drains it the same way); no socket exists yet, so it is only files.
            traced.drain(clock, &mut Vec::new());
            traced.trace = Some(trace);
            vec![traced]
        } else if shards == 1 {
            let server = servers.pop().ok_or(HostError::NoShard)?;
            vec![host(
                ServerDriver::new(server, identity, config.driver.clone(), tls_seed),
                None,
            )]
        } else {
            let mut tls_rng = ChaCha20Rng::from_seed(tls_seed);
            let router = Arc::new(router);
            servers
                .into_iter()
                .zip(Post::set(usize::from(shards)))
                .map(|(server, post)| {
                    let mut worker_tls_seed = [0u8; 32];
                    tls_rng.fill_bytes(&mut worker_tls_seed);
                    host(
                        ServerDriver::sharded(
                            server,
                            identity.clone(),
                            config.driver.clone(),
                            worker_tls_seed,
                            router.clone(),
                        ),
                        Some(post),
                    )
                })
                .collect()
        };
        tracing::info!(shards, "server started");
        Ok((hosts, report))
    }

    /// The place among the workers this host was started for.
    pub fn workers(&self) -> Workers {
        self.post
            .as_ref()
            .map_or(Workers::single(), |p| Workers::new(p.index(), p.count()))
    }

    /// Checks the place a shell gives this host among the workers: it must be the one the
    /// host was started for, or its mail would reach other shards than the ones meant.
    pub fn check_workers(&self, workers: Workers) -> Result<(), MisplacedWorker> {
        let host = self.workers();
        if workers == host {
            Ok(())
        } else {
            Err(MisplacedWorker {
                shell: workers,
                host,
            })
        }
    }

    /// Why this host refuses to serve, if the shell placed it wrongly.
    pub fn misplaced(&self) -> Option<MisplacedWorker> {
        self.misplaced
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.driver.connection_count()
    }

    /// Whether [`ShellInput::Shutdown`] was handled.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    fn drain(&mut self, clock: Clock, actions: &mut Vec<SocketAction>) -> Option<Instant> {
        let mut outputs = Vec::new();
        let mut deadline = loop {
            let output = self.driver.poll_output();
            if let Some(trace) = &mut self.trace {
                trace.writer.output(&output);
            }
            match output {
                DriverOutput::Timeout(deadline) => break deadline,
                other => outputs.push(other),
            }
        };
        // Before any answer leaves, here or by another worker: what it acknowledges is on
        // disk. If a record is not, nothing after it may say it was done.
        let failed = self.files().commit(&outputs);
        if let Some(at) = failed {
            let rest = outputs.split_off(at);
            outputs.extend(self.driver.withhold_uncommitted(clock, rest, 0));
            if let DriverOutput::Timeout(after) = self.driver.poll_output() {
                deadline = after;
            }
            if self.trace.take().is_some() {
                // A replay cannot reproduce a failing disk.
                tracing::error!("a data file write failed; no longer tracing");
            }
        }
        for output in outputs {
            match output {
                DriverOutput::Write { conn, bytes } => {
                    actions.push(SocketAction::Write(conn, bytes))
                }
                DriverOutput::CloseSocket { conn } => actions.push(SocketAction::Close(conn)),
                DriverOutput::Mail { to, letter } => {
                    if let Some(post) = &mut self.post {
                        post.post(usize::from(to), letter);
                    }
                }
                // Written by `commit` above.
                _ => {}
            }
        }
        if let Some(post) = &mut self.post {
            post.send();
        }
        deadline
    }

    fn files(&self) -> std::sync::MutexGuard<'_, SharedFiles> {
        // A worker that panicked holding the lock left the files as they were; go on.
        self.files.lock().unwrap_or_else(PoisonError::into_inner)
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
}

impl Service for Host {
    fn set_waker(&mut self, waker: Waker) {
        if let Some(post) = &self.post {
            post.set_waker(waker);
        }
    }

    /// A wrong place is a caller bug: the host logs it and from then on closes every socket
    /// it is given (a shutdown still stops it), rather than serve with its mail misrouted.
    fn set_workers(&mut self, workers: Workers) {
        match self.check_workers(workers) {
            Ok(()) => self.misplaced = None,
            Err(e) => {
                tracing::error!(error = %e, "not serving");
                self.misplaced = Some(e);
            }
        }
    }

    fn handle(
        &mut self,
        clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        if self.misplaced.is_some() && !matches!(input, ShellInput::Shutdown) {
            if let ShellInput::Accepted(conn, _) = input {
                actions.push(SocketAction::Close(conn));
            }
            return None;
        }
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
        // Mail that came from the other workers first (a wake from one of them arrives as a
        // tick), as the driver would have read it before this input.
        if let Some(post) = &self.post {
            let letters: Vec<_> = post.receive().collect();
            if !letters.is_empty() {
                match self.driver.handle_input(clock, DriverInput::Mail(letters)) {
                    Ok(()) => {}
                    Err(e) => tracing::error!(error = %e, "driver refused its mail"),
                }
                // The mail's outputs go out before the next input, as the driver requires.
                self.drain(clock, actions);
            }
        }
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
        let deadline = self.drain(clock, actions);
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
            self.files().worker_stopped();
        }
        deadline
    }
}
