//! The server machine: one shard of the SMP server's state, driven by inputs, answering with
//! outputs (see `spec/server.md`).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use bytes::Bytes;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::rng::CryptoRng;
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Encode, ShortBytes, UnixTime, Version};
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CommandError, CorrId, EntityId,
    ErrorType, MsgFlags, MsgId, RcvMessage, VerifiedTransmission, MAX_MESSAGE_LENGTH,
};
use simplex_core::time::Instant;

use crate::auth::Verifier;
use crate::config::ServerConfig;
use crate::durable::JournalRecord;
use crate::msg_log::{self, SavedMessageLine, StoredMessage};
use crate::queue::{NtfCreds, QueueRec, QueueStatus};
use crate::queue_store::{entity_id, queue_id, QueueStore};
use crate::stats::ServerStats;
use crate::store_log::StoreLogRecord;

/// Queue and message ids are 24 random bytes.
pub const ID_LEN: usize = 24;
/// v3+ `MSG`: (timestamp, flags, space, body) is padded to this length before encryption.
pub const RCV_MSG_PADDED_LEN: usize = 16106;
/// v1/v2 `MSG`: the body alone is padded to this length before encryption.
pub const RCV_MSG_PADDED_LEN_V1: usize = MAX_MESSAGE_LENGTH + 2;
/// Notification metadata is padded to this length before encryption.
pub const NMSG_META_PADDED_LEN: usize = 128;

/// A connection, as the shell numbers them. Carries no address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u64);

/// What happened.
#[derive(Clone)]
pub enum ServerInput {
    /// A client finished the SMP handshake.
    ClientConnected {
        /// The connection.
        client: ClientId,
        /// The TLS session binding (tls-unique) every transmission must carry.
        session_id: Bytes,
        /// The negotiated protocol version.
        version: Version,
        /// Now.
        now: Instant,
    },
    /// Transmissions received from a client (one block: one, or a v4 batch of several),
    /// after the transport's checks ([`VerifiedTransmission::check`]).
    Transmissions {
        /// The connection.
        client: ClientId,
        /// Now.
        now: Instant,
        /// The wall clock (message timestamps, expiry).
        wall_clock: UnixTime,
        /// The transmissions, in order.
        transmissions: Vec<VerifiedTransmission<Command>>,
    },
    /// The connection closed.
    ClientClosed {
        /// The connection.
        client: ClientId,
        /// Now.
        now: Instant,
    },
    /// The timeout the machine asked for (or any later time).
    Timeout {
        /// Now.
        now: Instant,
        /// The wall clock.
        wall_clock: UnixTime,
    },
    /// A graceful stop: the machine hands out the undelivered messages and the stats backup,
    /// then accepts no more inputs.
    Shutdown {
        /// Now.
        now: Instant,
    },
}

/// What to do.
#[derive(Clone, PartialEq, Eq)]
pub enum ServerOutput {
    /// Send these encoded transmissions to the client (ready for `pack_transmissions`).
    Transmit {
        /// The connection.
        client: ClientId,
        /// Encoded server transmissions.
        transmissions: Vec<Vec<u8>>,
    },
    /// Close the connection (inactive client).
    Close {
        /// The connection.
        client: ClientId,
    },
    /// Append a record to the store log.
    Persist(StoreLogRecord),
    /// Append a record to the message journal and sync it before the outputs that follow
    /// (durable mode only).
    Journal(JournalRecord),
    /// At shutdown: one undelivered message for the saved-messages file
    /// ([`crate::msg_log::encode_line`]).
    SaveMessage {
        /// The queue.
        recipient_id: EntityId,
        /// The message.
        message: StoredMessage,
    },
    /// At shutdown: the stats backup file's content.
    StatsBackup(String),
    /// Append this line to the stats log.
    Stats(String),
    /// Nothing more until this instant (`None`: until the next input).
    Timeout(Option<Instant>),
}

/// Shows the kind of input, the client and counts: never bytes, which carry queue ids.
impl std::fmt::Debug for ServerInput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::ClientConnected {
                client,
                version,
                now,
                ..
            } => f
                .debug_struct("ClientConnected")
                .field("client", client)
                .field("version", version)
                .field("now", now)
                .finish_non_exhaustive(),
            Self::Transmissions {
                client,
                now,
                transmissions,
                ..
            } => f
                .debug_struct("Transmissions")
                .field("client", client)
                .field("now", now)
                .field("count", &transmissions.len())
                .finish_non_exhaustive(),
            Self::ClientClosed { client, now } => f
                .debug_struct("ClientClosed")
                .field("client", client)
                .field("now", now)
                .finish(),
            Self::Timeout { now, .. } => f.debug_struct("Timeout").field("now", now).finish(),
            Self::Shutdown { now } => f.debug_struct("Shutdown").field("now", now).finish(),
        }
    }
}

