//! The records: each one change to the durable state, small enough that a message costs a few
//! rows, never a rewrite of the connection. Field names follow the reference's SQLite columns
//! where there is one, so the SQLite store maps them one to one.

use bytes::Bytes;
use simplex_core::address::ServerAddress;
use simplex_core::encoding::{UnixTime, Version};
use simplex_core::protocol::{EntityId, MsgFlags, MsgId};

use super::{ConfirmationId, ConnectionId, InvitationId, SecretBytes};
use crate::machine::connection::QueueStatus;
/// What a connection was made for: the same two modes as connection requests.
pub use crate::protocol::ConnectionMode;

/// A queue we receive from (the reference's `RcvQueue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvQueueRecord {
    /// Its server.
    pub server: ServerAddress,
    /// The recipient id.
    pub rcv_id: EntityId,
    /// Signs our commands to the queue (DER).
    pub rcv_private_key: SecretBytes,
    /// The secret that opens the server's encryption of message bodies.
    pub rcv_dh_secret: SecretBytes,
    /// Our X25519 key for the per-queue end-to-end box (DER).
    pub e2e_private_key: SecretBytes,
    /// The per-queue box secret, once the sender's key came in the confirmation.
    pub e2e_dh_secret: Option<SecretBytes>,
    /// The id the sender sends with.
    pub snd_id: EntityId,
    /// Handshake status.
    pub status: QueueStatus,
    /// The SMP client version agreed for the queue.
    pub smp_client_version: Version,
}

/// A queue we send to (the reference's `SndQueue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndQueueRecord {
    /// Its server.
    pub server: ServerAddress,
    /// The sender id.
    pub snd_id: EntityId,
    /// Signs our `SEND`s once the queue is secured (DER).
    pub snd_private_key: SecretBytes,
    /// Our X25519 public key for the per-queue box, sent in the confirmation (DER).
    pub e2e_pub_key: Option<Vec<u8>>,
    /// The per-queue box secret.
    pub e2e_dh_secret: SecretBytes,
    /// Handshake status.
    pub status: QueueStatus,
    /// The SMP client version agreed for the queue.
    pub smp_client_version: Version,
}

/// The initiator's two X448 private keys, kept from `NEW` until the confirmation lets the
/// ratchet start (the reference's `x3dh_priv_key_1/2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RatchetKeys {
    /// The first key.
    pub key1: SecretBytes,
    /// The second key.
    pub key2: SecretBytes,
}

/// One skipped message key: which header key and message number it opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedKey {
    /// The header key of the chain it belongs to.
    pub header_key: SecretBytes,
    /// The message number in that chain.
    pub msg_n: u32,
    /// The message key (key and IV).
    pub msg_key: SecretBytes,
}

/// A connection's message counters and hash chain ends (columns of the reference's
/// `connections` table). Replaced whole: it is a handful of numbers.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MsgCounters {
    /// The last internal id, shared by both directions.
    pub last_internal_msg_id: u64,
    /// The last internal id of a received message.
    pub last_internal_rcv_msg_id: u64,
    /// The last internal id of a sent message.
    pub last_internal_snd_msg_id: u64,
    /// The peer's last message id (its sender id).
    pub last_external_snd_msg_id: u64,
    /// The hash of the last message received.
    pub last_rcv_msg_hash: Vec<u8>,
    /// The hash of the last message sent.
    pub last_snd_msg_hash: Vec<u8>,
}

/// A message accepted for sending: the ciphertext the ratchet produced for it, so a retry
/// after a crash sends the same bytes and never steps the ratchet again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SndMessageRecord {
    /// Its internal id (the user's `MID`).
    pub internal_id: u64,
    /// Its number among sent messages (the id the peer sees).
    pub internal_snd_id: u64,
    /// When it was accepted.
    pub internal_ts: UnixTime,
    /// The agent message's tag (`H`, `R`, `M`...), for what to report when it is sent.
    pub msg_type: u8,
    /// The SMP flags to send with.
    pub msg_flags: MsgFlags,
    /// The encrypted envelope, exactly as it goes into `SEND`.
    pub body: Bytes,
    /// The hash of this message (the next message's previous hash).
    pub internal_hash: Vec<u8>,
    /// The hash of the previous message sent.
    pub prev_msg_hash: Vec<u8>,
}

