//! The NTF (push notification) server as a pure machine: it holds device tokens and
//! subscriptions, answers the clients' NTF commands, asks a notifier-side SMP connection
//! manager to `NSUB` each subscribed queue, turns `NMSG`s into pushes for the token's
//! provider, and sends the periodic `TCRN` background pushes. See `spec/notifications.md`.
//!
//! Contract as every machine here (`spec/machines.md`): `handle_input(clock, input)`, then
//! `poll_output()` until `Timeout`. Durable state leaves as [`NtfOutput::Persist`] records,
//! each before the outputs that depend on it: a shell appends each record to the store log
//! before it carries out the outputs that follow.

mod process;
mod store;
mod store_log;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::ChaCha20Rng;
use simplex_core::address::ServerAddress;
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::SignKey;
use simplex_core::ntf::{
    apns_request, ApnsRequest, NtfCommand, NtfSubStatus, NtfTknStatus, PushNotification,
    PushProvider, PushProviderError, SmpQueueNtf,
};
use simplex_core::protocol::{EntityId, VerifiedTransmission};
use simplex_core::time::{Clock, Instant};

pub use store::{NtfStore, SubData, TokenData};
pub use store_log::{apply, compacted, replay, NtfStoreLogRecord};

/// The server's settings (the reference's defaults).
#[derive(Debug, Clone)]
pub struct NtfServerConfig {
    /// Bytes of random token and subscription ids.
    pub id_bytes: usize,
    /// Bytes of random registration codes.
    pub reg_code_bytes: usize,
}

impl Default for NtfServerConfig {
    fn default() -> Self {
        Self {
            id_bytes: 24,
            reg_code_bytes: 32,
        }
    }
}

/// A client connection, numbered by the shell.
pub type NtfClientId = u64;

/// Why an `NSUB` failed, as the reference sorts the SMP client's errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscribeError {
    /// `ERR AUTH`: the queue or key is gone. The subscription becomes `AUTH`.
    Auth,
    /// Any other error that retrying will not fix, described (the subscription becomes
    /// `ERR <description>`, e.g. `SMP error QUOTA`).
    Failed(String),
    /// A response timeout or a network error: the manager retries; nothing changes.
    Transient,
}

/// What the notifier-side SMP connection manager reports.
#[derive(Debug, Clone)]
pub enum SmpEvent {
    /// `NMSG` for a subscribed queue: the nonce and encrypted metadata.
    Message {
        /// The queue.
        queue: SmpQueueNtf,
        /// The `NMSG` nonce.
        nonce: CbNonce,
        /// The `NMSG` encrypted metadata.
        enc_meta: Bytes,
    },
    /// `END`: another notifier subscribed to the queue.
    End(SmpQueueNtf),
    /// `NSUB` answered `OK`.
    Subscribed(SmpQueueNtf),
    /// `NSUB` failed.
    SubscribeFailed(SmpQueueNtf, SubscribeError),
    /// The connection to a server was lost with these queues subscribed.
    Disconnected(ServerAddress, Vec<EntityId>),
    /// The manager resubscribed a queue after reconnecting.
    Resubscribed(SmpQueueNtf),
}

/// Which notification a push carried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushKind {
    /// The registration code.
    Verification,
    /// A message notification.
    Message,
    /// The periodic background check.
    CheckMessages,
}

/// What the machine takes.
#[derive(Debug)]
pub enum NtfInput {
    /// A client connection finished its handshake.
    ClientConnected {
        /// The shell's number for it.
        client: NtfClientId,
        /// Its TLS session id (responses carry it).
        session_id: Bytes,
    },
    /// A client connection ended.
    ClientClosed(NtfClientId),
    /// A transmission from a client, as the transport checked it.
    Transmission {
        /// From which connection.
        client: NtfClientId,
        /// The transmission (boxed: it is much larger than the other inputs).
        transmission: Box<VerifiedTransmission<NtfCommand>>,
    },
    /// News from the SMP side.
    Smp(SmpEvent),
    /// How a [`NtfOutput::Push`] went (after the push client's own retry).
    PushResult {
        /// The token pushed to.
        token_id: EntityId,
        /// What was pushed.
        kind: PushKind,
        /// The outcome.
        result: Result<(), PushProviderError>,
    },
    /// Only time passed.
    Tick,
}