/// Shows the kind of output and sizes: never transmission bytes, records or the backup, which
/// carry queue ids and keys.
impl std::fmt::Debug for ServerOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Transmit {
                client,
                transmissions,
            } => f
                .debug_struct("Transmit")
                .field("client", client)
                .field("count", &transmissions.len())
                .finish(),
            Self::Close { client } => f.debug_struct("Close").field("client", client).finish(),
            Self::Persist(r) => f.debug_tuple("Persist").field(r).finish(),
            Self::Journal(r) => f.debug_tuple("Journal").field(r).finish(),
            Self::SaveMessage { message, .. } => f
                .debug_struct("SaveMessage")
                .field("message", message)
                .finish_non_exhaustive(),
            Self::StatsBackup(text) => f
                .debug_struct("StatsBackup")
                .field("len", &text.len())
                .finish(),
            Self::Stats(line) => f.debug_tuple("Stats").field(line).finish(),
            Self::Timeout(t) => f.debug_tuple("Timeout").field(t).finish(),
        }
    }
}

/// API misuse: the caller broke the machine's contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ServerError {
    /// An input came before the outputs of the previous one were drained to `Timeout`.
    #[error("outputs of the previous input were not drained")]
    OutputPending,
    /// The client id is not connected.
    #[error("unknown client")]
    UnknownClient,
    /// The client id is already connected.
    #[error("client already connected")]
    DuplicateClient,
    /// Restoring state after the server started handling clients.
    #[error("state can only be restored before the first input")]
    AlreadyStarted,
    /// An input after shutdown.
    #[error("the server has shut down")]
    ShutDown,
    /// A client connected with a version outside the configured range (the handshake
    /// should have refused it).
    #[error("client version outside the server's range")]
    UnsupportedVersion,
    /// A restored queue record has an id of another length than [`ID_LEN`] (the store-log
    /// reader refuses those lines already).
    #[error("queue record with an id of another length than 24 bytes")]
    BadQueueId,
}

/// What restoring saved messages gave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RestoreReport {
    /// Messages restored.
    pub restored: usize,
    /// Lines that did not parse, or legacy bodies that did not decrypt.
    pub bad_lines: usize,
    /// Messages of queues that no longer exist.
    pub unknown_queue: usize,
    /// Messages dropped because their queue was full.
    pub over_quota: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubMode {
    /// `SUB`: messages are pushed.
    Subscribed,
    /// `GET`: messages are pulled; `SUB` is prohibited on this connection.
    GetOnly,
}

#[derive(Debug, Clone)]
struct Sub {
    mode: SubMode,
    /// The message delivered and not yet acknowledged.
    delivered: Option<MsgId>,
    /// Nothing was there to deliver: the next message is pushed as it arrives.
    waiting: bool,
}

struct Client {
    session_id: Bytes,
    version: Version,
    subs: BTreeMap<EntityId, Sub>,
    ntf_subs: BTreeSet<EntityId>,
    last_active: Instant,
    closing: bool,
}

/// The SMP server machine (one shard of it; one shard is a whole server).
pub struct Server<R: CryptoRng> {
    config: ServerConfig,
    rng: R,
    verifier: Verifier,
    queues: QueueStore,
    clients: BTreeMap<ClientId, Client>,
    outputs: VecDeque<ServerOutput>,
    drained: bool,
    started: bool,
    shut_down: bool,
    stats: ServerStats,
    next_expiry: Option<Instant>,
    next_inactive_check: Option<Instant>,
    next_stats: Option<Instant>,
    wall_clock: UnixTime,
}

impl<R: CryptoRng> std::fmt::Debug for Server<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("queues", &self.queues.len())
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

fn secs(s: u64) -> core::time::Duration {
    core::time::Duration::from_secs(s)
}