/// A message received and decrypted, kept until the user acknowledges it and the server's
/// copy is acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvMessageRecord {
    /// Its internal id.
    pub internal_id: u64,
    /// Its number among received messages.
    pub internal_rcv_id: u64,
    /// When it was received.
    pub internal_ts: UnixTime,
    /// The server's message id (what `ACK` names, and how a redelivery is recognised).
    pub broker_id: MsgId,
    /// The server's timestamp.
    pub broker_ts: UnixTime,
    /// The sender's message id.
    pub external_snd_id: u64,
    /// The agent message's tag.
    pub msg_type: u8,
    /// The flags it came with.
    pub msg_flags: MsgFlags,
    /// The decrypted body.
    pub body: Bytes,
    /// The hash of this message.
    pub internal_hash: Vec<u8>,
    /// The previous message hash the sender put in it.
    pub external_prev_snd_hash: Vec<u8>,
    /// The integrity verdict, in its stored text form (the reference stores it as JSON).
    pub integrity: Vec<u8>,
}

/// A confirmation received on a queue we created, awaiting `LET` (the reference's
/// `conn_confirmations` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRecord {
    /// The connection it came for.
    pub conn: ConnectionId,
    /// The sender's key for `KEY` (DER).
    pub sender_key: Option<Vec<u8>>,
    /// The sender's X25519 key for the queue's per-queue box, from the clear header (raw 32
    /// bytes; the reference's `e2e_snd_pub_key`): the queue's box secret is made from it when
    /// the user accepts.
    pub sender_dh_key: Vec<u8>,
    /// The SMP client version the confirmation came with (the queue's, once accepted).
    pub smp_client_version: Version,
    /// The sender's connection info.
    pub conn_info: Bytes,
    /// Its reply queues, encoded (v2 duplex), empty otherwise.
    pub reply_queues: Bytes,
    /// The ratchet as the confirmation left it (to be the connection's once accepted).
    pub ratchet_state: SecretBytes,
    /// Our connection info, once the user accepted with it.
    pub own_conn_info: Option<Bytes>,
}

/// A contact request received on an address, awaiting `ACPT` or `RJCT` (the reference's
/// `conn_invitations` row).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRecord {
    /// The contact address it came to.
    pub contact_conn: ConnectionId,
    /// The one-time link to join, as it came.
    pub conn_req: Bytes,
    /// The requester's connection info.
    pub recipient_conn_info: Bytes,
    /// Our connection info, once accepted.
    pub own_conn_info: Option<Bytes>,
}