/// What the machine produces.
#[derive(Debug)]
pub enum NtfOutput {
    /// A response transmission (encoded, unsigned) for a client connection.
    Send {
        /// The connection.
        client: NtfClientId,
        /// The transmission's bytes.
        transmission: Vec<u8>,
    },
    /// Ask the SMP connection manager to `NSUB` a queue with its notifier key.
    Subscribe {
        /// The queue.
        queue: SmpQueueNtf,
        /// Signs the `NSUB` (boxed: an Ed448 key is large).
        notifier_key: Box<SignKey>,
    },
    /// The queue is no longer wanted (its subscription or token was deleted).
    Unsubscribe(SmpQueueNtf),
    /// A push for the push client.
    Push {
        /// The token (for the result).
        token_id: EntityId,
        /// Which provider (APNS host).
        provider: PushProvider,
        /// What it is.
        kind: PushKind,
        /// The APNS request (path, push type, JSON body).
        request: ApnsRequest,
    },
    /// A store log record to append before going on.
    Persist(NtfStoreLogRecord),
    /// Nothing more; call again with an input at this instant at the latest.
    Timeout(Option<Instant>),
}

/// A caller error: nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NtfServerError {
    /// An input before the outputs of the previous one were drained.
    #[error("outputs are pending: drain poll_output first")]
    OutputPending,
    /// A connection number the machine does not know.
    #[error("unknown client connection")]
    UnknownClient,
    /// A connection number already in use.
    #[error("client connection already connected")]
    DuplicateClient,
}

/// Counters since start, as the reference's `NtfServerStats` counts them (its daily log
/// resets them each period; the shell can take a copy and reset with
/// [`NtfServer::take_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NtfStats {
    /// Tokens registered (`TNEW` of a new token; `TRPL` counts one too).
    pub tokens_created: u64,
    /// Tokens verified (`TVFY`).
    pub tokens_verified: u64,
    /// Tokens deleted (`TDEL`; `TRPL` counts one too).
    pub tokens_deleted: u64,
    /// Subscriptions created.
    pub subscriptions_created: u64,
    /// Subscriptions deleted (`SDEL`).
    pub subscriptions_deleted: u64,
    /// `NMSG`s received.
    pub notifications_received: u64,
    /// Message pushes sent to active tokens.
    pub notifications_delivered: u64,
}

/// A token's periodic background pushes.
#[derive(Debug, Clone, Copy)]
struct Cron {
    interval: u16,
    next: Instant,
}

/// The NTF server.
pub struct NtfServer {
    config: NtfServerConfig,
    rng: ChaCha20Rng,
    store: NtfStore,
    clients: HashMap<NtfClientId, Bytes>,
    crons: HashMap<EntityId, Cron>,
    outputs: VecDeque<NtfOutput>,
    now: Instant,
    stats: NtfStats,
}

impl std::fmt::Debug for NtfServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NtfServer")
            .field("store", &self.store.counts())
            .field("clients", &self.clients.len())
            .finish_non_exhaustive()
    }
}

impl NtfServer {
    /// A server with an empty store. `rng` (seeded by the shell) gives ids, codes, keys and
    /// nonces.
    pub fn new(config: NtfServerConfig, rng: ChaCha20Rng) -> Self {
        Self {
            config,
            rng,
            store: NtfStore::default(),
            clients: HashMap::new(),
            crons: HashMap::new(),
            outputs: VecDeque::new(),
            now: Instant::ZERO,
            stats: NtfStats::default(),
        }
    }

