//! The multi-worker server in the simulator: N [`ServerDriver::sharded`] drivers over one
//! [`ShardRouter`], as the host runs them on N threads, with real client connection machines
//! (TLS + SMP) in memory.
//!
//! Nothing moves by itself. Every pending delivery sits on a queue of its own: the bytes each
//! client sent its socket, the bytes each driver wrote to a socket, and the mail each shard
//! posted to each other shard (one queue per (from, to) pair, one batch per turn, as the host's
//! post sends it). A seeded generator picks which queue delivers next, so one seed is one
//! interleaving of sockets and mail, replayed exactly; each queue stays first in, first out, the
//! one order the post promises. Clients are dealt to the workers in turn, worker `i` of `N`
//! numbering its sockets `i + N`, `i + 2N`, … as the shells do.
//!
//! Each driver's inputs and outputs are recorded in a trace ([`TraceWriter`]). Mail inputs are
//! not trace records (the trace format holds one lone driver's inputs), but what a driver
//! output while reading its mail is folded into the digest after its previous input, so the
//! traces of a run, with the schedule, pin down everything every driver did.

// Test code: a broken fixture or an impossible key fails the run loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::SignKey;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, SMP_VERSION_RANGE,
};
use simplex_core::time::{Clock, Instant};
use simplex_core::tls::{ServerIdentity, SessionRng, TlsSession};
use simplex_core::transport::{ClientConnection, Framing, Input, Output};
use simplex_server::driver::{ConnId, DriverConfig, DriverInput, DriverOutput, ServerDriver};
use simplex_server::mail::Letter;
use simplex_server::trace::{TraceHeader, TraceWriter};
use simplex_server::{Mutations, Server, ServerConfig, Shard, ShardRouter};

pub mod delivery;

const WALL_START: i64 = 1_700_000_000;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Virtual time each delivery takes.
const STEP: Duration = Duration::from_millis(1);
/// A run that has not gone quiet after this many deliveries is a bug (a delivery loop).
const MAX_STEPS: usize = 500_000;

/// One answer a client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// The correlation id of the command it answers (empty for pushed messages).
    pub corr: Vec<u8>,
    /// The entity it is about.
    pub entity: EntityId,
    /// The message.
    pub msg: BrokerMsg,
}

/// A client: its connection machine, the worker holding its socket and what is in flight on
/// the socket each way.
struct Peer {
    worker: usize,
    conn: ConnId,
    machine: ClientConnection,
    /// Bytes the client wrote, not yet read by its worker.
    to_server: VecDeque<Vec<u8>>,
    /// Bytes the worker wrote, not yet read by the client.
    to_client: VecDeque<Vec<u8>>,
    received: Vec<Received>,
    closed: bool,
}

/// What can happen next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    ToServer(usize),
    ToClient(usize),
    Mail { from: u16, to: u16 },
}

/// The simulated multi-worker server and its clients. See the module docs.
pub struct ShardedWorld {
    rng: ChaCha20Rng,
    now: Instant,
    identity: ServerIdentity,
    drivers: Vec<ServerDriver<ChaCha20Rng>>,
    deadlines: Vec<Option<Instant>>,
    traces: Vec<TraceWriter>,
    /// Mail batches posted and not yet read, per (from, to).
    mail: BTreeMap<(u16, u16), VecDeque<Vec<Letter>>>,
    /// The next socket id of each worker.
    next_socket: Vec<ConnId>,
    peers: Vec<Peer>,
    /// Which delivery happened at each step (`s`/`c` + client, `m` + from + to).
    schedule: Vec<u8>,
    letters: usize,
    steps: usize,
    violations: Vec<String>,
}

impl ShardedWorld {
    /// `shards` workers (at least one), every seed drawn from `seed`.
    pub fn new(seed: u64, shards: u16) -> Self {
        Self::with_mutations(seed, shards, Mutations::default())
    }