/// One change to the durable state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A new connection, with no queues yet.
    ConnectionCreated {
        /// Its id.
        conn: ConnectionId,
        /// What it is for.
        mode: ConnectionMode,
        /// The agent protocol version agreed (or offered).
        agent_version: Version,
        /// Whether the v2 duplex handshake is used (`None` until known).
        duplex_handshake: Option<bool>,
    },
    /// The connection's receive queue.
    RcvQueueAdded {
        /// The connection.
        conn: ConnectionId,
        /// The queue.
        queue: RcvQueueRecord,
    },
    /// The connection's send queue.
    SndQueueAdded {
        /// The connection.
        conn: ConnectionId,
        /// The queue.
        queue: SndQueueRecord,
    },
    /// The receive queue's confirmation arrived: its box secret and agreed version.
    RcvQueueConfirmed {
        /// The connection.
        conn: ConnectionId,
        /// The per-queue box secret.
        e2e_dh_secret: SecretBytes,
        /// The SMP client version agreed.
        smp_client_version: Version,
    },
    /// The receive queue's status changed.
    RcvQueueStatus {
        /// The connection.
        conn: ConnectionId,
        /// The new status.
        status: QueueStatus,
    },
    /// The send queue's status changed.
    SndQueueStatus {
        /// The connection.
        conn: ConnectionId,
        /// The new status.
        status: QueueStatus,
    },
    /// The initiator's X3DH keys, until the ratchet starts.
    RatchetKeysCreated {
        /// The connection.
        conn: ConnectionId,
        /// The keys.
        keys: RatchetKeys,
    },
    /// The ratchet's state after a step (the X3DH keys, if any, are dropped with it).
    RatchetReplaced {
        /// The connection.
        conn: ConnectionId,
        /// The state, encoded (`simplex_core::ratchet` persistence form).
        state: SecretBytes,
    },
    /// Message keys the ratchet skipped over.
    SkippedKeysAdded {
        /// The connection.
        conn: ConnectionId,
        /// The keys.
        keys: Vec<SkippedKey>,
    },
    /// A skipped key that has been used (or expired).
    SkippedKeyRemoved {
        /// The connection.
        conn: ConnectionId,
        /// Its header key.
        header_key: SecretBytes,
        /// Its message number.
        msg_n: u32,
    },
    /// The connection's counters after a message.
    CountersSet {
        /// The connection.
        conn: ConnectionId,
        /// The counters.
        counters: MsgCounters,
    },
    /// A message accepted for sending (with its ciphertext).
    SndMessageStored {
        /// The connection.
        conn: ConnectionId,
        /// The message.
        msg: SndMessageRecord,
    },
    /// The server accepted the message (it stays until deleted, for `SENT`).
    SndMessageDelivered {
        /// The connection.
        conn: ConnectionId,
        /// Its internal id.
        internal_id: u64,
    },
    /// A sent message is forgotten.
    SndMessageDeleted {
        /// The connection.
        conn: ConnectionId,
        /// Its internal id.
        internal_id: u64,
    },
    /// A message received and decrypted.
    RcvMessageStored {
        /// The connection.
        conn: ConnectionId,
        /// The message.
        msg: RcvMessageRecord,
    },
    /// The user acknowledged the message (`ACK`).
    RcvMessageUserAcked {
        /// The connection.
        conn: ConnectionId,
        /// Its internal id.
        internal_id: u64,
    },
    /// A received message is forgotten.
    RcvMessageDeleted {
        /// The connection.
        conn: ConnectionId,
        /// Its internal id.
        internal_id: u64,
    },
    /// The server's id of the last message taken in on the connection's receive queue, in
    /// the batch of whatever that message changed: the same id arriving again is a
    /// redelivery, never decrypted twice.
    RcvQueueLastBrokerId {
        /// The connection.
        conn: ConnectionId,
        /// The server's message id.
        broker_id: MsgId,
    },
    /// A confirmation arrived.
    ConfirmationStored {
        /// Its id.
        id: ConfirmationId,
        /// The confirmation.
        confirmation: ConfirmationRecord,
    },
    /// The user allowed the connection with this info.
    ConfirmationAccepted {
        /// Its id.
        id: ConfirmationId,
        /// Our connection info.
        own_conn_info: Bytes,
    },
    /// A confirmation is forgotten.
    ConfirmationDeleted {
        /// Its id.
        id: ConfirmationId,
    },
    /// A contact request arrived.
    InvitationStored {
        /// Its id.
        id: InvitationId,
        /// The request.
        invitation: InvitationRecord,
    },
    /// The user accepted the request with this info.
    InvitationAccepted {
        /// Its id.
        id: InvitationId,
        /// Our connection info.
        own_conn_info: Bytes,
    },
    /// A contact request is forgotten.
    InvitationDeleted {
        /// Its id.
        id: InvitationId,
    },
    /// A connection is deleted with its queues, keys and messages (its confirmations and
    /// invitations too, as the reference's foreign keys cascade).
    ConnectionDeleted {
        /// The connection.
        conn: ConnectionId,
    },
}

impl Record {
    /// The connection the record names directly (`None` for the confirmation and invitation
    /// records that name only their own id).
    pub fn connection(&self) -> Option<&ConnectionId> {
        match self {
            Self::ConnectionCreated { conn, .. }
            | Self::RcvQueueAdded { conn, .. }
            | Self::SndQueueAdded { conn, .. }
            | Self::RcvQueueConfirmed { conn, .. }
            | Self::RcvQueueStatus { conn, .. }
            | Self::SndQueueStatus { conn, .. }
            | Self::RatchetKeysCreated { conn, .. }
            | Self::RatchetReplaced { conn, .. }
            | Self::SkippedKeysAdded { conn, .. }
            | Self::SkippedKeyRemoved { conn, .. }
            | Self::CountersSet { conn, .. }
            | Self::SndMessageStored { conn, .. }
            | Self::SndMessageDelivered { conn, .. }
            | Self::SndMessageDeleted { conn, .. }
            | Self::RcvMessageStored { conn, .. }
            | Self::RcvMessageUserAcked { conn, .. }
            | Self::RcvMessageDeleted { conn, .. }
            | Self::RcvQueueLastBrokerId { conn, .. }
            | Self::ConnectionDeleted { conn } => Some(conn),
            Self::ConfirmationStored { confirmation, .. } => Some(&confirmation.conn),
            Self::InvitationStored { invitation, .. } => Some(&invitation.contact_conn),
            Self::ConfirmationAccepted { .. }
            | Self::ConfirmationDeleted { .. }
            | Self::InvitationAccepted { .. }
            | Self::InvitationDeleted { .. } => None,
        }
    }
}
