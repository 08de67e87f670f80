//! The store contract of `agent/tests/store_props.rs`, against SQLite: committed batches,
//! reopened and loaded, give exactly the state the records describe; a batch (or a group of
//! batches) with a record that does not fit changes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::{history, step};
use proptest::prelude::*;
use simplex_agent::store::{BatchId, ConnectionId, Record, RecordBatch, Store, StoreState};
use simplex_agent_store_sqlite::{MigrationConfirmation, SqliteStore, SqliteStoreError};

fn open(dir: &tempfile::TempDir) -> SqliteStore {
    SqliteStore::open(dir.path().join("agent.db"), MigrationConfirmation::No).unwrap()
}

fn poison() -> Record {
    Record::ConnectionDeleted {
        conn: ConnectionId(b"never-created".to_vec()),
    }
}

/// The batches of a history, cut at `cuts`.
fn batches(records: &[Record], cuts: &[usize]) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut rest = records;
    let mut i = 0;
    while !rest.is_empty() {
        let n = cuts[i % cuts.len()].min(rest.len());
        out.push(RecordBatch {
            id: BatchId(i as u64 + 1),
            records: rest[..n].to_vec(),
        });
        rest = &rest[n..];
        i += 1;
    }
    out
}

proptest! {
    // Every commit syncs the disk: fewer cases than the in-memory twin, same generator.
    #![proptest_config(ProptestConfig::with_cases(40))]

    /// Any split into batches, some first tried with a bad record appended (refused whole),
    /// some committed in groups, rebuilds the state; so does reopening the file.
    #[test]
    fn committed_batches_rebuild_the_state_across_a_reopen(
        steps in prop::collection::vec(step(), 0..120),
        cuts in prop::collection::vec(1usize..8, 1..40),
        failures in prop::collection::vec(any::<bool>(), 1..40),
        group in 1usize..4,
        seed in any::<u64>(),
    ) {
        let (records, expected, _) = history(&steps, seed);
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        let batches = batches(&records, &cuts);
        for (i, chunk) in batches.chunks(group).enumerate() {
            if failures[i % failures.len()] {
                let before = store.load().unwrap();
                let mut bad = chunk.to_vec();
                bad.last_mut().unwrap().records.push(poison());
                let err = store.commit_many(&bad).unwrap_err();
                let is_refused = matches!(err, SqliteStoreError::Refused { .. });
                prop_assert!(is_refused, "{:?}", err);
                prop_assert_eq!(store.load().unwrap(), before);
            }
            if chunk.len() == 1 {
                store.commit(&chunk[0]).unwrap();
            } else {
                store.commit_many(chunk).unwrap();
            }
        }
        prop_assert_eq!(&store.load().unwrap(), &expected);
        drop(store);
        let mut reopened = open(&dir);
        prop_assert_eq!(&reopened.load().unwrap(), &expected);
    }

    /// A batch with one record that does not fit is refused whole, with the record's place.
    #[test]
    fn a_batch_is_applied_whole_or_not_at_all(
        steps in prop::collection::vec(step(), 1..60),
        split in any::<prop::sample::Index>(),
        seed in any::<u64>(),
    ) {
        let (records, _, _) = history(&steps, seed);
        prop_assume!(!records.is_empty());
        let at = split.index(records.len());
        let dir = tempfile::tempdir().unwrap();
        let mut store = open(&dir);
        store.commit(&RecordBatch { id: BatchId(1), records: records[..at].to_vec() }).unwrap();
        let before = store.load().unwrap();
        let mut bad = records[at..].to_vec();
        bad.push(poison());
        let len = bad.len();
        let refused = store.commit(&RecordBatch { id: BatchId(2), records: bad });
        let placed = matches!(
            refused,
            Err(SqliteStoreError::Refused { batch: 0, index, .. }) if index == len - 1
        );
        prop_assert!(placed, "{:?}", refused);
        prop_assert_eq!(store.load().unwrap(), before);
    }
}

/// Each record the in-memory state refuses, the database refuses too, with the same reason.
#[test]
fn refusals_agree_with_the_in_memory_state() {
    let steps: Vec<common::Step> = (0..400u32)
        .map(|i| common::Step {
            kind: (i * 7 % 24) as u8,
            target: i as usize * 13,
            item: i as usize * 5,
            seed: (i * 31 % 251) as u8,
        })
        .collect();
    let mut rng =
        <rand_chacha::ChaCha20Rng as rand_chacha::rand_core::SeedableRng>::seed_from_u64(7);
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    let mut state = StoreState::new();
    let (mut fitted, mut refused) = (0, 0);
    for s in &steps {
        let Some(record) = common::record_for(&state, s, &mut rng) else {
            continue;
        };
        let in_memory = state.apply(&record);
        // Each record its own group commit, to check refusals one by one.
        let on_disk = store.commit_many(&[RecordBatch {
            id: BatchId(1),
            records: vec![record.clone()],
        }]);
        match (in_memory, on_disk) {
            (Ok(()), Ok(())) => fitted += 1,
            (Err(expected), Err(SqliteStoreError::Refused { reason, .. })) => {
                assert_eq!(reason.to_string(), expected.to_string(), "{record:?}");
                refused += 1;
            }
            (a, b) => panic!("{record:?}: in memory {a:?}, on disk {b:?}"),
        }
    }
    assert!(
        fitted > 100 && refused > 10,
        "{fitted} fitted, {refused} refused"
    );
    assert_eq!(store.load().unwrap(), state);
}

#[test]
fn an_empty_store_loads_empty_and_empty_batches_commit() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = open(&dir);
    assert_eq!(store.load().unwrap(), StoreState::new());
    store.commit_many(&[]).unwrap();
    store
        .commit(&RecordBatch {
            id: BatchId(1),
            records: vec![],
        })
        .unwrap();
    assert_eq!(store.load().unwrap(), StoreState::new());
}
