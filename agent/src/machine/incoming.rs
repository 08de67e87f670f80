//! Messages arriving on our receive queues (the reference's `processSMPTransmission` for
//! `MSG`): so far those of the handshake.
//!
//! - The joining party's confirmation on an invitation queue (`smpConfirmation`, the
//!   initiator's branch): opened with the queue's key and the sender's key from the clear
//!   header, the ratchet started from the invitation's X3DH keys and the confirmation's; what
//!   the user needs to decide on (`LET` or not) is stored as one confirmation record with the
//!   ratchet as it left it, then `CONF`.
//! - The inviter's reply confirmation on the joiner's reply queue (the accepting party's
//!   branch): the ratchet step and the queue's box secret are stored, then `INFO`, and `KEY`
//!   secures the queue (see [`super::handshake`]).
//! - `HELLO` (`helloMsg`): the receive queue becomes `Active`; `CON` if ours went through
//!   already, else ours is made in the same batch and sent after it.
//!
//! The server `ACK` always follows the commit: a crash before it leaves the message on the
//! server, delivered again after the next `SUB`. A message that does not open or read is
//! reported as `ERR` and acknowledged at once (nothing is stored), as the reference's
//! `handleNotifyAck` does. User messages ([`super::receive`]) are acknowledged when the user
//! acknowledges them; invitations to a contact address go to [`super::contact`]. Every batch
//! of a message taken in records its server id, so its redelivery is recognised before it
//! is opened.

use simplex_core::address::ServerAddress;
use simplex_core::client::{MessageError, ReceivedMessage, Request};
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::{x25519, x448};
use simplex_core::encoding::Encode;
use simplex_core::protocol::EntityId;

use super::connection::QueueStatus;
use super::handshake;
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::error::SmpAgentError;
use crate::pipeline::{
    self, JoinerInfo, Opened, OpenedConfirmation, RcvQueueBox, ReceiveError, Versions,
};
use crate::protocol::AMessage;
use crate::store::{ConfirmationId, ConfirmationRecord, ConnectionId, Record, SecretBytes};

/// How many fresh confirmation ids to try (the reference's `createWithRandomId`).
const ID_ATTEMPTS: usize = 3;

impl Agent {
    /// A message for one of our receive queues.
    pub(super) fn message_received(
        &mut self,
        server: ServerAddress,
        queue_id: EntityId,
        message: Result<ReceivedMessage, MessageError>,
    ) {
        let Some(conn) = self.connection_of_queue(&server, &queue_id) else {
            // A queue no connection has (deleted meanwhile): nothing to tell anyone.
            return;
        };
        if self.halted.contains(&conn) {
            // Its state in memory may be ahead of the store: leave the message on the server.
            return;
        }
        let Ok(message) = message else {
            // The server's layer did not open; the manager already reported it as it could.
            return;
        };
        if self.redelivered(&conn, &message) {
            return;
        }
        let result = self
            .open_message(&conn, &message)
            .and_then(|opened| self.take_in(&conn, opened, &message));
        match result {
            Ok(None) => {}
            Ok(Some(Taken {
                mut records,
                mut effects,
                ack,
            })) => {
                // Recorded with what the message changed: its redelivery is recognised.
                records.push(Record::RcvQueueLastBrokerId {
                    conn: conn.clone(),
                    broker_id: message.msg_id.clone(),
                });
                if ack {
                    effects.extend(self.ack_effect(&conn, &message));
                }
                if self.emit(records, effects).is_err() {
                    let error = CommandError::Internal("store record");
                    self.event(CorrId::default(), Some(conn), AgentEvent::Err(error));
                }
            }
            Err(error) => {
                self.event(
                    CorrId::default(),
                    Some(conn.clone()),
                    AgentEvent::Err(error),
                );
                if let Some(effect) = self.ack_effect(&conn, &message) {
                    self.run_effect(effect);
                }
            }
        }
    }

