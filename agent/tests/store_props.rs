//! The store's contract over random record sequences: rebuilding the state from committed
//! batches gives the state the records describe; a batch is applied whole or not at all; a
//! record that does not fit changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::connection::{ConnectionType, QueueStatus};
use simplex_agent::store::{
    BatchId, ConfirmationId, ConfirmationRecord, ConnectionId, ConnectionMode, InvitationId,
    InvitationRecord, MemoryStore, MsgCounters, RatchetKeys, RcvMessageRecord, RcvQueueRecord,
    Record, RecordBatch, SecretBytes, SkippedKey, SndMessageRecord, SndQueueRecord, Store,
    StoreState,
};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::protocol::{EntityId, MsgFlags, MsgId};

/// One step of a generated history: which kind of record, which existing thing it is about
/// (an index taken modulo what exists), and a byte that varies its content.
#[derive(Debug, Clone)]
struct Step {
    kind: u8,
    target: usize,
    item: usize,
    seed: u8,
}

fn step() -> impl Strategy<Value = Step> {
    (0u8..25, any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(kind, target, item, seed)| {
        Step {
            kind,
            target,
            item,
            seed,
        }
    })
}

fn server(seed: u8) -> ServerAddress {
    ServerAddress {
        scheme: Scheme::Smp,
        hosts: NonEmpty::new(vec![TransportHost::Domain(format!("smp{seed}.example"))]).unwrap(),
        port: String::new(),
        key_hash: KeyHash::from_bytes([seed; 32]),
    }
}

fn secret(seed: u8, len: usize) -> SecretBytes {
    SecretBytes::new(vec![seed; len])
}

fn status(seed: u8) -> QueueStatus {
    [
        QueueStatus::New,
        QueueStatus::Confirmed,
        QueueStatus::Secured,
        QueueStatus::Active,
        QueueStatus::Disabled,
    ][usize::from(seed) % 5]
}

fn pick<K: Clone, V>(map: &std::collections::BTreeMap<K, V>, i: usize) -> Option<K> {
    (!map.is_empty()).then(|| map.keys().nth(i % map.len()).cloned())?
}

