//! Delivery of stored messages: one worker ("outbox") per send queue, as the reference's
//! `resumeMsgDelivery` and `runSmpQueueMsgDelivery` run one thread per queue.
//!
//! A message reaches an outbox only once the batch that stored it is durable (the
//! [`OutboxStep::Enqueue`] effect of that batch). The outbox sends one message at a time, in
//! id order; each attempt boxes the stored envelope anew for the queue (a fresh nonce, never
//! a new ratchet step). The server's answer decides, exactly as the reference's branches on
//! the message type: done (the message's records and its event, after their commit), retry
//! after the next wait of [`DeliveryConfig::retry`], or give up with an error. Only when the
//! outcome is durable does the next message go out ([`OutboxStep::Settled`]), as the
//! reference deletes the message before it reads the next one.
//!
//! An outbox is started by the first message stored in this run, or by `SUB` of the
//! connection (the reference's `subscribeConnection'` calls `resumeMsgDelivery`); starting it
//! takes every message the store holds for the connection, so what a crash left undelivered
//! goes out after the restart and the next `SUB`.

use std::collections::{BTreeSet, VecDeque};
use std::time::Duration;

use simplex_core::client::{Backoff, Reply, Request, RequestError, RetryInterval};
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::SignKey;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{ErrorType, MsgFlags};
use simplex_core::time::Instant;

use super::connection::QueueStatus;
use super::handshake::stored_snd_box;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::store::{ConfirmationId, ConnectionId, Record};

/// How stored messages are retried and when they expire (the reference's
/// `messageRetryInterval`, `messageTimeout` and `helloTimeout`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryConfig {
    /// The waits between attempts of one message.
    pub retry: RetryInterval,
    /// How long after it was stored a message (other than `HELLO`) is still retried after a
    /// network error.
    pub message_timeout: Duration,
    /// The same for `HELLO`.
    pub hello_timeout: Duration,
}

impl DeliveryConfig {
    /// The reference agent's defaults: 1 s waits, growing by half after 10 s up to 60 s;
    /// messages and `HELLO` expire after 2 days.
    pub const REFERENCE: Self = Self {
        retry: RetryInterval {
            initial: Duration::from_secs(1),
            increase_after: Duration::from_secs(10),
            max: Duration::from_secs(60),
        },
        message_timeout: Duration::from_secs(2 * 86_400),
        hello_timeout: Duration::from_secs(2 * 86_400),
    };
}

impl Default for DeliveryConfig {
    fn default() -> Self {
        Self::REFERENCE
    }
}

/// What a stored message is (the reference's `AgentMessageType`, stored as its tag in
/// [`crate::store::SndMessageRecord::msg_type`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SndMessageType {
    /// A confirmation with connection info (`AM_CONN_INFO`: the inviter's reply confirmation).
    ConnInfo,
    /// A confirmation with connection info and reply queues (`AM_CONN_INFO_REPLY`).
    ConnInfoReply,
    /// `HELLO` (`AM_HELLO_`).
    Hello,
    /// `REPLY` (`AM_REPLY_`, v1 only).
    Reply,
    /// A user message (`AM_A_MSG_`).
    UserMessage,
}

impl SndMessageType {
    /// The stored tag.
    pub const fn tag(self) -> u8 {
        match self {
            Self::ConnInfo => b'C',
            Self::ConnInfoReply => b'D',
            Self::Hello => b'H',
            Self::Reply => b'R',
            Self::UserMessage => b'M',
        }
    }

    /// The type of a stored tag.
    pub const fn from_tag(tag: u8) -> Option<Self> {
        match tag {
            b'C' => Some(Self::ConnInfo),
            b'D' => Some(Self::ConnInfoReply),
            b'H' => Some(Self::Hello),
            b'R' => Some(Self::Reply),
            b'M' => Some(Self::UserMessage),
            _ => None,
        }
    }
}