    /// A server restored from a store log's text at `now`; also returns how many lines were
    /// skipped. Its first outputs are the compacted log (one `Persist` per token and
    /// subscription, for the shell to write as the new file), then an `NSUB` request for
    /// every subscription that should be subscribed, each marked `PENDING`. Tokens with a
    /// background interval resume their pushes (the reference forgets them until the next
    /// `TCRN`).
    pub fn restore(
        config: NtfServerConfig,
        rng: ChaCha20Rng,
        log: &[u8],
        now: Instant,
    ) -> (Self, usize) {
        let mut server = Self::new(config, rng);
        server.now = now;
        let skipped = replay(log, &mut server.store);
        for record in compacted(&server.store) {
            server.outputs.push_back(NtfOutput::Persist(record));
        }
        let mut resubscribe: Vec<SmpQueueNtf> = server
            .store
            .subscriptions()
            .filter(|s| s.status.should_subscribe())
            .map(|s| s.queue.clone())
            .collect();
        resubscribe.sort_by_key(|q| q.notifier_id.clone());
        for queue in resubscribe {
            server.subscribe(&queue);
        }
        let crons: Vec<(EntityId, u16)> = server
            .store
            .tokens()
            .filter(|t| t.cron_interval > 0)
            .map(|t| (t.id.clone(), t.cron_interval))
            .collect();
        for (id, minutes) in crons {
            server.start_cron(id, minutes);
        }
        (server, skipped)
    }

    /// The store (for stats and tests).
    pub fn store(&self) -> &NtfStore {
        &self.store
    }

    /// The counters since start (or since the last [`NtfServer::take_stats`]).
    pub fn stats(&self) -> NtfStats {
        self.stats
    }

    /// The counters, reset to zero (for a periodic stats log).
    pub fn take_stats(&mut self) -> NtfStats {
        std::mem::take(&mut self.stats)
    }

    /// Feeds one input.
    pub fn handle_input(&mut self, clock: Clock, input: NtfInput) -> Result<(), NtfServerError> {
        if !self.outputs.is_empty() {
            return Err(NtfServerError::OutputPending);
        }
        self.now = self.now.max(clock.now);
        match input {
            NtfInput::ClientConnected { client, session_id } => {
                if self.clients.contains_key(&client) {
                    return Err(NtfServerError::DuplicateClient);
                }
                self.clients.insert(client, session_id);
            }
            NtfInput::ClientClosed(client) => {
                self.clients
                    .remove(&client)
                    .ok_or(NtfServerError::UnknownClient)?;
            }
            NtfInput::Transmission {
                client,
                transmission,
            } => {
                let session_id = self
                    .clients
                    .get(&client)
                    .cloned()
                    .ok_or(NtfServerError::UnknownClient)?;
                self.transmission(client, &session_id, *transmission);
            }
            NtfInput::Smp(event) => self.smp_event(clock, event),
            NtfInput::PushResult {
                token_id,
                kind,
                result,
            } => self.push_result(&token_id, kind, result),
            NtfInput::Tick => {}
        }
        self.run_crons();
        Ok(())
    }

    /// The next output; `Timeout` when there is nothing more.
    pub fn poll_output(&mut self) -> NtfOutput {
        self.outputs
            .pop_front()
            .unwrap_or_else(|| NtfOutput::Timeout(self.crons.values().map(|c| c.next).min()))
    }

    fn persist(&mut self, record: NtfStoreLogRecord) {
        self.outputs.push_back(NtfOutput::Persist(record));
    }