/// The record a step makes against the current state, or `None` when it needs something that
/// does not exist. Records may still not fit (a second queue, a message id in use): those
/// exercise the refusal path.
fn record_for(state: &StoreState, s: &Step, rng: &mut ChaCha20Rng) -> Option<Record> {
    let conn = pick(&state.connections, s.target);
    let seed = s.seed;
    Some(match s.kind {
        0 | 1 => Record::ConnectionCreated {
            conn: ConnectionId::generate(rng),
            mode: if seed % 4 == 0 {
                ConnectionMode::Contact
            } else {
                ConnectionMode::Invitation
            },
            agent_version: u16::from(seed % 2) + 1,
            duplex_handshake: [None, Some(true), Some(false)][usize::from(seed) % 3],
        },
        2 => Record::RcvQueueAdded {
            conn: conn?,
            queue: RcvQueueRecord {
                server: server(seed),
                rcv_id: EntityId::new(vec![seed; 24]).unwrap(),
                rcv_private_key: secret(seed, 44),
                rcv_dh_secret: secret(seed ^ 1, 32),
                e2e_private_key: secret(seed ^ 2, 48),
                e2e_dh_secret: (seed % 2 == 0).then(|| secret(seed ^ 3, 32)),
                snd_id: EntityId::new(vec![seed ^ 4; 24]).unwrap(),
                status: status(seed),
                smp_client_version: 2,
            },
        },
        3 => Record::SndQueueAdded {
            conn: conn?,
            queue: SndQueueRecord {
                server: server(seed),
                snd_id: EntityId::new(vec![seed; 24]).unwrap(),
                snd_private_key: secret(seed, 44),
                e2e_pub_key: (seed % 2 == 0).then(|| vec![seed; 44]),
                e2e_dh_secret: secret(seed ^ 5, 32),
                status: status(seed),
                smp_client_version: 1,
            },
        },
        4 => Record::RcvQueueConfirmed {
            conn: conn?,
            e2e_dh_secret: secret(seed, 32),
            smp_client_version: u16::from(seed % 2) + 1,
        },
        5 => Record::RcvQueueStatus {
            conn: conn?,
            status: status(seed),
        },
        6 => Record::SndQueueStatus {
            conn: conn?,
            status: status(seed),
        },
        7 => Record::RatchetKeysCreated {
            conn: conn?,
            keys: RatchetKeys {
                key1: secret(seed, 56),
                key2: secret(seed ^ 7, 56),
            },
        },
        8 => Record::RatchetReplaced {
            conn: conn?,
            state: secret(seed, 200),
        },
        9 => Record::SkippedKeysAdded {
            conn: conn?,
            keys: (0..u32::from(seed % 4))
                .map(|n| SkippedKey {
                    header_key: secret(seed % 3, 32),
                    msg_n: n + u32::from(seed),
                    msg_key: secret(seed ^ 9, 48),
                })
                .collect(),
        },
        10 => {
            let conn = conn?;
            let keys = &state.connections[&conn].skipped_keys;
            // Mostly an existing key; sometimes one that does not exist.
            let (header_key, msg_n) = match keys.get(s.item % keys.len().max(1)) {
                Some(k) if seed % 8 != 0 => (k.header_key.clone(), k.msg_n),
                _ => (secret(seed, 32), 999),
            };
            Record::SkippedKeyRemoved {
                conn,
                header_key,
                msg_n,
            }
        }
        11 => Record::CountersSet {
            conn: conn?,
            counters: MsgCounters {
                last_internal_msg_id: u64::from(seed),
                last_internal_rcv_msg_id: u64::from(seed / 2),
                last_internal_snd_msg_id: u64::from(seed / 3),
                last_external_snd_msg_id: u64::from(seed / 4),
                last_rcv_msg_hash: vec![seed; 32],
                last_snd_msg_hash: vec![seed ^ 1; 32],
            },
        },
        12 => Record::SndMessageStored {
            conn: conn?,
            msg: SndMessageRecord {
                internal_id: u64::from(seed % 16),
                internal_snd_id: u64::from(seed),
                internal_ts: UnixTime {
                    seconds: i64::from(seed),
                    nanoseconds: 0,
                },
                msg_type: b'M',
                msg_flags: MsgFlags {
                    notification: seed % 2 == 0,
                },
                body: Bytes::from(vec![seed; usize::from(seed)]),
                internal_hash: vec![seed; 32],
                prev_msg_hash: vec![seed ^ 1; 32],
            },
        },
        13 | 14 => {
            let conn = conn?;
            let internal_id = pick(&state.connections[&conn].snd_messages, s.item).unwrap_or(999);
            if s.kind == 13 {
                Record::SndMessageDelivered { conn, internal_id }
            } else {
                Record::SndMessageDeleted { conn, internal_id }
            }
        }
        15 => Record::RcvMessageStored {
            conn: conn?,
            msg: RcvMessageRecord {
                internal_id: u64::from(seed % 16),
                internal_rcv_id: u64::from(seed),
                internal_ts: UnixTime {
                    seconds: i64::from(seed),
                    nanoseconds: 0,
                },
                broker_id: MsgId::new(vec![seed; 24]).unwrap(),
                broker_ts: UnixTime {
                    seconds: i64::from(seed) + 1,
                    nanoseconds: 0,
                },
                external_snd_id: u64::from(seed),
                msg_type: b'M',
                msg_flags: MsgFlags::default(),
                body: Bytes::from(vec![seed; 3]),
                internal_hash: vec![seed; 32],
                external_prev_snd_hash: vec![],
                integrity: b"{\"type\":\"MsgOk\"}".to_vec(),
            },
        },
        16 | 17 => {
            let conn = conn?;
            let internal_id = pick(&state.connections[&conn].rcv_messages, s.item).unwrap_or(999);
            if s.kind == 16 {
                Record::RcvMessageUserAcked { conn, internal_id }
            } else {
                Record::RcvMessageDeleted { conn, internal_id }
            }
        }
        18 => Record::ConfirmationStored {
            id: ConfirmationId::generate(rng),
            confirmation: ConfirmationRecord {
                conn: conn?,
                sender_key: Some(vec![seed; 44]),
                sender_dh_key: vec![seed; 32],
                smp_client_version: 2,
                conn_info: Bytes::from(vec![seed; 5]),
                reply_queues: Bytes::new(),
                ratchet_state: secret(seed, 100),
                own_conn_info: None,
            },
        },
        19 => {
            let id = pick(&state.confirmations, s.item)?;
            if seed % 2 == 0 {
                Record::ConfirmationAccepted {
                    id,
                    own_conn_info: Bytes::from(vec![seed; 4]),
                }
            } else {
                Record::ConfirmationDeleted { id }
            }
        }
        20 => Record::InvitationStored {
            id: InvitationId::generate(rng),
            invitation: InvitationRecord {
                contact_conn: conn?,
                conn_req: Bytes::from_static(b"simplex:/invitation#/?v=1-2"),
                recipient_conn_info: Bytes::from(vec![seed; 6]),
                own_conn_info: None,
            },
        },
        21 => {
            let id = pick(&state.invitations, s.item)?;
            if seed % 2 == 0 {
                Record::InvitationAccepted {
                    id,
                    own_conn_info: Bytes::from(vec![seed; 4]),
                }
            } else {
                Record::InvitationDeleted { id }
            }
        }
        22 => Record::ConnectionDeleted { conn: conn? },
        23 => Record::RcvQueueLastBrokerId {
            conn: conn?,
            broker_id: MsgId::new(vec![seed; 24]).unwrap(),
        },
        // A record about a connection that does not exist.
        _ => Record::RcvQueueStatus {
            conn: ConnectionId(b"not-a-connection".to_vec()),
            status: status(seed),
        },
    })
}

