//! Opening the file: created 0600 before SQLite sees it, the connection's settings, and the
//! migrations (fresh → all applied; up to date → none; older → only when confirmed, after a
//! backup; newer or foreign → refused).

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};

use crate::error::{Result, SqliteStoreError};
use crate::schema::{Migration, MIGRATIONS, MIGRATIONS_TABLE, REFERENCE_FIRST_MIGRATION};

/// Whether the caller agreed to upgrade an older database (the reference's "yes to
/// migrations" option). A fresh database is always set up: it holds nothing to lose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MigrationConfirmation {
    /// Upgrade, after making a backup copy (`--yes-to-migrations`, or the user said yes).
    Yes,
    /// Do not upgrade: an older database is an error naming the pending migrations and
    /// `--yes-to-migrations`. An interactive program shows it, asks, and opens again with
    /// `Yes`; a non-interactive one stops with it.
    No,
}

/// Owner read/write only: the file holds private keys.
const FILE_MODE: u32 = 0o600;

/// Creates the file (mode 0600) if it is not there. SQLite gives its `-wal` and `-shm` files the
/// mode of the database file, so they are 0600 too. Returns whether the file is empty (new).
fn create_private(path: &Path) -> Result<bool> {
    let cannot = |e: std::io::Error| SqliteStoreError::CannotOpen {
        path: path.to_path_buf(),
        reason: e.to_string(),
    };
    match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
    {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let meta = std::fs::metadata(path).map_err(cannot)?;
            if !meta.is_file() {
                return Err(SqliteStoreError::CannotOpen {
                    path: path.to_path_buf(),
                    reason: "not a regular file".into(),
                });
            }
            Ok(meta.len() == 0)
        }
        Err(e) => Err(cannot(e)),
    }
}

/// Sorts an SQLite failure while opening into the error a person can act on.
fn opening_error(path: &Path, e: rusqlite::Error) -> SqliteStoreError {
    let code = e.sqlite_error_code();
    match code {
        Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
            SqliteStoreError::NotADatabase {
                path: path.to_path_buf(),
                reason: e.to_string(),
            }
        }
        Some(ErrorCode::CannotOpen)
        | Some(ErrorCode::ReadOnly)
        | Some(ErrorCode::PermissionDenied)
        | Some(ErrorCode::DiskFull)
        | Some(ErrorCode::SystemIoFailure) => SqliteStoreError::CannotOpen {
            path: path.to_path_buf(),
            reason: e.to_string(),
        },
        _ => SqliteStoreError::Sqlite(e),
    }
}

/// Opens (creating if needed) and migrates the database at `path`.
pub fn open(path: &Path, confirmation: MigrationConfirmation) -> Result<Connection> {
    open_with(path, confirmation, MIGRATIONS)
}

/// [`open`] against a given list of migrations (tests play older and newer programs with it).
pub(crate) fn open_with(
    path: &Path,
    confirmation: MigrationConfirmation,
    migrations: &'static [Migration],
) -> Result<Connection> {
    let new_file = create_private(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let db = Connection::open_with_flags(path, flags).map_err(|e| opening_error(path, e))?;
    configure(&db, new_file).map_err(|e| opening_error(path, e))?;
    migrate(&db, path, confirmation, migrations)?;
    Ok(db)
}

/// The connection's settings; `spec/agent-store.md` says why each.
fn configure(db: &Connection, new_file: bool) -> rusqlite::Result<()> {
    if new_file {
        // Only takes effect before the first table is created.
        db.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    }
    // Reading the journal mode reads the file's header: a file that is not a database fails here.
    let mode: String = db.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!("journal mode is {mode}, WAL refused")),
        ));
    }
    db.pragma_update(None, "synchronous", "FULL")?;
    db.pragma_update(None, "foreign_keys", true)?;
    // Deleted rows (spent message keys, old ratchet states) are overwritten, not left in free pages.
    db.pragma_update(None, "secure_delete", true)?;
    // Another process holding the write lock is waited for briefly, then reported.
    db.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(())
}

fn table_exists(db: &Connection, name: &str) -> rusqlite::Result<bool> {
    db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .exists([name])
}

