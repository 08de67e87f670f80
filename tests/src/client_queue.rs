//! A queue as the client tests hold it: the recipient's keys and what `NEW` answered, shared by
//! the in-memory, loopback and external-server client tests.

#![allow(clippy::panic)]

use simplex_core::client::{QueueSubscription, RecipientKeys, Reply, SubParty};
use simplex_core::crypto::x25519;
use simplex_core::protocol::EntityId;

/// A created queue.
#[derive(Debug)]
pub struct Queue {
    /// The recipient's keys.
    pub keys: RecipientKeys,
    /// The recipient id `NEW` answered.
    pub recipient_id: EntityId,
    /// The sender id `NEW` answered.
    pub sender_id: EntityId,
    /// The server's DH key for delivered bodies.
    pub server_dh: x25519::PublicKey,
}

impl Queue {
    /// The queue a `NEW` made with `keys` answered with `reply` (anything but `IDS` fails the
    /// test).
    pub fn from_ids(keys: RecipientKeys, reply: Reply) -> Self {
        match reply {
            Reply::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            } => Self {
                keys,
                recipient_id,
                sender_id,
                server_dh: server_dh_key,
            },
            other => panic!("NEW answered {other:?}"),
        }
    }

    /// The recipient's subscription to it, with the key that opens its bodies.
    pub fn subscription(&self) -> QueueSubscription {
        QueueSubscription {
            party: SubParty::Recipient,
            queue_id: self.recipient_id.clone(),
            sign_key: self.keys.sign_key.clone(),
            body_key: self.keys.body_key(&self.server_dh).ok(),
        }
    }
}
