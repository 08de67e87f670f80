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

use hashbrown::HashTable;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::{Signature, VerifyKey};
use simplex_core::crypto::{ed25519, ed448, x25519};
use simplex_core::protocol::{EntityId, MsgId};
use zeroize::Zeroize;

use crate::machine::{ClientId, ID_LEN};
use crate::message::MsgQueue;
use crate::msg_log::StoredMessage;
use crate::queue::{NtfCreds, QueueRec, QueueStatus};

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

/// A signature key as its raw public bytes (58 bytes instead of a parsed key's 232).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum RawKey {
    Ed25519([u8; 32]),
    Ed448([u8; 57]),
}

impl RawKey {
    pub(crate) fn new(key: &VerifyKey) -> Self {
        match key {
            VerifyKey::Ed25519(k) => Self::Ed25519(*k.as_bytes()),
            VerifyKey::Ed448(k) => Self::Ed448(*k.as_bytes()),
        }
    }

    /// The parsed key. Parsing raw bytes never fails, and gives back the very key stored.
    fn parse(&self) -> VerifyKey {
        match self {
            Self::Ed25519(b) => VerifyKey::Ed25519(ed25519::VerifyingKey::from_bytes(b)),
            Self::Ed448(b) => VerifyKey::Ed448(ed448::VerifyingKey::from_bytes(b)),
        }
    }

    fn matches(&self, sig: &Signature) -> bool {
        matches!(
            (self, sig),
            (Self::Ed25519(_), Signature::Ed25519(_)) | (Self::Ed448(_), Signature::Ed448(_))
        )
    }
}

/// A DH secret kept inline, wiped when dropped (and, by the store, before its slot is freed).
/// No `Clone`, `PartialEq` or `Debug`: it is only ever turned into the key it derives.
struct InlineSecret([u8; 32]);

impl InlineSecret {
    fn new(s: &x25519::SharedSecret) -> Self {
        Self(*s.as_secret().expose())
    }

    fn shared(&self) -> x25519::SharedSecret {
        x25519::SharedSecret::from_bytes(&self.0)
    }
}

impl Drop for InlineSecret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A key that verifies a command, as the machine asks for it.
pub(crate) struct StoredKey<'a>(&'a RawKey);

impl<'a> StoredKey<'a> {
    /// A stored key (tests build them from keys of their own).
    #[cfg(test)]
    pub(crate) fn new(raw: &'a RawKey) -> Self {
        Self(raw)
    }

    /// The raw public bytes.
    pub fn raw_bytes(&self) -> &'a [u8] {
        match self.0 {
            RawKey::Ed25519(b) => b,
            RawKey::Ed448(b) => b,
        }
    }

    /// The parsed key.
    pub fn parse(&self) -> VerifyKey {
        self.0.parse()
    }

    /// Whether the signature is of the key's algorithm.
    pub fn matches(&self, sig: &Signature) -> bool {
        self.0.matches(sig)
    }

    /// Parses the key and verifies `sig` over `signed` (uncached).
    #[cfg(test)]
    pub fn verify(&self, signed: &[u8], sig: &Signature) -> bool {
        self.0.parse().verify(signed, sig)
    }
}

/// A queue's notifier credentials and the notifier's subscription.
struct Notifier {
    id: QueueId,
    key: RawKey,
    secret: InlineSecret,
    subscriber: Option<ClientId>,
}

/// What a queue has only while in use: messages and the recipient's subscription.
#[derive(Default)]
struct Activity {
    msgs: MsgQueue,
    subscriber: Option<ClientId>,
}

/// One queue.
pub(crate) struct QueueSlot {
    recipient_id: QueueId,
    sender_id: QueueId,
    recipient_key: RawKey,
    sender_key: Option<RawKey>,
    dh_secret: InlineSecret,
    status: QueueStatus,
    notifier: Option<Box<Notifier>>,
    activity: Option<Box<Activity>>,
}

