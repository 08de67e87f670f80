//! The file itself: created owner-only (with its WAL and shared-memory files), the settings
//! it is opened with, migrations through the public API, vacuum, and a clear error for each
//! wrong file: corrupt, truncated, not SQLite, another program's, the reference agent's, a
//! newer program's, an unwritable directory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use simplex_agent::store::{
    BatchId, ConnectionId, ConnectionMode, Record, RecordBatch, SndMessageRecord, Store,
};
use simplex_agent_store_sqlite::{
    MigrationConfirmation, SqliteStore, SqliteStoreError, MIGRATIONS,
};
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::MsgFlags;

fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("agent.db")
}

fn open(path: &Path) -> Result<SqliteStore, SqliteStoreError> {
    SqliteStore::open(path, MigrationConfirmation::No)
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn created(conn: &[u8]) -> Record {
    Record::ConnectionCreated {
        conn: ConnectionId(conn.to_vec()),
        mode: ConnectionMode::Invitation,
        agent_version: 2,
        duplex_handshake: Some(true),
    }
}

fn one(records: Vec<Record>) -> RecordBatch {
    RecordBatch {
        id: BatchId(1),
        records,
    }
}

#[test]
fn the_file_and_its_wal_and_shm_are_owner_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    store.commit(&one(vec![created(b"a")])).unwrap();
    let wal = dir.path().join("agent.db-wal");
    let shm = dir.path().join("agent.db-shm");
    assert!(wal.exists() && shm.exists(), "WAL mode makes both files");
    for p in [&path, &wal, &shm] {
        assert_eq!(mode(p), 0o600, "{}", p.display());
    }
}

#[test]
fn the_connection_is_set_for_durability() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(open(&path).unwrap());
    // What the file keeps (a fresh connection sees the journal mode and auto-vacuum).
    let db = rusqlite::Connection::open(&path).unwrap();
    let journal: String = db
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    let auto_vacuum: i64 = db
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2, "2 is INCREMENTAL");
}

#[test]
fn a_fresh_database_gets_every_migration_and_reopening_applies_none() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let store = open(&path).unwrap();
    let names: Vec<&str> = MIGRATIONS.iter().map(|m| m.name).collect();
    assert_eq!(store.migrations().unwrap(), names);
    drop(store);
    // Up to date: `No` is enough, nothing is backed up.
    let store = open(&path).unwrap();
    assert_eq!(store.migrations().unwrap(), names);
    let backups = std::fs::read_dir(dir.path())
        .unwrap()
        .filter(|e| {
            let name = e.as_ref().unwrap().file_name();
            name.to_string_lossy().contains("backup")
        })
        .count();
    assert_eq!(backups, 0);
}

#[test]
fn a_database_of_a_newer_program_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    drop(open(&path).unwrap());
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute(
        "INSERT INTO migrations (name, ts) VALUES ('rs_29991231_from_the_future', 'x')",
        [],
    )
    .unwrap();
    drop(db);
    let err = SqliteStore::open(&path, MigrationConfirmation::Yes).unwrap_err();
    assert!(
        matches!(&err, SqliteStoreError::DatabaseNewer { unknown } if unknown == &["rs_29991231_from_the_future"]),
        "{err:?}"
    );
    assert!(err.to_string().contains("newer than this program"), "{err}");
}

#[test]
fn a_reference_agent_database_is_recognised_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch(
        "CREATE TABLE migrations(name TEXT NOT NULL, ts TEXT NOT NULL, PRIMARY KEY(name));
         INSERT INTO migrations VALUES ('20220101_initial', '2022-01-01 00:00:00');
         INSERT INTO migrations VALUES ('20220301_snd_queue_keys', '2022-01-01 00:00:00');",
    )
    .unwrap();
    drop(db);
    let err = open(&path).unwrap_err();
    assert!(
        matches!(&err, SqliteStoreError::ReferenceDatabase { first, .. } if first == "20220101_initial"),
        "{err:?}"
    );
}

#[test]
fn another_programs_sqlite_database_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute_batch("CREATE TABLE photos(id INTEGER PRIMARY KEY); INSERT INTO photos VALUES (1);")
        .unwrap();
    drop(db);
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::ForeignDatabase { .. }),
        "{err:?}"
    );
    let db = rusqlite::Connection::open(&path).unwrap();
    let tables: i64 = db
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(tables, 1, "nothing was added to it");
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    std::fs::write(&path, b"this is a text file, not a database\n".repeat(200)).unwrap();
    let err = open(&path).unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::NotADatabase { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("not an agent database"), "{err}");
}

#[test]
fn a_corrupted_database_gives_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    let records = (0..200u32)
        .map(|i| created(format!("conn-{i:04}").as_bytes()))
        .collect();
    store.commit(&one(records)).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    // Overwrite everything after the first page (the schema's pages and the rows) with noise.
    let mut bytes = std::fs::read(&path).unwrap();
    assert!(bytes.len() > 8192);
    for (i, b) in bytes.iter_mut().enumerate().skip(4096) {
        *b = (i as u8).wrapping_mul(151).wrapping_add(7);
    }
    std::fs::write(&path, &bytes).unwrap();
    let outcome = open(&path).and_then(|mut s| s.load());
    let err = outcome.unwrap_err();
    assert!(
        matches!(
            err,
            SqliteStoreError::NotADatabase { .. }
                | SqliteStoreError::Sqlite(_)
                | SqliteStoreError::BadRow { .. }
        ),
        "{err:?}"
    );
}