/// A step of a send queue's worker that waits for a batch to be durable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum OutboxStep {
    /// The batch stored this message: queue it (starting the worker if it is not running).
    Enqueue(u64),
    /// `SUB`: start the worker with what the store holds, if it is not running.
    Resume,
    /// The outcome of the message being delivered is durable: go on with the next one.
    Settled,
}

/// One send queue's worker.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    /// Messages to deliver after the current one, in id order.
    waiting: VecDeque<u64>,
    current: Option<Attempt>,
}

impl Outbox {
    fn holds(&self, internal_id: u64) -> bool {
        self.current.as_ref().map(|a| a.internal_id) == Some(internal_id)
            || self.waiting.contains(&internal_id)
    }

    /// When this outbox next needs time to pass.
    pub(super) fn deadline(&self) -> Option<Instant> {
        match self.current.as_ref()?.stage {
            Stage::RetryAt(at) => Some(at),
            Stage::Sending | Stage::Settling => None,
        }
    }
}

/// The message being delivered.
#[derive(Debug)]
struct Attempt {
    internal_id: u64,
    backoff: Backoff,
    stage: Stage,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// Its `SEND` is with the manager.
    Sending,
    /// Waiting to try again.
    RetryAt(Instant),
    /// Its outcome's records are waiting for their commit.
    Settling,
}

/// A delivery `SEND`, waiting for the server's answer.
#[derive(Debug)]
pub(super) struct Delivering {
    conn: ConnectionId,
    internal_id: u64,
}

/// What to do after a failed attempt.
enum Verdict {
    Retry,
    /// Give up: tell the user this and forget the message.
    Fail(AgentEvent),
}

impl Agent {
    /// A step of `conn`'s outbox, after its batch committed.
    pub(super) fn outbox_step(&mut self, conn: ConnectionId, step: OutboxStep) {
        match step {
            OutboxStep::Enqueue(id) => match self.outboxes.get_mut(&conn) {
                Some(outbox) => {
                    if !outbox.holds(id) {
                        outbox.waiting.push_back(id);
                    }
                }
                None => self.start_outbox(&conn),
            },
            OutboxStep::Resume => {
                if !self.outboxes.contains_key(&conn) {
                    self.start_outbox(&conn);
                }
            }
            OutboxStep::Settled => {
                if let Some(outbox) = self.outboxes.get_mut(&conn) {
                    outbox.current = None;
                }
            }
        }
        self.deliver_next(&conn);
    }

    /// Starts `conn`'s outbox with every message the store holds for it (the reference's
    /// `getPendingMsgs`), leaving out those whose batch is not durable yet: their own
    /// `Enqueue` brings them when it is.
    fn start_outbox(&mut self, conn: &ConnectionId) {
        let not_durable: BTreeSet<u64> = self
            .uncommitted
            .iter()
            .flat_map(|b| b.effects.iter())
            .filter_map(|e| match e {
                Effect::Outbox {
                    conn: c,
                    step: OutboxStep::Enqueue(id),
                } if c == conn => Some(*id),
                _ => None,
            })
            .collect();
        let Some(stored) = self.state.connections.get(conn) else {
            return;
        };
        let waiting = stored
            .snd_messages
            .keys()
            .filter(|id| !not_durable.contains(id))
            .copied()
            .collect();
        self.outboxes.insert(
            conn.clone(),
            Outbox {
                waiting,
                current: None,
            },
        );
    }

    /// Sends the next message of `conn`'s outbox if none is being delivered.
    fn deliver_next(&mut self, conn: &ConnectionId) {
        if self.halted.contains(conn) {
            // Its memory may be ahead of the store: nothing more goes out until a restart.
            return;
        }
        let Some(stored) = self.state.connections.get(conn) else {
            // Deleted: nothing left to deliver.
            self.outboxes.remove(conn);
            return;
        };
        let Some(outbox) = self.outboxes.get_mut(conn) else {
            return;
        };
        if outbox.current.is_some() {
            return;
        }
        while let Some(id) = outbox.waiting.pop_front() {
            if stored.snd_messages.contains_key(&id) {
                outbox.current = Some(Attempt {
                    internal_id: id,
                    backoff: Backoff::new(&self.config.delivery.retry),
                    stage: Stage::Sending,
                });
                self.attempt(conn);
                return;
            }
        }
    }

