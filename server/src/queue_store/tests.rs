//! The queue store's tests: slot sizes, record round trips, and a model-based test of
//! inserts, lookups and removals.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use proptest::prelude::*;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::{ed25519, ed448};
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{MsgFlags, MsgId};

use crate::machine::ClientId;
use crate::msg_log::StoredMessage;
use crate::queue::{NtfCreds, QueueStatus};

use super::index::CHUNK;
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
            simplex_core::crypto::keys::SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[9; 32]))
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
