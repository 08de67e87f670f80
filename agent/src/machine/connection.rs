//! Connections as the reference agent has them: a receive queue, a send queue or both, and
//! the status each queue is in. A connection's type follows from which queues it has and its
//! mode; it is never stored apart from them, so it cannot disagree with them.

use crate::store::{ConnectionMode, ConnectionRecord};

pub use crate::meta::QueueStatus;

/// The kind of a connection (the reference's `ConnType`: `RcvConnection`, `SndConnection`,
/// `DuplexConnection`, `ContactConnection`), derived from its queues and mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConnectionType {
    /// Only a receive queue: an invitation we made, not yet joined back.
    Rcv,
    /// Only a send queue: an invitation we joined, before our reply queue exists.
    Snd,
    /// Both queues.
    Duplex,
    /// A contact address: one receive queue that takes invitations, never a send queue.
    Contact,
}

impl ConnectionType {
    /// The type of a stored connection, or `None` for a connection with no queue (which the
    /// reference deletes; ours never emits one).
    pub fn of(conn: &ConnectionRecord) -> Option<Self> {
        match (conn.mode, &conn.rcv_queue, &conn.snd_queue) {
            (ConnectionMode::Contact, Some(_), _) => Some(Self::Contact),
            (ConnectionMode::Invitation, Some(_), Some(_)) => Some(Self::Duplex),
            (ConnectionMode::Invitation, Some(_), None) => Some(Self::Rcv),
            (ConnectionMode::Invitation, None, Some(_)) => Some(Self::Snd),
            (_, None, _) => None,
        }
    }

    /// The reference's name for it (in `CONN` errors such as `SIMPLEX`/`NOT_AVAILABLE`
    /// contexts and its store's `SEBadConnType`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rcv => "rcv",
            Self::Snd => "snd",
            Self::Duplex => "duplex",
            Self::Contact => "contact",
        }
    }
}