impl<R: CryptoRng> Server<R> {
    /// A server with no queues. `now` and `wall_clock` start its timers (message expiry,
    /// inactive clients, the stats line at its time of day).
    pub fn new(config: ServerConfig, rng: R, now: Instant, wall_clock: UnixTime) -> Self {
        let next_expiry = config
            .message_expiration
            .map(|e| now + secs(e.check_interval_secs));
        let next_inactive_check = config
            .inactive_client_expiration
            .map(|e| now + secs(e.check_interval_secs));
        let next_stats = config.log_stats.map(|s| {
            let of_day = wall_clock.seconds.rem_euclid(86_400);
            let mut delay = s.start_time_secs as i64 - of_day;
            if delay < 0 {
                delay += 86_400;
            }
            now + secs(delay.unsigned_abs())
        });
        Self {
            config,
            rng,
            verifier: Verifier::default(),
            queues: QueueStore::default(),
            clients: BTreeMap::new(),
            outputs: VecDeque::new(),
            drained: true,
            started: false,
            shut_down: false,
            stats: ServerStats::new(wall_clock),
            next_expiry,
            next_inactive_check,
            next_stats,
            wall_clock,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ServerConfig {
        &self.config
    }

    /// Number of live queues.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    /// Number of messages held in all queues.
    pub fn message_count(&self) -> usize {
        self.queues.iter().map(|q| q.msg_count()).sum()
    }

    /// The current stats.
    pub fn stats(&self) -> &ServerStats {
        &self.stats
    }

    /// The live queue records, in recipient-id order (for compacting the store log).
    pub fn queue_records(&self) -> Vec<QueueRec> {
        self.queues.records()
    }

    fn check_restore(&self) -> Result<(), ServerError> {
        if self.started {
            Err(ServerError::AlreadyStarted)
        } else {
            Ok(())
        }
    }

    /// Loads queues read from the store log ([`crate::store_log::read_store_log`]). A record
    /// with the recipient id of a loaded queue replaces it.
    pub fn restore_queues(
        &mut self,
        queues: impl IntoIterator<Item = QueueRec>,
    ) -> Result<(), ServerError> {
        self.check_restore()?;
        for rec in queues {
            self.queues
                .insert(&rec)
                .map_err(|_| ServerError::BadQueueId)?;
        }
        Ok(())
    }

    /// Loads the saved-messages file (v3 lines and legacy v1 lines). Unlike the reference it
    /// reads empty bodies, and skips (and counts) what it cannot restore instead of refusing
    /// to start.
    pub fn restore_messages(&mut self, text: &[u8]) -> Result<RestoreReport, ServerError> {
        self.check_restore()?;
        let mut report = RestoreReport::default();
        for line in text.split(|&b| b == b'\n') {
            if line.is_empty() || line == b"\r" {
                continue;
            }
            let (rid, message) = match msg_log::parse_line(line) {
                Ok(SavedMessageLine::V3 {
                    recipient_id,
                    message,
                }) => (recipient_id, message),
                Ok(SavedMessageLine::V1 {
                    recipient_id,
                    mut message,
                }) => {
                    let Some(q) = self.queues.get(recipient_id.as_bytes()) else {
                        report.unknown_queue += 1;
                        continue;
                    };
                    let nonce = CbNonce::from_slice_padded(message.msg_id.as_bytes());
                    match q.cb_key().decrypt(&nonce, &message.body) {
                        Ok(body) if body.len() <= MAX_MESSAGE_LENGTH => {
                            message.body = Bytes::from(body);
                            (recipient_id, message)
                        }
                        _ => {
                            report.bad_lines += 1;
                            continue;
                        }
                    }
                }
                Err(_) => {
                    report.bad_lines += 1;
                    continue;
                }
            };
            self.restore_message(rid, message, &mut report);
        }
        Ok(report)
    }

    /// Loads messages replayed from the durable journal ([`crate::durable::replay`]).
    pub fn restore_journal(
        &mut self,
        messages: impl IntoIterator<Item = (EntityId, StoredMessage)>,
    ) -> Result<RestoreReport, ServerError> {
        self.check_restore()?;
        let mut report = RestoreReport::default();
        for (rid, m) in messages {
            self.restore_message(rid, m, &mut report);
        }
        Ok(report)
    }

    fn restore_message(&mut self, rid: EntityId, m: StoredMessage, report: &mut RestoreReport) {
        let quota = self.config.msg_queue_quota;
        match self.queues.get_mut(rid.as_bytes()) {
            None => report.unknown_queue += 1,
            Some(q) if q.is_full(quota) => report.over_quota += 1,
            Some(q) => {
                q.push(m);
                report.restored += 1;
            }
        }
    }

    /// Loads the stats backup file.
    pub fn restore_stats(&mut self, text: &[u8]) -> Result<(), RestoreStatsError> {
        self.check_restore().map_err(RestoreStatsError::Api)?;
        self.stats = ServerStats::from_backup(text).map_err(|_| RestoreStatsError::Parse)?;
        Ok(())
    }

    /// Feeds one input. Afterwards drain [`Server::poll_output`] until it returns
    /// [`ServerOutput::Timeout`].
    pub fn handle_input(&mut self, input: ServerInput) -> Result<(), ServerError> {
        if self.shut_down {
            return Err(ServerError::ShutDown);
        }
        if !self.drained {
            return Err(ServerError::OutputPending);
        }
        self.started = true;
        match input {
            ServerInput::ClientConnected {
                client,
                session_id,
                version,
                now,
            } => {
                if self.clients.contains_key(&client) {
                    return Err(ServerError::DuplicateClient);
                }
                if version < self.config.version_range.min()
                    || version > self.config.version_range.max()
                {
                    return Err(ServerError::UnsupportedVersion);
                }
                self.clients.insert(
                    client,
                    Client {
                        session_id,
                        version,
                        subs: BTreeMap::new(),
                        ntf_subs: BTreeSet::new(),
                        last_active: now,
                        closing: false,
                    },
                );
            }
            ServerInput::Transmissions {
                client,
                now,
                wall_clock,
                transmissions,
            } => {
                self.wall_clock = wall_clock.max(self.wall_clock);
                let c = self
                    .clients
                    .get_mut(&client)
                    .ok_or(ServerError::UnknownClient)?;
                if !c.closing {
                    c.last_active = now;
                    self.on_transmissions(client, now, transmissions);
                }
            }
            ServerInput::ClientClosed { client, .. } => {
                let c = self
                    .clients
                    .remove(&client)
                    .ok_or(ServerError::UnknownClient)?;
                for rid in c.subs.keys() {
                    if let Some(q) = self.queues.get_mut(rid.as_bytes()) {
                        q.end_subscriber(client);
                    }
                }
                for nid in &c.ntf_subs {
                    if let Some(q) = self.queues.by_notifier_mut(nid.as_bytes()) {
                        q.end_notifier_sub(client);
                    }
                }
            }
            ServerInput::Timeout { now, wall_clock } => {
                self.wall_clock = wall_clock.max(self.wall_clock);
                self.on_timeout(now);
            }
            ServerInput::Shutdown { .. } => {
                self.shut_down = true;
                // In recipient-id order, as the saved-messages file always had it.
                for rid in self.queues.with_messages() {
                    let Some(q) = self.queues.get_mut(&rid) else {
                        continue;
                    };
                    let msgs = q.take_messages();
                    let recipient_id = entity_id(&rid);
                    for m in msgs.iter() {
                        self.outputs.push_back(ServerOutput::SaveMessage {
                            recipient_id: recipient_id.clone(),
                            message: m.clone(),
                        });
                    }
                }
                self.outputs
                    .push_back(ServerOutput::StatsBackup(self.stats.to_backup()));
            }
        }
        self.drained = false;
        Ok(())
    }

    /// The next output; [`ServerOutput::Timeout`] once everything is out.
    pub fn poll_output(&mut self) -> ServerOutput {
        if let Some(o) = self.outputs.pop_front() {
            return o;
        }
        self.drained = true;
        if self.shut_down {
            return ServerOutput::Timeout(None);
        }
        ServerOutput::Timeout(
            [self.next_expiry, self.next_inactive_check, self.next_stats]
                .into_iter()
                .flatten()
                .min(),
        )
    }

    fn on_timeout(&mut self, now: Instant) {
        if let (Some(at), Some(e)) = (self.next_expiry, self.config.message_expiration) {
            if now >= at {
                let before = self.wall_clock.seconds - e.ttl_secs;
                // Queues without messages have nothing to expire; the others in recipient-id
                // order (the order of the journal records this may write).
                for rid in self.queues.with_messages() {
                    self.expire_messages(&entity_id(&rid), before);
                }
                self.next_expiry = Some(now + secs(e.check_interval_secs));
            }
        }
        if let (Some(at), Some(e)) = (
            self.next_inactive_check,
            self.config.inactive_client_expiration,
        ) {
            if now >= at {
                let ttl = secs(e.ttl_secs.max(0).unsigned_abs());
                for (id, c) in &mut self.clients {
                    if !c.closing && now.saturating_duration_since(c.last_active) > ttl {
                        c.closing = true;
                        self.outputs.push_back(ServerOutput::Close { client: *id });
                    }
                }
                self.next_inactive_check = Some(now + secs(e.check_interval_secs));
            }
        }
        if let (Some(at), Some(s)) = (self.next_stats, self.config.log_stats) {
            if now >= at {
                let line = self.stats.take_line(self.wall_clock);
                self.outputs.push_back(ServerOutput::Stats(line));
                self.next_stats = Some(now + secs(s.interval_secs.max(1)));
            }
        }
    }

    fn expire_messages(&mut self, rid: &EntityId, before: i64) {
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return;
        };
        let gone = q.expire(before);
        if self.config.durable_messages {
            for msg_id in gone {
                self.outputs
                    .push_back(ServerOutput::Journal(JournalRecord::Remove {
                        recipient_id: rid.clone(),
                        msg_id,
                    }));
            }
        }
    }

    fn persist(&mut self, record: StoreLogRecord) {
        if self.config.store_log {
            self.outputs.push_back(ServerOutput::Persist(record));
        }
    }

    fn random_id(&mut self) -> [u8; ID_LEN] {
        let mut id = [0u8; ID_LEN];
        self.rng.fill_bytes(&mut id);
        id
    }

    /// A fresh queue id owned by this shard and not in use (`None` after many tries).
    fn new_queue_id(&mut self, in_use: impl Fn(&Self, &EntityId) -> bool) -> Option<EntityId> {
        let tries = 3 * usize::from(self.config.shard.count.max(1)) * 8;
        for _ in 0..tries {
            let raw = self.random_id();
            if !self.config.shard.owns(&raw) {
                continue;
            }
            let id = EntityId::from_slice(&raw).ok()?;
            if !in_use(self, &id) {
                return Some(id);
            }
        }
        None
    }

    fn encode_for(
        &self,
        client: ClientId,
        corr: &CorrId,
        entity: &EntityId,
        msg: &BrokerMsg,
    ) -> Option<Vec<u8>> {
        let c = self.clients.get(&client)?;
        Some(encode_server_transmission(
            &c.session_id,
            c.version,
            corr,
            entity,
            msg,
        ))
    }

    fn transmit(&mut self, client: ClientId, transmissions: Vec<Vec<u8>>, now: Instant) {
        if transmissions.is_empty() {
            return;
        }
        if let Some(c) = self.clients.get_mut(&client) {
            c.last_active = now;
        }
        self.outputs.push_back(ServerOutput::Transmit {
            client,
            transmissions,
        });
    }

    fn on_transmissions(
        &mut self,
        client: ClientId,
        now: Instant,
        transmissions: Vec<VerifiedTransmission<Command>>,
    ) {
        // As the reference: every transmission of the block is checked first, refusals are
        // sent as one batch, then the accepted commands run in order.
        let mut refused = Vec::new();
        let mut accepted = Vec::new();
        for t in transmissions {
            let result = match &t.message {
                Err(e) => Err(*e),
                Ok(cmd) if self.verify(&t, cmd) => Ok(()),
                Ok(_) => Err(ErrorType::Auth),
            };
            match result {
                Ok(()) => accepted.push(t),
                Err(e) => {
                    if let Some(bytes) =
                        self.encode_for(client, &t.corr_id, &t.entity_id, &BrokerMsg::Err(e))
                    {
                        refused.push(bytes);
                    }
                }
            }
        }
        self.transmit(client, refused, now);
        let mut deferred = Vec::new();
        let mut responses: Vec<(bool, Vec<u8>)> = Vec::new();
        for t in accepted {
            let Ok(cmd) = t.message else { continue };
            let (entity, answer) = self.process(client, &t.entity_id, cmd, &mut deferred);
            let is_msg = matches!(answer, BrokerMsg::Msg(_));
            if let Some(bytes) = self.encode_for(client, &t.corr_id, &entity, &answer) {
                responses.push((is_msg, bytes));
            }
        }
        // The reference's sender puts delivered messages first within a batch.
        responses.sort_by_key(|(is_msg, _)| !*is_msg);
        self.transmit(client, responses.into_iter().map(|(_, b)| b).collect(), now);
        for (to, bytes) in deferred {
            self.transmit(to, vec![bytes], now);
        }
    }

    fn verify(&mut self, t: &VerifiedTransmission<Command>, cmd: &Command) -> bool {
        let sig = t.signature.as_ref();
        let signed = &t.signed[..];
        let entity = &t.entity_id;
        let v = &mut self.verifier;
        match cmd {
            Command::New { recipient_key, .. } => v.verify_with(sig, signed, recipient_key),
            Command::Ping => true,
            Command::Send { .. } => match self.queues.by_sender(entity.as_bytes()) {
                Some(q) => v.verify_maybe(sig, signed, q.sender_key()),
                None => v.no_queue(sig, signed),
            },
            Command::NSub => match self.queues.by_notifier(entity.as_bytes()) {
                Some(q) => v.verify_maybe(sig, signed, q.notifier_key()),
                None => v.no_queue(sig, signed),
            },
            _ => match self.queues.get(entity.as_bytes()) {
                Some(q) => v.verify_with(sig, signed, &q.recipient_key()),
                None => v.no_queue(sig, signed),
            },
        }
    }

    fn process(
        &mut self,
        client: ClientId,
        entity: &EntityId,
        cmd: Command,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> (EntityId, BrokerMsg) {
        let answer = match cmd {
            Command::Ping => return (EntityId::empty(), BrokerMsg::Pong),
            Command::New {
                recipient_key,
                dh_key,
            } => self.create_queue(client, recipient_key, dh_key, deferred),
            Command::Send { flags, body } => self.send(entity, flags, body, deferred),
            Command::NSub => self.subscribe_notifications(client, entity, deferred),
            _ if !self.queues.contains(entity.as_bytes()) => BrokerMsg::Err(ErrorType::Auth),
            Command::Sub => self.subscribe(client, entity, deferred),
            Command::Get => self.get_message(client, entity),
            Command::Ack(msg_id) => self.acknowledge(client, entity, &msg_id),
            Command::Key(key) => self.secure(entity, key),
            Command::NKey {
                notifier_key,
                dh_key,
            } => self.add_notifier(entity, notifier_key, dh_key),
            Command::NDel => self.delete_notifier(entity),
            Command::Off => self.suspend(entity),
            Command::Del => self.delete(entity),
        };
        (entity.clone(), answer)
    }

    fn create_queue(
        &mut self,
        client: ClientId,
        recipient_key: VerifyKey,
        dh_key: x25519::PublicKey,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        if !self.config.allow_new_queues {
            return BrokerMsg::Err(ErrorType::Auth);
        }
        let server_key = x25519::PrivateKey::generate(&mut self.rng);
        let Ok(rcv_dh_secret) = server_key.diffie_hellman(&dh_key) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(rid) = self.new_queue_id(|s, id| s.queues.contains(id.as_bytes())) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(sid) = self.new_queue_id(|s, id| s.queues.by_sender(id.as_bytes()).is_some())
        else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let rec = QueueRec {
            recipient_id: rid.clone(),
            recipient_key,
            rcv_dh_secret,
            sender_id: sid.clone(),
            sender_key: None,
            notifier: None,
            status: QueueStatus::Active,
        };
        if self.queues.insert(&rec).is_err() {
            return BrokerMsg::Err(ErrorType::Internal);
        }
        self.persist(StoreLogRecord::CreateQueue(Box::new(rec)));
        self.stats.q_created += 1;
        // The creating connection is subscribed; an empty queue just starts waiting.
        let _ = self.subscribe(client, &rid, deferred);
        BrokerMsg::Ids {
            recipient_id: rid,
            sender_id: sid,
            server_dh_key: server_key.public_key(),
        }
    }

    fn secure(&mut self, rid: &EntityId, key: VerifyKey) -> BrokerMsg {
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if q.is_secured() {
            return BrokerMsg::Err(ErrorType::Auth);
        }
        q.set_sender_key(&key);
        self.stats.q_secured += 1;
        self.persist(StoreLogRecord::SecureQueue {
            recipient_id: rid.clone(),
            sender_key: key,
        });
        BrokerMsg::Ok
    }

    fn add_notifier(
        &mut self,
        rid: &EntityId,
        notifier_key: VerifyKey,
        dh_key: x25519::PublicKey,
    ) -> BrokerMsg {
        let server_key = x25519::PrivateKey::generate(&mut self.rng);
        let Ok(ntf_dh_secret) = server_key.diffie_hellman(&dh_key) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let Some(nid) = self.new_queue_id(|s, id| s.queues.by_notifier(id.as_bytes()).is_some())
        else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let (Some(stored_rid), Some(stored_nid)) =
            (queue_id(rid.as_bytes()), queue_id(nid.as_bytes()))
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(old) =
            self.queues
                .set_notifier(&stored_rid, stored_nid, &notifier_key, &ntf_dh_secret)
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(old) = old {
            if let Some(c) = old.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&old.id));
            }
        }
        let creds = NtfCreds {
            notifier_id: nid.clone(),
            notifier_key,
            ntf_dh_secret,
        };
        self.persist(StoreLogRecord::AddNotifier {
            recipient_id: rid.clone(),
            creds,
        });
        BrokerMsg::Nid {
            notifier_id: nid,
            server_dh_key: server_key.public_key(),
        }
    }

    fn delete_notifier(&mut self, rid: &EntityId) -> BrokerMsg {
        self.persist(StoreLogRecord::DeleteNotifier {
            recipient_id: rid.clone(),
        });
        let Some(old) = self.queues.remove_notifier(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(old) = old {
            if let Some(c) = old.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&old.id));
            }
        }
        BrokerMsg::Ok
    }

    fn suspend(&mut self, rid: &EntityId) -> BrokerMsg {
        // The reference records OFF as a deletion in the store log: a suspended queue does
        // not survive a restart.
        self.persist(StoreLogRecord::DeleteQueue {
            recipient_id: rid.clone(),
        });
        match self.queues.get_mut(rid.as_bytes()) {
            Some(q) => {
                q.set_status(QueueStatus::Off);
                BrokerMsg::Ok
            }
            None => BrokerMsg::Err(ErrorType::Auth),
        }
    }

    fn delete(&mut self, rid: &EntityId) -> BrokerMsg {
        self.persist(StoreLogRecord::DeleteQueue {
            recipient_id: rid.clone(),
        });
        self.stats.q_deleted += 1;
        let Some(q) = self.queues.remove(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if self.config.durable_messages && q.had_messages {
            self.outputs
                .push_back(ServerOutput::Journal(JournalRecord::DeleteQueue {
                    recipient_id: rid.clone(),
                }));
        }
        if let Some(n) = &q.notifier {
            if let Some(c) = n.subscriber.and_then(|c| self.clients.get_mut(&c)) {
                c.ntf_subs.remove(&entity_id(&n.id));
            }
        }
        if let Some(c) = q.subscriber.and_then(|c| self.clients.get_mut(&c)) {
            c.subs.remove(rid);
        }
        BrokerMsg::Ok
    }

    /// Delivers `head` to the subscription of `client` on `rid` unless a delivery is pending
    /// already; with nothing to deliver the subscription waits for the next message.
    fn deliver(&mut self, client: ClientId, rid: &EntityId) -> BrokerMsg {
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let version = c.version;
        let Some(sub) = c.subs.get_mut(rid) else {
            return BrokerMsg::Ok;
        };
        if sub.waiting {
            return BrokerMsg::Ok;
        }
        match q.peek() {
            Some(m) => {
                sub.delivered = Some(m.msg_id.clone());
                encrypt_message(&q.cb_key(), version, m)
            }
            None => {
                sub.waiting = true;
                BrokerMsg::Ok
            }
        }
    }

    fn subscribe(
        &mut self,
        client: ClientId,
        rid: &EntityId,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        match c.subs.get_mut(rid) {
            Some(sub) if sub.mode == SubMode::GetOnly => {
                return BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited))
            }
            Some(sub) => sub.delivered = None,
            None => {
                c.subs.insert(
                    rid.clone(),
                    Sub {
                        mode: SubMode::Subscribed,
                        delivered: None,
                        waiting: false,
                    },
                );
                let previous = self
                    .queues
                    .get_mut(rid.as_bytes())
                    .and_then(|q| q.replace_subscriber(client));
                if let Some(old) = previous.filter(|old| *old != client) {
                    if let Some(oc) = self.clients.get_mut(&old) {
                        oc.subs.remove(rid);
                    }
                    if let Some(bytes) =
                        self.encode_for(old, &CorrId::empty(), rid, &BrokerMsg::End)
                    {
                        deferred.push((old, bytes));
                    }
                }
            }
        }
        self.deliver(client, rid)
    }

    fn get_message(&mut self, client: ClientId, rid: &EntityId) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let version = c.version;
        let sub = c.subs.entry(rid.clone()).or_insert(Sub {
            mode: SubMode::GetOnly,
            delivered: None,
            waiting: false,
        });
        if sub.mode != SubMode::GetOnly {
            return BrokerMsg::Err(ErrorType::Cmd(CommandError::Prohibited));
        }
        sub.delivered = None;
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        match q.peek() {
            Some(m) => {
                sub.delivered = Some(m.msg_id.clone());
                encrypt_message(&q.cb_key(), version, m)
            }
            None => BrokerMsg::Ok,
        }
    }

    fn acknowledge(&mut self, client: ClientId, rid: &EntityId, msg_id: &MsgId) -> BrokerMsg {
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        let Some(sub) = c.subs.get_mut(rid) else {
            return BrokerMsg::Err(ErrorType::NoMsg);
        };
        match &sub.delivered {
            Some(d) if msg_id.is_empty() || d == msg_id => sub.delivered = None,
            _ => return BrokerMsg::Err(ErrorType::NoMsg),
        }
        let mode = sub.mode;
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if let Some(m) = q.try_del(msg_id) {
            if self.config.mutations.ack_drops_next {
                let next = q.peek().map(|n| n.msg_id.clone());
                if let Some(next) = next {
                    q.try_del(&next);
                }
            }
            self.stats.msg_recv += 1;
            self.stats.active(rid);
            if self.config.durable_messages {
                self.outputs
                    .push_back(ServerOutput::Journal(JournalRecord::Remove {
                        recipient_id: rid.clone(),
                        msg_id: m.msg_id,
                    }));
            }
        }
        match mode {
            SubMode::GetOnly => BrokerMsg::Ok,
            SubMode::Subscribed => self.deliver(client, rid),
        }
    }

    fn send(
        &mut self,
        sid: &EntityId,
        flags: MsgFlags,
        body: Bytes,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        if body.len() > MAX_MESSAGE_LENGTH {
            return BrokerMsg::Err(ErrorType::LargeMsg);
        }
        let rid = match self.queues.by_sender(sid.as_bytes()) {
            Some(q) if q.status() == QueueStatus::Active => entity_id(q.recipient_id()),
            _ => return BrokerMsg::Err(ErrorType::Auth),
        };
        let msg_id = self.random_id();
        let Ok(msg_id) = MsgId::from_slice(&msg_id) else {
            return BrokerMsg::Err(ErrorType::Internal);
        };
        let message = StoredMessage {
            msg_id,
            timestamp: self.wall_clock,
            flags,
            body,
        };
        if let Some(e) = self.config.message_expiration {
            let before = self.wall_clock.seconds - e.ttl_secs;
            self.expire_messages(&rid, before);
        }
        let quota = self.config.msg_queue_quota;
        let Some(q) = self.queues.get(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        if q.is_full(quota) {
            return BrokerMsg::Err(ErrorType::Quota);
        }
        if flags.notification {
            if let (Some(n), Some(key), Some(to)) =
                (q.notifier_id(), q.ntf_cb_key(), q.notifier_sub())
            {
                let nid = entity_id(n);
                if let Some(nmsg) = self.notification(&key, &message) {
                    if let Some(bytes) = self.encode_for(to, &CorrId::empty(), &nid, &nmsg) {
                        deferred.push((to, bytes));
                    }
                }
            }
        }
        if self.config.durable_messages {
            self.outputs
                .push_back(ServerOutput::Journal(JournalRecord::Message {
                    recipient_id: rid.clone(),
                    message: message.clone(),
                }));
        }
        let Some(q) = self.queues.get_mut(rid.as_bytes()) else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        q.push(message);
        let subscriber = q.subscriber();
        self.stats.msg_sent += 1;
        self.stats.active(&rid);
        // A subscriber waiting for a message gets it now.
        if let Some(to) = subscriber {
            let waiting = self
                .clients
                .get(&to)
                .and_then(|c| c.subs.get(&rid))
                .is_some_and(|s| s.waiting);
            if waiting {
                if let Some(s) = self.clients.get_mut(&to).and_then(|c| c.subs.get_mut(&rid)) {
                    s.waiting = false;
                }
                let msg = self.deliver(to, &rid);
                if let Some(bytes) = self.encode_for(to, &CorrId::empty(), &rid, &msg) {
                    deferred.push((to, bytes));
                }
            }
        }
        BrokerMsg::Ok
    }

    fn notification(&mut self, key: &CbKey, m: &StoredMessage) -> Option<BrokerMsg> {
        let nonce = CbNonce::random(&mut self.rng);
        let mut meta = Vec::with_capacity(40);
        (&m.msg_id, &m.timestamp).encode(&mut meta);
        let encrypted = key.encrypt(&nonce, &meta, NMSG_META_PADDED_LEN).ok()?;
        Some(BrokerMsg::NMsg {
            nonce,
            encrypted_meta: ShortBytes::new(encrypted).ok()?,
        })
    }

    fn subscribe_notifications(
        &mut self,
        client: ClientId,
        nid: &EntityId,
        deferred: &mut Vec<(ClientId, Vec<u8>)>,
    ) -> BrokerMsg {
        let Some(rid) = self
            .queues
            .by_notifier(nid.as_bytes())
            .map(|q| *q.recipient_id())
        else {
            return BrokerMsg::Err(ErrorType::Auth);
        };
        let Some(c) = self.clients.get_mut(&client) else {
            return BrokerMsg::Ok;
        };
        if c.ntf_subs.insert(nid.clone()) {
            let previous = self
                .queues
                .get_mut(&rid)
                .and_then(|q| q.replace_notifier_sub(client));
            if let Some(old) = previous.filter(|old| *old != client) {
                if let Some(oc) = self.clients.get_mut(&old) {
                    oc.ntf_subs.remove(nid);
                }
                if let Some(bytes) = self.encode_for(old, &CorrId::empty(), nid, &BrokerMsg::End) {
                    deferred.push((old, bytes));
                }
            }
        }
        BrokerMsg::Ok
    }
}

