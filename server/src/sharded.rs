//! The server driver on several cores: the connection machines (TLS, blocks, the transport's
//! checks) stay on the shell's thread, and the queue space is split into N shards
//! ([`crate::Shard`]), each a whole [`Server`] machine on its own thread. Signature checks and
//! crypto_box — the expensive per-message work — run in the shard that owns the queue, so N
//! shards use N cores.
//!
//! It takes the same [`DriverInput`]s and gives the same [`DriverOutput`]s as
//! [`crate::driver::ServerDriver`]. Shards answer asynchronously: each wakes the shell (the
//! waker given to [`ShardedDriver::new`]), and the next input (a `Tick` does) collects what
//! they sent. Routing follows `spec/server.md` ("Multi-core design: shards"): transmissions go
//! by entity id through a [`ShardRouter`], `NEW`/`PING` to the client's home shard, and every
//! shard learns of every client (`ClientConnected`/`ClientClosed` go to all).
//!
//! Not deterministic across runs (thread scheduling orders the shards' answers); the
//! single-threaded driver stays the reference for simulation and replay.

use crate::connections::{self, Conn, ConnectionFactory};
use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::Arc;
use std::thread::JoinHandle;

use rand_chacha::ChaCha20Rng;

use simplex_core::protocol::{Command, VerifiedTransmission};
use simplex_core::time::Instant;
use simplex_core::tls::ServerIdentity;
use simplex_core::transport;

use crate::driver::{Clock, ConnId, DriverConfig, DriverError, DriverInput, DriverOutput};
use crate::{ClientId, Server, ServerInput, ServerOutput, ShardRouter};

pub use simplex_core::driver::Waker;

enum FromShard {
    Output(Box<ServerOutput>),
    /// The shard drained its outputs for one input; its next deadline.
    Deadline(usize, Option<Instant>),
    /// The shard handled `Shutdown` and stopped.
    Stopped,
}

/// The sharded driver. See the module docs.
pub struct ShardedDriver {
    factory: ConnectionFactory,
    conns: BTreeMap<ConnId, Conn>,
    outputs: VecDeque<DriverOutput>,
    router: ShardRouter,
    shards: Vec<Sender<ServerInput>>,
    results: Receiver<FromShard>,
    wake: ShellWake,
    deadlines: Vec<Option<Instant>>,
    threads: Vec<JoinHandle<()>>,
    shut_down: bool,
    /// Each shard's daily stats line of the current period, until all have come.
    stats_lines: Vec<String>,
    /// Each shard's stats backup at shutdown, until all have come.
    stats_backups: Vec<String>,
}

impl std::fmt::Debug for ShardedDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardedDriver")
            .field("connections", &self.conns.len())
            .field("shards", &self.shards.len())
            .finish_non_exhaustive()
    }
}

/// Wakes the shell at most once per collection: a wake (an eventfd write, then a return from
/// the shell's poll) costs far more than the message it announces, so a shard wakes only when
/// no wake is pending since the shell last collected.
#[derive(Clone)]
struct ShellWake {
    pending: Arc<AtomicBool>,
    wake: Waker,
}

impl ShellWake {
    /// After sending results.
    fn announce(&self) {
        if !self.pending.swap(true, Ordering::SeqCst) {
            (self.wake)();
        }
    }

    /// Before collecting results: anything sent after this wakes the shell again.
    fn collecting(&self) {
        self.pending.store(false, Ordering::SeqCst);
    }
}

fn shard_loop(
    index: usize,
    mut server: Server<ChaCha20Rng>,
    inputs: Receiver<ServerInput>,
    results: Sender<FromShard>,
    wake: ShellWake,
) {
    while let Ok(first) = inputs.recv() {
        // Everything already queued is handled before the shell hears of it.
        let mut next = Some(first);
        let mut stop = false;
        while let Some(input) = next.take() {
            stop = matches!(input, ServerInput::Shutdown { .. });
            if let Err(e) = server.handle_input(input) {
                tracing::error!(error = %e, shard = index, "shard refused an input");
            }
            loop {
                match server.poll_output() {
                    ServerOutput::Timeout(deadline) => {
                        let _ = results.send(FromShard::Deadline(index, deadline));
                        break;
                    }
                    output => {
                        let _ = results.send(FromShard::Output(Box::new(output)));
                    }
                }
            }
            if stop {
                let _ = results.send(FromShard::Stopped);
                break;
            }
            next = inputs.try_recv().ok();
        }
        wake.announce();
        if stop {
            return;
        }
    }
}

