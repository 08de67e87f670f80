//! The SQLite store's speed: commits per second of a typical message batch (alone and group
//! committed), and the start-up load of 10,000 stored connections. Numbers go to
//! `spec/performance.md` ("Agent store"). The database files live in a temporary directory on
//! the same disk as the system's temp dir; every commit syncs it (`synchronous = FULL`).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use simplex_agent::machine::connection::QueueStatus;
use simplex_agent::store::{
    BatchId, ConnectionId, ConnectionMode, MsgCounters, RcvQueueRecord, Record, RecordBatch,
    SecretBytes, SkippedKey, SndMessageRecord, SndQueueRecord, Store,
};
use simplex_agent_store_sqlite::{MigrationConfirmation, SqliteStore};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::protocol::{EntityId, MsgFlags};

/// A ratchet state's encoded size (keys, chains, counters).
const RATCHET_STATE_BYTES: usize = 1200;
/// An SMP message body: the padded agent envelope.
const ENVELOPE_BYTES: usize = 15_904;

fn conn_id(n: u32) -> ConnectionId {
    ConnectionId(format!("conn-{n:011}").into_bytes())
}

fn server() -> ServerAddress {
    ServerAddress {
        scheme: Scheme::Smp,
        hosts: NonEmpty::one(TransportHost::Domain("smp.example.com".into())),
        port: String::new(),
        key_hash: KeyHash::from_bytes([9; 32]),
    }
}

/// The records of one established duplex connection (as a handshake leaves it).
fn connection(n: u32) -> Vec<Record> {
    let conn = conn_id(n);
    let id = |tag: u8| EntityId::new([&n.to_be_bytes()[..], &[tag; 20]].concat()).unwrap();
    vec![
        Record::ConnectionCreated {
            conn: conn.clone(),
            mode: ConnectionMode::Invitation,
            agent_version: 2,
            duplex_handshake: Some(true),
        },
        Record::RcvQueueAdded {
            conn: conn.clone(),
            queue: RcvQueueRecord {
                server: server(),
                rcv_id: id(1),
                rcv_private_key: SecretBytes::new(vec![1; 73]),
                rcv_dh_secret: SecretBytes::new(vec![2; 32]),
                e2e_private_key: SecretBytes::new(vec![3; 48]),
                e2e_dh_secret: Some(SecretBytes::new(vec![4; 32])),
                snd_id: id(2),
                status: QueueStatus::Active,
                smp_client_version: 2,
            },
        },
        Record::SndQueueAdded {
            conn: conn.clone(),
            queue: SndQueueRecord {
                server: server(),
                snd_id: id(3),
                snd_private_key: SecretBytes::new(vec![5; 73]),
                e2e_pub_key: Some(vec![6; 44]),
                e2e_dh_secret: SecretBytes::new(vec![7; 32]),
                status: QueueStatus::Active,
                smp_client_version: 2,
            },
        },
        Record::RatchetReplaced {
            conn: conn.clone(),
            state: SecretBytes::new(vec![8; RATCHET_STATE_BYTES]),
        },
        Record::SkippedKeysAdded {
            conn: conn.clone(),
            keys: vec![SkippedKey {
                header_key: SecretBytes::new(vec![9; 32]),
                msg_n: 3,
                msg_key: SecretBytes::new(vec![10; 48]),
            }],
        },
        Record::CountersSet {
            conn,
            counters: MsgCounters {
                last_internal_msg_id: 3,
                last_internal_rcv_msg_id: 1,
                last_internal_snd_msg_id: 2,
                last_external_snd_msg_id: 2,
                last_rcv_msg_hash: vec![11; 32],
                last_snd_msg_hash: vec![12; 32],
            },
        },
    ]
}

