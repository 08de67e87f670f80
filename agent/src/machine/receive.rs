//! User messages arriving and the user's `ACK` (the reference's `A_MSG` branch of
//! `processSMPTransmission`, its `A_DUPLICATE` redelivery branch, and `ackMessage'`). See
//! `spec/agent.md`, "Receiving and acknowledging".
//!
//! - A user message: the ratchet step, the counters and the received message row (server id
//!   and time, sender id, verdict, flags, the encoded agent message) are one batch; `MSG`
//!   follows its commit. The server's copy is *not* acknowledged then: the server holds the
//!   queue's next message until it is, which is the user's `ACK`.
//! - `ACK n`: the row is marked acknowledged by the user (durable first), then the server
//!   `ACK`; its `OK` (or `NO_MSG`: already acknowledged) deletes the row and answers `OK`.
//! - A redelivery (the server's id is the last one the queue took in, recorded in the batch
//!   of whatever that message changed) is never opened again: a row the user has not
//!   acknowledged is shown again as it was (same ids, same verdict); anything else is only
//!   acknowledged to the server.

use bytes::Bytes;
use simplex_core::client::{ReceivedMessage, Reply, Request, RequestError};
use simplex_core::crypto::keys::SignKey;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::{Decode, UtcTime};
use simplex_core::protocol::ErrorType;

use super::connection::ConnectionType;
use super::handshake::{after_received, rcv_integrity};
use super::{Agent, AgentEvent, CommandError, CorrId, Effect, PendingRequest};
use crate::meta::{AgentMsgId, MsgIntegrity, MsgMeta};
use crate::pipeline::ReceivedMessage as Decrypted;
use crate::protocol::{AMessage, AgentMessage};
use crate::store::{ConnectionId, RcvMessageRecord, Record, SecretBytes};

/// The agent message tag of a user message (`A_MSG`), as stored in a row's `msg_type`.
const USER_MESSAGE_TYPE: u8 = b'M';

/// A server `ACK` made for a user's `ACK` (or for a redelivered message the user had
/// acknowledged already, `corr_id` then `None`): its answer lets the row go.
#[derive(Debug)]
pub(super) struct Acking {
    corr_id: Option<CorrId>,
    conn: ConnectionId,
    internal_id: u64,
}

impl Acking {
    /// The `ACK` waiting for the answer, if any.
    pub(super) fn waiting(self) -> Option<(CorrId, ConnectionId)> {
        self.corr_id.map(|c| (c, self.conn))
    }
}

impl Agent {
    /// A decrypted user message: what to store, and `MSG` to show once it is stored. The
    /// caller adds the queue's last server id and does not acknowledge the server's copy.
    pub(super) fn incoming_user_message(
        &self,
        conn: &ConnectionId,
        decrypted: &Decrypted,
        server_msg: &ReceivedMessage,
    ) -> Result<(Vec<Record>, Vec<Effect>), CommandError> {
        let AMessage::UserMessage(body) = &decrypted.message else {
            return Err(CommandError::Internal("not a user message"));
        };
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        let (integrity, after) = decrypted.integrity(&rcv_integrity(&stored.counters));
        let counters = after_received(&stored.counters, &after);
        let state = decrypted
            .update
            .ratchet
            .to_bytes()
            .map_err(|_| CommandError::Internal("ratchet state"))?;
        let row = RcvMessageRecord {
            internal_id: counters.last_internal_msg_id,
            internal_rcv_id: counters.last_internal_rcv_msg_id,
            internal_ts: self.clock.wall_clock,
            broker_id: server_msg.msg_id.clone(),
            broker_ts: server_msg.timestamp,
            external_snd_id: u64::try_from(decrypted.header.snd_msg_id).unwrap_or(0),
            msg_type: USER_MESSAGE_TYPE,
            msg_flags: server_msg.flags,
            body: Bytes::from(decrypted.body.clone()),
            internal_hash: decrypted.internal_hash.to_vec(),
            external_prev_snd_hash: decrypted.header.prev_msg_hash.as_bytes().to_vec(),
            integrity: integrity.to_str_bytes(),
        };
        let event = msg_event(&row, integrity, body.clone());
        let records = vec![
            Record::RatchetReplaced {
                conn: conn.clone(),
                state: SecretBytes::from(state),
            },
            Record::CountersSet {
                conn: conn.clone(),
                counters,
            },
            Record::RcvMessageStored {
                conn: conn.clone(),
                msg: row,
            },
        ];
        let effects = vec![Effect::Event {
            corr_id: CorrId::default(),
            conn: conn.clone(),
            event,
        }];
        Ok((records, effects))
    }

