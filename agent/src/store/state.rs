//! [`StoreState`]: everything the records describe, and how one record changes it. The same
//! code runs in the machine (on its in-memory state, as it emits a record) and in
//! [`super::MemoryStore`] (on the durable copy, as a batch is committed), so the two cannot
//! drift apart.

use std::collections::BTreeMap;

use bytes::Bytes;
use simplex_core::encoding::Version;
use simplex_core::protocol::MsgId;

use super::records::{
    ConfirmationRecord, ConnectionMode, InvitationRecord, MsgCounters, RatchetKeys,
    RcvMessageRecord, RcvQueueRecord, Record, SkippedKey, SndMessageRecord, SndQueueRecord,
};
use super::{ConfirmationId, ConnectionId, InvitationId, SecretBytes};

/// A sent message and whether the server has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndMessageEntry {
    /// The message.
    pub msg: SndMessageRecord,
    /// The server accepted it.
    pub delivered: bool,
}

/// A received message and whether the user acknowledged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvMessageEntry {
    /// The message.
    pub msg: RcvMessageRecord,
    /// The user sent `ACK` for it.
    pub user_acked: bool,
}

/// One connection, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionRecord {
    /// What it is for.
    pub mode: ConnectionMode,
    /// The agent protocol version.
    pub agent_version: Version,
    /// Whether the v2 duplex handshake is used.
    pub duplex_handshake: Option<bool>,
    /// The queue we receive from.
    pub rcv_queue: Option<RcvQueueRecord>,
    /// The queue we send to.
    pub snd_queue: Option<SndQueueRecord>,
    /// The initiator's X3DH keys, until the ratchet starts.
    pub ratchet_keys: Option<RatchetKeys>,
    /// The ratchet's encoded state.
    pub ratchet: Option<SecretBytes>,
    /// Skipped message keys, in the order they were added.
    pub skipped_keys: Vec<SkippedKey>,
    /// Counters and hash chain ends.
    pub counters: MsgCounters,
    /// Sent messages still kept, by internal id.
    pub snd_messages: BTreeMap<u64, SndMessageEntry>,
    /// Received messages still kept, by internal id.
    pub rcv_messages: BTreeMap<u64, RcvMessageEntry>,
    /// The server's id of the last message taken in on the receive queue.
    pub last_rcv_broker_id: Option<MsgId>,
}

/// A record that does not fit the state it is applied to: a bug in whoever emitted it (the
/// machine checks before emitting), or a store that lost a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApplyError {
    /// The connection does not exist.
    #[error("no connection {0:?}")]
    NoConnection(ConnectionId),
    /// A connection with this id already exists.
    #[error("connection {0:?} exists")]
    ConnectionExists(ConnectionId),
    /// The connection already has that queue.
    #[error("connection {0:?} already has that queue")]
    QueueExists(ConnectionId),
    /// The connection has no such queue.
    #[error("connection {0:?} has no such queue")]
    NoQueue(ConnectionId),
    /// No message with this internal id (or one exists already, when storing).
    #[error("connection {conn:?}: message {internal_id} is not as expected")]
    Message {
        /// The connection.
        conn: ConnectionId,
        /// The message.
        internal_id: u64,
    },
    /// No such skipped key.
    #[error("connection {0:?}: no such skipped key")]
    NoSkippedKey(ConnectionId),
    /// No confirmation with this id (or one exists already, when storing).
    #[error("confirmation {0:?} is not as expected")]
    Confirmation(ConfirmationId),
    /// No invitation with this id (or one exists already, when storing).
    #[error("invitation {0:?} is not as expected")]
    Invitation(InvitationId),
}

/// The agent's whole durable state.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct StoreState {
    /// Connections by id.
    pub connections: BTreeMap<ConnectionId, ConnectionRecord>,
    /// Confirmations awaiting `LET`, by id.
    pub confirmations: BTreeMap<ConfirmationId, ConfirmationRecord>,
    /// Contact requests awaiting an answer, by id.
    pub invitations: BTreeMap<InvitationId, InvitationRecord>,
}

