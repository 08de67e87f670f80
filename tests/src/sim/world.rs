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

use simplex_core::time::Clock;
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Decode, Reader, UnixTime};
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, MsgFlags, MsgId,
    SMP_VERSION_RANGE,
};
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, SessionRng, TlsSession};
use simplex_core::transport::{ClientConnection, Framing, Input, Output};
use simplex_server::driver::{DriverInput, DriverOutput, ServerDriver};
use simplex_server::trace::TraceWriter;

use super::persisted::Persisted;
use simplex_server::{Mutations, ServerConfig};

use super::net::{Delivery, End, NetConfig, SimNet, StreamId};

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

enum Role {
    Recipient {
        key: Box<SignKey>,
        dh: x25519::PrivateKey,
        /// The queue: recipient id and the body-decryption key.
        queue: Option<(EntityId, CbKey)>,
        new_sent: bool,
    },
    Sender {
        /// Index of the recipient whose queue this sender writes to.
        target: usize,
        /// Attempts so far; each SEND carries a fresh one.
        attempt: u32,
        /// The attempt waiting for its answer, by correlation id.
        in_flight: Option<(Vec<u8>, u32)>,
        /// Messages answered `OK`.
        done: usize,
        /// Waiting after `ERR QUOTA` until this time.
        retry_at: Option<Instant>,
    },
}

struct SimClient {
    role: Role,
    conn: Option<(StreamId, ClientConnection)>,
    reconnect_at: Option<Instant>,
    next_corr: u64,
    side: u32,
}

#[derive(Default)]
struct Oracle {
    /// Per queue (recipient index): attempts answered OK, in order.
    accepted: BTreeMap<usize, Vec<u32>>,
    /// Per queue: attempt → the message id it was delivered under.
    delivered: BTreeMap<usize, BTreeMap<u32, MsgId>>,
    /// Per queue: the last attempt delivered for the first time.
    last_first_delivery: BTreeMap<usize, u32>,
    violations: Vec<String>,
}

impl Oracle {
    fn delivered(&mut self, queue: usize, attempt: u32, msg_id: MsgId) {
        let seen = self.delivered.entry(queue).or_default();
        match seen.get(&attempt) {
            Some(id) if *id == msg_id => {} // a redelivery of the same message: fine
            Some(_) => self.violations.push(format!(
                "queue {queue}: attempt {attempt} delivered twice under different ids"
            )),
            None => {
                seen.insert(attempt, msg_id);
                let last = self.last_first_delivery.insert(queue, attempt);
                if last.is_some_and(|l| l >= attempt) {
                    self.violations.push(format!(
                        "queue {queue}: attempt {attempt} delivered after attempt {}",
                        last.unwrap_or(0)
                    ));
                }
            }
        }
    }

    fn check_settled(&mut self) {
        for (queue, accepted) in &self.accepted {
            let delivered = self.delivered.get(queue);
            for attempt in accepted {
                if !delivered.is_some_and(|d| d.contains_key(attempt)) {
                    self.violations.push(format!(
                        "queue {queue}: accepted attempt {attempt} never delivered"
                    ));
                }
            }
        }
    }
}

/// The server and what it persisted.
struct ServerNode {
    driver: Option<ServerDriver<ChaCha20Rng>>,
    persisted: Persisted,
    identity: ServerIdentity,
    mutations: Mutations,
    streams: BTreeSet<StreamId>,
    deadline: Option<Instant>,
    /// The trace of the current server lifetime, and those of earlier ones.
    trace: Option<TraceWriter>,
    traces: Vec<Vec<u8>>,
}

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

fn body_for(sender: usize, attempt: u32) -> Bytes {
    Bytes::from(
        format!("s{sender}:a{attempt}:")
            .into_bytes()
            .into_iter()
            .chain(std::iter::repeat_n(b'.', 200))
            .collect::<Vec<u8>>(),
    )
}