    /// Sends the current message of `conn`'s outbox (again).
    fn attempt(&mut self, conn: &ConnectionId) {
        let Some(attempt) = self.outboxes.get_mut(conn).and_then(|o| o.current.as_mut()) else {
            return;
        };
        attempt.stage = Stage::Sending;
        let internal_id = attempt.internal_id;
        match self.delivery_request(conn, internal_id) {
            Ok(Some((server, request))) => self.send_request(
                server,
                Box::new(request),
                PendingRequest::Deliver(Delivering {
                    conn: conn.clone(),
                    internal_id,
                }),
            ),
            Ok(None) => {
                // The message or its queue is gone (the connection was deleted).
                if let Some(outbox) = self.outboxes.get_mut(conn) {
                    outbox.current = None;
                }
                self.deliver_next(conn);
            }
            Err(error) => {
                let event = self.failure_event(conn, internal_id, error);
                self.settle(conn, internal_id, Vec::new(), vec![event]);
            }
        }
    }

    /// The `SEND` that delivers a stored message: its envelope boxed for the queue with a
    /// fresh nonce (`sendConfirmation`: unsigned, our keys in the headers; `sendAgentMessage`:
    /// signed with the queue's key). `None` if the message or the queue is gone.
    fn delivery_request(
        &mut self,
        conn: &ConnectionId,
        internal_id: u64,
    ) -> Result<Option<(simplex_core::address::ServerAddress, Request)>, CommandError> {
        let Some(stored) = self.state.connections.get(conn) else {
            return Ok(None);
        };
        let (Some(sq), Some(entry)) = (&stored.snd_queue, stored.snd_messages.get(&internal_id))
        else {
            return Ok(None);
        };
        let snd_box = stored_snd_box(sq)?;
        let nonce = CbNonce::random(&mut *self.rng);
        let boxing = |_| CommandError::Internal("message box");
        let request = match SndMessageType::from_tag(entry.msg.msg_type) {
            Some(SndMessageType::ConnInfo) => {
                let body = snd_box
                    .seal_confirmation(nonce, &entry.msg.body)
                    .map_err(boxing)?;
                Request::send(
                    sq.snd_id.clone(),
                    None,
                    MsgFlags { notification: true },
                    body.into(),
                )
            }
            Some(_) => {
                let body = snd_box
                    .seal_message(nonce, &entry.msg.body)
                    .map_err(boxing)?;
                let key = SignKey::from_der(sq.snd_private_key.expose())
                    .map_err(|_| CommandError::Internal("stored queue key"))?;
                Request::send(
                    sq.snd_id.clone(),
                    Some(&key),
                    entry.msg.msg_flags,
                    body.into(),
                )
            }
            None => return Err(CommandError::Internal("stored message type")),
        };
        Ok(Some((sq.server.clone(), request)))
    }

    /// The server answered a delivery `SEND`.
    pub(super) fn delivery_answered(
        &mut self,
        delivering: Delivering,
        result: Result<Reply, RequestError>,
    ) {
        let Delivering { conn, internal_id } = delivering;
        let is_current = self
            .outboxes
            .get(&conn)
            .and_then(|o| o.current.as_ref())
            .is_some_and(|a| a.internal_id == internal_id && a.stage == Stage::Sending);
        if !is_current {
            return;
        }
        let message = self
            .state
            .connections
            .get(&conn)
            .and_then(|c| c.snd_messages.get(&internal_id))
            .map(|e| (SndMessageType::from_tag(e.msg.msg_type), e.msg.internal_ts));
        let Some((Some(msg_type), stored_at)) = message else {
            if let Some(outbox) = self.outboxes.get_mut(&conn) {
                outbox.current = None;
            }
            return self.deliver_next(&conn);
        };
        match result {
            Ok(_) => self.delivered(&conn, internal_id, msg_type),
            Err(error) => match self.verdict(&conn, internal_id, msg_type, stored_at, error) {
                Verdict::Retry => self.retry_later(&conn),
                Verdict::Fail(event) => self.settle(&conn, internal_id, Vec::new(), vec![event]),
            },
        }
    }

