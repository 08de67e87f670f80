//! Why a message could not be built or opened, with the reference's error for each case.
//!
//! The reference folds crypto failures into its `AgentErrorType` with `cryptoError`
//! (`Agent/Client.hs`); `reference()` names the [`AgentErrorType`] for every variant here, so
//! the agent machine can report exactly what the reference reports.

use simplex_core::crypto::CryptoError;
use simplex_core::encoding::DecodeError;
use simplex_core::ratchet::{DecryptError, EncryptError};

use crate::error::{AgentErrorType, CommandErrorType, SmpAgentError};
use crate::integrity::IdsExhausted;
use crate::protocol::EnvelopeError;

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
    pub fn reference(&self) -> AgentErrorType {
        match self {
            SendError::Ratchet(EncryptError::MessageTooLarge)
            | SendError::Box(CryptoError::LargeMsg) => AgentErrorType::Cmd(CommandErrorType::Large),
            SendError::Ratchet(EncryptError::NoSendingChain) => internal("CERatchetState"),
            SendError::Ratchet(_) | SendError::Box(_) => internal("crypto"),
            SendError::Envelope(_) => internal("envelope"),
            SendError::NotConnInfo => internal("not connection info"),
            SendError::Ids(_) => internal("message ids"),
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
    pub fn reference(&self) -> AgentErrorType {
        match self {
            ReceiveError::Encoding(_) => AgentErrorType::Agent(SmpAgentError::Message),
            ReceiveError::Version => AgentErrorType::Agent(SmpAgentError::Version),
            ReceiveError::Box(CryptoError::LargeMsg) => {
                AgentErrorType::Cmd(CommandErrorType::Large)
            }
            ReceiveError::Box(_) => AgentErrorType::Agent(SmpAgentError::Encryption),
            ReceiveError::Ratchet(e) => ratchet_reference(e),
            ReceiveError::Prohibited => AgentErrorType::Agent(SmpAgentError::Prohibited),
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
fn ratchet_reference(e: &DecryptError) -> AgentErrorType {
    match e {
        DecryptError::Encoding(_)
        | DecryptError::HeaderEncoding(_)
        | DecryptError::MessageDecryption => AgentErrorType::Agent(SmpAgentError::Encryption),
        DecryptError::MessagePadding => AgentErrorType::Cmd(CommandErrorType::Large),
        DecryptError::DuplicateMessage => AgentErrorType::Agent(SmpAgentError::Duplicate),
        DecryptError::HeaderDecryption => internal("CERatchetHeader"),
        DecryptError::EarlierMessage => internal("CERatchetEarlierMessage"),
        DecryptError::TooManySkipped => internal("CERatchetTooManySkipped"),
        DecryptError::NoReceivingChain => internal("CERatchetState"),
        DecryptError::Crypto(_) => internal("crypto"),
    }
}

fn internal(text: &str) -> AgentErrorType {
    AgentErrorType::Internal(text.to_owned())
}