    /// What an opened message changes and shows (`None`: a message of a flow not built yet,
    /// left unacknowledged on the server).
    fn take_in(
        &mut self,
        conn: &ConnectionId,
        opened: Opened,
        server_msg: &ReceivedMessage,
    ) -> Result<Option<Taken>, CommandError> {
        let prohibited = CommandError::Agent(SmpAgentError::Prohibited);
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let rcv_status = stored.rcv_queue.as_ref().map(|q| q.status);
        match opened {
            Opened::Confirmation(conf) if stored.ratchet_keys.is_some() => {
                if rcv_status != Some(QueueStatus::New) {
                    return Err(prohibited);
                }
                let (id, confirmation) = self.read_confirmation(conn, &conf)?;
                let servers = match &confirmation.reply_queues_list {
                    Some(queues) => queues
                        .as_slice()
                        .iter()
                        .map(|q| q.address.server.clone())
                        .collect(),
                    None => Vec::new(),
                };
                let info = confirmation.record.conn_info.clone();
                let records = vec![Record::ConfirmationStored {
                    id: id.clone(),
                    confirmation: confirmation.record,
                }];
                let effects = vec![Effect::Event {
                    corr_id: CorrId::default(),
                    conn: conn.clone(),
                    event: AgentEvent::Conf { id, servers, info },
                }];
                Ok(Some(Taken::acked(records, effects)))
            }
            // The joiner: the inviter's reply confirmation on our reply queue.
            Opened::Confirmation(conf) => {
                if rcv_status != Some(QueueStatus::New) || stored.snd_queue.is_none() {
                    return Err(prohibited);
                }
                let ratchet = handshake::load_ratchet(stored)?;
                let smp_client_version = stored
                    .rcv_queue
                    .as_ref()
                    .map_or(conf.client_version, |q| q.smp_client_version)
                    .min(conf.client_version);
                let (info, update) = pipeline::read_reply_confirmation(
                    &conf,
                    &ratchet,
                    &Versions::default(),
                    &mut *self.rng,
                )
                .map_err(receive_error)?;
                let state = update
                    .ratchet
                    .to_bytes()
                    .map_err(|_| CommandError::Internal("ratchet state"))?;
                let records = vec![
                    Record::RatchetReplaced {
                        conn: conn.clone(),
                        state: SecretBytes::from(state),
                    },
                    Record::RcvQueueConfirmed {
                        conn: conn.clone(),
                        e2e_dh_secret: SecretBytes::new(
                            conf.dh_secret.as_secret().expose().to_vec(),
                        ),
                        smp_client_version,
                    },
                ];
                let mut effects = vec![Effect::Event {
                    corr_id: CorrId::default(),
                    conn: conn.clone(),
                    event: AgentEvent::Info(info),
                }];
                effects.extend(self.secure_after(
                    conn,
                    conf.sender_key.clone(),
                    handshake::AfterSecure::SendHello,
                ));
                Ok(Some(Taken::acked(records, effects)))
            }
            Opened::Message {
                enc_agent_message, ..
            } => {
                let ratchet = handshake::load_ratchet(stored)?;
                let received = pipeline::read_message(&ratchet, &enc_agent_message, &mut *self.rng)
                    .map_err(receive_error)?;
                match received.message {
                    AMessage::Hello => {}
                    // Acknowledged to the server only when the user acknowledges it.
                    AMessage::UserMessage(_) => {
                        let (records, effects) =
                            self.incoming_user_message(conn, &received, server_msg)?;
                        return Ok(Some(Taken {
                            records,
                            effects,
                            ack: false,
                        }));
                    }
                    // The v1 handshake's `REPLY` is not carried over.
                    AMessage::Reply(_) => return Ok(None),
                }
                if rcv_status == Some(QueueStatus::Active) {
                    return Err(prohibited);
                }
                let counters = stored.counters.clone();
                let snd_status = stored.snd_queue.as_ref().map(|q| q.status);
                let (_, after) = received.integrity(&handshake::rcv_integrity(&counters));
                let state = received
                    .update
                    .ratchet
                    .to_bytes()
                    .map_err(|_| CommandError::Internal("ratchet state"))?;
                let counters = handshake::after_received(&counters, &after);
                let mut records = vec![
                    Record::RatchetReplaced {
                        conn: conn.clone(),
                        state: SecretBytes::from(state),
                    },
                    Record::CountersSet {
                        conn: conn.clone(),
                        counters: counters.clone(),
                    },
                    Record::RcvQueueStatus {
                        conn: conn.clone(),
                        status: QueueStatus::Active,
                    },
                ];
                let mut effects = Vec::new();
                match snd_status {
                    // Our HELLO went through before: this one answers it.
                    Some(QueueStatus::Active) => effects.push(Effect::Event {
                        corr_id: CorrId::default(),
                        conn: conn.clone(),
                        event: AgentEvent::Con,
                    }),
                    Some(_) => {
                        // Ours answers theirs, from the ratchet and counters theirs left.
                        let (more, hello) =
                            self.hello_with(conn, &received.update.ratchet, &counters)?;
                        records.extend(more);
                        effects.extend(hello);
                    }
                    None => {}
                }
                Ok(Some(Taken::acked(records, effects)))
            }
            Opened::Invitation(invitation) => {
                let (records, effects) = self.contact_request(conn, &invitation)?;
                Ok(Some(Taken::acked(records, effects)))
            }
        }
    }