    /// Whether `message` is the one the queue took in last, arriving again (after a restart,
    /// a lost `ACK`, a resubscription); if so it is dealt with here, without opening it.
    pub(super) fn redelivered(&mut self, conn: &ConnectionId, message: &ReceivedMessage) -> bool {
        let Some(stored) = self.state.connections.get(conn) else {
            return false;
        };
        if stored.last_rcv_broker_id.as_ref() != Some(&message.msg_id) {
            return false;
        }
        let row = stored
            .rcv_messages
            .values()
            .find(|entry| entry.msg.broker_id == message.msg_id);
        let effect = match row {
            // Not acknowledged by the user: shown again, exactly as the first time.
            Some(entry) if !entry.user_acked => match stored_msg_event(&entry.msg) {
                Some(event) => Effect::Event {
                    corr_id: CorrId::default(),
                    conn: conn.clone(),
                    event,
                },
                // A row we wrote ourselves does not read back: nothing to show; the
                // message stays on the server rather than be lost unseen.
                None => return true,
            },
            // Acknowledged by the user, but the server's ACK did not get through.
            Some(entry) => {
                let internal_id = entry.msg.internal_id;
                let Some(effect) = self.server_ack(
                    conn,
                    message,
                    PendingRequest::UserAck(Acking {
                        corr_id: None,
                        conn: conn.clone(),
                        internal_id,
                    }),
                ) else {
                    return true;
                };
                effect
            }
            // A handshake message, whose effects are durable: only the ACK was missing.
            None => match self.server_ack(conn, message, PendingRequest::Ack) {
                Some(effect) => effect,
                None => return true,
            },
        };
        self.after_commits(effect);
        true
    }