impl StoreState {
    /// An empty state (a fresh database).
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one record. On error nothing changed.
    pub fn apply(&mut self, record: &Record) -> Result<(), ApplyError> {
        match record {
            Record::ConnectionCreated {
                conn,
                mode,
                agent_version,
                duplex_handshake,
            } => {
                if self.connections.contains_key(conn) {
                    return Err(ApplyError::ConnectionExists(conn.clone()));
                }
                self.connections.insert(
                    conn.clone(),
                    ConnectionRecord {
                        mode: *mode,
                        agent_version: *agent_version,
                        duplex_handshake: *duplex_handshake,
                        rcv_queue: None,
                        snd_queue: None,
                        ratchet_keys: None,
                        ratchet: None,
                        skipped_keys: Vec::new(),
                        counters: MsgCounters::default(),
                        snd_messages: BTreeMap::new(),
                        rcv_messages: BTreeMap::new(),
                        last_rcv_broker_id: None,
                    },
                );
            }
            Record::RcvQueueAdded { conn, queue } => {
                let c = self.connection(conn)?;
                if c.rcv_queue.is_some() {
                    return Err(ApplyError::QueueExists(conn.clone()));
                }
                c.rcv_queue = Some(queue.clone());
            }
            Record::SndQueueAdded { conn, queue } => {
                let c = self.connection(conn)?;
                if c.snd_queue.is_some() {
                    return Err(ApplyError::QueueExists(conn.clone()));
                }
                c.snd_queue = Some(queue.clone());
            }
            Record::RcvQueueConfirmed {
                conn,
                e2e_dh_secret,
                smp_client_version,
            } => {
                let q = self.rcv_queue(conn)?;
                q.e2e_dh_secret = Some(e2e_dh_secret.clone());
                q.smp_client_version = *smp_client_version;
            }
            Record::RcvQueueStatus { conn, status } => self.rcv_queue(conn)?.status = *status,
            Record::SndQueueStatus { conn, status } => {
                let c = self.connection(conn)?;
                let q = c
                    .snd_queue
                    .as_mut()
                    .ok_or_else(|| ApplyError::NoQueue(conn.clone()))?;
                q.status = *status;
            }
            Record::RatchetKeysCreated { conn, keys } => {
                self.connection(conn)?.ratchet_keys = Some(keys.clone());
            }
            Record::RatchetReplaced { conn, state } => {
                let c = self.connection(conn)?;
                c.ratchet = Some(state.clone());
                c.ratchet_keys = None;
            }
            Record::SkippedKeysAdded { conn, keys } => {
                self.connection(conn)?
                    .skipped_keys
                    .extend(keys.iter().cloned());
            }
            Record::SkippedKeyRemoved {
                conn,
                header_key,
                msg_n,
            } => {
                let c = self.connection(conn)?;
                let at = c
                    .skipped_keys
                    .iter()
                    .position(|k| k.msg_n == *msg_n && k.header_key == *header_key)
                    .ok_or_else(|| ApplyError::NoSkippedKey(conn.clone()))?;
                c.skipped_keys.remove(at);
            }
            Record::CountersSet { conn, counters } => {
                self.connection(conn)?.counters = counters.clone();
            }
            Record::SndMessageStored { conn, msg } => {
                let c = self.connection(conn)?;
                if c.snd_messages.contains_key(&msg.internal_id) {
                    return Err(message_error(conn, msg.internal_id));
                }
                c.snd_messages.insert(
                    msg.internal_id,
                    SndMessageEntry {
                        msg: msg.clone(),
                        delivered: false,
                    },
                );
            }
            Record::SndMessageDelivered { conn, internal_id } => {
                let c = self.connection(conn)?;
                let entry = c
                    .snd_messages
                    .get_mut(internal_id)
                    .ok_or_else(|| message_error(conn, *internal_id))?;
                entry.delivered = true;
            }
            Record::SndMessageDeleted { conn, internal_id } => {
                let c = self.connection(conn)?;
                c.snd_messages
                    .remove(internal_id)
                    .ok_or_else(|| message_error(conn, *internal_id))?;
            }
            Record::RcvMessageStored { conn, msg } => {
                let c = self.connection(conn)?;
                if c.rcv_messages.contains_key(&msg.internal_id) {
                    return Err(message_error(conn, msg.internal_id));
                }
                c.rcv_messages.insert(
                    msg.internal_id,
                    RcvMessageEntry {
                        msg: msg.clone(),
                        user_acked: false,
                    },
                );
            }
            Record::RcvMessageUserAcked { conn, internal_id } => {
                let c = self.connection(conn)?;
                let entry = c
                    .rcv_messages
                    .get_mut(internal_id)
                    .ok_or_else(|| message_error(conn, *internal_id))?;
                entry.user_acked = true;
            }
            Record::RcvMessageDeleted { conn, internal_id } => {
                let c = self.connection(conn)?;
                c.rcv_messages
                    .remove(internal_id)
                    .ok_or_else(|| message_error(conn, *internal_id))?;
            }
            Record::RcvQueueLastBrokerId { conn, broker_id } => {
                let c = self.connection(conn)?;
                if c.rcv_queue.is_none() {
                    return Err(ApplyError::NoQueue(conn.clone()));
                }
                c.last_rcv_broker_id = Some(broker_id.clone());
            }
            Record::ConfirmationStored { id, confirmation } => {
                if self.confirmations.contains_key(id)
                    || !self.connections.contains_key(&confirmation.conn)
                {
                    return Err(ApplyError::Confirmation(id.clone()));
                }
                self.confirmations.insert(id.clone(), confirmation.clone());
            }
            Record::ConfirmationAccepted { id, own_conn_info } => {
                let c = self
                    .confirmations
                    .get_mut(id)
                    .ok_or_else(|| ApplyError::Confirmation(id.clone()))?;
                c.own_conn_info = Some(own_conn_info.clone());
            }
            Record::ConfirmationDeleted { id } => {
                self.confirmations
                    .remove(id)
                    .ok_or_else(|| ApplyError::Confirmation(id.clone()))?;
            }
            Record::InvitationStored { id, invitation } => {
                if self.invitations.contains_key(id)
                    || !self.connections.contains_key(&invitation.contact_conn)
                {
                    return Err(ApplyError::Invitation(id.clone()));
                }
                self.invitations.insert(id.clone(), invitation.clone());
            }
            Record::InvitationAccepted { id, own_conn_info } => {
                accept_invitation(&mut self.invitations, id, own_conn_info)?;
            }
            Record::InvitationDeleted { id } => {
                self.invitations
                    .remove(id)
                    .ok_or_else(|| ApplyError::Invitation(id.clone()))?;
            }
            Record::ConnectionDeleted { conn } => {
                self.connections
                    .remove(conn)
                    .ok_or_else(|| ApplyError::NoConnection(conn.clone()))?;
                self.confirmations.retain(|_, c| c.conn != *conn);
                self.invitations.retain(|_, i| i.contact_conn != *conn);
            }
        }
        Ok(())
    }