/// Why the stats backup was not restored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RestoreStatsError {
    /// Called after the server started.
    #[error(transparent)]
    Api(ServerError),
    /// The file does not parse.
    #[error("the stats backup does not parse")]
    Parse,
}

/// A server transmission: empty signature, the client's session id, corr id, entity id and the
/// message encoded for the client's version.
pub fn encode_server_transmission(
    session_id: &[u8],
    version: Version,
    corr: &CorrId,
    entity: &EntityId,
    msg: &BrokerMsg,
) -> Vec<u8> {
    let body = msg.to_bytes(version);
    // Session ids are 32 bytes (tls-unique): always within a short byte string.
    let signed = signed_part(session_id, corr, entity, &body).unwrap_or_default();
    encode_transmission(None, &signed)
}

/// The `MSG` for a message: from v3 the timestamp, flags and body are padded together and
/// boxed; v1/v2 box the body alone and send timestamp and flags in clear.
pub fn encrypt_message(key: &CbKey, version: Version, m: &StoredMessage) -> BrokerMsg {
    let nonce = CbNonce::from_slice_padded(m.msg_id.as_bytes());
    let encrypted = if version <= 2 {
        key.encrypt(&nonce, &m.body, RCV_MSG_PADDED_LEN_V1)
    } else {
        let mut plain = Vec::with_capacity(m.body.len() + 10);
        m.timestamp.encode(&mut plain);
        m.flags.encode(&mut plain);
        plain.push(b' ');
        plain.extend_from_slice(&m.body);
        key.encrypt(&nonce, &plain, RCV_MSG_PADDED_LEN)
    };
    match encrypted {
        Ok(body) => BrokerMsg::Msg(RcvMessage {
            msg_id: m.msg_id.clone(),
            timestamp: m.timestamp,
            flags: m.flags,
            encrypted_body: Bytes::from(body),
        }),
        Err(_) => BrokerMsg::Err(ErrorType::Internal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_transmissions_have_an_empty_signature() {
        let t = encode_server_transmission(
            &[1; 32],
            4,
            &CorrId::empty(),
            &EntityId::empty(),
            &BrokerMsg::Pong,
        );
        assert_eq!(t[0], 0);
        assert_eq!(t[1], 32);
        assert!(t.ends_with(b"\x00\x00PONG"));
    }
}
