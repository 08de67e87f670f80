//! [`MemoryStore`]: the store of tests and the simulator. It keeps the durable state itself and
//! can be told to fail commits, so tests can crash an agent at any batch and restart it from
//! exactly what was durable.

use super::{ApplyError, RecordBatch, Store, StoreState};

/// Why a [`MemoryStore`] refused a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MemoryStoreError {
    /// A record did not fit the state (nothing of the batch was applied).
    #[error("record {index} of the batch: {error}")]
    Apply {
        /// Its position in the batch.
        index: usize,
        /// Why.
        error: ApplyError,
    },
    /// The test asked for this commit to fail (nothing was applied).
    #[error("commit failure injected")]
    Injected,
}

/// The durable state in memory.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: StoreState,
    committed: u64,
    fail_next: bool,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A store holding `state` (for example what a crashed agent's store held).
    pub fn with_state(state: StoreState) -> Self {
        Self {
            state,
            ..Self::default()
        }
    }

    /// The durable state.
    pub fn state(&self) -> &StoreState {
        &self.state
    }

    /// How many batches were committed.
    pub fn committed(&self) -> u64 {
        self.committed
    }

    /// The next commit fails without applying anything.
    pub fn fail_next_commit(&mut self) {
        self.fail_next = true;
    }
}

impl Store for MemoryStore {
    type Error = MemoryStoreError;

    fn load(&mut self) -> Result<StoreState, Self::Error> {
        Ok(self.state.clone())
    }

    fn commit(&mut self, batch: &RecordBatch) -> Result<(), Self::Error> {
        if std::mem::take(&mut self.fail_next) {
            return Err(MemoryStoreError::Injected);
        }
        self.state
            .apply_all(&batch.records)
            .map_err(|(index, error)| MemoryStoreError::Apply { index, error })?;
        self.committed += 1;
        Ok(())
    }
}