/// Builds the records of a history, keeping those that fit; checks on the way that a record
/// that does not fit leaves the state as it was.
fn history(steps: &[Step], seed: u64) -> (Vec<Record>, StoreState, usize) {
    let mut rng = ChaCha20Rng::seed_from_u64(seed);
    let mut state = StoreState::new();
    let mut records = Vec::new();
    let mut refused = 0;
    for s in steps {
        let Some(record) = record_for(&state, s, &mut rng) else {
            continue;
        };
        let before = state.clone();
        match state.apply(&record) {
            Ok(()) => records.push(record),
            Err(_) => {
                assert_eq!(state, before, "a refused record changed the state");
                refused += 1;
            }
        }
    }
    (records, state, refused)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Committing the records in any split into batches, with failed commits retried, leaves
    /// the store holding exactly the state the records describe, and loading gives it back.
    #[test]
    fn committed_batches_rebuild_the_state(
        steps in prop::collection::vec(step(), 0..120),
        cuts in prop::collection::vec(1usize..8, 1..40),
        failures in prop::collection::vec(any::<bool>(), 1..40),
        seed in any::<u64>(),
    ) {
        let (records, expected, _) = history(&steps, seed);
        let mut store = MemoryStore::new();
        let mut rest = records.as_slice();
        let mut next = 1;
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            let batch = RecordBatch { id: BatchId(next), records: rest[..n].to_vec() };
            if failures[i % failures.len()] {
                let before = store.state().clone();
                store.fail_next_commit();
                prop_assert!(store.commit(&batch).is_err());
                prop_assert_eq!(store.state(), &before);
            }
            store.commit(&batch).unwrap();
            rest = &rest[n..];
            next += 1;
            i += 1;
        }
        prop_assert_eq!(store.state(), &expected);
        prop_assert_eq!(&store.load().unwrap(), &expected);
        // Every connection left has at least the shape the reference allows.
        for conn in expected.connections.values() {
            if let Some(t) = ConnectionType::of(conn) {
                prop_assert!(t != ConnectionType::Contact || conn.mode == ConnectionMode::Contact);
            }
        }
    }

    /// A batch with one record that does not fit is refused whole: nothing before it in the
    /// batch is applied.
    #[test]
    fn a_batch_is_applied_whole_or_not_at_all(
        steps in prop::collection::vec(step(), 1..60),
        split in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let (records, _, _) = history(&steps, seed);
        prop_assume!(!records.is_empty());
        let at = split.index(records.len());
        let mut store = MemoryStore::new();
        store.commit(&RecordBatch { id: BatchId(1), records: records[..at].to_vec() }).unwrap();
        let before = store.state().clone();
        let mut bad = records[at..].to_vec();
        bad.push(Record::ConnectionDeleted { conn: ConnectionId(b"never-created".to_vec()) });
        let refused = store.commit(&RecordBatch { id: BatchId(2), records: bad });
        prop_assert!(refused.is_err());
        prop_assert_eq!(store.state(), &before);
        prop_assert_eq!(store.committed(), 1);
    }
}