    /// `ACK msgId`: mark the message acknowledged by the user, then acknowledge the server's
    /// copy (errors as the reference's `ackMessage'`).
    pub(super) fn ack_message(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        msg_id: AgentMsgId,
    ) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        match self.ack_records(&corr_id, &conn, msg_id) {
            Ok((records, effect)) => {
                if self.emit(records, vec![effect]).is_err() {
                    let error = CommandError::Internal("store record");
                    self.event(corr_id, Some(conn), AgentEvent::Err(error));
                }
            }
            Err(error) => self.event(corr_id, Some(conn), AgentEvent::Err(error)),
        }
    }

    fn ack_records(
        &self,
        corr_id: &CorrId,
        conn: &ConnectionId,
        msg_id: AgentMsgId,
    ) -> Result<(Vec<Record>, Effect), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        match ConnectionType::of(stored) {
            Some(ConnectionType::Rcv | ConnectionType::Duplex) => {}
            Some(ConnectionType::Snd) => return Err(CommandError::Simplex),
            Some(ConnectionType::Contact) => return Err(CommandError::Prohibited),
            None => return Err(CommandError::NotFound),
        }
        let internal_id = u64::try_from(msg_id).map_err(|_| CommandError::MsgNotFound)?;
        let entry = stored
            .rcv_messages
            .get(&internal_id)
            .ok_or(CommandError::MsgNotFound)?;
        let queue = stored.rcv_queue.as_ref().ok_or(CommandError::NotFound)?;
        let key = SignKey::from_der(queue.rcv_private_key.expose())
            .map_err(|_| CommandError::Internal("stored queue key"))?;
        let effect = Effect::Request {
            conn: conn.clone(),
            server: queue.server.clone(),
            request: Box::new(Request::ack(
                queue.rcv_id.clone(),
                &key,
                entry.msg.broker_id.clone(),
            )),
            pending: PendingRequest::UserAck(Acking {
                corr_id: Some(corr_id.clone()),
                conn: conn.clone(),
                internal_id,
            }),
        };
        let records = vec![Record::RcvMessageUserAcked {
            conn: conn.clone(),
            internal_id,
        }];
        Ok((records, effect))
    }

    /// The server answered an `ACK` made for a user's acknowledgement: the row goes (if it is
    /// still there), then `OK`.
    pub(super) fn user_ack_done(&mut self, acking: Acking, result: Result<Reply, RequestError>) {
        let Acking {
            corr_id,
            conn,
            internal_id,
        } = acking;
        match result {
            // `NO_MSG`: the server had it acknowledged already (the reference ignores it).
            Ok(Reply::Ok) | Err(RequestError::Protocol(ErrorType::NoMsg)) => {}
            Ok(_) => {
                if let Some(corr_id) = corr_id {
                    let error = CommandError::Internal("unexpected reply");
                    self.event(corr_id, Some(conn), AgentEvent::Err(error));
                }
                return;
            }
            Err(e) => {
                // The row stays acknowledged by the user: a redelivery acknowledges it again.
                if let Some(corr_id) = corr_id {
                    self.event(
                        corr_id,
                        Some(conn),
                        AgentEvent::Err(CommandError::Server(e)),
                    );
                }
                return;
            }
        }
        let ok = corr_id.map(|corr_id| Effect::Event {
            corr_id,
            conn: conn.clone(),
            event: AgentEvent::Ok,
        });
        let row_kept = self
            .state
            .connections
            .get(&conn)
            .is_some_and(|c| c.rcv_messages.contains_key(&internal_id));
        if !row_kept {
            // Deleted by an earlier answer: nothing more to store.
            if let Some(ok) = ok {
                self.after_commits(ok);
            }
            return;
        }
        let records = vec![Record::RcvMessageDeleted {
            conn: conn.clone(),
            internal_id,
        }];
        if self.emit(records, ok.into_iter().collect()).is_err() {
            let error = CommandError::Internal("store record");
            self.event(CorrId::default(), Some(conn), AgentEvent::Err(error));
        }
    }

    /// A server `ACK` of `message` on the connection's receive queue, for `pending`.
    fn server_ack(
        &self,
        conn: &ConnectionId,
        message: &ReceivedMessage,
        pending: PendingRequest,
    ) -> Option<Effect> {
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
            pending,
        })
    }
}

/// `MSG` for a stored row with its verdict and the user's body.
fn msg_event(row: &RcvMessageRecord, integrity: MsgIntegrity, body: Bytes) -> AgentEvent {
    AgentEvent::Msg {
        meta: Box::new(MsgMeta {
            integrity,
            rcv_id: i64::try_from(row.internal_id).unwrap_or(i64::MAX),
            rcv_time: utc(row.internal_ts),
            broker_id: row.broker_id.as_bytes().to_vec(),
            broker_time: utc(row.broker_ts),
            snd_id: i64::try_from(row.external_snd_id).unwrap_or(i64::MAX),
        }),
        flags: row.msg_flags,
        body,
    }
}

/// `MSG` again from a stored row (the reference's redelivery branch re-parses the stored
/// agent message the same way); `None` if the row does not read back.
fn stored_msg_event(row: &RcvMessageRecord) -> Option<AgentEvent> {
    let integrity = MsgIntegrity::str_decode(&row.integrity).ok()?;
    match AgentMessage::decode_slice(&row.body).ok()? {
        AgentMessage::Message {
            message: AMessage::UserMessage(body),
            ..
        } => Some(msg_event(row, integrity, body)),
        _ => None,
    }
}

fn utc(time: simplex_core::encoding::UnixTime) -> UtcTime {
    UtcTime {
        seconds: time.seconds,
        nanoseconds: time.nanoseconds,
    }
}
