//! Upgrades, played with a program that knows one migration more than the file has (the
//! public API only ever sees this program's own list, so these live inside the crate).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::os::unix::fs::PermissionsExt;

use super::open::{applied, open_with, MigrationConfirmation};
use super::schema::{Migration, MIGRATIONS};
use super::SqliteStoreError;

/// A later version of this program: one more migration, which adds a column and a row.
static NEWER: [Migration; 2] = [
    MIGRATIONS[0],
    Migration {
        name: "rs_29990101_second",
        up: "ALTER TABLE connections ADD COLUMN note TEXT;
             CREATE TABLE upgrade_marker(x INTEGER); INSERT INTO upgrade_marker VALUES (7);",
    },
];

/// The first version of this program.
static OLDER: [Migration; 1] = [MIGRATIONS[0]];

fn made_by_older_program(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("agent.db");
    let db = open_with(&path, MigrationConfirmation::No, &OLDER).unwrap();
    db.execute(
        "INSERT INTO connections (conn_id, conn_mode) VALUES (x'01', 'INV')",
        [],
    )
    .unwrap();
    drop(db);
    path
}

#[test]
fn an_older_database_is_not_upgraded_without_confirmation() {
    let dir = tempfile::tempdir().unwrap();
    let path = made_by_older_program(&dir);
    let err = open_with(&path, MigrationConfirmation::No, &NEWER).unwrap_err();
    let SqliteStoreError::MigrationsNeedConfirmation { pending } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(pending, &["rs_29990101_second".to_string()]);
    assert!(err.to_string().contains("--yes-to-migrations"), "{err}");
    // Nothing was changed and no backup made.
    let db = open_with(&path, MigrationConfirmation::No, &OLDER).unwrap();
    assert_eq!(applied(&db).unwrap(), ["rs_20261204_initial"]);
    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("backup"))
        .collect();
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn a_confirmed_upgrade_backs_up_first_then_applies_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = made_by_older_program(&dir);
    let db = open_with(&path, MigrationConfirmation::Yes, &NEWER).unwrap();
    assert_eq!(
        applied(&db).unwrap(),
        ["rs_20261204_initial", "rs_29990101_second"]
    );
    let marker: i64 = db
        .query_row("SELECT x FROM upgrade_marker", [], |r| r.get(0))
        .unwrap();
    assert_eq!(marker, 7);
    let ts: String = db
        .query_row(
            "SELECT ts FROM migrations WHERE name = 'rs_29990101_second'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
    drop(db);

    // The backup is the database as it was before: the old schema, the row, owner-only.
    let backup = dir.path().join("agent.db.backup-rs_20261204_initial");
    let mode = std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let old = rusqlite::Connection::open(&backup).unwrap();
    assert_eq!(applied(&old).unwrap(), ["rs_20261204_initial"]);
    let rows: i64 = old
        .query_row("SELECT count(*) FROM connections", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
    let has_marker: i64 = old
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'upgrade_marker'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(has_marker, 0);
}

#[test]
fn the_older_program_refuses_the_upgraded_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = made_by_older_program(&dir);
    drop(open_with(&path, MigrationConfirmation::Yes, &NEWER).unwrap());
    let err = open_with(&path, MigrationConfirmation::Yes, &OLDER).unwrap_err();
    let SqliteStoreError::DatabaseNewer { unknown } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(unknown, &["rs_29990101_second".to_string()]);
}

#[test]
fn a_second_upgrade_attempt_does_not_overwrite_the_first_backup() {
    let dir = tempfile::tempdir().unwrap();
    let path = made_by_older_program(&dir);
    let first = super::backup_path(&path, "rs_20261204_initial");
    std::fs::write(&first, b"an earlier backup").unwrap();
    drop(open_with(&path, MigrationConfirmation::Yes, &NEWER).unwrap());
    assert_eq!(std::fs::read(&first).unwrap(), b"an earlier backup");
    let second = dir.path().join("agent.db.backup-rs_20261204_initial.1");
    assert!(second.exists());
}

/// A full disk, played with SQLite's page limit: the commit fails with an error, nothing of it
/// is applied, and the store goes on once there is room.
#[test]
fn a_full_disk_fails_the_commit_and_changes_nothing() {
    use simplex_agent::store::{BatchId, ConnectionId, ConnectionMode, Record, RecordBatch, Store};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.db");
    let db = open_with(&path, MigrationConfirmation::No, MIGRATIONS).unwrap();
    let pages: i64 = db.query_row("PRAGMA page_count", [], |r| r.get(0)).unwrap();
    db.query_row(
        &format!("PRAGMA max_page_count = {}", pages + 4),
        [],
        |_| Ok(()),
    )
    .unwrap();
    let mut store = super::SqliteStore::from_connection(db, &path);
    let created = |n: u32| Record::ConnectionCreated {
        conn: ConnectionId(format!("connection-{n:06}-with-a-long-id").into_bytes()),
        mode: ConnectionMode::Invitation,
        agent_version: 2,
        duplex_handshake: None,
    };
    store
        .commit(&RecordBatch {
            id: BatchId(1),
            records: vec![created(0)],
        })
        .unwrap();
    let before = store.load().unwrap();
    let big = RecordBatch {
        id: BatchId(2),
        records: (1..2000).map(created).collect(),
    };
    let err = store.commit(&big).unwrap_err();
    assert!(
        matches!(&err, SqliteStoreError::Sqlite(e)
            if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DiskFull)),
        "{err:?}"
    );
    assert_eq!(store.load().unwrap(), before);
    store
        .commit(&RecordBatch {
            id: BatchId(3),
            records: vec![created(1)],
        })
        .unwrap();
    assert_eq!(store.load().unwrap().connections.len(), 2);
}
