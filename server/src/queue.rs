//! Queue records: what the server knows about a queue, as the store log keeps it.

use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::x25519::SharedSecret;
use simplex_core::protocol::EntityId;

/// A queue's notification credentials (`NKEY`).
#[derive(Clone, PartialEq, Eq)]
pub struct NtfCreds {
    /// The id the notifier subscribes with.
    pub notifier_id: EntityId,
    /// Verifies the notifier's `NSUB`.
    pub notifier_key: VerifyKey,
    /// The DH secret that encrypts notification metadata.
    pub ntf_dh_secret: SharedSecret,
}

impl std::fmt::Debug for NtfCreds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NtfCreds(<redacted>)")
    }
}

/// Whether a queue accepts messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueStatus {
    /// Accepts `SEND`.
    Active,
    /// Suspended by `OFF`: `SEND` is `ERR AUTH`, the recipient can still read.
    Off,
}

/// A queue record.
#[derive(Clone, PartialEq, Eq)]
pub struct QueueRec {
    /// The recipient's id.
    pub recipient_id: EntityId,
    /// Verifies the recipient's commands.
    pub recipient_key: VerifyKey,
    /// The DH secret that encrypts delivered bodies.
    pub rcv_dh_secret: SharedSecret,
    /// The sender's id.
    pub sender_id: EntityId,
    /// Verifies `SEND` once the queue is secured.
    pub sender_key: Option<VerifyKey>,
    /// Notification credentials, if enabled.
    pub notifier: Option<NtfCreds>,
    /// Active or suspended.
    pub status: QueueStatus,
}

/// Queue records never print ids or keys: they identify a queue.
impl std::fmt::Debug for QueueRec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueRec")
            .field("secured", &self.sender_key.is_some())
            .field("notifier", &self.notifier.is_some())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}
