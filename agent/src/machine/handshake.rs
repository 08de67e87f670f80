//! The rest of the v2 duplex handshake after `CONF` (the reference's `allowConnection'`,
//! `processConfirmation`, `connectReplyQueues`, `enqueueConfirmation`, `helloMsg` and the
//! `AM_CONN_INFO` / `AM_HELLO_` branches of `runSmpQueueMsgDelivery`):
//!
//! 1. `LET` (inviter): the confirmation is accepted, its ratchet becomes the connection's and
//!    the queue's box secret is stored; then `KEY` secures the queue with the joiner's key.
//! 2. Secured (inviter): the queue is `Secured`, a send queue to the joiner's reply queue and
//!    the reply confirmation (with its ratchet step) are stored; `LET` is answered `OK` and
//!    the send queue's outbox delivers the confirmation after that commit. Its `OK` marks the
//!    send queue confirmed and forgets the confirmation (see [`super::delivery`]).
//! 3. The joiner reads the reply confirmation (`INFO`, after the commit), secures its reply
//!    queue, then stores `HELLO` for its outbox (v2: refused by the server, it is not
//!    retried).
//! 4. `HELLO` received: the receive queue is `Active`; if our own `HELLO` went through
//!    already this is the answer and the user gets `CON`, otherwise we answer with ours.
//!    `HELLO` delivered: the send queue is `Active`; if our receive queue is already active
//!    (we got theirs first) the user gets `CON`.
//!
//! Every step follows the commit rule: records first, then whatever shows them.

use bytes::Bytes;
use simplex_core::client::{Reply, Request, RequestError};
use simplex_core::crypto::keys::{DhPublicKey, SignKey, VerifyKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Decode, NonEmpty};
use simplex_core::protocol::{Command, MsgFlags};
use simplex_core::ratchet::Ratchet;

use super::connection::QueueStatus;
use super::delivery::SndMessageType;
use super::send::{enqueue, pending_message};
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::error::SmpAgentError;
use crate::integrity::{RcvIntegrity, SndIntegrity};
use crate::pipeline::{self, SndQueueBox};
use crate::protocol::{AMessage, SmpQueueInfo, SMP_CLIENT_VERSIONS};
use crate::store::{
    ConfirmationId, ConnectionId, ConnectionRecord, MsgCounters, Record, SecretBytes,
    SndQueueRecord,
};

/// What a `KEY` on one of our receive queues leads to once the server confirmed it.
#[derive(Debug)]
pub(super) enum AfterSecure {
    /// The inviter after `LET`: connect to the joiner's reply queue, then answer `LET`.
    ConnectReply {
        corr_id: CorrId,
        conf_id: ConfirmationId,
    },
    /// The joiner after the reply confirmation: send `HELLO`.
    SendHello,
}

/// A `KEY` sent to a server, waiting for `OK`.
#[derive(Debug)]
pub(super) struct Securing {
    conn: ConnectionId,
    then: AfterSecure,
}

impl Securing {
    /// The `LET` waiting for the answer, if any.
    pub(super) fn waiting(self) -> Option<(CorrId, ConnectionId)> {
        match self.then {
            AfterSecure::ConnectReply { corr_id, .. } => Some((corr_id, self.conn)),
            AfterSecure::SendHello => None,
        }
    }
}