    fn random_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut bytes = vec![0u8; n];
        rand_chacha::rand_core::RngCore::fill_bytes(&mut self.rng, &mut bytes);
        bytes
    }

    /// Sets a subscription's status and logs it (the reference's `updateSubStatus`).
    fn set_sub_status(&mut self, queue: &SmpQueueNtf, status: NtfSubStatus) {
        if let Some(sub) = self.store.find_subscription_mut(queue) {
            sub.status = status.clone();
            let id = sub.id.clone();
            self.persist(NtfStoreLogRecord::SubscriptionStatus(id, status));
        }
    }

    fn set_token_status(&mut self, id: &EntityId, status: NtfTknStatus) {
        if let Some(t) = self.store.token_mut(id) {
            t.status = status;
            self.persist(NtfStoreLogRecord::TokenStatus(id.clone(), status));
        }
    }

    /// Marks a subscription `PENDING` and asks for its `NSUB`.
    fn subscribe(&mut self, queue: &SmpQueueNtf) {
        self.set_sub_status(queue, NtfSubStatus::Pending);
        if let Some(sub) = self.store.find_subscription(queue) {
            let notifier_key = Box::new(sub.notifier_key.clone());
            self.outputs.push_back(NtfOutput::Subscribe {
                queue: queue.clone(),
                notifier_key,
            });
        }
    }

    /// Builds the push for a token, if its status allows it: the verification push always
    /// goes; message and background pushes only to `ACTIVE` tokens (the reference logs "bad
    /// notification token status" and drops the others).
    fn push(&mut self, token_id: &EntityId, kind: PushKind, notification: PushNotification) {
        let nonce = CbNonce::random(&mut self.rng);
        let Some(token) = self.store.token(token_id) else {
            return;
        };
        if kind != PushKind::Verification && token.status != NtfTknStatus::Active {
            return;
        }
        // Payloads are small and fixed in shape: only an oversized alert could fail here.
        let Ok(request) = apns_request(
            &token.box_key,
            &nonce,
            token.token.token.as_bytes(),
            &notification,
        ) else {
            return;
        };
        let provider = token.token.provider;
        self.outputs.push_back(NtfOutput::Push {
            token_id: token_id.clone(),
            provider,
            kind,
            request,
        });
    }

    fn push_result(
        &mut self,
        token_id: &EntityId,
        kind: PushKind,
        result: Result<(), PushProviderError>,
    ) {
        match result {
            Ok(()) if kind == PushKind::Verification => {
                let status = self.store.token(token_id).map(|t| t.status);
                if status.is_some_and(|s| s != NtfTknStatus::Active) {
                    self.set_token_status(token_id, NtfTknStatus::Confirmed);
                }
            }
            Err(PushProviderError::TokenInvalid) => {
                self.set_token_status(token_id, NtfTknStatus::Invalid)
            }
            _ => {}
        }
    }

    fn smp_event(&mut self, clock: Clock, event: SmpEvent) {
        match event {
            SmpEvent::Message {
                queue,
                nonce,
                enc_meta,
            } => {
                self.stats.notifications_received += 1;
                let Some(token_id) = self.store.subscription_token(&queue).map(|t| t.id.clone())
                else {
                    return;
                };
                self.stats.notifications_delivered += 1;
                let data = simplex_core::ntf::PnMessageData {
                    queue,
                    ntf_ts: clock.wall_clock,
                    nmsg_nonce: nonce,
                    enc_meta,
                };
                self.push(
                    &token_id,
                    PushKind::Message,
                    PushNotification::Message(data),
                );
            }
            SmpEvent::End(queue) => self.set_sub_status(&queue, NtfSubStatus::End),
            SmpEvent::Subscribed(queue) | SmpEvent::Resubscribed(queue) => {
                self.set_sub_status(&queue, NtfSubStatus::Active)
            }
            SmpEvent::SubscribeFailed(queue, error) => match error {
                SubscribeError::Auth => self.set_sub_status(&queue, NtfSubStatus::Auth),
                SubscribeError::Failed(text) => {
                    self.set_sub_status(&queue, NtfSubStatus::Err(Bytes::from(text)))
                }
                SubscribeError::Transient => {}
            },
            SmpEvent::Disconnected(server, notifier_ids) => {
                for notifier_id in notifier_ids {
                    let queue = SmpQueueNtf {
                        server: server.clone(),
                        notifier_id,
                    };
                    self.set_sub_status(&queue, NtfSubStatus::Inactive);
                }
            }
        }
    }

    fn start_cron(&mut self, id: EntityId, minutes: u16) {
        let interval = Duration::from_secs(u64::from(minutes) * 60);
        self.crons.insert(
            id,
            Cron {
                interval: minutes,
                next: self.now.saturating_add(interval),
            },
        );
    }

    /// Sends the background pushes that are due and schedules the next ones.
    fn run_crons(&mut self) {
        let mut due: Vec<EntityId> = self
            .crons
            .iter()
            .filter(|(_, c)| c.next <= self.now)
            .map(|(id, _)| id.clone())
            .collect();
        due.sort();
        for id in due {
            if let Some(cron) = self.crons.get_mut(&id) {
                let interval = Duration::from_secs(u64::from(cron.interval) * 60);
                while cron.next <= self.now {
                    cron.next = cron.next.saturating_add(interval);
                }
            }
            self.push(
                &id,
                PushKind::CheckMessages,
                PushNotification::CheckMessages,
            );
        }
    }
}
