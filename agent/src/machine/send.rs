//! `SEND flags body` (the reference's `sendMessage'` and `enqueueMessage`), and how every
//! message the agent sends is stored before it goes anywhere.
//!
//! A message (the user's, `HELLO`, the reply confirmation) is built by the pipeline, then
//! stored in one batch with the ratchet step and the counters it took: the encrypted envelope
//! is what [`super::delivery`] sends, on every attempt, so a retry or a restart never takes
//! another ratchet step. `MID n` answers `SEND` once that batch is durable; the message
//! reaches its send queue's outbox at the same moment.

use bytes::Bytes;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::MsgFlags;

use super::connection::ConnectionType;
use super::delivery::{OutboxStep, SndMessageType};
use super::handshake::{after_sent, load_ratchet, snd_integrity};
use super::{Agent, AgentEvent, CommandError, CorrId, Effect};
use crate::pipeline::{self, Prepared};
use crate::protocol::AMessage;
use crate::store::{ConnectionId, MsgCounters, Record, SecretBytes, SndMessageRecord};

impl Agent {
    /// `SEND`: on a connection with a send queue (duplex, or send-only while the handshake
    /// runs), whatever its status, as the reference; `CONN SIMPLEX` otherwise.
    pub(super) fn send_message(
        &mut self,
        corr_id: CorrId,
        conn: Option<ConnectionId>,
        flags: MsgFlags,
        body: Bytes,
    ) {
        let Some(conn) = conn else {
            return self.event(corr_id, None, AgentEvent::Err(CommandError::NotFound));
        };
        if self.halted.contains(&conn) {
            return self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
        }
        match self.outgoing_user_message(&conn, flags, body) {
            Ok((records, internal_id)) => {
                let effects = vec![
                    Effect::Event {
                        corr_id: corr_id.clone(),
                        conn: conn.clone(),
                        event: AgentEvent::Mid(internal_id),
                    },
                    Effect::Outbox {
                        conn: conn.clone(),
                        step: OutboxStep::Enqueue(internal_id),
                    },
                ];
                if self.emit(records, effects).is_err() {
                    let error = CommandError::Internal("store record");
                    self.event(corr_id, Some(conn), AgentEvent::Err(error));
                }
            }
            Err(error) => self.event(corr_id, Some(conn), AgentEvent::Err(error)),
        }
    }

    /// The records of a user message for `conn` and its id.
    fn outgoing_user_message(
        &self,
        conn: &ConnectionId,
        flags: MsgFlags,
        body: Bytes,
    ) -> Result<(Vec<Record>, u64), CommandError> {
        let stored = self
            .state
            .connections
            .get(conn)
            .ok_or(CommandError::NotFound)?;
        match ConnectionType::of(stored) {
            Some(ConnectionType::Duplex | ConnectionType::Snd) => {}
            _ => return Err(CommandError::Simplex),
        }
        let ratchet = load_ratchet(stored)?;
        // A body too large for one agent message is refused before anything is taken (the
        // reference's store transaction consumes an id first: REFERENCE-NOTES 34).
        let prepared = pipeline::prepare_message(
            &ratchet,
            &snd_integrity(&stored.counters),
            stored.agent_version,
            AMessage::UserMessage(body),
        )
        .map_err(|e| match e.reference() {
            crate::error::AgentErrorType::Cmd(crate::error::CommandErrorType::Large) => {
                CommandError::Large
            }
            _ => CommandError::Internal("message encryption"),
        })?;
        pending_message(
            conn,
            &stored.counters,
            prepared,
            SndMessageType::UserMessage,
            flags,
            self.clock.wall_clock,
        )
    }
}

/// The records that store a built message as pending for `conn`'s send queue: the ratchet
/// after it, the counters after it (`updateSndIds`, `updateHashSnd_`) and the message with
/// its envelope (`createSndMsg`); with the message's internal id.
pub(super) fn pending_message(
    conn: &ConnectionId,
    counters: &MsgCounters,
    prepared: Prepared,
    msg_type: SndMessageType,
    msg_flags: MsgFlags,
    now: UnixTime,
) -> Result<(Vec<Record>, u64), CommandError> {
    let state = prepared
        .ratchet
        .to_bytes()
        .map_err(|_| CommandError::Internal("ratchet state"))?;
    let after = after_sent(counters, &prepared.integrity);
    let internal_id = after.last_internal_msg_id;
    let msg = SndMessageRecord {
        internal_id,
        internal_snd_id: u64::try_from(prepared.snd_msg_id)
            .map_err(|_| CommandError::Internal("message id"))?,
        internal_ts: now,
        msg_type: msg_type.tag(),
        msg_flags,
        body: Bytes::from(prepared.envelope),
        internal_hash: prepared.internal_hash.to_vec(),
        prev_msg_hash: counters.last_snd_msg_hash.clone(),
    };
    let records = vec![
        Record::RatchetReplaced {
            conn: conn.clone(),
            state: SecretBytes::from(state),
        },
        Record::CountersSet {
            conn: conn.clone(),
            counters: after,
        },
        Record::SndMessageStored {
            conn: conn.clone(),
            msg,
        },
    ];
    Ok((records, internal_id))
}

/// The effect that hands a stored message to its outbox once its batch is durable.
pub(super) fn enqueue(conn: &ConnectionId, internal_id: u64) -> Effect {
    Effect::Outbox {
        conn: conn.clone(),
        step: OutboxStep::Enqueue(internal_id),
    }
}
