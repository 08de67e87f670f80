//! Where a server machine keeps its queues: compact slots in a chunked slab, found through
//! three id indexes (recipient, sender, notifier) that store slot numbers, not ids.
//!
//! An idle queue (no messages, no subscriber, no notifier) is one fixed-size slot: both ids as
//! inline 24-byte arrays, both keys as their raw public bytes, the DH secret inline. Parsed
//! keys and the crypto_box key are derived when a command needs them. What few queues have at
//! a time (messages, a subscriber, notifier credentials) lives in boxes the slot points to, so
//! an idle queue pays one pointer for each. See `spec/server.md` ("Queue storage").
//!
//! Iteration is in slot order, which depends only on the sequence of inserts and removals:
//! the machine stays deterministic. Where the machine's outputs follow queue order (store-log
//! compaction, saved messages, expiry), it asks for recipient-id order instead, as before.

mod index;
mod slot;
#[cfg(test)]
mod tests;

use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::x25519;
use simplex_core::protocol::EntityId;

use crate::machine::ID_LEN;
use crate::queue::QueueRec;

use index::{Index, Key, Slab};
use slot::{InlineSecret, Notifier};
pub(crate) use slot::{QueueSlot, RawKey, RemovedNotifier, RemovedQueue, StoredKey};

/// A queue id as stored: the server only makes 24-byte ids, and only accepts those.
pub(crate) type QueueId = [u8; ID_LEN];

/// The stored form of an id, or `None` for any other length (such an id names no queue).
pub(crate) fn queue_id(id: &[u8]) -> Option<QueueId> {
    id.try_into().ok()
}

/// The wire form of a stored id.
pub(crate) fn entity_id(id: &QueueId) -> EntityId {
    // 24 bytes always fit an entity id.
    EntityId::from_slice(id).unwrap_or_else(|_| EntityId::empty())
}

/// Why a record was not stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StoreError {
    /// An id of another length than 24 bytes.
    BadId,
    /// More than `u32::MAX` queues.
    Full,
}

/// All queues of one server machine.
#[derive(Default)]
pub(crate) struct QueueStore {
    slab: Slab,
    by_recipient: Index,
    by_sender: Index,
    by_notifier: Index,
}

impl std::fmt::Debug for QueueStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueStore")
            .field("queues", &self.len())
            .finish_non_exhaustive()
    }
}

impl QueueStore {
    /// Number of queues.
    pub fn len(&self) -> usize {
        self.by_recipient.0.len()
    }

    /// Adds a queue, replacing any queue with the same recipient id. A sender or notifier id
    /// already in use is taken over by the new queue (the older queue is no longer found
    /// by it), as the maps this store replaces did.
    pub fn insert(&mut self, rec: &QueueRec) -> Result<(), StoreError> {
        let rid = queue_id(rec.recipient_id.as_bytes()).ok_or(StoreError::BadId)?;
        let sid = queue_id(rec.sender_id.as_bytes()).ok_or(StoreError::BadId)?;
        let nid = match &rec.notifier {
            Some(n) => Some(queue_id(n.notifier_id.as_bytes()).ok_or(StoreError::BadId)?),
            None => None,
        };
        self.remove(&rid);
        if let Some(old) = self.by_sender.find(&self.slab, Key::Sender, &sid) {
            self.by_sender.remove(&sid, old);
        }
        let slot = self
            .slab
            .insert(QueueSlot::new(rec, rid, sid))
            .ok_or(StoreError::Full)?;
        self.by_recipient
            .insert(&self.slab, Key::Recipient, &rid, slot);
        self.by_sender.insert(&self.slab, Key::Sender, &sid, slot);
        if let (Some(n), Some(nid)) = (&rec.notifier, nid) {
            self.set_notifier(&rid, nid, &n.notifier_key, &n.ntf_dh_secret);
        }
        Ok(())
    }

    fn slot_of(&self, rid: &[u8]) -> Option<u32> {
        let rid = queue_id(rid)?;
        self.by_recipient.find(&self.slab, Key::Recipient, &rid)
    }

    /// Whether a queue has this recipient id.
    pub fn contains(&self, rid: &[u8]) -> bool {
        self.slot_of(rid).is_some()
    }

