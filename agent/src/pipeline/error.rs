//! Why a message could not be built or opened, with the reference's error for each case.
//!
//! The reference folds crypto failures into its `AgentErrorType` with `cryptoError`
//! (`Agent/Client.hs`); [`ReferenceError`] names the result for every variant here, so the
//! agent machine can report exactly what the reference reports. It is a stand-in for the
//! agent's full error type, to be replaced by it when the two are merged.

use simplex_core::crypto::CryptoError;
use simplex_core::encoding::DecodeError;
use simplex_core::ratchet::{DecryptError, EncryptError};

use crate::integrity::IdsExhausted;
use crate::protocol::EnvelopeError;

/// The reference's `AgentErrorType` value a pipeline error is reported as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReferenceError {
    /// `CMD LARGE`: a message does not fit its padded length.
    CmdLarge,
    /// `AGENT A_MESSAGE`: something does not parse.
    AgentMessage,
    /// `AGENT A_PROHIBITED`: a well-formed message that is not allowed here.
    AgentProhibited,
    /// `AGENT A_VERSION`: an incompatible version.
    AgentVersion,
    /// `AGENT A_ENCRYPTION`: a box or the ratchet did not decrypt or authenticate.
    AgentEncryption,
    /// `AGENT A_DUPLICATE`: the ratchet has already decrypted this message.
    AgentDuplicate,
    /// `INTERNAL <text>`: the reference shows the crypto error; the text is its constructor.
    Internal(&'static str),
}

/// Why a message could not be built.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The ratchet refused to encrypt (no sending chain yet, message too large, ...).
    #[error("ratchet encryption failed: {0}")]
    Ratchet(EncryptError),
    /// The per-queue box refused its input (the client message does not fit).
    #[error("per-queue encryption failed: {0}")]
    Box(CryptoError),
    /// The envelope cannot be encoded (an invitation link too long, not an invitation).
    #[error("bad envelope: {0}")]
    Envelope(EnvelopeError),
    /// A confirmation must carry connection info (`I` or `D`), not a numbered message.
    #[error("a confirmation carries connection info only")]
    NotConnInfo,
    /// The connection's message ids are exhausted.
    #[error(transparent)]
    Ids(#[from] IdsExhausted),
}

impl SendError {
    /// What the reference reports for this failure.
    pub fn reference(&self) -> ReferenceError {
        match self {
            SendError::Ratchet(EncryptError::MessageTooLarge)
            | SendError::Box(CryptoError::LargeMsg) => ReferenceError::CmdLarge,
            SendError::Ratchet(EncryptError::NoSendingChain) => {
                ReferenceError::Internal("CERatchetState")
            }
            SendError::Ratchet(_) | SendError::Box(_) => ReferenceError::Internal("crypto"),
            SendError::Envelope(_) => ReferenceError::Internal("envelope"),
            SendError::NotConnInfo => ReferenceError::Internal("not connection info"),
            SendError::Ids(_) => ReferenceError::Internal("message ids"),
        }
    }
}

/// Why a received message could not be opened. After any of these nothing that the caller
/// holds has changed: the ratchet passed in is the state to keep.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReceiveError {
    /// The client envelope, client message, agent envelope or agent message does not parse.
    #[error("bad message encoding: {0}")]
    Encoding(DecodeError),
    /// The sender's SMP client version or agent version is not one we speak.
    #[error("incompatible version")]
    Version,
    /// The per-queue box did not open.
    #[error("per-queue decryption failed: {0}")]
    Box(CryptoError),
    /// The ratchet did not decrypt the message (including a duplicate it already decrypted).
    #[error("ratchet decryption failed: {0}")]
    Ratchet(DecryptError),
    /// A well-formed message that is not allowed here: a confirmation on a queue that already
    /// has its sender, a message on one that has none, a private header that does not match
    /// the envelope, or an agent message of the wrong kind for its envelope.
    #[error("message not allowed here")]
    Prohibited,
}

impl ReceiveError {
    /// What the reference reports for this failure.
    pub fn reference(&self) -> ReferenceError {
        match self {
            ReceiveError::Encoding(_) => ReferenceError::AgentMessage,
            ReceiveError::Version => ReferenceError::AgentVersion,
            ReceiveError::Box(CryptoError::LargeMsg) => ReferenceError::CmdLarge,
            ReceiveError::Box(_) => ReferenceError::AgentEncryption,
            ReceiveError::Ratchet(e) => ratchet_reference(e),
            ReceiveError::Prohibited => ReferenceError::AgentProhibited,
        }
    }

    /// Whether this is the ratchet recognising a message it has already decrypted: the
    /// server redelivered it (after a lost `ACK` or a crash), which the agent answers by
    /// looking up the stored message rather than by reporting an error.
    pub fn is_duplicate(&self) -> bool {
        matches!(self, ReceiveError::Ratchet(DecryptError::DuplicateMessage))
    }
}

/// The reference's `cryptoError` over the ratchet's errors.
fn ratchet_reference(e: &DecryptError) -> ReferenceError {
    match e {
        DecryptError::Encoding(_)
        | DecryptError::HeaderEncoding(_)
        | DecryptError::MessageDecryption => ReferenceError::AgentEncryption,
        DecryptError::MessagePadding => ReferenceError::CmdLarge,
        DecryptError::DuplicateMessage => ReferenceError::AgentDuplicate,
        DecryptError::HeaderDecryption => ReferenceError::Internal("CERatchetHeader"),
        DecryptError::EarlierMessage => ReferenceError::Internal("CERatchetEarlierMessage"),
        DecryptError::TooManySkipped => ReferenceError::Internal("CERatchetTooManySkipped"),
        DecryptError::NoReceivingChain => ReferenceError::Internal("CERatchetState"),
        DecryptError::Crypto(_) => ReferenceError::Internal("crypto"),
    }
}
