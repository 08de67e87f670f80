//! The agent's durable state as data: the records the machine emits ([`Record`]), the state
//! they build ([`StoreState`]), and the [`Store`] a shell keeps them in.
//!
//! The machine never reads a database. It is given the [`StoreState`] once, at start, and from
//! then on tells the store what changed, as numbered batches of deltas ([`RecordBatch`]); a
//! batch is applied whole or not at all. Whatever the machine will show the world as a
//! consequence of a batch (bytes on the wire, an event to the user) waits for the shell's word
//! that the batch is durable. Rebuilding the state from the applied batches gives exactly what
//! the machine holds in memory (checked in `agent/tests/store_props.rs`).

mod memory;
mod records;
mod state;
mod undo;

pub use memory::{MemoryStore, MemoryStoreError};
pub use records::{
    ConfirmationRecord, ConnectionMode, InvitationRecord, MsgCounters, RatchetKeys,
    RcvMessageRecord, RcvQueueRecord, Record, SkippedKey, SndMessageRecord, SndQueueRecord,
};
pub use state::{ApplyError, ConnectionRecord, RcvMessageEntry, SndMessageEntry, StoreState};

use rand_core::CryptoRngCore;
use simplex_core::encoding::string::base64url_encode;
use zeroize::Zeroizing;

/// Random bytes in the reference's record ids (`randomId gVar 12` in its SQLite store).
pub const RANDOM_ID_BYTES: usize = 12;

/// A fresh record id as the reference makes them: 12 random bytes, base64url (16 ASCII
/// characters, no padding needed). The text's bytes are the id.
fn random_id(rng: &mut dyn CryptoRngCore) -> Vec<u8> {
    let mut raw = [0u8; RANDOM_ID_BYTES];
    rng.fill_bytes(&mut raw);
    base64url_encode(&raw).into_bytes()
}

macro_rules! record_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub Vec<u8>);

        impl $name {
            /// A fresh random id (12 random bytes, base64url), as the reference makes them.
            pub fn generate(rng: &mut dyn CryptoRngCore) -> Self {
                Self(random_id(rng))
            }

            /// The id's bytes (its text form).
            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }
        }

        /// The id is shown as its text: it names a local record, not a queue on a server.
        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}({})", stringify!($name), String::from_utf8_lossy(&self.0))
            }
        }
    };
}

record_id!(
    /// A connection's id, the user's handle for it (the reference's `ConnId`).
    ConnectionId
);
record_id!(
    /// A received confirmation awaiting the user's `LET` (the reference's `ConfirmationId`).
    ConfirmationId
);
record_id!(
    /// A received contact request awaiting `ACPT`/`RJCT` (the reference's `InvitationId`).
    InvitationId
);

/// Key material in a record: wiped on drop, never shown by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    /// Wraps bytes (taking ownership, so no unwiped copy is left behind by this call).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes, for the one place that needs them (a key decoder, a database write).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<Zeroizing<Vec<u8>>> for SecretBytes {
    fn from(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }
}

impl std::fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretBytes({} bytes)", self.0.len())
    }
}

/// A batch's number: the machine counts them from 1; the shell confirms them by number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BatchId(pub u64);

/// Records to apply together, in order, atomically.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    /// Its number, echoed back in `Committed` / `CommitFailed`.
    pub id: BatchId,
    /// The deltas, in the order the machine made them.
    pub records: Vec<Record>,
}

/// Where the shell keeps the agent's records (SQLite in production, [`MemoryStore`] in tests).
pub trait Store {
    /// Why loading or committing failed.
    type Error: std::error::Error;

    /// The whole state, read once when the agent starts.
    fn load(&mut self) -> Result<StoreState, Self::Error>;

    /// Applies every record of the batch, or none of them; when it returns `Ok` the batch is
    /// durable.
    fn commit(&mut self, batch: &RecordBatch) -> Result<(), Self::Error>;
}