    /// The queue with this recipient id.
    pub fn get(&self, rid: &[u8]) -> Option<&QueueSlot> {
        self.slab.get(self.slot_of(rid)?)
    }

    /// The queue with this recipient id.
    pub fn get_mut(&mut self, rid: &[u8]) -> Option<&mut QueueSlot> {
        let slot = self.slot_of(rid)?;
        self.slab.get_mut(slot)
    }

    /// The queue with this sender id.
    pub fn by_sender(&self, sid: &[u8]) -> Option<&QueueSlot> {
        let sid = queue_id(sid)?;
        self.slab
            .get(self.by_sender.find(&self.slab, Key::Sender, &sid)?)
    }

    /// The queue with this notifier id.
    pub fn by_notifier(&self, nid: &[u8]) -> Option<&QueueSlot> {
        let nid = queue_id(nid)?;
        self.slab
            .get(self.by_notifier.find(&self.slab, Key::Notifier, &nid)?)
    }

    /// The queue with this notifier id.
    pub fn by_notifier_mut(&mut self, nid: &[u8]) -> Option<&mut QueueSlot> {
        let nid = queue_id(nid)?;
        let slot = self.by_notifier.find(&self.slab, Key::Notifier, &nid)?;
        self.slab.get_mut(slot)
    }

    /// Sets a queue's notifier credentials (with no subscription), replacing any; `None` if
    /// there is no such queue, else the notifier replaced. A notifier id in use by another
    /// queue is taken over.
    pub fn set_notifier(
        &mut self,
        rid: &QueueId,
        nid: QueueId,
        key: &VerifyKey,
        secret: &x25519::SharedSecret,
    ) -> Option<Option<RemovedNotifier>> {
        let slot = self.by_recipient.find(&self.slab, Key::Recipient, rid)?;
        let old = self.remove_notifier_at(slot);
        if let Some(other) = self.by_notifier.find(&self.slab, Key::Notifier, &nid) {
            self.by_notifier.remove(&nid, other);
        }
        let q = self.slab.get_mut(slot)?;
        q.notifier = Some(Box::new(Notifier {
            id: nid,
            key: RawKey::new(key),
            secret: InlineSecret::new(secret),
            subscriber: None,
        }));
        self.by_notifier
            .insert(&self.slab, Key::Notifier, &nid, slot);
        Some(old)
    }

    /// Removes a queue's notifier credentials: `None` if there is no such queue, else the
    /// notifier removed.
    pub fn remove_notifier(&mut self, rid: &[u8]) -> Option<Option<RemovedNotifier>> {
        let slot = self.slot_of(rid)?;
        Some(self.remove_notifier_at(slot))
    }

    fn remove_notifier_at(&mut self, slot: u32) -> Option<RemovedNotifier> {
        let mut n = self.slab.get_mut(slot)?.notifier.take()?;
        n.secret.wipe();
        self.by_notifier.remove(&n.id, slot);
        Some(RemovedNotifier {
            id: n.id,
            subscriber: n.subscriber,
        })
    }

    /// Removes a queue.
    pub fn remove(&mut self, rid: &[u8]) -> Option<RemovedQueue> {
        let slot = self.slot_of(rid)?;
        let notifier = self.remove_notifier_at(slot);
        let q = self.slab.get(slot)?;
        let (rid, sid) = (q.recipient_id, q.sender_id);
        self.by_recipient.remove(&rid, slot);
        self.by_sender.remove(&sid, slot);
        let q = self.slab.remove(slot)?;
        Some(RemovedQueue {
            had_messages: q.msg_count() > 0,
            subscriber: q.subscriber(),
            notifier,
        })
    }

    /// All queues, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &QueueSlot> {
        self.slab.iter()
    }

    /// The recipient ids of the queues that hold messages, in id order.
    pub fn with_messages(&self) -> Vec<QueueId> {
        let mut ids: Vec<QueueId> = self
            .iter()
            .filter(|q| q.msg_count() > 0)
            .map(|q| q.recipient_id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// All queue records, in recipient-id order.
    pub fn records(&self) -> Vec<QueueRec> {
        let mut slots: Vec<&QueueSlot> = self.iter().collect();
        slots.sort_unstable_by_key(|q| q.recipient_id);
        slots.into_iter().map(QueueSlot::to_rec).collect()
    }
}