/// Never prints ids, keys or secrets.
impl std::fmt::Debug for QueueSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSlot")
            .field("secured", &self.sender_key.is_some())
            .field("notifier", &self.notifier.is_some())
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

impl QueueSlot {
    fn new(rec: &QueueRec, recipient_id: QueueId, sender_id: QueueId) -> Self {
        Self {
            recipient_id,
            sender_id,
            recipient_key: RawKey::new(&rec.recipient_key),
            sender_key: rec.sender_key.as_ref().map(RawKey::new),
            dh_secret: InlineSecret::new(&rec.rcv_dh_secret),
            status: rec.status,
            notifier: None,
            activity: None,
        }
    }

    /// The queue's record, as the store log writes it.
    pub fn to_rec(&self) -> QueueRec {
        QueueRec {
            recipient_id: entity_id(&self.recipient_id),
            recipient_key: self.recipient_key.parse(),
            rcv_dh_secret: self.dh_secret.shared(),
            sender_id: entity_id(&self.sender_id),
            sender_key: self.sender_key.as_ref().map(RawKey::parse),
            notifier: self.notifier.as_ref().map(|n| NtfCreds {
                notifier_id: entity_id(&n.id),
                notifier_key: n.key.parse(),
                ntf_dh_secret: n.secret.shared(),
            }),
            status: self.status,
        }
    }

    /// The recipient id.
    pub fn recipient_id(&self) -> &QueueId {
        &self.recipient_id
    }