fn parse_body(body: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(body).ok()?;
    let rest = text.split(":a").nth(1)?;
    rest.split(':').next()?.parse().ok()
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

    fn start_server(&mut self) {
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

    fn crash_server(&mut self) {
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

    fn drain_server(&mut self) {
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

    fn server_input(&mut self, input: DriverInput<'_>) {
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

    fn connect(&mut self, i: usize) {
        let side = self.clients[i].side;
        let stream = self.net.open(side, 0);
        let mut seed = [0u8; 32];
        self.rng.fill_bytes(&mut seed);
        let rng: SessionRng = Box::new(ChaCha20Rng::from_seed(seed));
        let key_hash = self.server.identity.key_hash();
        let Ok(tls) = TlsSession::client("localhost", key_hash, rng, self.now, HANDSHAKE_TIMEOUT)
        else {
            self.oracle
                .violations
                .push("client TLS setup failed".into());
            return;
        };
        let (conn, framing) = if self.config.websockets {
            // Only drawn in WebSocket worlds, so the others replay as before.
            let mut ws_seed = [0u8; 32];
            self.rng.fill_bytes(&mut ws_seed);
            let conn = ClientConnection::client_websocket(
                tls,
                key_hash,
                SMP_VERSION_RANGE,
                self.now,
                HANDSHAKE_TIMEOUT,
                "",
                Box::new(ChaCha20Rng::from_seed(ws_seed)),
            );
            (conn, Framing::WebSocket)
        } else {
            let conn = ClientConnection::client(
                tls,
                key_hash,
                SMP_VERSION_RANGE,
                self.now,
                HANDSHAKE_TIMEOUT,
            );
            (conn, Framing::Raw)
        };
        self.clients[i].conn = Some((stream, conn));
        self.clients[i].reconnect_at = None;
        if self.server.driver.is_some() {
            self.server.streams.insert(stream);
            self.server_input(DriverInput::Accepted {
                conn: stream,
                framing,
            });
        } else {
            let deliveries = self.net.reset(stream);
            self.handle_deliveries(deliveries);
        }
        self.drain_client(i);
    }

    fn transmit(&mut self, i: usize, entity: &[u8], command: Command, sign: bool) -> Vec<u8> {
        let c = &mut self.clients[i];
        c.next_corr += 1;
        let corr = c.next_corr.to_string().into_bytes();
        let Some((_, conn)) = c.conn.as_mut() else {
            return corr;
        };
        let (Some(session), Some(version)) = (conn.session_id().copied(), conn.version()) else {
            return corr;
        };
        let Ok(signed) = signed_part(
            &session,
            &CorrId::new(corr.clone()).unwrap_or_default(),
            &EntityId::new(entity.to_vec()).unwrap_or_default(),
            &command.to_bytes(version),
        ) else {
            return corr;
        };
        let signature = match (&c.role, sign) {
            (Role::Recipient { key, .. }, true) => Some(key.sign(&signed)),
            _ => None,
        };
        let _ = conn.handle_input(
            self.now,
            Input::Send(vec![encode_transmission(signature.as_ref(), &signed)]),
        );
        corr
    }

    /// Lets a client act on what it knows: create or subscribe, or send its next message.
    fn act(&mut self, i: usize) {
        let established = self.clients[i]
            .conn
            .as_ref()
            .is_some_and(|(_, c)| c.is_established());
        if !established {
            return;
        }
        let now = self.now;
        let messages = self.config.messages;
        let next = match &mut self.clients[i].role {
            Role::Recipient {
                key,
                dh,
                queue,
                new_sent,
            } => match queue {
                None if !*new_sent => {
                    *new_sent = true;
                    Some((
                        Vec::new(),
                        Command::New {
                            recipient_key: key.verify_key(),
                            dh_key: dh.public_key(),
                        },
                    ))
                }
                _ => None,
            },
            Role::Sender {
                target,
                in_flight: None,
                done,
                attempt,
                retry_at,
                ..
            } if *done < messages && retry_at.is_none_or(|t| t <= now) => {
                let target = *target;
                let sid = self.sender_ids.get(&target).cloned();
                match sid {
                    Some(sid) => {
                        *attempt += 1;
                        *retry_at = None;
                        let body = body_for(i, *attempt);
                        Some((
                            sid.as_bytes().to_vec(),
                            Command::Send {
                                flags: MsgFlags::default(),
                                body,
                            },
                        ))
                    }
                    None => None,
                }
            }
            Role::Sender { .. } => None,
        };
        if let Some((entity, command)) = next {
            let is_send = matches!(command, Command::Send { .. });
            let corr = self.transmit(i, &entity, command, !is_send);
            if let Role::Sender {
                attempt, in_flight, ..
            } = &mut self.clients[i].role
            {
                if is_send {
                    *in_flight = Some((corr, *attempt));
                }
            }
        }
    }

    /// Moves a client's outputs to the network and acts on what it received.
    fn drain_client(&mut self, i: usize) {
        loop {
            let Some((stream, conn)) = self.clients[i].conn.as_mut() else {
                return;
            };
            let stream = *stream;
            match conn.poll_output() {
                Output::Transmit(bytes) => self.net.send(self.now, stream, End::Client, &bytes),
                Output::Established { .. } => self.on_established(i),
                Output::Received(t) => match t.message {
                    Ok(msg) => self.on_message(i, t.corr_id.as_bytes().to_vec(), msg),
                    Err(e) => self
                        .oracle
                        .violations
                        .push(format!("client {i} got a bad transmission: {e}")),
                },
                Output::TooLarge(_) => self
                    .oracle
                    .violations
                    .push(format!("client {i}: a command did not fit a block")),
                Output::Closed(_) => {
                    self.net.close(stream, End::Client);
                    self.disconnected(i);
                    return;
                }
                Output::Timeout(_) => break,
            }
        }
        self.act(i);
        // Acting may have queued more transmissions.
        if let Some((stream, conn)) = self.clients[i].conn.as_mut() {
            let stream = *stream;
            while let Output::Transmit(bytes) = conn.poll_output() {
                self.net.send(self.now, stream, End::Client, &bytes);
            }
        }
    }

    fn disconnected(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.conn = None;
        c.reconnect_at = Some(self.now + RECONNECT_DELAY);
        match &mut c.role {
            // The outcome of a SEND whose answer was lost is unknown: the next attempt gets a
            // new number, so the oracle can tell the two apart.
            Role::Sender { in_flight, .. } => *in_flight = None,
            Role::Recipient {
                queue, new_sent, ..
            } => {
                if queue.is_none() {
                    *new_sent = false;
                }
            }
        }
    }

    fn on_established(&mut self, i: usize) {
        let resubscribe = match &self.clients[i].role {
            Role::Recipient {
                queue: Some((rid, _)),
                ..
            } => Some(rid.as_bytes().to_vec()),
            _ => None,
        };
        if let Some(rid) = resubscribe {
            self.transmit(i, &rid, Command::Sub, true);
        }
    }

    fn on_message(&mut self, i: usize, corr: Vec<u8>, msg: BrokerMsg) {
        match (&mut self.clients[i].role, msg) {
            (
                Role::Recipient { dh, queue, .. },
                BrokerMsg::Ids {
                    recipient_id,
                    sender_id,
                    server_dh_key,
                },
            ) => {
                match dh.diffie_hellman(&server_dh_key) {
                    Ok(secret) => *queue = Some((recipient_id, CbKey::new(&secret))),
                    Err(_) => self.oracle.violations.push("bad server DH key".into()),
                }
                self.sender_ids.insert(i, sender_id);
            }
            (
                Role::Recipient {
                    queue: Some((rid, key)),
                    ..
                },
                BrokerMsg::Msg(m),
            ) => {
                let rid = rid.as_bytes().to_vec();
                let attempt = key
                    .decrypt(
                        &CbNonce::from_slice_padded(m.msg_id.as_bytes()),
                        &m.encrypted_body,
                    )
                    .ok()
                    .and_then(|plain| {
                        let mut r = Reader::new(plain);
                        UnixTime::decode(&mut r).ok()?;
                        MsgFlags::decode(&mut r).ok()?;
                        r.expect_byte(b' ', "space").ok()?;
                        parse_body(r.peek_rest())
                    });
                match attempt {
                    Some(attempt) => self.oracle.delivered(i, attempt, m.msg_id.clone()),
                    None => self
                        .oracle
                        .violations
                        .push(format!("queue {i}: undecryptable message")),
                }
                self.transmit(i, &rid, Command::Ack(m.msg_id), true);
            }
            (
                Role::Sender {
                    target,
                    in_flight,
                    done,
                    retry_at,
                    ..
                },
                answer,
            ) => {
                let target = *target;
                if let Some((c, attempt)) = in_flight.take() {
                    if c != corr {
                        *in_flight = Some((c, attempt));
                        return;
                    }
                    match answer {
                        BrokerMsg::Ok => {
                            *done += 1;
                            self.oracle
                                .accepted
                                .entry(target)
                                .or_default()
                                .push(attempt);
                            self.report.accepted += 1;
                        }
                        // A full queue: try again a little later with a new attempt.
                        BrokerMsg::Err(simplex_core::protocol::ErrorType::Quota) => {
                            *retry_at = Some(self.now + Duration::from_secs(1))
                        }
                        other => self
                            .oracle
                            .violations
                            .push(format!("sender {i}: unexpected answer {other:?}")),
                    }
                }
            }
            (Role::Recipient { .. }, BrokerMsg::Ok) => {}
            (_, BrokerMsg::End) => self
                .oracle
                .violations
                .push(format!("client {i}: unexpected END")),
            (_, other) => self
                .oracle
                .violations
                .push(format!("client {i}: unexpected {other:?}")),
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