    /// Opens a server message with the connection's receive queue keys.
    fn open_message(
        &self,
        conn: &ConnectionId,
        message: &ReceivedMessage,
    ) -> Result<Opened, CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let queue = stored.rcv_queue.as_ref().ok_or(CommandError::NotFound)?;
        let dh_private = x25519_key(queue.e2e_private_key.expose())?;
        let dh_secret = match &queue.e2e_dh_secret {
            Some(s) => Some(x25519_secret(s.expose())?),
            None => None,
        };
        pipeline::open(
            RcvQueueBox {
                dh_private: &dh_private,
                dh_secret: dh_secret.as_ref(),
            },
            &Versions::default().smp_client,
            &message.body,
        )
        .map_err(receive_error)
    }

    /// The connection whose receive queue this is.
    fn connection_of_queue(
        &self,
        server: &ServerAddress,
        queue_id: &EntityId,
    ) -> Option<ConnectionId> {
        self.state
            .connections
            .iter()
            .find(|(_, c)| {
                c.rcv_queue
                    .as_ref()
                    .is_some_and(|q| &q.server == server && &q.rcv_id == queue_id)
            })
            .map(|(id, _)| id.clone())
    }

    /// `ACK` of a server message on the connection's receive queue.
    fn ack_effect(&self, conn: &ConnectionId, message: &ReceivedMessage) -> Option<Effect> {
        let queue = self.state.connections.get(conn)?.rcv_queue.as_ref()?;
        let key = SignKey::from_der(queue.rcv_private_key.expose()).ok()?;
        Some(Effect::Request {
            conn: conn.clone(),
            server: queue.server.clone(),
            request: Box::new(Request::ack(
                queue.rcv_id.clone(),
                &key,
                message.msg_id.clone(),
            )),
            pending: PendingRequest::Ack,
        })
    }

    /// Reads the joining party's confirmation on `conn`'s invitation queue.
    fn read_confirmation(
        &mut self,
        conn: &ConnectionId,
        conf: &OpenedConfirmation,
    ) -> Result<(ConfirmationId, ReadConfirmation), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let keys = stored
            .ratchet_keys
            .as_ref()
            .ok_or(CommandError::Agent(SmpAgentError::Prohibited))?;
        let own1 = x448_key(keys.key1.expose())?;
        let own2 = x448_key(keys.key2.expose())?;
        let joined = pipeline::read_join_confirmation(
            conf,
            &own1,
            &own2,
            &Versions::default(),
            &mut *self.rng,
        )
        .map_err(receive_error)?;
        let (conn_info, reply_queues_list) = match joined.info {
            JoinerInfo::Info(info) => (info, None),
            JoinerInfo::InfoReply {
                reply_queues,
                conn_info,
            } => (conn_info, Some(reply_queues)),
        };
        let ratchet_state = joined
            .ratchet
            .to_bytes()
            .map_err(|_| CommandError::Internal("ratchet state"))?;
        let id = (0..ID_ATTEMPTS)
            .map(|_| ConfirmationId::generate(&mut *self.rng))
            .find(|id| !self.state.confirmations.contains_key(id))
            .ok_or(CommandError::Internal("unique id"))?;
        let record = ConfirmationRecord {
            conn: conn.clone(),
            sender_key: Some(conf.sender_key.to_der()),
            sender_dh_key: conf.sender_dh.as_bytes().to_vec(),
            smp_client_version: conf.client_version,
            conn_info,
            reply_queues: match &reply_queues_list {
                Some(queues) => bytes::Bytes::from(queues.to_bytes()),
                None => bytes::Bytes::new(),
            },
            ratchet_state: SecretBytes::from(ratchet_state),
            own_conn_info: None,
        };
        Ok((
            id,
            ReadConfirmation {
                record,
                reply_queues_list,
            },
        ))
    }
}

/// What a message taken in changes (`records`) and shows once they are durable (`effects`);
/// `ack`: whether the server's copy is acknowledged then too (not for a user message, which
/// waits for the user's `ACK`).
struct Taken {
    records: Vec<Record>,
    effects: Vec<Effect>,
    ack: bool,
}

impl Taken {
    fn acked(records: Vec<Record>, effects: Vec<Effect>) -> Self {
        Self {
            records,
            effects,
            ack: true,
        }
    }
}

/// A confirmation read, ready to store.
struct ReadConfirmation {
    record: ConfirmationRecord,
    reply_queues_list: Option<simplex_core::encoding::NonEmpty<crate::protocol::SmpQueueInfo>>,
}

/// A pipeline error as the agent reports it (`AGENT ...`, or `INTERNAL` for the ratchet's).
fn receive_error(e: ReceiveError) -> CommandError {
    match e.reference() {
        crate::error::AgentErrorType::Agent(a) => CommandError::Agent(a),
        _ => CommandError::Internal("ratchet"),
    }
}

fn x25519_key(bytes: &[u8]) -> Result<x25519::PrivateKey, CommandError> {
    let raw: &[u8; 32] = bytes
        .try_into()
        .map_err(|_| CommandError::Internal("stored queue key"))?;
    Ok(x25519::PrivateKey::from_bytes(raw))
}

fn x25519_secret(bytes: &[u8]) -> Result<x25519::SharedSecret, CommandError> {
    let raw: &[u8; 32] = bytes
        .try_into()
        .map_err(|_| CommandError::Internal("stored queue secret"))?;
    Ok(x25519::SharedSecret::from_bytes(raw))
}

fn x448_key(bytes: &[u8]) -> Result<x448::PrivateKey, CommandError> {
    let raw: &[u8; 56] = bytes
        .try_into()
        .map_err(|_| CommandError::Internal("stored X3DH key"))?;
    Ok(x448::PrivateKey::from_bytes(raw))
}