    /// Like [`Self::new`], every shard with the deliberate bugs `mutations` (to show the
    /// checks catch them).
    pub fn with_mutations(seed: u64, shards: u16, mutations: Mutations) -> Self {
        let shards = shards.max(1);
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let identity = crate::harness::identity();
        let router = Arc::new(ShardRouter::new(shards));
        let clock = Self::clock_at(Instant::ZERO);
        let mut drivers = Vec::new();
        let mut traces = Vec::new();
        for index in 0..shards {
            let (mut server_seed, mut tls_seed) = ([0u8; 32], [0u8; 32]);
            rng.fill_bytes(&mut server_seed);
            rng.fill_bytes(&mut tls_seed);
            let config = ServerConfig {
                shard: Shard {
                    index,
                    count: shards,
                },
                mutations,
                ..ServerConfig::default()
            };
            let header = TraceHeader {
                server_seed,
                tls_seed,
                start: clock,
                config: config.clone(),
                handshake_timeout_micros: DriverConfig::default().handshake_timeout.as_micros()
                    as u64,
                key_hash: identity.key_hash(),
                store_log: String::new(),
                journal: String::new(),
                saved_messages: String::new(),
                stats_backup: String::new(),
            };
            let server = Server::new(config, ChaCha20Rng::from_seed(server_seed), clock);
            drivers.push(ServerDriver::sharded(
                server,
                identity.clone(),
                DriverConfig::default(),
                tls_seed,
                router.clone(),
            ));
            traces.push(TraceWriter::new(&header));
        }
        let count = ConnId::from(shards);
        let mut world = Self {
            rng,
            now: Instant::ZERO,
            identity,
            deadlines: vec![None; drivers.len()],
            drivers,
            traces,
            mail: BTreeMap::new(),
            next_socket: (0..count).map(|i| i + count).collect(),
            peers: Vec::new(),
            schedule: Vec::new(),
            letters: 0,
            steps: 0,
            violations: Vec::new(),
        };
        // What a fresh server says before its first input is not traced (as in the host).
        for w in 0..world.drivers.len() {
            world.drain_driver(w, false);
        }
        world
    }

    fn clock_at(now: Instant) -> Clock {
        Clock {
            now,
            wall_clock: UnixTime::from_seconds(WALL_START + (now.as_micros() / 1_000_000) as i64),
        }
    }

    fn clock(&self) -> Clock {
        Self::clock_at(self.now)
    }

    /// The number of workers.
    pub fn shards(&self) -> u16 {
        self.drivers.len() as u16
    }

    /// Connects a new client to the next worker in turn (the first to worker 0); its index.
    /// The handshake happens as the deliveries are made ([`Self::settle`]).
    pub fn connect(&mut self) -> usize {
        let i = self.peers.len();
        let worker = i % self.drivers.len();
        let conn = self.next_socket[worker];
        self.next_socket[worker] += self.drivers.len() as ConnId;
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let rng: SessionRng = Box::new(ChaCha20Rng::from_seed(seed));
        let key_hash = self.identity.key_hash();
        let tls = TlsSession::client("localhost", key_hash, rng, self.now, HANDSHAKE_TIMEOUT)
            .expect("client TLS setup");
        let machine = ClientConnection::client(
            tls,
            key_hash,
            SMP_VERSION_RANGE,
            self.now,
            HANDSHAKE_TIMEOUT,
        );
        self.peers.push(Peer {
            worker,
            conn,
            machine,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            received: Vec::new(),
            closed: false,
        });
        self.driver_input(
            worker,
            DriverInput::Accepted {
                conn,
                framing: Framing::Raw,
            },
        );
        self.drain_client(i);
        i
    }

    /// The worker holding client `i`'s socket.
    pub fn worker_of(&self, i: usize) -> usize {
        self.peers[i].worker
    }

    /// Whether client `i` finished its handshake.
    pub fn is_established(&self, i: usize) -> bool {
        self.peers[i].machine.is_established()
    }

