//! The double ratchet with header encryption that protects agent connections end to end (the
//! reference's `Simplex.Messaging.Crypto.Ratchet`), as pure state transitions: randomness is
//! injected, nothing here does IO. See `spec/ratchet.md` for the byte layouts.
//!
//! The model, one concept per file:
//! - [`params`]: the X448 public keys each party publishes ([`E2eRatchetParams`]) and their URI
//!   form; [`x3dh`] turns both parties' keys into the shared [`RatchetInitParams`].
//! - [`RootKey`] ([`root_key`]): advanced by each Diffie-Hellman ratchet step, yielding a chain
//!   key and the next header key.
//! - [`ChainKey`] ([`chain_key`]): advanced once per message, yielding a [`MessageKey`]
//!   ([`message_key`]) and the header IV; a [`SendingChain`] or [`ReceivingChain`] pairs a
//!   chain key with its header key.
//! - [`MsgHeader`] and [`EncMessageHeader`] ([`header`]): the header, padded to 88 bytes and
//!   encrypted with the chain's header key; [`EncRatchetMessage`] ([`message`]) is the whole
//!   encrypted message.
//! - [`skipped`]: message keys of messages not yet received, bounded per step (512, as the
//!   reference) and in total.
//! - [`Ratchet`] ([`state`]): encryption and decryption. Decryption computes the next state on
//!   the side and commits it only once the message body authenticates, so a failed, replayed
//!   or forged message leaves the state exactly as it was.
//! - [`persist`]: a versioned binary form of the whole state for the agent's store.
//!
//! Every secret lives in a zeroizing box and no `Debug` output shows key bytes.

pub mod chain_key;
pub mod error;
pub mod header;
pub mod message;
pub mod message_key;
pub mod params;
pub mod persist;
pub mod root_key;
pub mod skipped;
pub mod state;
pub mod x3dh;

pub use chain_key::{ChainKey, ChainStep, NextChainKey, ReceivingChain, SendingChain};
pub use error::{DecryptError, EncryptError, PersistError};
pub use header::{EncMessageHeader, HeaderKey, MsgHeader, PADDED_HEADER_LEN};
pub use message::EncRatchetMessage;
pub use message_key::MessageKey;
pub use params::{E2eRatchetParams, E2eRatchetParamsUri};
pub use root_key::{RootKey, RootStep};
pub use skipped::{MAX_SKIP, MAX_SKIPPED_TOTAL};
pub use state::{Decrypted, Ratchet};
pub use x3dh::{generate_e2e_params, x3dh_receiver, x3dh_sender, AssocData, RatchetInitParams};

use crate::encoding::{Version, VersionRange};

/// The ratchet (e2e encryption) version this implementation speaks (the reference's
/// `e2eEncryptVersion`).
pub const E2E_ENCRYPT_VERSION: Version = 1;

/// The range of ratchet versions supported (the reference's `e2eEncryptVRange`).
pub const E2E_ENCRYPT_VERSIONS: VersionRange = VersionRange::single(E2E_ENCRYPT_VERSION);