    /// Verifies the recipient's commands.
    pub fn recipient_key(&self) -> StoredKey<'_> {
        StoredKey(&self.recipient_key)
    }

    /// Verifies `SEND` once secured.
    pub fn sender_key(&self) -> Option<StoredKey<'_>> {
        self.sender_key.as_ref().map(StoredKey)
    }

    /// Whether the sender key is set.
    pub fn is_secured(&self) -> bool {
        self.sender_key.is_some()
    }

    /// Sets the sender key (`KEY`).
    pub fn set_sender_key(&mut self, key: &VerifyKey) {
        self.sender_key = Some(RawKey::new(key));
    }

    /// Active or suspended.
    pub fn status(&self) -> QueueStatus {
        self.status
    }

    /// Suspends or reactivates.
    pub fn set_status(&mut self, status: QueueStatus) {
        self.status = status;
    }

    /// The crypto_box key of delivered bodies, derived from the DH secret.
    pub fn cb_key(&self) -> CbKey {
        CbKey::new(&self.dh_secret.shared())
    }

    /// The notifier id, if notifications are on.
    pub fn notifier_id(&self) -> Option<&QueueId> {
        self.notifier.as_ref().map(|n| &n.id)
    }

    /// Verifies `NSUB`, if notifications are on.
    pub fn notifier_key(&self) -> Option<StoredKey<'_>> {
        self.notifier.as_ref().map(|n| StoredKey(&n.key))
    }

    /// The crypto_box key of notification metadata, if notifications are on.
    pub fn ntf_cb_key(&self) -> Option<CbKey> {
        self.notifier
            .as_ref()
            .map(|n| CbKey::new(&n.secret.shared()))
    }

    /// The connection subscribed to notifications.
    pub fn notifier_sub(&self) -> Option<ClientId> {
        self.notifier.as_ref().and_then(|n| n.subscriber)
    }

    /// Sets the notifier's subscription (notifications must be on); returns the previous one.
    pub fn replace_notifier_sub(&mut self, client: ClientId) -> Option<ClientId> {
        self.notifier
            .as_mut()
            .and_then(|n| n.subscriber.replace(client))
    }

    /// Ends `client`'s notifier subscription, if it holds it.
    pub fn end_notifier_sub(&mut self, client: ClientId) {
        if let Some(n) = self.notifier.as_mut() {
            if n.subscriber == Some(client) {
                n.subscriber = None;
            }
        }
    }

    /// The recipient's subscribed connection.
    pub fn subscriber(&self) -> Option<ClientId> {
        self.activity.as_ref().and_then(|a| a.subscriber)
    }

    /// Sets the recipient's subscription; returns the previous one.
    pub fn replace_subscriber(&mut self, client: ClientId) -> Option<ClientId> {
        self.activity_mut().subscriber.replace(client)
    }

    /// Ends `client`'s subscription, if it holds it.
    pub fn end_subscriber(&mut self, client: ClientId) {
        if let Some(a) = self.activity.as_mut() {
            if a.subscriber == Some(client) {
                a.subscriber = None;
            }
        }
        self.tidy();
    }

    /// Number of messages held.
    pub fn msg_count(&self) -> usize {
        self.activity.as_ref().map_or(0, |a| a.msgs.len())
    }

    /// Whether the queue holds `quota` messages.
    pub fn is_full(&self, quota: usize) -> bool {
        match &self.activity {
            Some(a) => a.msgs.is_full(quota),
            None => quota == 0,
        }
    }

    /// The first message.
    pub fn peek(&self) -> Option<&StoredMessage> {
        self.activity.as_ref().and_then(|a| a.msgs.peek())
    }

    /// Appends a message.
    pub fn push(&mut self, m: StoredMessage) {
        self.activity_mut().msgs.push(m);
    }

    /// [`MsgQueue::try_del`].
    pub fn try_del(&mut self, msg_id: &MsgId) -> Option<StoredMessage> {
        let m = self.activity.as_mut().and_then(|a| a.msgs.try_del(msg_id));
        self.tidy();
        m
    }

    /// [`MsgQueue::expire`].
    pub fn expire(&mut self, before: i64) -> Vec<MsgId> {
        let gone = self
            .activity
            .as_mut()
            .map(|a| a.msgs.expire(before))
            .unwrap_or_default();
        self.tidy();
        gone
    }

    /// Takes all messages out.
    pub fn take_messages(&mut self) -> MsgQueue {
        let msgs = self
            .activity
            .as_mut()
            .map(|a| std::mem::take(&mut a.msgs))
            .unwrap_or_default();
        self.tidy();
        msgs
    }

    fn activity_mut(&mut self) -> &mut Activity {
        self.activity.get_or_insert_with(Box::default)
    }

    /// Frees the activity box once it holds nothing: an idle queue is back to its slot.
    fn tidy(&mut self) {
        if self
            .activity
            .as_ref()
            .is_some_and(|a| a.subscriber.is_none() && a.msgs.len() == 0)
        {
            self.activity = None;
        }
    }

    /// Wipes the secrets in place (before the slot is vacated).
    fn wipe(&mut self) {
        self.dh_secret.0.zeroize();
        if let Some(n) = self.notifier.as_mut() {
            n.secret.0.zeroize();
        }
    }
}

/// What a removed queue leaves for the machine to clean up.
pub(crate) struct RemovedQueue {
    /// Whether it held messages.
    pub had_messages: bool,
    /// The recipient's subscribed connection.
    pub subscriber: Option<ClientId>,
    /// Its notifier, if any.
    pub notifier: Option<RemovedNotifier>,
}

/// A notifier taken off a queue.
pub(crate) struct RemovedNotifier {
    /// Its id.
    pub id: QueueId,
    /// Its subscribed connection.
    pub subscriber: Option<ClientId>,
}

/// Slots per chunk: chunks never move or grow, so the slab grows by one chunk at a time
/// (no 2x growth slack, no copies of secrets left behind by a reallocation).
const CHUNK: usize = 1024;

#[derive(Default)]
struct Slab {
    chunks: Vec<Vec<Option<QueueSlot>>>,
    free: Vec<u32>,
}

impl Slab {
    fn get(&self, i: u32) -> Option<&QueueSlot> {
        let i = i as usize;
        self.chunks.get(i / CHUNK)?.get(i % CHUNK)?.as_ref()
    }