    /// Applies records in order, all or none: on error (with the failing record's index) the
    /// state is as before the first. Only what the records touch is saved for the undo, not
    /// the whole state.
    pub fn apply_all(&mut self, records: &[Record]) -> Result<(), (usize, ApplyError)> {
        let mut undo = super::undo::Undo::default();
        for (index, record) in records.iter().enumerate() {
            undo.save(self, record);
            if let Err(e) = self.apply(record) {
                undo.restore(self);
                return Err((index, e));
            }
        }
        Ok(())
    }

    fn connection(&mut self, conn: &ConnectionId) -> Result<&mut ConnectionRecord, ApplyError> {
        self.connections
            .get_mut(conn)
            .ok_or_else(|| ApplyError::NoConnection(conn.clone()))
    }

    fn rcv_queue(&mut self, conn: &ConnectionId) -> Result<&mut RcvQueueRecord, ApplyError> {
        self.connection(conn)?
            .rcv_queue
            .as_mut()
            .ok_or_else(|| ApplyError::NoQueue(conn.clone()))
    }
}

fn message_error(conn: &ConnectionId, internal_id: u64) -> ApplyError {
    ApplyError::Message {
        conn: conn.clone(),
        internal_id,
    }
}

fn accept_invitation(
    invitations: &mut BTreeMap<InvitationId, InvitationRecord>,
    id: &InvitationId,
    own_conn_info: &Bytes,
) -> Result<(), ApplyError> {
    let i = invitations
        .get_mut(id)
        .ok_or_else(|| ApplyError::Invitation(id.clone()))?;
    i.own_conn_info = Some(own_conn_info.clone());
    Ok(())
}