impl ShardedDriver {
    /// Starts one thread per server in `shards` (shard `i` must be configured as
    /// `Shard { index: i, count: shards.len() }` and restored with its own queues), routing
    /// with `router` (from [`ShardRouter::place`]).
    pub fn new(
        shards: Vec<Server<ChaCha20Rng>>,
        router: ShardRouter,
        identity: ServerIdentity,
        config: DriverConfig,
        tls_seed: [u8; 32],
        wake: Waker,
    ) -> std::io::Result<Self> {
        let version_range = shards
            .first()
            .map(|s| s.config().version_range)
            .unwrap_or(simplex_core::protocol::SMP_VERSION_RANGE);
        let (results_tx, results) = mpsc::channel();
        let wake = ShellWake {
            pending: Arc::new(AtomicBool::new(false)),
            wake,
        };
        let mut senders = Vec::new();
        let mut threads = Vec::new();
        for (index, server) in shards.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel();
            let results_tx = results_tx.clone();
            let wake = wake.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("smp-shard-{index}"))
                    .spawn(move || shard_loop(index, server, rx, results_tx, wake))?,
            );
            senders.push(tx);
        }
        Ok(Self {
            factory: ConnectionFactory::new(
                identity,
                version_range,
                config.handshake_timeout,
                tls_seed,
            ),
            conns: BTreeMap::new(),
            outputs: VecDeque::new(),
            router,
            deadlines: vec![None; senders.len()],
            shards: senders,
            results,
            wake,
            threads,
            shut_down: false,
            stats_lines: Vec::new(),
            stats_backups: Vec::new(),
        })
    }

    /// Open connections.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// Feeds an input (any input also collects what the shards sent), then drain
    /// [`ShardedDriver::poll_output`] until it returns [`DriverOutput::Timeout`].
    pub fn handle_input(
        &mut self,
        clock: Clock,
        input: DriverInput<'_>,
    ) -> Result<(), DriverError> {
        if self.shut_down {
            return Err(DriverError::ShutDown);
        }
        self.collect(clock);
        match input {
            DriverInput::Accepted { conn, framing } => self.accept(clock, conn, framing)?,
            DriverInput::Received { conn, bytes } => {
                if !self.conns.contains_key(&conn) {
                    return Err(DriverError::UnknownConn);
                }
                let mut rest = bytes;
                while !rest.is_empty() {
                    let Some(c) = self.conns.get_mut(&conn) else {
                        break;
                    };
                    let n = c
                        .machine
                        .handle_input(clock.now, transport::Input::Received(rest))
                        .unwrap_or(rest.len());
                    rest = rest.get(n..).unwrap_or_default();
                    self.drain_conn(clock, conn);
                }
            }
            DriverInput::PeerClosed { conn } => {
                let c = self.conns.get_mut(&conn).ok_or(DriverError::UnknownConn)?;
                let _ = c
                    .machine
                    .handle_input(clock.now, transport::Input::PeerClosed);
                self.drain_conn(clock, conn);
            }
            DriverInput::Tick => {
                for (i, deadline) in self.deadlines.iter_mut().enumerate() {
                    if deadline.is_some_and(|d| d <= clock.now) {
                        *deadline = None;
                        if let Some(tx) = self.shards.get(i) {
                            let _ = tx.send(ServerInput::Timeout {
                                now: clock.now,
                                wall_clock: clock.wall_clock,
                            });
                        }
                    }
                }
                for conn in connections::due(&self.conns, clock.now) {
                    if let Some(c) = self.conns.get_mut(&conn) {
                        let _ = c.machine.handle_input(clock.now, transport::Input::Tick);
                        self.drain_conn(clock, conn);
                    }
                }
            }
            DriverInput::Shutdown => self.shutdown(clock),
        }
        Ok(())
    }

    /// The next output; drain until [`DriverOutput::Timeout`].
    pub fn poll_output(&mut self) -> DriverOutput {
        if let Some(output) = self.outputs.pop_front() {
            return output;
        }
        let next = connections::earliest(&self.conns)
            .into_iter()
            .chain(self.deadlines.iter().flatten().copied())
            .min();
        DriverOutput::Timeout(next)
    }

    fn accept(
        &mut self,
        clock: Clock,
        conn: ConnId,
        framing: simplex_core::transport::Framing,
    ) -> Result<(), DriverError> {
        if self.conns.contains_key(&conn) {
            return Err(DriverError::DuplicateConn);
        }
        match self.factory.open(clock.now, framing) {
            Some(c) => {
                self.conns.insert(conn, c);
                self.drain_conn(clock, conn);
            }
            None => self.outputs.push_back(DriverOutput::CloseSocket { conn }),
        }
        Ok(())
    }

    fn broadcast(&self, input: &ServerInput) {
        for tx in &self.shards {
            let _ = tx.send(input.clone());
        }
    }

    fn drain_conn(&mut self, clock: Clock, conn: ConnId) {
        let mut received: Vec<VerifiedTransmission<Command>> = Vec::new();
        let mut closed = false;
        loop {
            let Some(c) = self.conns.get_mut(&conn) else {
                return;
            };
            match c.machine.poll_output() {
                transport::Output::Transmit(bytes) => {
                    self.outputs.push_back(DriverOutput::Write { conn, bytes })
                }
                transport::Output::Established {
                    negotiated,
                    session_id,
                } => {
                    let client = ClientId(conn);
                    c.client = Some(client);
                    self.broadcast(&ServerInput::ClientConnected {
                        client,
                        session_id: bytes::Bytes::copy_from_slice(&session_id),
                        version: negotiated.version,
                        now: clock.now,
                    });
                }
                transport::Output::Received(t) => received.push(t),
                transport::Output::TooLarge(_) => {}
                transport::Output::Closed(_) => closed = true,
                transport::Output::Timeout(deadline) => {
                    c.deadline = deadline;
                    break;
                }
            }
        }
        let client = self.conns.get(&conn).and_then(|c| c.client);
        if let (Some(client), false) = (client, received.is_empty()) {
            // Consecutive transmissions for the same shard travel together, in order.
            let mut batch: Vec<VerifiedTransmission<Command>> = Vec::new();
            let mut batch_shard = None;
            for t in received {
                let shard = usize::from(self.router.route(
                    client,
                    &t.entity_id,
                    t.message.as_ref().ok(),
                ));
                if batch_shard.is_some_and(|s| s != shard) {
                    self.send_batch(clock, client, batch_shard, std::mem::take(&mut batch));
                }
                batch_shard = Some(shard);
                batch.push(t);
            }
            self.send_batch(clock, client, batch_shard, batch);
        }
        if closed {
            if let Some(c) = self.conns.remove(&conn) {
                if let Some(client) = c.client {
                    self.broadcast(&ServerInput::ClientClosed {
                        client,
                        now: clock.now,
                    });
                }
                self.outputs.push_back(DriverOutput::CloseSocket { conn });
            }
        }
    }

    fn send_batch(
        &self,
        clock: Clock,
        client: ClientId,
        shard: Option<usize>,
        transmissions: Vec<VerifiedTransmission<Command>>,
    ) {
        if let Some(tx) = shard.and_then(|s| self.shards.get(s)) {
            if !transmissions.is_empty() {
                let _ = tx.send(ServerInput::Transmissions {
                    client,
                    now: clock.now,
                    wall_clock: clock.wall_clock,
                    transmissions,
                });
            }
        }
    }

    /// Takes what the shards sent so far.
    fn collect(&mut self, clock: Clock) -> usize {
        self.wake.collecting();
        let mut stopped = 0;
        while let Ok(message) = self.results.try_recv() {
            stopped += self.apply(clock, message);
        }
        stopped
    }

    fn apply(&mut self, clock: Clock, message: FromShard) -> usize {
        let message = match message {
            FromShard::Output(output) => *output,
            FromShard::Deadline(i, d) => {
                if let Some(slot) = self.deadlines.get_mut(i) {
                    *slot = d;
                }
                return 0;
            }
            FromShard::Stopped => return 1,
        };
        match message {
            ServerOutput::Transmit {
                client,
                transmissions,
            } => {
                if let Some(c) = self.conns.get_mut(&client.0) {
                    let input = transport::Input::Send(transmissions);
                    if c.machine.handle_input(clock.now, input).is_err() {
                        let _ = c.machine.handle_input(clock.now, transport::Input::Close);
                    }
                    self.drain_conn(clock, client.0);
                }
            }
            ServerOutput::Close { client } => {
                if let Some(c) = self.conns.get_mut(&client.0) {
                    let _ = c.machine.handle_input(clock.now, transport::Input::Close);
                    self.drain_conn(clock, client.0);
                }
            }
            ServerOutput::Persist(r) => self.outputs.push_back(DriverOutput::Persist(r)),
            ServerOutput::Journal(r) => self.outputs.push_back(DriverOutput::Journal(r)),
            ServerOutput::SaveMessage {
                recipient_id,
                message,
            } => self.outputs.push_back(DriverOutput::SaveMessage {
                recipient_id,
                message,
            }),
            // One line and one backup for the server: the shards' are merged once all came
            // (they share the schedule, and their sets of active queues are disjoint).
            ServerOutput::StatsBackup(t) => {
                self.stats_backups.push(t);
                if self.stats_backups.len() == self.shards.len() {
                    let backups = std::mem::take(&mut self.stats_backups);
                    self.outputs
                        .push_back(DriverOutput::StatsBackup(merge_backups(&backups)));
                }
            }
            ServerOutput::Stats(t) => {
                self.stats_lines.push(t);
                if self.stats_lines.len() == self.shards.len() {
                    let lines = std::mem::take(&mut self.stats_lines);
                    self.outputs
                        .push_back(DriverOutput::Stats(merge_lines(&lines)));
                }
            }
            ServerOutput::Timeout(_) => {}
        }
        0
    }

    fn shutdown(&mut self, clock: Clock) {
        let ids: Vec<ConnId> = self.conns.keys().copied().collect();
        for conn in ids {
            if let Some(c) = self.conns.get_mut(&conn) {
                let _ = c.machine.handle_input(clock.now, transport::Input::Close);
                self.drain_conn(clock, conn);
            }
        }
        self.broadcast(&ServerInput::Shutdown { now: clock.now });
        // Wait for every shard's last outputs (saved messages), then for its thread.
        let mut stopped = 0;
        while stopped < self.shards.len() {
            match self.results.recv() {
                Ok(message) => stopped += self.apply(clock, message),
                Err(_) => break,
            }
        }
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        self.shut_down = true;
    }
}