    fn get_mut(&mut self, i: u32) -> Option<&mut QueueSlot> {
        let i = i as usize;
        self.chunks.get_mut(i / CHUNK)?.get_mut(i % CHUNK)?.as_mut()
    }

    /// Places a slot (reusing the last freed one first); `None` past `u32::MAX` slots.
    fn insert(&mut self, slot: QueueSlot) -> Option<u32> {
        if let Some(i) = self.free.pop() {
            let place = self
                .chunks
                .get_mut(i as usize / CHUNK)?
                .get_mut(i as usize % CHUNK)?;
            *place = Some(slot);
            return Some(i);
        }
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        let index = u32::try_from((self.chunks.len() - 1) * CHUNK).ok()?;
        let chunk = self.chunks.last_mut()?;
        let i = index.checked_add(u32::try_from(chunk.len()).ok()?)?;
        chunk.push(Some(slot));
        Some(i)
    }

    fn remove(&mut self, i: u32) -> Option<QueueSlot> {
        let place = self
            .chunks
            .get_mut(i as usize / CHUNK)?
            .get_mut(i as usize % CHUNK)?;
        if let Some(slot) = place.as_mut() {
            slot.wipe();
        }
        let slot = place.take()?;
        self.free.push(i);
        Some(slot)
    }

    fn iter(&self) -> impl Iterator<Item = &QueueSlot> {
        self.chunks.iter().flatten().flatten()
    }
}

