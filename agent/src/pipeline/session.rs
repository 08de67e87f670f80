//! The double ratchet layer of a connection as pure steps: each takes the current state by
//! reference and returns the next state with its result, so the caller persists the new state
//! together with whatever it produced, and keeps the old one untouched on any error (the
//! reference's `agentRatchetEncrypt` / `agentRatchetDecrypt`, which read and write the state
//! in the same store transaction as the message).
//!
//! Starting the ratchet follows the reference's handshake: the joining party starts the
//! sending side from the keys in the invitation link (`joinConn`: `x3dhSnd`,
//! `initSndRatchet`), the initiator the receiving side from the keys in the confirmation
//! (`smpConfirmation`: `x3dhRcv`, `initRcvRatchet`).

use simplex_core::crypto::rng::CryptoRng;
use simplex_core::crypto::{x448, CryptoError};
use simplex_core::ratchet::{
    x3dh_receiver, x3dh_sender, E2eRatchetParams, Ratchet, MAX_SKIPPED_TOTAL,
};

use super::error::{ReceiveError, SendError};

/// How a decryption changed the stored skipped message keys (the reference's
/// `SkippedMsgDiff`), so a store that keeps them in their own rows writes only the change.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkippedChange {
    /// No skipped key used or added (`SMDNoChange`).
    NoChange,
    /// The message was decrypted with a stored skipped key, now removed (`SMDRemove`).
    Removed,
    /// The message skipped over others, whose keys were stored (`SMDAdd`), possibly dropping
    /// the oldest stored keys to stay within [`MAX_SKIPPED_TOTAL`]: the stored set must be
    /// rewritten. `net` is how many more keys are stored than before.
    Added {
        /// The growth of the stored set.
        net: usize,
    },
}

/// A ratchet state change to persist.
#[derive(Clone, Debug)]
pub struct RatchetUpdate {
    /// The next state, skipped keys included.
    pub ratchet: Ratchet,
    /// How the skipped keys changed.
    pub skipped: SkippedChange,
}

/// The joining party's ratchet: `own1`, `own2` are its X3DH keys (whose public halves it
/// sends in its confirmation), `own_ratchet` its first ratchet key, `theirs` the initiator's
/// keys from the invitation link.
pub fn joiner_ratchet(
    own1: &x448::PrivateKey,
    own2: &x448::PrivateKey,
    own_ratchet: x448::PrivateKey,
    theirs: &E2eRatchetParams,
) -> Result<Ratchet, CryptoError> {
    let params = x3dh_sender(own1, own2, theirs)?;
    Ratchet::init_sender(&theirs.key2, own_ratchet, &params)
}

/// The initiator's ratchet: `own1`, `own2` are the X3DH keys of its invitation link,
/// `theirs` the joining party's keys from its confirmation.
pub fn initiator_ratchet(
    own1: &x448::PrivateKey,
    own2: &x448::PrivateKey,
    theirs: &E2eRatchetParams,
) -> Result<Ratchet, CryptoError> {
    let params = x3dh_receiver(own1, own2, theirs)?;
    Ok(Ratchet::init_receiver(own2.clone(), &params))
}

/// Encrypts `plaintext` padded to `padded_len`: the ciphertext (`padded_len + 140` bytes) and
/// the next state.
pub fn encrypt(
    ratchet: &Ratchet,
    padded_len: usize,
    plaintext: &[u8],
) -> Result<(Vec<u8>, Ratchet), SendError> {
    let mut next = ratchet.clone();
    let ciphertext = next
        .encrypt(padded_len, plaintext)
        .map_err(SendError::Ratchet)?;
    Ok((ciphertext, next))
}

/// Decrypts a ratchet message: the plaintext and the state change. A new ratchet key, needed
/// when the message starts a new chain, is drawn from `rng`.
pub fn decrypt(
    ratchet: &Ratchet,
    rng: &mut (impl CryptoRng + ?Sized),
    ciphertext: &[u8],
) -> Result<(Vec<u8>, RatchetUpdate), ReceiveError> {
    let mut next = ratchet.clone();
    let decrypted = next
        .decrypt(rng, ciphertext)
        .map_err(ReceiveError::Ratchet)?;
    let (before, after) = (ratchet.skipped_keys(), next.skipped_keys());
    let skipped = if decrypted.from_skipped {
        SkippedChange::Removed
    } else if after > before || after >= MAX_SKIPPED_TOTAL {
        // At the bound, keys added and as many dropped leave the count unchanged: the count
        // cannot tell, so the change is reported whenever it may have happened.
        SkippedChange::Added {
            net: after - before.min(after),
        }
    } else {
        SkippedChange::NoChange
    };
    Ok((
        decrypted.plaintext,
        RatchetUpdate {
            ratchet: next,
            skipped,
        },
    ))
}
