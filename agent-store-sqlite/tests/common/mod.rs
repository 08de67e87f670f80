//! Random record histories, the same generator as `agent/tests/store_props.rs` (copied so this
//! crate's tests do not depend on another crate's test files): each step makes one record
//! against the current state; records that do not fit are kept out of the history but counted.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::connection::QueueStatus;
use simplex_agent::store::{
    ConfirmationId, ConfirmationRecord, ConnectionId, ConnectionMode, InvitationId,
    InvitationRecord, MsgCounters, RatchetKeys, RcvMessageRecord, RcvQueueRecord, Record,
    SecretBytes, SkippedKey, SndMessageRecord, SndQueueRecord, StoreState,
};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::protocol::{EntityId, MsgFlags, MsgId};
/// One step of a generated history: which kind of record, which existing thing it is about
/// (an index taken modulo what exists), and a byte that varies its content.
#[derive(Debug, Clone)]
pub struct Step {
    pub kind: u8,
    pub target: usize,
    pub item: usize,
    pub seed: u8,
}

pub fn step() -> impl Strategy<Value = Step> {
    (0u8..24, any::<usize>(), any::<usize>(), any::<u8>()).prop_map(|(kind, target, item, seed)| {
        Step {
            kind,
            target,
            item,
            seed,
        }
    })
}

pub fn server(seed: u8) -> ServerAddress {
    // Unlike the in-memory generator, hosts of every kind and ports, so their columns round-trip.
    let hosts = match seed % 3 {
        0 => vec![TransportHost::Domain(format!("smp{seed}.example"))],
        1 => vec![
            TransportHost::Ipv4([127, 0, 0, seed]),
            TransportHost::Onion(format!("abc{seed}.onion")),
        ],
        _ => vec![TransportHost::Domain(format!("smp{seed}.example"))],
    };
    ServerAddress {
        scheme: Scheme::Smp,
        hosts: NonEmpty::new(hosts).unwrap(),
        port: if seed % 3 == 2 {
            "5223".into()
        } else {
            String::new()
        },
        key_hash: KeyHash::from_bytes([seed; 32]),
    }
}

pub fn secret(seed: u8, len: usize) -> SecretBytes {
    SecretBytes::new(vec![seed; len])
}

pub fn status(seed: u8) -> QueueStatus {
    [
        QueueStatus::New,
        QueueStatus::Confirmed,
        QueueStatus::Secured,
        QueueStatus::Active,
        QueueStatus::Disabled,
    ][usize::from(seed) % 5]
}

pub fn pick<K: Clone, V>(map: &std::collections::BTreeMap<K, V>, i: usize) -> Option<K> {
    (!map.is_empty()).then(|| map.keys().nth(i % map.len()).cloned())?
}

/// The record a step makes against the current state, or `None` when it needs something that
/// does not exist. Records may still not fit (a second queue, a message id in use): those
/// exercise the refusal path.
pub fn record_for(state: &StoreState, s: &Step, rng: &mut ChaCha20Rng) -> Option<Record> {
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
                    seconds: 1_700_000_000 + i64::from(seed),
                    nanoseconds: u32::from(seed) * 1_000_003,
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
                    seconds: 1_700_000_000 + i64::from(seed),
                    nanoseconds: u32::from(seed) * 1_000_003,
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
        // A record about a connection that does not exist.
        _ => Record::RcvQueueStatus {
            conn: ConnectionId(b"not-a-connection".to_vec()),
            status: status(seed),
        },
    })
}

/// Builds the records of a history, keeping those that fit; checks on the way that a record
/// that does not fit leaves the state as it was.
pub fn history(steps: &[Step], seed: u64) -> (Vec<Record>, StoreState, usize) {
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
