//! A simulated deployment: the production server driver and real client connection machines
//! (TLS + SMP) over [`SimNet`], with faults, and an oracle checking the delivery invariants.
//!
//! Recipients create a queue each and stay subscribed, acknowledging every message; senders
//! send numbered messages to one queue each, one at a time, waiting for `OK`. Connections are
//! reset, partitioned and repaired, the server crashes and restarts from its persisted state
//! (store log + message journal, durable mode), and both clocks jump. After the faults stop,
//! the world settles and the oracle checks that every message the server answered `OK` to was
//! delivered exactly once (after de-duplication by message id) and in order per queue.

// The simulator is test code: a broken fixture or an impossible key fails the run loudly.
#![allow(clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::EntityId;
use simplex_core::time::{Clock, Instant};
use simplex_core::transport::Input;
use simplex_server::driver::DriverInput;
use simplex_server::Mutations;

use super::net::{Delivery, End, NetConfig, SimNet, StreamId};
use super::persisted::Persisted;
use clients::{Role, SimClient};
use oracle::Oracle;
use server::ServerNode;

mod clients;
mod oracle;
mod server;

/// What to simulate.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// The root seed every other seed derives from.
    pub seed: u64,
    /// Queues (one recipient and one sender each).
    pub queues: usize,
    /// Messages each sender sends.
    pub messages: usize,
    /// Virtual time during which faults happen; then the world settles.
    pub fault_window: Duration,
    /// The network's behaviour.
    pub net: NetConfig,
    /// Deliberate server bugs (to show the oracle catches them).
    pub mutations: Mutations,
    /// Clients carry blocks as WebSocket messages (the server takes their sockets as from
    /// its WebSockets listener).
    pub websockets: bool,
}

impl SimConfig {
    /// A small default world for `seed`.
    pub fn new(seed: u64) -> Self {
        Self {
            seed,
            queues: 3,
            messages: 12,
            fault_window: Duration::from_secs(120),
            net: NetConfig {
                reset_per_million: 2_000,
                ..NetConfig::default()
            },
            mutations: Mutations::default(),
            websockets: false,
        }
    }
}

/// What happened, and what went wrong.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Report {
    /// Messages the server answered `OK` to.
    pub accepted: usize,
    /// Distinct messages delivered.
    pub delivered: usize,
    /// Server crashes and restarts.
    pub crashes: usize,
    /// Connection resets.
    pub resets: usize,
    /// Steps of the event loop.
    pub steps: usize,
    /// Virtual time at the end, in microseconds.
    pub end_micros: u64,
    /// The most bytes in flight at once.
    pub max_in_flight: usize,
    /// Invariant violations; empty on success.
    pub violations: Vec<String>,
}

const WALL_START: i64 = 1_700_000_000;
const RECONNECT_DELAY: Duration = Duration::from_secs(2);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);
/// Bound on bytes in flight: a handful of blocks per connection.
const MAX_IN_FLIGHT: usize = 16 * 1024 * 1024;
const MAX_STEPS: usize = 200_000;

/// The simulation.
pub struct World {
    config: SimConfig,
    rng: ChaCha20Rng,
    net: SimNet,
    now: Instant,
    /// Wall-clock offset from the monotonic clock (clock jumps move it).
    wall_offset: i64,
    server: ServerNode,
    clients: Vec<SimClient>,
    /// Each queue's sender id, as the recipient would share it in an invitation.
    sender_ids: BTreeMap<usize, EntityId>,
    oracle: Oracle,
    report: Report,
    /// When a crashed server comes back.
    restart_at: Option<Instant>,
}

