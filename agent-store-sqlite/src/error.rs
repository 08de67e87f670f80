//! What can go wrong opening, migrating, loading or committing, as types a shell can act on:
//! refuse to start (and say why), ask the user, or halt the connections of a failed commit.

use std::path::PathBuf;

use simplex_agent::store::ApplyError;

/// Why the store could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SqliteStoreError {
    /// The file could not be created or opened (missing or read-only directory, no
    /// permission, no space).
    #[error("cannot open the agent database {path}: {reason}")]
    CannotOpen {
        /// The database file.
        path: PathBuf,
        /// What the system or SQLite said.
        reason: String,
    },
    /// The file exists but is not an SQLite database (or is damaged beyond reading).
    #[error("{path} is not an agent database (not SQLite, or corrupt): {reason}")]
    NotADatabase {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        reason: String,
    },
    /// An SQLite database, but not one of ours: it has tables and no `migrations` table.
    #[error("{path} is an SQLite database of another program (it has no migrations table)")]
    ForeignDatabase {
        /// The database file.
        path: PathBuf,
    },
    /// A database written by the reference (Haskell) agent: it has to be imported, which
    /// this store does not do in place.
    #[error("{path} was written by the reference smp-agent (migration {first}); import it instead of opening it")]
    ReferenceDatabase {
        /// The database file.
        path: PathBuf,
        /// Its first migration's name.
        first: String,
    },
    /// The database has migrations this program does not know: it was written by a newer
    /// version, and opening it could lose what that version stores.
    #[error("the agent database is newer than this program (unknown migrations: {})", unknown.join(", "))]
    DatabaseNewer {
        /// The migrations applied to the file that this program lacks.
        unknown: Vec<String>,
    },
    /// The migrations applied to the file are not a prefix of this program's list.
    #[error("the agent database's migrations are out of order: {applied:?}")]
    MigrationsOutOfOrder {
        /// What the file's `migrations` table lists, oldest first.
        applied: Vec<String>,
    },
    /// The database is older than the program and the caller did not confirm the upgrade.
    #[error("the agent database needs migrations {} (a backup is made first): run with --yes-to-migrations to apply them", pending.join(", "))]
    MigrationsNeedConfirmation {
        /// The migrations that would be applied, in order.
        pending: Vec<String>,
    },
    /// The backup copy made before upgrading could not be written (nothing was migrated).
    #[error("cannot back up the agent database to {path} before migrating: {reason}")]
    Backup {
        /// Where the copy was to go.
        path: PathBuf,
        /// Why it failed.
        reason: String,
    },
    /// A record did not fit the stored state (a second queue, an unknown connection...):
    /// nothing of the call was applied.
    #[error("batch {batch} record {index}: {reason}")]
    Refused {
        /// The batch's position in the call (0 for `commit`).
        batch: usize,
        /// The record's position in the batch.
        index: usize,
        /// Why.
        reason: Refusal,
    },
    /// A stored row could not be turned back into a record (corruption, or a hand edit).
    #[error("stored {table}.{column} is not valid: {reason}")]
    BadRow {
        /// The table.
        table: &'static str,
        /// The column.
        column: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// Any other SQLite failure (I/O error, disk full, locked by another process...).
    #[error("agent database: {0}")]
    Sqlite(#[from] rusqlite::Error),
}

/// Why one record was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    /// It does not fit the state, as `StoreState::apply` would say.
    #[error(transparent)]
    Apply(#[from] ApplyError),
    /// It holds something the schema cannot store faithfully (a queue on a non-SMP server).
    #[error("cannot be stored: {0}")]
    Unrepresentable(&'static str),
}

/// Shorthand for this crate's results.
pub type Result<T, E = SqliteStoreError> = std::result::Result<T, E>;