/// A fixed, keyless hash of an id. Ids are random bytes chosen by a server (this one, or the
/// one that wrote the store log), never by a client, so nobody can pick ids that collide: no
/// per-process random state is needed, and runs stay reproducible.
fn id_hash(id: &QueueId) -> u64 {
    let mut h: u64 = 0x243f_6a88_85a3_08d3;
    for chunk in id.chunks_exact(8) {
        let mut word = [0u8; 8];
        word.copy_from_slice(chunk);
        h = (h.rotate_left(23) ^ u64::from_le_bytes(word)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    // Final mix so that every id byte reaches the low bits (the bucket) and the top 7 bits.
    h ^= h >> 31;
    h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h ^ (h >> 29)
}

/// Which id of a slot an index is over.
#[derive(Clone, Copy)]
enum Key {
    Recipient,
    Sender,
    Notifier,
}

impl Key {
    fn of(self, slot: &QueueSlot) -> Option<&QueueId> {
        match self {
            Self::Recipient => Some(&slot.recipient_id),
            Self::Sender => Some(&slot.sender_id),
            Self::Notifier => slot.notifier_id(),
        }
    }
}

/// An index from one kind of id to slot numbers; the ids themselves stay in the slots.
#[derive(Default)]
struct Index(HashTable<u32>);

impl Index {
    fn find(&self, slab: &Slab, key: Key, id: &QueueId) -> Option<u32> {
        self.0
            .find(id_hash(id), |&i| {
                slab.get(i).and_then(|s| key.of(s)) == Some(id)
            })
            .copied()
    }

    fn insert(&mut self, slab: &Slab, key: Key, id: &QueueId, slot: u32) {
        let hasher = |&i: &u32| slab.get(i).and_then(|s| key.of(s)).map_or(0, id_hash);
        self.0.insert_unique(id_hash(id), slot, hasher);
    }

    /// Removes the entry for `id` if it points at `slot`.
    fn remove(&mut self, id: &QueueId, slot: u32) {
        if let Ok(entry) = self.0.find_entry(id_hash(id), |&i| i == slot) {
            entry.remove();
        }
    }
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
        n.secret.0.zeroize();
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;
    use simplex_core::crypto::keys::VerifyKey;
    use simplex_core::encoding::UnixTime;
    use simplex_core::protocol::MsgFlags;

    use super::*;

    fn key(seed: u8, ed448_key: bool) -> VerifyKey {
        if ed448_key {
            VerifyKey::Ed448(ed448::SigningKey::from_bytes(&[seed; 57]).verifying_key())
        } else {
            VerifyKey::Ed25519(ed25519::SigningKey::from_bytes(&[seed; 32]).verifying_key())
        }
    }

    fn id(n: u8) -> EntityId {
        EntityId::from_slice(&[n; ID_LEN]).unwrap()
    }

    fn rec(r: u8, s: u8, secured: bool, notifier: Option<u8>) -> QueueRec {
        QueueRec {
            recipient_id: id(r),
            recipient_key: key(r, r % 2 == 0),
            rcv_dh_secret: x25519::SharedSecret::from_bytes(&[r; 32]),
            sender_id: id(s),
            sender_key: secured.then(|| key(s, s % 3 == 0)),
            notifier: notifier.map(|n| NtfCreds {
                notifier_id: id(n),
                notifier_key: key(n, false),
                ntf_dh_secret: x25519::SharedSecret::from_bytes(&[n; 32]),
            }),
            status: QueueStatus::Active,
        }
    }

    fn message(n: u8) -> StoredMessage {
        StoredMessage {
            msg_id: MsgId::from_slice(&[n; ID_LEN]).unwrap(),
            timestamp: UnixTime::from_seconds(i64::from(n)),
            flags: MsgFlags::default(),
            body: vec![n].into(),
        }
    }

    #[test]
    fn an_idle_slot_is_small() {
        // The figures `spec/server.md` and `spec/performance.md` give.
        assert_eq!(std::mem::size_of::<Option<QueueSlot>>(), 216);
        assert_eq!(std::mem::size_of::<Notifier>(), 136);
    }

    #[test]
    fn records_round_trip_with_both_key_kinds() {
        let mut store = QueueStore::default();
        let a = rec(1, 2, true, Some(3));
        let b = rec(4, 6, false, None);
        store.insert(&a).unwrap();
        store.insert(&b).unwrap();
        assert_eq!(store.len(), 2);
        assert_eq!(store.records(), vec![a.clone(), b.clone()]);
        let q = store.get(id(1).as_bytes()).unwrap();
        assert_eq!(q.to_rec(), a);
        assert_eq!(
            q.cb_key(),
            CbKey::new(&x25519::SharedSecret::from_bytes(&[1; 32]))
        );
        assert!(store.by_sender(id(6).as_bytes()).is_some());
        assert!(store.by_notifier(id(3).as_bytes()).is_some());
        assert!(store.get(&[1; 23]).is_none(), "other lengths name nothing");
        assert!(store.by_sender(&[2; 25]).is_none());
    }

    #[test]
    fn ids_of_another_length_are_refused() {
        let mut store = QueueStore::default();
        let mut r = rec(1, 2, false, None);
        r.sender_id = EntityId::from_slice(&[2; 16]).unwrap();
        assert_eq!(store.insert(&r), Err(StoreError::BadId));
        assert_eq!(store.len(), 0);
    }

    #[test]
    fn stored_keys_verify_as_the_parsed_keys() {
        for ed448_key in [false, true] {
            let sk = if ed448_key {
                simplex_core::crypto::keys::SignKey::Ed448(ed448::SigningKey::from_bytes(&[9; 57]))
            } else {
                simplex_core::crypto::keys::SignKey::Ed25519(ed25519::SigningKey::from_bytes(
                    &[9; 32],
                ))
            };
            let mut r = rec(1, 2, false, None);
            r.recipient_key = sk.verify_key();
            let mut store = QueueStore::default();
            store.insert(&r).unwrap();
            let q = store.get(id(1).as_bytes()).unwrap();
            let sig = sk.sign(b"signed");
            assert!(q.recipient_key().matches(&sig));
            assert!(q.recipient_key().verify(b"signed", &sig));
            assert!(!q.recipient_key().verify(b"other", &sig));
        }
    }

    #[test]
    fn the_activity_box_goes_when_idle_again() {
        let mut store = QueueStore::default();
        store.insert(&rec(1, 2, true, None)).unwrap();
        let q = store.get_mut(id(1).as_bytes()).unwrap();
        q.push(message(1));
        assert_eq!(q.replace_subscriber(ClientId(7)), None);
        assert!(q.activity.is_some());
        assert!(q.try_del(&MsgId::empty()).is_some());
        assert!(q.activity.is_some(), "still subscribed");
        q.end_subscriber(ClientId(8));
        assert_eq!(q.subscriber(), Some(ClientId(7)));
        q.end_subscriber(ClientId(7));
        assert!(q.activity.is_none());
        q.push(message(2));
        q.push(message(5));
        assert_eq!(q.expire(3).len(), 1);
        assert_eq!(q.take_messages().len(), 1);
        assert!(q.activity.is_none());
    }

    #[test]
    fn freed_slots_are_reused() {
        let mut store = QueueStore::default();
        for n in 0..10 {
            store.insert(&rec(n, n + 100, true, None)).unwrap();
        }
        store.remove(id(3).as_bytes()).unwrap();
        store.insert(&rec(50, 150, true, None)).unwrap();
        assert_eq!(store.slab.chunks.len(), 1);
        assert_eq!(store.slab.chunks[0].len(), 10);
        assert!(store.slab.free.is_empty());
    }

    #[test]
    fn slots_span_chunks() {
        let mut store = QueueStore::default();
        for n in 0..(CHUNK as u32 + 10) {
            let mut r = rec(0, 0, true, None);
            let mut rid = [0u8; ID_LEN];
            rid[..4].copy_from_slice(&n.to_le_bytes());
            let mut sid = rid;
            sid[23] = 1;
            r.recipient_id = entity_id(&rid);
            r.sender_id = entity_id(&sid);
            store.insert(&r).unwrap();
        }
        assert_eq!(store.len(), CHUNK + 10);
        assert_eq!(store.slab.chunks.len(), 2);
        for n in 0..(CHUNK as u32 + 10) {
            let mut rid = [0u8; ID_LEN];
            rid[..4].copy_from_slice(&n.to_le_bytes());
            assert_eq!(store.get(&rid).unwrap().recipient_id(), &rid);
            let mut sid = rid;
            sid[23] = 1;
            assert_eq!(store.by_sender(&sid).unwrap().recipient_id(), &rid);
        }
    }

    /// The model: the maps this store replaced.
    #[derive(Default)]
    struct Model {
        queues: BTreeMap<EntityId, QueueRec>,
        senders: BTreeMap<EntityId, EntityId>,
        notifiers: BTreeMap<EntityId, EntityId>,
    }

    impl Model {
        fn insert(&mut self, rec: QueueRec) {
            // As the store: a replaced queue goes with its indexes first.
            self.remove(&rec.recipient_id);
            self.senders
                .insert(rec.sender_id.clone(), rec.recipient_id.clone());
            if let Some(n) = &rec.notifier {
                self.notifiers
                    .insert(n.notifier_id.clone(), rec.recipient_id.clone());
            }
            self.queues.insert(rec.recipient_id.clone(), rec);
        }

        fn remove(&mut self, rid: &EntityId) -> bool {
            let Some(q) = self.queues.remove(rid) else {
                return false;
            };
            if self.senders.get(&q.sender_id) == Some(rid) {
                self.senders.remove(&q.sender_id);
            }
            if let Some(n) = &q.notifier {
                if self.notifiers.get(&n.notifier_id) == Some(rid) {
                    self.notifiers.remove(&n.notifier_id);
                }
            }
            true
        }

        fn set_notifier(&mut self, rid: &EntityId, nid: u8) -> bool {
            let Some(q) = self.queues.get_mut(rid) else {
                return false;
            };
            if let Some(old) = q.notifier.take() {
                if self.notifiers.get(&old.notifier_id) == Some(rid) {
                    self.notifiers.remove(&old.notifier_id);
                }
            }
            q.notifier = Some(NtfCreds {
                notifier_id: id(nid),
                notifier_key: key(nid, false),
                ntf_dh_secret: x25519::SharedSecret::from_bytes(&[nid; 32]),
            });
            self.notifiers.insert(id(nid), rid.clone());
            true
        }

        fn remove_notifier(&mut self, rid: &EntityId) -> bool {
            let Some(q) = self.queues.get_mut(rid) else {
                return false;
            };
            if let Some(old) = q.notifier.take() {
                if self.notifiers.get(&old.notifier_id) == Some(rid) {
                    self.notifiers.remove(&old.notifier_id);
                }
            }
            true
        }
    }

    #[derive(Debug, Clone)]
    enum Op {
        Insert(u8, u8, bool, Option<u8>),
        Remove(u8),
        SetNotifier(u8, u8),
        RemoveNotifier(u8),
        Secure(u8, u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        // Few distinct ids so that collisions and replacements happen often.
        let n = 0u8..12;
        prop_oneof![
            (
                n.clone(),
                n.clone(),
                any::<bool>(),
                proptest::option::of(n.clone())
            )
                .prop_map(|(r, s, k, nt)| Op::Insert(r, s, k, nt)),
            n.clone().prop_map(Op::Remove),
            (n.clone(), n.clone()).prop_map(|(r, nt)| Op::SetNotifier(r, nt)),
            n.clone().prop_map(Op::RemoveNotifier),
            (n.clone(), n).prop_map(|(r, k)| Op::Secure(r, k)),
        ]
    }

    fn check(store: &QueueStore, model: &Model) {
        assert_eq!(store.len(), model.queues.len());
        let all: Vec<QueueRec> = model.queues.values().cloned().collect();
        assert_eq!(store.records(), all);
        for n in 0..12 {
            let x = id(n);
            assert_eq!(
                store.get(x.as_bytes()).map(QueueSlot::to_rec),
                model.queues.get(&x).cloned()
            );
            assert_eq!(
                store
                    .by_sender(x.as_bytes())
                    .map(|q| entity_id(q.recipient_id())),
                model.senders.get(&x).cloned()
            );
            assert_eq!(
                store
                    .by_notifier(x.as_bytes())
                    .map(|q| entity_id(q.recipient_id())),
                model.notifiers.get(&x).cloned()
            );
        }
    }

    proptest! {
        #[test]
        fn behaves_as_the_maps(ops in proptest::collection::vec(op(), 0..60)) {
            let mut store = QueueStore::default();
            let mut model = Model::default();
            for op in ops {
                match op {
                    Op::Insert(r, s, k, n) => {
                        let q = rec(r, s, k, n);
                        store.insert(&q).unwrap();
                        model.insert(q);
                    }
                    Op::Remove(r) => {
                        prop_assert_eq!(store.remove(id(r).as_bytes()).is_some(), model.remove(&id(r)));
                    }
                    Op::SetNotifier(r, n) => {
                        let done = store
                            .set_notifier(&[r; ID_LEN], [n; ID_LEN], &key(n, false),
                                &x25519::SharedSecret::from_bytes(&[n; 32]))
                            .is_some();
                        prop_assert_eq!(done, model.set_notifier(&id(r), n));
                    }
                    Op::RemoveNotifier(r) => {
                        prop_assert_eq!(
                            store.remove_notifier(id(r).as_bytes()).is_some(),
                            model.remove_notifier(&id(r))
                        );
                    }
                    Op::Secure(r, k) => {
                        if let Some(q) = store.get_mut(id(r).as_bytes()) {
                            q.set_sender_key(&key(k, true));
                        }
                        if let Some(q) = model.queues.get_mut(&id(r)) {
                            q.sender_key = Some(key(k, true));
                        }
                    }
                }
                check(&store, &model);
            }
        }
    }
}