impl World {
    /// A world for `config`.
    pub fn new(config: SimConfig) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(config.seed);
        let net = SimNet::new(rng.next_u64(), config.net.clone());
        let mut clients = Vec::new();
        for i in 0..config.queues {
            let mut seed = [0u8; 32];
            rng.fill_bytes(&mut seed);
            let key = SignKey::try_from(
                PrivateKey::from_raw(Algorithm::Ed25519, &seed).expect("32 bytes"),
            )
            .expect("signing key");
            rng.fill_bytes(&mut seed);
            let dh = x25519::PrivateKey::from_bytes(&seed);
            clients.push(SimClient {
                role: Role::Recipient {
                    key: Box::new(key),
                    dh,
                    queue: None,
                    new_sent: false,
                },
                conn: None,
                reconnect_at: Some(Instant::ZERO),
                next_corr: 0,
                side: 1 + i as u32,
            });
        }
        for i in 0..config.queues {
            let role = Role::Sender {
                target: i,
                attempt: 0,
                in_flight: None,
                done: 0,
                retry_at: None,
            };
            clients.push(SimClient {
                role,
                conn: None,
                reconnect_at: Some(Instant::ZERO),
                next_corr: 0,
                side: 1 + (config.queues + i) as u32,
            });
        }
        let mutations = config.mutations;
        let mut world = World {
            config,
            rng,
            net,
            now: Instant::ZERO,
            wall_offset: 0,
            server: ServerNode {
                driver: None,
                persisted: Persisted::default(),
                identity: crate::harness::identity(),
                mutations,
                streams: BTreeSet::new(),
                deadline: None,
                trace: None,
                traces: Vec::new(),
            },
            clients,
            sender_ids: BTreeMap::new(),
            oracle: Oracle::default(),
            report: Report::default(),
            restart_at: None,
        };
        world.start_server();
        world
    }

    fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            wall_clock: UnixTime::from_seconds(
                WALL_START + self.wall_offset + (self.now.as_micros() / 1_000_000) as i64,
            ),
        }
    }

    fn handle_deliveries(&mut self, deliveries: Vec<Delivery>) {
        for d in deliveries {
            match d {
                Delivery::Bytes {
                    stream,
                    end: End::Server,
                    bytes,
                } => {
                    if self.server.streams.contains(&stream) {
                        self.server_input(DriverInput::Received {
                            conn: stream,
                            bytes: &bytes,
                        });
                    }
                }
                Delivery::Closed {
                    stream,
                    end: End::Server,
                } => {
                    if self.server.streams.remove(&stream) {
                        self.server_input(DriverInput::PeerClosed { conn: stream });
                    }
                }
                Delivery::Bytes {
                    stream,
                    end: End::Client,
                    bytes,
                } => {
                    if let Some(i) = self.client_of(stream) {
                        if let Some((_, conn)) = self.clients[i].conn.as_mut() {
                            let mut rest = &bytes[..];
                            while !rest.is_empty() {
                                let n = conn
                                    .handle_input(self.now, Input::Received(rest))
                                    .unwrap_or(rest.len());
                                rest = &rest[n.min(rest.len())..];
                                if !rest.is_empty() {
                                    // Drain before feeding more (the machine applies backpressure).
                                    break;
                                }
                            }
                            self.drain_client(i);
                            if !rest.is_empty() {
                                self.handle_deliveries(vec![Delivery::Bytes {
                                    stream,
                                    end: End::Client,
                                    bytes: rest.to_vec(),
                                }]);
                            }
                        }
                    }
                }
                Delivery::Closed {
                    stream,
                    end: End::Client,
                } => {
                    if let Some(i) = self.client_of(stream) {
                        if let Some((_, conn)) = self.clients[i].conn.as_mut() {
                            let _ = conn.handle_input(self.now, Input::PeerClosed);
                        }
                        self.drain_client(i);
                        if self.client_of(stream).is_some() {
                            self.disconnected(i);
                        }
                    }
                }
            }
        }
    }

    fn client_of(&self, stream: StreamId) -> Option<usize> {
        self.clients
            .iter()
            .position(|c| c.conn.as_ref().is_some_and(|(s, _)| *s == stream))
    }

    /// The next moment anything happens.
    fn next_event(&self, fault_at: Option<Instant>) -> Option<Instant> {
        let clients = self.clients.iter().filter_map(|c| {
            let retry = match &c.role {
                Role::Sender { retry_at, .. } => *retry_at,
                Role::Recipient { .. } => None,
            };
            [c.reconnect_at, retry].into_iter().flatten().min()
        });
        [self.net.next_delivery(), self.server.deadline, fault_at]
            .into_iter()
            .flatten()
            .chain(clients)
            .min()
    }

    /// Every sender is done, every client is connected (so recipients are subscribed again)
    /// and nothing is in flight: whatever the server still holds would be on its way.
    fn all_done(&self) -> bool {
        let senders_done = self.clients.iter().all(|c| match &c.role {
            Role::Sender { done, .. } => *done >= self.config.messages,
            Role::Recipient { .. } => true,
        });
        let all_connected = self.clients.iter().all(|c| {
            c.reconnect_at.is_none()
                && c.conn
                    .as_ref()
                    .is_some_and(|(_, conn)| conn.is_established())
        });
        senders_done && all_connected && self.net.in_flight_bytes() == 0
    }

    /// One fault, chosen by the world's RNG.
    fn inject_fault(&mut self) {
        match self.rng.next_u32() % 6 {
            0 | 1 => {
                // Reset a random open client connection.
                let open: Vec<StreamId> = self
                    .clients
                    .iter()
                    .filter_map(|c| c.conn.as_ref().map(|(s, _)| *s))
                    .collect();
                if !open.is_empty() {
                    let s = open[self.rng.next_u32() as usize % open.len()];
                    self.report.resets += 1;
                    let deliveries = self.net.reset(s);
                    self.handle_deliveries(deliveries);
                }
            }
            2 => {
                let side = 1 + self.rng.next_u32() % self.clients.len() as u32;
                self.net.partition(0, side);
            }
            3 => self.net.repair(self.now),
            4 => {
                self.crash_server();
                self.restart_at = Some(self.now + Duration::from_secs(3));
            }
            _ => {
                // Both clocks jump: the monotonic one by up to a minute, the wall clock by up to a day.
                self.now = self.now + Duration::from_micros(self.rng.next_u64() % 60_000_000);
                self.wall_offset += (self.rng.next_u64() % 86_400) as i64;
            }
        }
    }

    /// Runs the world to the end and checks the invariants.
    pub fn run(self) -> Report {
        self.run_recording().0
    }

    /// Like [`World::run`], also returning the trace of each server lifetime (a crash starts a
    /// new one), for [`simplex_server::trace::replay`].
    pub fn run_recording(mut self) -> (Report, Vec<Vec<u8>>) {
        let report = self.run_inner();
        if let Some(trace) = self.server.trace.take() {
            self.server.traces.push(trace.finish());
        }
        (report, std::mem::take(&mut self.server.traces))
    }

    fn run_inner(&mut self) -> Report {
        let fault_end = Instant::ZERO + self.config.fault_window;
        let mut next_fault =
            Some(Instant::ZERO + Duration::from_millis(500 + self.rng.next_u64() % 5_000));
        let settle_limit = fault_end + Duration::from_secs(3_600);
        loop {
            self.report.steps += 1;
            if self.report.steps > MAX_STEPS {
                self.oracle
                    .violations
                    .push("did not settle within the step limit".into());
                break;
            }
            self.report.max_in_flight = self.report.max_in_flight.max(self.net.in_flight_bytes());
            if self.net.in_flight_bytes() > MAX_IN_FLIGHT {
                self.oracle
                    .violations
                    .push(format!("{} bytes in flight", self.net.in_flight_bytes()));
                break;
            }
            if self.now >= fault_end && self.all_done() && self.restart_at.is_none() {
                break;
            }
            let Some(t) = self
                .next_event(next_fault.or(self.restart_at))
                .map(|t| t.max(self.now))
            else {
                break;
            };
            if t > settle_limit {
                self.oracle
                    .violations
                    .push("nothing left to do but senders are not done".into());
                break;
            }
            self.now = t;
            if next_fault.is_some_and(|f| f <= self.now) {
                if self.now < fault_end {
                    self.inject_fault();
                    next_fault =
                        Some(self.now + Duration::from_millis(500 + self.rng.next_u64() % 8_000));
                } else {
                    // Faults are over: heal the network so everything can settle.
                    next_fault = None;
                    self.net.repair(self.now);
                }
            }
            if self.restart_at.is_some_and(|r| r <= self.now) {
                self.restart_at = None;
                self.start_server();
            }
            let deliveries = self.net.deliver(self.now);
            self.handle_deliveries(deliveries);
            if self.server.deadline.is_some_and(|d| d <= self.now) {
                self.server_input(DriverInput::Tick);
            }
            for i in 0..self.clients.len() {
                if let Some((_, conn)) = self.clients[i].conn.as_mut() {
                    let _ = conn.handle_input(self.now, Input::Tick);
                    self.drain_client(i);
                }
                if self.clients[i].reconnect_at.is_some_and(|r| r <= self.now) {
                    self.connect(i);
                }
                let retry_due = matches!(&self.clients[i].role, Role::Sender { retry_at: Some(r), .. } if *r <= self.now);
                if retry_due {
                    if let Role::Sender { retry_at, .. } = &mut self.clients[i].role {
                        *retry_at = None;
                    }
                    self.drain_client(i);
                }
            }
        }
        self.oracle.check_settled();
        self.report.delivered = self.oracle.delivered.values().map(BTreeMap::len).sum();
        self.report.end_micros = self.now.as_micros();
        self.report.violations = std::mem::take(&mut self.oracle.violations);
        self.report.clone()
    }
}