#[test]
fn histories_exercise_both_paths() {
    // The generator is only useful if it makes records that fit and records that do not.
    let steps: Vec<Step> = (0..400u32)
        .map(|i| Step {
            kind: (i * 7 % 24) as u8,
            target: i as usize * 13,
            item: i as usize * 5,
            seed: (i * 31 % 251) as u8,
        })
        .collect();
    let (records, state, refused) = history(&steps, 7);
    assert!(records.len() > 100, "only {} records fitted", records.len());
    assert!(refused > 10, "only {refused} records refused");
    assert!(!state.connections.is_empty());
}

#[test]
fn connection_ids_are_twelve_random_bytes_in_base64url() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let a = ConnectionId::generate(&mut rng);
    let b = ConnectionId::generate(&mut rng);
    assert_eq!(a.as_bytes().len(), 16);
    assert_ne!(a, b);
    let raw = simplex_core::encoding::string::base64url_decode(a.as_bytes()).unwrap();
    assert_eq!(raw.len(), 12);
}

#[test]
fn secrets_are_not_shown_by_debug() {
    let record = Record::RatchetReplaced {
        conn: ConnectionId(b"abc".to_vec()),
        state: SecretBytes::new(vec![0xAB; 10]),
    };
    let shown = format!("{record:?}");
    assert!(shown.contains("10 bytes"), "{shown}");
    assert!(!shown.contains("171"), "{shown}");
}

#[test]
fn deleting_a_connection_drops_its_confirmations_and_invitations() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let conn = ConnectionId::generate(&mut rng);
    let other = ConnectionId::generate(&mut rng);
    let mut state = StoreState::new();
    for c in [&conn, &other] {
        state
            .apply(&Record::ConnectionCreated {
                conn: c.clone(),
                mode: ConnectionMode::Contact,
                agent_version: 2,
                duplex_handshake: None,
            })
            .unwrap();
        state
            .apply(&Record::InvitationStored {
                id: InvitationId::generate(&mut rng),
                invitation: InvitationRecord {
                    contact_conn: c.clone(),
                    conn_req: Bytes::new(),
                    recipient_conn_info: Bytes::new(),
                    own_conn_info: None,
                },
            })
            .unwrap();
    }
    state
        .apply(&Record::ConnectionDeleted { conn: conn.clone() })
        .unwrap();
    assert_eq!(state.invitations.len(), 1);
    assert!(state.invitations.values().all(|i| i.contact_conn == other));
    assert!(!state.connections.contains_key(&conn));
}
