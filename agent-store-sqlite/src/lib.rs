//! The agent's durable store on SQLite: [`SqliteStore`] implements the agent's `Store` trait.
//!
//! The agent machine emits `RecordBatch`es and waits for the shell to say each is durable;
//! this crate is what makes them so. A batch is one transaction (or several batches share
//! one: [`SqliteStore::commit_many`]), each record a small statement on the rows it names;
//! `load` reads the whole `StoreState` back in one pass. The schema keeps the reference
//! agent's table and column names, its migrations are compiled in and applied in order, and
//! the file is created owner-only because it holds the ratchet and queue private keys.
//! `spec/agent-store.md` describes all of it.
//!
//! This is a shell-side component: it does file I/O and is called by the shell, never by the
//! machine.

mod columns;
mod error;
mod open;
mod read;
mod schema;
mod write;

#[cfg(test)]
mod open_tests;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, TransactionBehavior};
use simplex_agent::store::{RecordBatch, Store, StoreState};

pub use error::{Refusal, Result, SqliteStoreError};
pub use open::{backup_path, MigrationConfirmation};
pub use schema::{Migration, MIGRATIONS};

/// How many deleting records (connections, messages, spent keys) make a vacuum worth it.
pub const VACUUM_AFTER_DELETIONS: u64 = 1000;

/// The agent's store in an SQLite file.
pub struct SqliteStore {
    db: Connection,
    path: PathBuf,
    deletions_since_vacuum: u64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating it (mode 0600) if it does not exist, and brings
    /// its schema up to this program's: a new file is set up at once; an older one only with
    /// [`MigrationConfirmation::Yes`], after a backup copy (see [`backup_path`]); a newer one,
    /// a reference agent's or another program's is refused.
    pub fn open(path: impl AsRef<Path>, confirmation: MigrationConfirmation) -> Result<Self> {
        let path = path.as_ref();
        let db = open::open(path, confirmation)?;
        Ok(Self::from_connection(db, path))
    }

    fn from_connection(db: Connection, path: &Path) -> Self {
        Self {
            db,
            path: path.to_path_buf(),
            deletions_since_vacuum: 0,
        }
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The names of the migrations applied to the file, in order.
    pub fn migrations(&self) -> Result<Vec<String>> {
        open::applied(&self.db)
    }

    /// Applies several batches in one transaction: all of them or none. This is group
    /// commit: one disk sync for every batch the shell has gathered. On a refusal the error
    /// says which batch and record; the shell may then retry the batches one by one so only
    /// the bad batch's connection is halted.
    pub fn commit_many(&mut self, batches: &[RecordBatch]) -> Result<()> {
        let tx = self
            .db
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deletions = write::apply_batches(&tx, batches.iter().map(|b| b.records.as_slice()))?;
        tx.commit()?;
        self.deletions_since_vacuum += deletions as u64;
        Ok(())
    }

    /// Whether enough was deleted since the last vacuum that [`Self::incremental_vacuum`] is
    /// worth running now (the shell also runs it on a schedule).
    pub fn vacuum_due(&self) -> bool {
        self.deletions_since_vacuum >= VACUUM_AFTER_DELETIONS
    }

    /// Pages of the file that hold nothing (what a vacuum would give back).
    pub fn free_pages(&self) -> Result<u64> {
        Ok(self
            .db
            .query_row("PRAGMA freelist_count", [], |r| r.get::<_, i64>(0))?
            .max(0) as u64)
    }

    /// Gives free pages back to the file system: at most `max_pages` of them (all with
    /// `None`), so a shell can bound how long one call takes. Returns how many were freed.
    pub fn incremental_vacuum(&mut self, max_pages: Option<u32>) -> Result<u64> {
        let before = self.free_pages()?;
        let sql = match max_pages {
            Some(n) => format!("PRAGMA incremental_vacuum({n})"),
            None => "PRAGMA incremental_vacuum".to_string(),
        };
        // SQLite frees one page per step of this statement: it must be stepped to the end.
        let mut st = self.db.prepare(&sql)?;
        let mut rows = st.query([])?;
        while rows.next()?.is_some() {}
        drop(rows);
        drop(st);
        let after = self.free_pages()?;
        if after == 0 {
            self.deletions_since_vacuum = 0;
        }
        Ok(before.saturating_sub(after))
    }

    /// Moves everything from the write-ahead log into the main file and empties the log (for
    /// a clean shutdown, or before copying the file).
    pub fn checkpoint(&mut self) -> Result<()> {
        self.db
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
        Ok(())
    }
}

impl Store for SqliteStore {
    type Error = SqliteStoreError;

    fn load(&mut self) -> Result<StoreState> {
        // One read transaction: every table is read at the same point in time.
        let tx = self.db.transaction()?;
        let state = read::load(&tx)?;
        tx.finish()?;
        Ok(state)
    }

    fn commit(&mut self, batch: &RecordBatch) -> Result<()> {
        self.commit_many(std::slice::from_ref(batch))
    }
}
