//! The SMP server as a [`Service`] a shell drives: the [`ServerDriver`] with its files and its
//! log lines. Both shells run this one type, so they behave the same.
//!
//! Logs (tracing, one line per event) carry counts and settings only: never a queue id, a key
//! or a client address (the host never learns addresses).

use std::io;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::driver::{Service, ShellClock, ShellInput, SocketAction};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;

use crate::driver::{Clock, DriverConfig, DriverError, DriverInput, DriverOutput, ServerDriver};
use crate::files::{DataFiles, FileError, FileWriter, LoadReport};
use crate::{Server, ServerConfig};

/// Everything a host is started with.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// The server machine's settings.
    pub server: ServerConfig,
    /// Connection settings.
    pub driver: DriverConfig,
    /// The data files.
    pub files: DataFiles,
}

/// Why a host could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A data file could not be read or written.
    #[error(transparent)]
    File(#[from] FileError),
}

/// The running server behind a shell. See the module docs.
#[derive(Debug)]
pub struct Host {
    driver: ServerDriver<ChaCha20Rng>,
    files: FileWriter,
    stopped: bool,
    file_errors: u64,
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
        let mut server = Server::new(config.server, rng, clock.now, clock.wall_clock);
        let report = config.files.load(&mut server)?;
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
        let driver = ServerDriver::new(server, identity, config.driver, tls_seed);
        Ok((
            Self {
                driver,
                files,
                stopped: false,
                file_errors: 0,
            },
            report,
        ))
    }

    /// The driver (for inspection).
    pub fn driver(&self) -> &ServerDriver<ChaCha20Rng> {
        &self.driver
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
            ShellInput::Tick => DriverInput::Tick,
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
