//! What an in-memory server keeps across a crash: its store log and message journal as text
//! (durable mode), and how it restarts from them. The simulator and the client's in-memory
//! tests both run the production driver this way.

use simplex_core::crypto::hash::KeyHash;
use simplex_core::time::Clock;
use simplex_server::driver::DriverOutput;
use simplex_server::trace::TraceHeader;
use simplex_server::ServerConfig;

/// The persisted text of one server.
#[derive(Debug, Clone, Default)]
pub struct Persisted {
    /// The store log.
    pub store_log: String,
    /// The message journal.
    pub journal: String,
}

impl Persisted {
    /// Appends `output` to its file if it is a store-log or journal record; whether it was.
    pub fn keep(&mut self, output: &DriverOutput) -> bool {
        let (file, line) = match output {
            DriverOutput::Persist(record) => (&mut self.store_log, record.to_line()),
            DriverOutput::Journal(record) => (&mut self.journal, record.to_line()),
            _ => return false,
        };
        file.push_str(&line);
        file.push('\n');
        true
    }

    /// The header a server restarting from this state starts from (durable mode, store log
    /// on; `config` supplies anything else); `TraceHeader::build_driver` makes the driver.
    pub fn restart_header(
        &self,
        seeds: ([u8; 32], [u8; 32]),
        clock: Clock,
        config: ServerConfig,
        handshake_timeout: std::time::Duration,
        key_hash: KeyHash,
    ) -> TraceHeader {
        TraceHeader {
            server_seed: seeds.0,
            tls_seed: seeds.1,
            start: clock,
            config: ServerConfig {
                store_log: true,
                durable_messages: true,
                ..config
            },
            handshake_timeout_micros: u64::try_from(handshake_timeout.as_micros())
                .unwrap_or(u64::MAX),
            key_hash,
            store_log: self.store_log.clone(),
            journal: self.journal.clone(),
            saved_messages: String::new(),
            stats_backup: String::new(),
        }
    }
}
