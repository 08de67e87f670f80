//! The simulated server: the production driver, what it persisted, its trace, and its crashes
//! and restarts.

use std::collections::BTreeSet;

use rand_chacha::rand_core::RngCore;
use rand_chacha::ChaCha20Rng;
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;
use simplex_server::driver::{DriverInput, DriverOutput, ServerDriver};
use simplex_server::trace::TraceWriter;
use simplex_server::{Mutations, ServerConfig};

use super::{World, HANDSHAKE_TIMEOUT};
use crate::sim::net::{End, StreamId};
use crate::sim::persisted::Persisted;

/// The server and what it persisted.
pub(super) struct ServerNode {
    pub(super) driver: Option<ServerDriver<ChaCha20Rng>>,
    pub(super) persisted: Persisted,
    pub(super) identity: ServerIdentity,
    pub(super) mutations: Mutations,
    pub(super) streams: BTreeSet<StreamId>,
    pub(super) deadline: Option<Instant>,
    /// The trace of the current server lifetime, and those of earlier ones.
    pub(super) trace: Option<TraceWriter>,
    pub(super) traces: Vec<Vec<u8>>,
}

impl World {
    pub(super) fn start_server(&mut self) {
        let config = ServerConfig {
            mutations: self.server.mutations,
            ..ServerConfig::default()
        };
        let (mut server_seed, mut tls_seed) = ([0u8; 32], [0u8; 32]);
        self.rng.fill_bytes(&mut server_seed);
        self.rng.fill_bytes(&mut tls_seed);
        let header = self.server.persisted.restart_header(
            (server_seed, tls_seed),
            self.clock(),
            config,
            HANDSHAKE_TIMEOUT,
            self.server.identity.key_hash(),
        );
        match header.build_driver(self.server.identity.clone()) {
            Ok(driver) => self.server.driver = Some(driver),
            Err(e) => {
                self.oracle.violations.push(format!("restart failed: {e}"));
                return;
            }
        }
        self.server.trace = Some(TraceWriter::new(&header));
        // Outputs before the first input are not part of the trace (replay starts the same way).
        let trace = self.server.trace.take();
        self.drain_server();
        self.server.trace = trace;
    }

    pub(super) fn crash_server(&mut self) {
        if self.server.driver.is_none() {
            return; // already down, waiting for its restart
        }
        self.server.driver = None;
        self.server.deadline = None;
        if let Some(trace) = self.server.trace.take() {
            self.server.traces.push(trace.finish());
        }
        self.report.crashes += 1;
        let streams: Vec<StreamId> = std::mem::take(&mut self.server.streams)
            .into_iter()
            .collect();
        for s in streams {
            let deliveries = self.net.reset(s);
            self.handle_deliveries(deliveries);
        }
    }

    pub(super) fn drain_server(&mut self) {
        loop {
            let Some(driver) = self.server.driver.as_mut() else {
                return;
            };
            let output = driver.poll_output();
            if let Some(trace) = self.server.trace.as_mut() {
                trace.output(&output);
            }
            if self.server.persisted.keep(&output) {
                continue;
            }
            match output {
                DriverOutput::Write { conn, bytes } => {
                    self.net.send(self.now, conn, End::Server, &bytes)
                }
                DriverOutput::CloseSocket { conn } => {
                    self.server.streams.remove(&conn);
                    self.net.close(conn, End::Server);
                }
                DriverOutput::Timeout(deadline) => {
                    self.server.deadline = deadline;
                    return;
                }
                DriverOutput::Persist(_)
                | DriverOutput::Journal(_)
                | DriverOutput::SaveMessage { .. }
                | DriverOutput::StatsBackup(_)
                | DriverOutput::Stats(_) => {}
                // A lone driver has no other shard to mail.
                DriverOutput::Mail { .. } => {}
            }
        }
    }

    pub(super) fn server_input(&mut self, input: DriverInput<'_>) {
        let clock = self.clock();
        if let Some(driver) = self.server.driver.as_mut() {
            if let Some(trace) = self.server.trace.as_mut() {
                trace.input(clock, &input);
            }
            if let Err(e) = driver.handle_input(clock, input) {
                self.oracle
                    .violations
                    .push(format!("driver refused an input: {e}"));
            }
        }
        self.drain_server();
    }
}
