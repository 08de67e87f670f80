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
use simplex_core::time::{Clock, Instant};

use crate::auth::Verifier;
use crate::config::ServerConfig;
use crate::durable::JournalRecord;
use crate::msg_log::{self, SavedMessageLine, StoredMessage};
use crate::queue::{NtfCreds, QueueRec, QueueStatus};
use crate::queue_store::{entity_id, queue_id, QueueStore};
use crate::stats::ServerStats;
use crate::store_log::StoreLogRecord;

mod commands;
mod restore;

pub use restore::{RestoreReport, RestoreStatsError};

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

/// What happened. Time is not part of an input: it comes with every input as the [`Clock`]
/// argument of [`Server::handle_input`], the same way for every machine.
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
    },
    /// Transmissions received from a client (one block: one, or a v4 batch of several),
    /// after the transport's checks ([`VerifiedTransmission::check`]).
    Transmissions {
        /// The connection.
        client: ClientId,
        /// The transmissions, in order.
        transmissions: Vec<VerifiedTransmission<Command>>,
    },
    /// The connection closed.
    ClientClosed {
        /// The connection.
        client: ClientId,
    },
    /// The timeout the machine asked for (or any later time).
    Timeout,
    /// A graceful stop: the machine hands out the undelivered messages and the stats backup,
    /// then accepts no more inputs.
    Shutdown,
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
                client, version, ..
            } => f
                .debug_struct("ClientConnected")
                .field("client", client)
                .field("version", version)
                .finish_non_exhaustive(),
            Self::Transmissions {
                client,
                transmissions,
            } => f
                .debug_struct("Transmissions")
                .field("client", client)
                .field("count", &transmissions.len())
                .finish_non_exhaustive(),
            Self::ClientClosed { client } => f
                .debug_struct("ClientClosed")
                .field("client", client)
                .finish(),
            Self::Timeout => f.write_str("Timeout"),
            Self::Shutdown => f.write_str("Shutdown"),
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
    /// A server with no queues. The clock starts its timers (message expiry, inactive
    /// clients, the stats line at its time of day).
    pub fn new(config: ServerConfig, rng: R, clock: Clock) -> Self {
        let Clock { now, wall_clock } = clock;
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

    /// Feeds one input at `clock` (read once by the caller for this input). Afterwards drain
    /// [`Server::poll_output`] until it returns [`ServerOutput::Timeout`].
    ///
    /// The wall clock never goes back for the machine: an earlier reading than one already
    /// seen is taken as the later one, so message timestamps stay in order.
    pub fn handle_input(&mut self, clock: Clock, input: ServerInput) -> Result<(), ServerError> {
        if self.shut_down {
            return Err(ServerError::ShutDown);
        }
        if !self.drained {
            return Err(ServerError::OutputPending);
        }
        self.started = true;
        let now = clock.now;
        self.wall_clock = clock.wall_clock.max(self.wall_clock);
        match input {
            ServerInput::ClientConnected {
                client,
                session_id,
                version,
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
                transmissions,
            } => {
                let c = self
                    .clients
                    .get_mut(&client)
                    .ok_or(ServerError::UnknownClient)?;
                if !c.closing {
                    c.last_active = now;
                    self.on_transmissions(client, now, transmissions);
                }
            }
            ServerInput::ClientClosed { client } => {
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
            ServerInput::Timeout => self.on_timeout(now),
            ServerInput::Shutdown => {
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