    /// The reference's error branches of `runSmpQueueMsgDelivery`.
    fn verdict(
        &self,
        conn: &ConnectionId,
        internal_id: u64,
        msg_type: SndMessageType,
        stored_at: UnixTime,
        error: RequestError,
    ) -> Verdict {
        use SndMessageType as T;
        let stored = self.state.connections.get(conn);
        let confirmation = matches!(msg_type, T::ConnInfo | T::ConnInfoReply);
        let expired = |timeout: Duration| elapsed(stored_at, self.clock.wall_clock) > timeout;
        // The reference reports a failed confirmation with `ERR`, anything else with `MERR`.
        let report = || {
            let e = CommandError::Server(error.clone());
            match msg_type {
                T::ConnInfo => AgentEvent::Err(e),
                _ => AgentEvent::Merr(internal_id, e),
            }
        };
        match &error {
            RequestError::Protocol(ErrorType::Quota) if confirmation => {
                Verdict::Fail(AgentEvent::Err(CommandError::NotAvailable))
            }
            // A full queue empties as its recipient reads it: retried for as long as it takes.
            RequestError::Protocol(ErrorType::Quota) => Verdict::Retry,
            RequestError::Protocol(ErrorType::Auth) => match msg_type {
                T::ConnInfo | T::ConnInfoReply => {
                    Verdict::Fail(AgentEvent::Err(CommandError::NotAvailable))
                }
                T::Hello => {
                    // v2 sends HELLO once: the peer secured the queue before it could come.
                    // The inviter's duplex flag is not recorded here (the reference's
                    // `setHandshakeVersion`); it only reaches HELLO by the v2 path.
                    let duplex = stored.is_none_or(|c| c.duplex_handshake.unwrap_or(true));
                    if duplex || expired(self.config.delivery.hello_timeout) {
                        // The reference tells the parties apart by the receive queue, which
                        // every v2 party has.
                        let error = match stored.and_then(|c| c.rcv_queue.as_ref()) {
                            Some(_) => CommandError::NotAvailable,
                            None => CommandError::NotAccepted,
                        };
                        Verdict::Fail(AgentEvent::Err(error))
                    } else {
                        Verdict::Retry
                    }
                }
                T::Reply => Verdict::Fail(AgentEvent::Err(CommandError::Server(error.clone()))),
                T::UserMessage => Verdict::Fail(report()),
            },
            // Network errors, timeouts and unusable hosts pass: retried until the message
            // expires.
            RequestError::Network | RequestError::Timeout | RequestError::IncompatibleHost => {
                let timeout = match msg_type {
                    T::Hello => self.config.delivery.hello_timeout,
                    _ => self.config.delivery.message_timeout,
                };
                if expired(timeout) {
                    Verdict::Fail(report())
                } else {
                    Verdict::Retry
                }
            }
            _ => Verdict::Fail(report()),
        }
    }

    /// How a message that cannot be sent at all is reported.
    fn failure_event(
        &self,
        conn: &ConnectionId,
        internal_id: u64,
        error: CommandError,
    ) -> AgentEvent {
        let msg_type = self
            .state
            .connections
            .get(conn)
            .and_then(|c| c.snd_messages.get(&internal_id))
            .and_then(|e| SndMessageType::from_tag(e.msg.msg_type));
        match msg_type {
            Some(SndMessageType::ConnInfo) => AgentEvent::Err(error),
            _ => AgentEvent::Merr(internal_id, error),
        }
    }

    /// The current message of `conn` waits for its next attempt.
    fn retry_later(&mut self, conn: &ConnectionId) {
        let retry = self.config.delivery.retry;
        let now = self.clock.now;
        if let Some(attempt) = self.outboxes.get_mut(conn).and_then(|o| o.current.as_mut()) {
            let wait = attempt.backoff.next_delay(&retry);
            attempt.stage = Stage::RetryAt(now + wait);
        }
    }