    /// Client `i` sends `command` about `entity`, signed with `key` when given. The client
    /// must be established.
    pub fn send(
        &mut self,
        i: usize,
        corr: &[u8],
        entity: &[u8],
        command: &Command,
        key: Option<&SignKey>,
    ) {
        let machine = &mut self.peers[i].machine;
        let session = *machine.session_id().expect("client established");
        let version = machine.version().expect("client established");
        let signed = signed_part(
            &session,
            &CorrId::from_slice(corr).expect("short corr id"),
            &EntityId::from_slice(entity).expect("short entity id"),
            &command.to_bytes(version),
        )
        .expect("transmission fits");
        let signature = key.map(|k| k.sign(&signed));
        if let Err(e) = machine.handle_input(
            self.now,
            Input::Send(vec![encode_transmission(signature.as_ref(), &signed)]),
        ) {
            self.violations
                .push(format!("client {i} could not send: {e:?}"));
        }
        self.drain_client(i);
    }

    /// Takes what client `i` received since the last call.
    pub fn take_received(&mut self, i: usize) -> Vec<Received> {
        std::mem::take(&mut self.peers[i].received)
    }

    /// Makes one delivery, picked by the seeded generator among all pending ones; whether
    /// there was one.
    pub fn step(&mut self) -> bool {
        let mut pending = Vec::new();
        for (i, p) in self.peers.iter().enumerate() {
            if !p.to_server.is_empty() {
                pending.push(Pending::ToServer(i));
            }
            if !p.to_client.is_empty() {
                pending.push(Pending::ToClient(i));
            }
        }
        for (&(from, to), batches) in &self.mail {
            if !batches.is_empty() {
                pending.push(Pending::Mail { from, to });
            }
        }
        if pending.is_empty() {
            return false;
        }
        self.steps += 1;
        self.now = self.now + STEP;
        let pick = pending[self.rng.next_u32() as usize % pending.len()];
        match pick {
            Pending::ToServer(i) => {
                self.schedule.extend([b's', i as u8]);
                let bytes = self.take_bytes(i, true);
                let (worker, conn) = (self.peers[i].worker, self.peers[i].conn);
                self.driver_input(
                    worker,
                    DriverInput::Received {
                        conn,
                        bytes: &bytes,
                    },
                );
            }
            Pending::ToClient(i) => {
                self.schedule.extend([b'c', i as u8]);
                let bytes = self.take_bytes(i, false);
                self.client_received(i, &bytes);
            }
            Pending::Mail { from, to } => {
                self.schedule.extend([b'm', from as u8, to as u8]);
                let letters = self
                    .mail
                    .get_mut(&(from, to))
                    .and_then(VecDeque::pop_front)
                    .unwrap_or_default();
                self.letters += letters.len();
                self.driver_input(usize::from(to), DriverInput::Mail(letters));
            }
        }
        self.tick_due();
        true
    }

    /// Makes deliveries until none is pending.
    pub fn settle(&mut self) {
        while self.step() {
            if self.steps > MAX_STEPS {
                self.violations
                    .push("deliveries did not stop within the step limit".into());
                return;
            }
        }
    }

    /// The head of a socket's queue, or, one time in four, a seeded part of it (the rest stays
    /// first), so reads split writes anywhere.
    fn take_bytes(&mut self, i: usize, to_server: bool) -> Vec<u8> {
        let split = self.rng.next_u32();
        let queue = if to_server {
            &mut self.peers[i].to_server
        } else {
            &mut self.peers[i].to_client
        };
        let Some(mut bytes) = queue.pop_front() else {
            return Vec::new();
        };
        if split % 4 == 0 && bytes.len() > 1 {
            let at = 1 + (split as usize / 4) % (bytes.len() - 1);
            queue.push_front(bytes.split_off(at));
        }
        bytes
    }

    /// Ticks the drivers whose deadline passed, in worker order.
    fn tick_due(&mut self) {
        for w in 0..self.drivers.len() {
            if self.deadlines[w].is_some_and(|d| d <= self.now) {
                self.driver_input(w, DriverInput::Tick);
            }
        }
    }

    fn driver_input(&mut self, w: usize, input: DriverInput<'_>) {
        let clock = self.clock();
        self.traces[w].input(clock, &input);
        if let Err(e) = self.drivers[w].handle_input(clock, input) {
            self.violations
                .push(format!("worker {w} refused an input: {e}"));
        }
        self.drain_driver(w, true);
    }