impl Agent {
    /// `LET confId info`: accept the joiner's confirmation, then secure the queue.
    pub(super) fn allow_connection(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        conf_id: ConfirmationId,
        own_info: Bytes,
    ) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        match self.accept_records(&conn, &conf_id, own_info) {
            Ok((records, key_request)) => {
                let effect = Effect::Request {
                    conn: conn.clone(),
                    server: key_request.0,
                    request: Box::new(key_request.1),
                    pending: PendingRequest::Secure(Securing {
                        conn: conn.clone(),
                        then: AfterSecure::ConnectReply {
                            corr_id: corr_id.clone(),
                            conf_id,
                        },
                    }),
                };
                if self.emit(records, vec![effect]).is_err() {
                    let error = CommandError::Internal("store record");
                    self.event(corr_id, Some(conn), AgentEvent::Err(error));
                }
            }
            Err(error) => self.event(corr_id, Some(conn), AgentEvent::Err(error)),
        }
    }

    /// The records of accepting a confirmation, and the `KEY` to send after them.
    #[allow(clippy::type_complexity)]
    fn accept_records(
        &self,
        conn: &ConnectionId,
        conf_id: &ConfirmationId,
        own_info: Bytes,
    ) -> Result<(Vec<Record>, (simplex_core::address::ServerAddress, Request)), CommandError> {
        let prohibited = CommandError::Prohibited;
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let (Some(rq), None) = (&stored.rcv_queue, &stored.snd_queue) else {
            return Err(prohibited);
        };
        let conf = self
            .state
            .confirmations
            .get(conf_id)
            .filter(|c| &c.conn == conn && c.own_conn_info.is_none())
            .ok_or(prohibited)?;
        let dh_private = x25519_private(rq.e2e_private_key.expose())?;
        let sender_dh: &[u8; 32] = conf
            .sender_dh_key
            .as_slice()
            .try_into()
            .map_err(|_| CommandError::Internal("stored sender key"))?;
        let secret = dh_private
            .diffie_hellman(&x25519::PublicKey::from_bytes(sender_dh))
            .map_err(|_| CommandError::Internal("sender's DH key"))?;
        let sender_key = conf
            .sender_key
            .as_deref()
            .and_then(|k| VerifyKey::from_der(k).ok())
            .ok_or(CommandError::Internal("stored sender key"))?;
        let rcv_key = SignKey::from_der(rq.rcv_private_key.expose())
            .map_err(|_| CommandError::Internal("stored queue key"))?;
        let records = vec![
            Record::ConfirmationAccepted {
                id: conf_id.clone(),
                own_conn_info: own_info,
            },
            Record::RatchetReplaced {
                conn: conn.clone(),
                state: conf.ratchet_state.clone(),
            },
            Record::RcvQueueConfirmed {
                conn: conn.clone(),
                e2e_dh_secret: SecretBytes::new(secret.as_secret().expose().to_vec()),
                smp_client_version: rq.smp_client_version.min(conf.smp_client_version),
            },
        ];
        let key = Request::signed(rq.rcv_id.clone(), &rcv_key, Command::Key(sender_key));
        Ok((records, (rq.server.clone(), key)))
    }

    /// `KEY` on a receive queue of ours: sends it after `records` commit.
    pub(super) fn secure_after(
        &mut self,
        conn: &ConnectionId,
        sender_key: VerifyKey,
        then: AfterSecure,
    ) -> Option<Effect> {
        let rq = self.state.connections.get(conn)?.rcv_queue.as_ref()?;
        let rcv_key = SignKey::from_der(rq.rcv_private_key.expose()).ok()?;
        Some(Effect::Request {
            conn: conn.clone(),
            server: rq.server.clone(),
            request: Box::new(Request::signed(
                rq.rcv_id.clone(),
                &rcv_key,
                Command::Key(sender_key),
            )),
            pending: PendingRequest::Secure(Securing {
                conn: conn.clone(),
                then,
            }),
        })
    }

    /// The server answered a `KEY`.
    pub(super) fn secured(&mut self, securing: Securing, result: Result<Reply, RequestError>) {
        let Securing { conn, then } = securing;
        if let Err(e) = result {
            let (corr_id, conn) = match then {
                AfterSecure::ConnectReply { corr_id, .. } => (corr_id, conn),
                AfterSecure::SendHello => (CorrId::default(), conn),
            };
            return self.event(
                corr_id,
                Some(conn),
                AgentEvent::Err(CommandError::Server(e)),
            );
        }
        let mut records = vec![Record::RcvQueueStatus {
            conn: conn.clone(),
            status: QueueStatus::Secured,
        }];
        let (corr_id, outcome) = match then {
            AfterSecure::ConnectReply { corr_id, conf_id } => {
                let outcome = self
                    .connect_reply_queue(&conn, &conf_id)
                    .map(|(r, effects)| {
                        // `LET` is answered once the reply confirmation is stored (the reference
                        // answers after `enqueueConfirmation`), before it is delivered.
                        let ok = Effect::Event {
                            corr_id: corr_id.clone(),
                            conn: conn.clone(),
                            event: AgentEvent::Ok,
                        };
                        (r, std::iter::once(ok).chain(effects).collect())
                    });
                (corr_id, outcome)
            }
            AfterSecure::SendHello => (CorrId::default(), self.hello(&conn)),
        };
        match outcome {
            Ok((more, effects)) => {
                records.extend(more);
                if self.emit(records, effects).is_err() {
                    let error = CommandError::Internal("store record");
                    self.event(corr_id, Some(conn), AgentEvent::Err(error));
                }
            }
            Err(error) => self.event(corr_id, Some(conn), AgentEvent::Err(error)),
        }
    }

    /// The inviter's send queue to the joiner's reply queue and its reply confirmation.
    fn connect_reply_queue(
        &mut self,
        conn: &ConnectionId,
        conf_id: &ConfirmationId,
    ) -> Result<(Vec<Record>, Vec<Effect>), CommandError> {
        let conf = self
            .state
            .confirmations
            .get(conf_id)
            .ok_or(CommandError::Prohibited)?;
        let queues = NonEmpty::<SmpQueueInfo>::decode_slice(&conf.reply_queues)
            .map_err(|_| CommandError::Agent(SmpAgentError::Message))?;
        let own_info = conf.own_conn_info.clone().unwrap_or_default();
        let reply = queues.first().clone();
        if !SMP_CLIENT_VERSIONS.contains(reply.client_version) {
            return Err(CommandError::Agent(SmpAgentError::Version));
        }
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let ratchet = load_ratchet(stored)?;
        let sign_key =
            simplex_core::client::generate_sign_key(self.config.sign_algorithm, &mut *self.rng);
        let dh_key = x25519::PrivateKey::generate(&mut *self.rng);
        let snd_box = SndQueueBox::new(&reply, &dh_key, sign_key.verify_key())
            .map_err(|_| CommandError::Internal("reply queue DH key"))?;
        let integrity = snd_integrity(&stored.counters);
        let prepared = pipeline::prepare_reply_confirmation(
            &ratchet,
            &integrity,
            stored.agent_version,
            own_info,
        )
        .map_err(|_| CommandError::Internal("reply confirmation"))?;
        let (stored_msg, internal_id) = pending_message(
            conn,
            &stored.counters,
            prepared,
            SndMessageType::ConnInfo,
            MsgFlags { notification: true },
            self.clock.wall_clock,
        )?;
        let mut records = vec![Record::SndQueueAdded {
            conn: conn.clone(),
            queue: SndQueueRecord {
                server: reply.address.server.clone(),
                snd_id: reply.address.sender_id.clone(),
                snd_private_key: SecretBytes::from(sign_key.to_der()),
                e2e_pub_key: Some(DhPublicKey::X25519(dh_key.public_key()).to_der()),
                e2e_dh_secret: SecretBytes::new(snd_box.dh_secret.as_secret().expose().to_vec()),
                status: QueueStatus::New,
                smp_client_version: reply.client_version,
            },
        }];
        records.extend(stored_msg);
        // Delivered by the send queue's outbox (`enqueueConfirmation`).
        let effects = vec![enqueue(conn, internal_id)];
        Ok((records, effects))
    }

    /// `HELLO` for the connection's send queue, stored for its outbox (sent signed: the peer
    /// has secured the queue by now).
    pub(super) fn hello(
        &mut self,
        conn: &ConnectionId,
    ) -> Result<(Vec<Record>, Vec<Effect>), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let ratchet = load_ratchet(stored)?;
        let counters = stored.counters.clone();
        self.hello_with(conn, &ratchet, &counters)
    }

    /// [`Self::hello`] from this ratchet and these counters (those a batch being made leaves).
    pub(super) fn hello_with(
        &mut self,
        conn: &ConnectionId,
        ratchet: &Ratchet,
        counters: &MsgCounters,
    ) -> Result<(Vec<Record>, Vec<Effect>), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        if stored.snd_queue.is_none() {
            return Err(CommandError::Prohibited);
        }
        let prepared = pipeline::prepare_message(
            ratchet,
            &snd_integrity(counters),
            stored.agent_version,
            AMessage::Hello,
        )
        .map_err(|_| CommandError::Internal("HELLO"))?;
        let (records, internal_id) = pending_message(
            conn,
            counters,
            prepared,
            SndMessageType::Hello,
            MsgFlags { notification: true },
            self.clock.wall_clock,
        )?;
        // Delivered by the send queue's outbox (`enqueueMessage`).
        let effects = vec![enqueue(conn, internal_id)];
        Ok((records, effects))
    }
}