#[test]
fn a_truncated_database_gives_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    let records = (0..300u32)
        .map(|i| created(format!("conn-{i:04}").as_bytes()))
        .collect();
    store.commit(&one(records)).unwrap();
    store.checkpoint().unwrap();
    drop(store);
    let len = std::fs::metadata(&path).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(len / 2 + 100).unwrap();
    drop(file);
    let err = open(&path).and_then(|mut s| s.load()).unwrap_err();
    assert!(
        matches!(
            err,
            SqliteStoreError::NotADatabase { .. } | SqliteStoreError::Sqlite(_)
        ),
        "{err:?}"
    );
}

#[test]
fn a_bad_stored_value_is_a_bad_row_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    store.commit(&one(vec![created(b"a")])).unwrap();
    drop(store);
    let db = rusqlite::Connection::open(&path).unwrap();
    db.execute("UPDATE connections SET conn_mode = 'XYZ'", [])
        .unwrap();
    drop(db);
    let err = open(&path).unwrap().load().unwrap_err();
    assert!(
        matches!(
            err,
            SqliteStoreError::BadRow {
                table: "connections",
                column: "conn_mode",
                ..
            }
        ),
        "{err:?}"
    );
}

/// A directory nobody may write in. Root ignores permission bits, so as root the test uses
/// `/proc`, where no one can create files.
fn unwritable_dir(dir: &tempfile::TempDir) -> PathBuf {
    let ro = dir.path().join("read-only");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o500)).unwrap();
    if std::fs::write(ro.join("probe"), b"").is_ok() {
        return PathBuf::from("/proc");
    }
    ro
}

#[test]
fn a_read_only_directory_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let ro = unwritable_dir(&dir);
    let err = open(&ro.join("agent.db")).unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::CannotOpen { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("cannot open the agent database"),
        "{err}"
    );
    let err = open(Path::new("/nonexistent-dir-for-agent-test/agent.db")).unwrap_err();
    assert!(
        matches!(err, SqliteStoreError::CannotOpen { .. }),
        "{err:?}"
    );
}

fn message(internal_id: u64, body: usize) -> Record {
    Record::SndMessageStored {
        conn: ConnectionId(b"a".to_vec()),
        msg: SndMessageRecord {
            internal_id,
            internal_snd_id: internal_id,
            internal_ts: UnixTime {
                seconds: 1_700_000_000,
                nanoseconds: 0,
            },
            msg_type: b'M',
            msg_flags: MsgFlags::default(),
            body: Bytes::from(vec![0x5a; body]),
            internal_hash: vec![1; 32],
            prev_msg_hash: vec![2; 32],
        },
    }
}

#[test]
fn deletions_make_a_vacuum_due_and_the_vacuum_gives_pages_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    store.commit(&one(vec![created(b"a")])).unwrap();
    let n = simplex_agent_store_sqlite::VACUUM_AFTER_DELETIONS;
    for chunk in 0..(n / 100) {
        let records = (0..100).map(|i| message(chunk * 100 + i, 2000)).collect();
        store.commit(&one(records)).unwrap();
    }
    assert!(!store.vacuum_due());
    let deletes = (0..n)
        .map(|internal_id| Record::SndMessageDeleted {
            conn: ConnectionId(b"a".to_vec()),
            internal_id,
        })
        .collect();
    store.commit(&one(deletes)).unwrap();
    assert!(store.vacuum_due());
    let free = store.free_pages().unwrap();
    assert!(free > 100, "{free} free pages");
    // A bounded step first, then the rest.
    assert_eq!(store.incremental_vacuum(Some(10)).unwrap(), 10);
    assert!(store.vacuum_due(), "free pages remain");
    store.incremental_vacuum(None).unwrap();
    assert_eq!(store.free_pages().unwrap(), 0);
    assert!(!store.vacuum_due());
    store.checkpoint().unwrap();
    let size = std::fs::metadata(&path).unwrap().len();
    assert!(size < 200_000, "the file shrank to {size} bytes");
    assert_eq!(store.load().unwrap().connections.len(), 1);
}

#[test]
fn deleted_key_material_is_not_left_in_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = db_path(&dir);
    let mut store = open(&path).unwrap();
    let marker = b"SECRET-RATCHET-STATE-MARKER-0123456789".to_vec();
    store
        .commit(&one(vec![
            created(b"a"),
            Record::RatchetReplaced {
                conn: ConnectionId(b"a".to_vec()),
                state: simplex_agent::store::SecretBytes::new(marker.clone()),
            },
        ]))
        .unwrap();
    store
        .commit(&one(vec![Record::ConnectionDeleted {
            conn: ConnectionId(b"a".to_vec()),
        }]))
        .unwrap();
    store.checkpoint().unwrap();
    drop(store);
    for name in ["agent.db", "agent.db-wal"] {
        let p = dir.path().join(name);
        if let Ok(bytes) = std::fs::read(&p) {
            let found = bytes.windows(marker.len()).any(|w| w == marker.as_slice());
            assert!(!found, "the deleted ratchet state is still in {name}");
        }
    }
}