    /// Attempts whose wait is over go out again.
    pub(super) fn retry_due(&mut self) {
        let now = self.clock.now;
        let due: Vec<ConnectionId> = self
            .outboxes
            .iter()
            .filter(|(_, o)| o.deadline().is_some_and(|at| at <= now))
            .map(|(conn, _)| conn.clone())
            .collect();
        for conn in due {
            self.attempt(&conn);
        }
    }

    /// The earliest retry any outbox waits for.
    pub(super) fn delivery_deadline(&self) -> Option<Instant> {
        self.outboxes.values().filter_map(Outbox::deadline).min()
    }

    /// The server has the message: the records and events of its type (the reference's
    /// success branches), then it is forgotten.
    fn delivered(&mut self, conn: &ConnectionId, internal_id: u64, msg_type: SndMessageType) {
        let Some(stored) = self.state.connections.get(conn) else {
            return;
        };
        let mut records = Vec::new();
        let mut events = Vec::new();
        match msg_type {
            SndMessageType::ConnInfo => {
                records.push(Record::SndQueueStatus {
                    conn: conn.clone(),
                    status: QueueStatus::Confirmed,
                });
                // `removeConfirmations`: the inviter is done with the accepted confirmation.
                if stored.rcv_queue.is_some() {
                    let done: Vec<ConfirmationId> = self
                        .state
                        .confirmations
                        .iter()
                        .filter(|(_, c)| &c.conn == conn)
                        .map(|(id, _)| id.clone())
                        .collect();
                    records.extend(
                        done.into_iter()
                            .map(|id| Record::ConfirmationDeleted { id }),
                    );
                }
            }
            SndMessageType::Hello => {
                records.push(Record::SndQueueStatus {
                    conn: conn.clone(),
                    status: QueueStatus::Active,
                });
                // The party whose HELLO answers the peer's shows the connection now.
                if stored
                    .rcv_queue
                    .as_ref()
                    .is_some_and(|q| q.status == QueueStatus::Active)
                {
                    events.push(AgentEvent::Con);
                }
            }
            SndMessageType::UserMessage => events.push(AgentEvent::Sent(internal_id)),
            SndMessageType::ConnInfoReply | SndMessageType::Reply => {}
        }
        self.settle(conn, internal_id, records, events);
    }

    /// The end of a message: `records` and its deletion in one batch; `events`, then the next
    /// message, after its commit.
    fn settle(
        &mut self,
        conn: &ConnectionId,
        internal_id: u64,
        mut records: Vec<Record>,
        events: Vec<AgentEvent>,
    ) {
        if let Some(attempt) = self.outboxes.get_mut(conn).and_then(|o| o.current.as_mut()) {
            attempt.stage = Stage::Settling;
        }
        records.push(Record::SndMessageDeleted {
            conn: conn.clone(),
            internal_id,
        });
        let mut effects: Vec<Effect> = events
            .into_iter()
            .map(|event| Effect::Event {
                corr_id: CorrId::default(),
                conn: conn.clone(),
                event,
            })
            .collect();
        effects.push(Effect::Outbox {
            conn: conn.clone(),
            step: OutboxStep::Settled,
        });
        if self.emit(records, effects).is_err() {
            // The connection is halted; its outbox stays where it is.
            let error = CommandError::Internal("store record");
            self.event(
                CorrId::default(),
                Some(conn.clone()),
                AgentEvent::Err(error),
            );
        }
    }
}

/// The time from `from` to `to` (zero if `to` is not later).
fn elapsed(from: UnixTime, to: UnixTime) -> Duration {
    let micros = |t: UnixTime| i128::from(t.seconds) * 1_000_000 + i128::from(t.nanoseconds / 1000);
    let diff = micros(to) - micros(from);
    Duration::from_micros(u64::try_from(diff.max(0)).unwrap_or(u64::MAX))
}

#[cfg(test)]
#[path = "delivery_tests.rs"]
mod tests;