/// The ratchet stored for a connection.
pub(super) fn load_ratchet(stored: &ConnectionRecord) -> Result<Ratchet, CommandError> {
    let bytes = stored
        .ratchet
        .as_ref()
        .ok_or(CommandError::Internal("no ratchet"))?;
    Ratchet::from_bytes(bytes.expose()).map_err(|_| CommandError::Internal("stored ratchet"))
}

/// The sender numbering kept in the counters.
pub(super) fn snd_integrity(c: &MsgCounters) -> SndIntegrity {
    SndIntegrity {
        last_snd_id: i64::try_from(c.last_internal_snd_msg_id).unwrap_or(i64::MAX),
        last_hash: c.last_snd_msg_hash.as_slice().try_into().ok(),
    }
}

/// The recipient numbering kept in the counters.
pub(super) fn rcv_integrity(c: &MsgCounters) -> RcvIntegrity {
    RcvIntegrity {
        last_external_snd_id: i64::try_from(c.last_external_snd_msg_id).unwrap_or(i64::MAX),
        last_hash: c.last_rcv_msg_hash.as_slice().try_into().ok(),
    }
}

/// The counters after a message sent with the numbering `after` (`updateSndIds`).
pub(super) fn after_sent(c: &MsgCounters, after: &SndIntegrity) -> MsgCounters {
    MsgCounters {
        last_internal_msg_id: c.last_internal_msg_id + 1,
        last_internal_snd_msg_id: u64::try_from(after.last_snd_id).unwrap_or(0),
        last_snd_msg_hash: after.last_hash.map(|h| h.to_vec()).unwrap_or_default(),
        ..c.clone()
    }
}