fn user_tables(db: &Connection) -> rusqlite::Result<usize> {
    db.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        [],
        |r| r.get(0),
    )
}

/// The migrations recorded in the file, in the order they apply (by name, as the reference).
pub fn applied(db: &Connection) -> Result<Vec<String>> {
    if !table_exists(db, "migrations")? {
        return Ok(Vec::new());
    }
    let mut st = db.prepare("SELECT name FROM migrations ORDER BY name")?;
    let names = st
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names)
}

/// What must be applied to bring a file with `applied` up to this program's schema.
fn pending(applied: &[String], migrations: &'static [Migration]) -> Result<&'static [Migration]> {
    let unknown: Vec<String> = applied
        .iter()
        .filter(|name| !migrations.iter().any(|m| m.name == name.as_str()))
        .cloned()
        .collect();
    if !unknown.is_empty() {
        return Err(SqliteStoreError::DatabaseNewer { unknown });
    }
    let in_order = applied
        .iter()
        .zip(migrations)
        .all(|(name, m)| name.as_str() == m.name);
    if !in_order {
        return Err(SqliteStoreError::MigrationsOutOfOrder {
            applied: applied.to_vec(),
        });
    }
    Ok(&migrations[applied.len()..])
}

fn migrate(
    db: &Connection,
    path: &Path,
    confirmation: MigrationConfirmation,
    migrations: &'static [Migration],
) -> Result<()> {
    let applied = applied(db).map_err(|e| match e {
        SqliteStoreError::Sqlite(e) => opening_error(path, e),
        other => other,
    })?;
    if applied.is_empty() {
        if table_exists(db, "migrations")? || user_tables(db)? > 0 {
            return Err(SqliteStoreError::ForeignDatabase {
                path: path.to_path_buf(),
            });
        }
        // A new database: nothing in it to lose, so no question and no backup.
        return apply(db, migrations);
    }
    if applied[0] == REFERENCE_FIRST_MIGRATION {
        return Err(SqliteStoreError::ReferenceDatabase {
            path: path.to_path_buf(),
            first: applied[0].clone(),
        });
    }
    let pending = pending(&applied, migrations)?;
    if pending.is_empty() {
        return Ok(());
    }
    match confirmation {
        MigrationConfirmation::No => Err(SqliteStoreError::MigrationsNeedConfirmation {
            pending: pending.iter().map(|m| m.name.to_string()).collect(),
        }),
        MigrationConfirmation::Yes => {
            let last = applied.last().map_or("none", String::as_str);
            backup(db, path, last)?;
            apply(db, pending)
        }
    }
}

/// Each migration in its own transaction, recorded with the time it was applied.
fn apply(db: &Connection, migrations: &[Migration]) -> Result<()> {
    for m in migrations {
        let tx = rusqlite::Transaction::new_unchecked(db, TransactionBehavior::Immediate)?;
        tx.execute_batch(MIGRATIONS_TABLE)?;
        tx.execute_batch(m.up)?;
        tx.execute(
            "INSERT INTO migrations (name, ts) VALUES (?1, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))",
            [m.name],
        )?;
        tx.commit()?;
    }
    Ok(())
}

/// Where the copy of a database at migration `last` goes: `<file>.backup-<last>`, or with
/// `.1`, `.2`... if an earlier attempt left one.
pub fn backup_path(path: &Path, last: &str) -> PathBuf {
    let base = format!("{}.backup-{last}", path.display());
    let mut candidate = PathBuf::from(&base);
    let mut n = 1;
    while candidate.exists() {
        candidate = PathBuf::from(format!("{base}.{n}"));
        n += 1;
    }
    candidate
}

/// A consistent copy of the whole database (WAL included) in a new 0600 file.
fn backup(db: &Connection, path: &Path, last: &str) -> Result<()> {
    let target = backup_path(path, last);
    let failed = |reason: String| SqliteStoreError::Backup {
        path: target.clone(),
        reason,
    };
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(&target)
        .map_err(|e| failed(e.to_string()))?;
    let target_text = target
        .to_str()
        .ok_or_else(|| failed("the path is not UTF-8".into()))?;
    db.execute("VACUUM INTO ?1", [target_text])
        .map_err(|e| failed(e.to_string()))?;
    Ok(())
}