/// The shards' daily lines as one: the first one's date, each count summed (a field empty in
/// every line — week and month on most days — stays empty).
pub fn merge_lines(lines: &[String]) -> String {
    let mut fields: Vec<String> = Vec::new();
    let mut sums: Vec<Option<u64>> = Vec::new();
    for (n, line) in lines.iter().enumerate() {
        for (i, field) in line.split(',').enumerate() {
            if i == 0 {
                if n == 0 {
                    fields.push(field.to_string());
                }
                continue;
            }
            if sums.len() < i {
                sums.resize(i, None);
            }
            if let (Ok(v), Some(slot)) = (field.parse::<u64>(), sums.get_mut(i - 1)) {
                *slot = Some(slot.unwrap_or(0) + v);
            }
        }
    }
    fields.extend(
        sums.iter()
            .map(|s| s.map(|v| v.to_string()).unwrap_or_default()),
    );
    fields.join(",")
}

/// The shards' stats backups as one ([`crate::stats::ServerStats::merge`]); one that does
/// not parse is left out.
pub fn merge_backups(backups: &[String]) -> String {
    let mut merged: Option<crate::stats::ServerStats> = None;
    for b in backups {
        if let Ok(s) = crate::stats::ServerStats::from_backup(b.as_bytes()) {
            match &mut merged {
                Some(m) => m.merge(&s),
                None => merged = Some(s),
            }
        }
    }
    merged.map(|m| m.to_backup()).unwrap_or_default()
}

impl Drop for ShardedDriver {
    fn drop(&mut self) {
        // Closing the input channels ends the shard threads.
        self.shards.clear();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn daily_lines_add_up() {
        let lines = [
            "2026-11-25,1,2,0,10,9,3,,".to_string(),
            "2026-11-25,4,0,1,5,5,2,,".to_string(),
        ];
        assert_eq!(merge_lines(&lines), "2026-11-25,5,2,1,15,14,5,,");
        let monday = [
            "d,0,0,0,0,0,1,4,".to_string(),
            "d,0,0,0,0,0,0,2,".to_string(),
        ];
        assert_eq!(merge_lines(&monday), "d,0,0,0,0,0,1,6,");
    }
}