    /// Moves a driver's outputs onto the sockets' and the post's queues: the mail of one turn
    /// to each shard as one batch, as the host's post sends it.
    fn drain_driver(&mut self, w: usize, traced: bool) {
        let from = w as u16;
        let mut turn: BTreeMap<u16, Vec<Letter>> = BTreeMap::new();
        loop {
            let output = self.drivers[w].poll_output();
            if traced {
                self.traces[w].output(&output);
            }
            match output {
                DriverOutput::Write { conn, bytes } => match self.peer_of(w, conn) {
                    Some(i) => self.peers[i].to_client.push_back(bytes),
                    None => self
                        .violations
                        .push(format!("worker {w} wrote to unknown socket {conn}")),
                },
                DriverOutput::CloseSocket { conn } => {
                    if let Some(i) = self.peer_of(w, conn) {
                        self.peers[i].closed = true;
                    }
                }
                DriverOutput::Mail { to, letter } => {
                    if to == from || usize::from(to) >= self.drivers.len() {
                        self.violations
                            .push(format!("worker {w} mailed shard {to}"));
                    } else {
                        turn.entry(to).or_default().push(letter);
                    }
                }
                DriverOutput::Timeout(deadline) => {
                    self.deadlines[w] = deadline;
                    break;
                }
                DriverOutput::Persist(_)
                | DriverOutput::Journal(_)
                | DriverOutput::SaveMessage { .. }
                | DriverOutput::StatsBackup(_)
                | DriverOutput::Stats(_) => {}
            }
        }
        for (to, letters) in turn {
            self.mail.entry((from, to)).or_default().push_back(letters);
        }
    }

    fn peer_of(&self, worker: usize, conn: ConnId) -> Option<usize> {
        self.peers
            .iter()
            .position(|p| p.worker == worker && p.conn == conn)
    }

    fn client_received(&mut self, i: usize, bytes: &[u8]) {
        let mut rest = bytes;
        while !rest.is_empty() {
            let n = match self.peers[i]
                .machine
                .handle_input(self.now, Input::Received(rest))
            {
                Ok(n) => n,
                Err(e) => {
                    self.violations
                        .push(format!("client {i} refused bytes: {e:?}"));
                    break;
                }
            };
            rest = &rest[n.min(rest.len())..];
            self.drain_client(i);
            if n == 0 {
                // The machine takes fewer bytes only while its outputs wait: drained now.
                break;
            }
        }
        if !rest.is_empty() {
            self.peers[i].to_client.push_front(rest.to_vec());
        }
    }

    fn drain_client(&mut self, i: usize) {
        loop {
            match self.peers[i].machine.poll_output() {
                Output::Transmit(bytes) => self.peers[i].to_server.push_back(bytes),
                Output::Received(t) => match t.message {
                    Ok(msg) => self.peers[i].received.push(Received {
                        corr: t.corr_id.as_bytes().to_vec(),
                        entity: t.entity_id,
                        msg,
                    }),
                    Err(e) => self
                        .violations
                        .push(format!("client {i} got a bad transmission: {e}")),
                },
                Output::Established { .. } => {}
                Output::TooLarge(_) => self
                    .violations
                    .push(format!("client {i}: a command did not fit a block")),
                Output::Closed(_) => self.peers[i].closed = true,
                Output::Timeout(_) => break,
            }
        }
    }

    /// Letters delivered so far.
    pub fn letters_delivered(&self) -> usize {
        self.letters
    }

    /// Which delivery happened at each step so far.
    pub fn schedule(&self) -> &[u8] {
        &self.schedule
    }

    /// Whether client `i`'s socket was closed (by either end).
    pub fn is_closed(&self, i: usize) -> bool {
        self.peers[i].closed
    }

    /// What went wrong so far (refused inputs, bad transmissions); empty when all is well.
    pub fn violations(&self) -> &[String] {
        &self.violations
    }

    /// Every worker's trace so far.
    pub fn traces(&self) -> Vec<Vec<u8>> {
        self.traces.iter().map(|t| t.clone().finish()).collect()
    }
}