/// What sending one message stores: the stepped ratchet, the counters, the ciphertext.
fn send_batch(n: u32, internal_id: u64, batch: u64) -> RecordBatch {
    let conn = conn_id(n);
    RecordBatch {
        id: BatchId(batch),
        records: vec![
            Record::RatchetReplaced {
                conn: conn.clone(),
                state: SecretBytes::new(vec![internal_id as u8; RATCHET_STATE_BYTES]),
            },
            Record::CountersSet {
                conn: conn.clone(),
                counters: MsgCounters {
                    last_internal_msg_id: internal_id,
                    last_internal_snd_msg_id: internal_id,
                    last_snd_msg_hash: vec![1; 32],
                    ..MsgCounters::default()
                },
            },
            Record::SndMessageStored {
                conn,
                msg: SndMessageRecord {
                    internal_id,
                    internal_snd_id: internal_id,
                    internal_ts: UnixTime {
                        seconds: 1_700_000_000,
                        nanoseconds: 0,
                    },
                    msg_type: b'M',
                    msg_flags: MsgFlags::default(),
                    body: Bytes::from(vec![0x33; ENVELOPE_BYTES]),
                    internal_hash: vec![2; 32],
                    prev_msg_hash: vec![3; 32],
                },
            },
        ],
    }
}

fn store_with(dir: &tempfile::TempDir, connections: u32) -> SqliteStore {
    let mut store =
        SqliteStore::open(dir.path().join("agent.db"), MigrationConfirmation::No).unwrap();
    let batches: Vec<RecordBatch> = (0..connections)
        .map(|n| RecordBatch {
            id: BatchId(u64::from(n) + 1),
            records: connection(n),
        })
        .collect();
    for chunk in batches.chunks(500) {
        store.commit_many(chunk).unwrap();
    }
    store
}

fn commits(c: &mut Criterion) {
    let mut group = c.benchmark_group("agent_store_commit");
    group.sample_size(20);
    for connections in [1u32, 100] {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store_with(&dir, connections);
        let mut next_id = 10u64;
        // One message batch per transaction: one disk sync per batch.
        group.throughput(Throughput::Elements(1));
        group.bench_function(format!("one_send_batch/{connections}_connections"), |b| {
            b.iter_batched(
                || {
                    next_id += 1;
                    send_batch(next_id as u32 % connections, next_id, next_id)
                },
                |batch| store.commit(&batch).unwrap(),
                BatchSize::SmallInput,
            )
        });
        // One batch from each active connection (up to 32) in one transaction.
        let width = connections.min(32);
        group.throughput(Throughput::Elements(u64::from(width)));
        group.bench_function(
            format!("group_of_{width}_send_batches/{connections}_connections"),
            |b| {
                b.iter_batched(
                    || {
                        next_id += 1;
                        (0..width)
                            .map(|n| send_batch(n, next_id, next_id))
                            .collect::<Vec<_>>()
                    },
                    |batches| store.commit_many(&batches).unwrap(),
                    BatchSize::SmallInput,
                )
            },
        );
    }
    // The same batches into the in-memory store, for comparison (no disk at all).
    let mut memory = simplex_agent::store::MemoryStore::new();
    for n in 0..100 {
        memory
            .commit(&RecordBatch {
                id: BatchId(u64::from(n) + 1),
                records: connection(n),
            })
            .unwrap();
    }
    let mut next_id = 10u64;
    group.throughput(Throughput::Elements(1));
    group.bench_function("memory_store_one_send_batch/100_connections", |b| {
        b.iter_batched(
            || {
                next_id += 1;
                send_batch(next_id as u32 % 100, next_id, next_id)
            },
            |batch| memory.commit(&batch).unwrap(),
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store_with(&dir, 10_000);
    store.checkpoint().unwrap();
    drop(store);
    let path = dir.path().join("agent.db");
    let bytes = std::fs::metadata(&path).unwrap().len();
    println!(
        "10000 idle duplex connections: {bytes} bytes, {} bytes per connection",
        bytes / 10_000
    );
    let mut group = c.benchmark_group("agent_store_load");
    group.sample_size(10);
    group.bench_function("open_and_load/10000_connections", |b| {
        b.iter(|| {
            let mut store = SqliteStore::open(&path, MigrationConfirmation::No).unwrap();
            let state = store.load().unwrap();
            assert_eq!(state.connections.len(), 10_000);
            state
        })
    });
    group.finish();
}

criterion_group!(benches, commits, load);
criterion_main!(benches);