/// The counters after a message received with the numbering `after` (`updateRcvIds`).
pub(super) fn after_received(c: &MsgCounters, after: &RcvIntegrity) -> MsgCounters {
    MsgCounters {
        last_internal_msg_id: c.last_internal_msg_id + 1,
        last_internal_rcv_msg_id: c.last_internal_rcv_msg_id + 1,
        last_external_snd_msg_id: u64::try_from(after.last_external_snd_id).unwrap_or(0),
        last_rcv_msg_hash: after.last_hash.map(|h| h.to_vec()).unwrap_or_default(),
        ..c.clone()
    }
}

/// The box for a stored send queue.
pub(super) fn stored_snd_box(sq: &SndQueueRecord) -> Result<SndQueueBox, CommandError> {
    let bad = CommandError::Internal("stored send queue");
    let secret: &[u8; 32] = sq
        .e2e_dh_secret
        .expose()
        .try_into()
        .map_err(|_| bad.clone())?;
    let dh_public = match sq.e2e_pub_key.as_deref().map(DhPublicKey::from_der) {
        Some(Ok(DhPublicKey::X25519(k))) => k,
        _ => return Err(bad),
    };
    let sender_key = SignKey::from_der(sq.snd_private_key.expose())
        .map_err(|_| bad.clone())?
        .verify_key();
    Ok(SndQueueBox {
        client_version: sq.smp_client_version,
        dh_secret: x25519::SharedSecret::from_bytes(secret),
        dh_public,
        sender_key,
    })
}

fn x25519_private(bytes: &[u8]) -> Result<x25519::PrivateKey, CommandError> {
    let raw: &[u8; 32] = bytes
        .try_into()
        .map_err(|_| CommandError::Internal("stored queue key"))?;
    Ok(x25519::PrivateKey::from_bytes(raw))
}
