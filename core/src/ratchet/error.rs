//! Typed errors of the ratchet operations. Each variant names the reference's `CryptoError`
//! constructor it corresponds to, so the agent can report the same condition.

use crate::crypto::error::CryptoError;
use crate::encoding::DecodeError;

/// Why a message could not be encrypted. The state is unchanged after any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncryptError {
    /// No sending chain yet: the receiving party must get a message first (`CERatchetState`).
    #[error("the ratchet has no sending chain yet")]
    NoSendingChain,
    /// The message (with its 2-byte length) does not fit the padded length
    /// (`CryptoLargeMsgError`).
    #[error("message too large for its padded length")]
    MessageTooLarge,
    /// The message counter of this chain would overflow (the reference silently wraps).
    #[error("message counter overflow")]
    CounterOverflow,
    /// The AEAD refused its input.
    #[error("encryption failed: {0}")]
    Crypto(CryptoError),
}

/// Why a message could not be decrypted. The state, including stored skipped keys, is
/// unchanged after any of these.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecryptError {
    /// The message or its encrypted header is not validly encoded (`CryptoHeaderError`).
    #[error("bad encrypted message encoding: {0}")]
    Encoding(DecodeError),
    /// The header authenticated but its content does not parse (`CryptoHeaderError`).
    #[error("bad message header encoding: {0}")]
    HeaderEncoding(DecodeError),
    /// No known header key opens the header (`CERatchetHeader`): a message from an unknown or
    /// long-gone chain, or a forged one.
    #[error("header decryption failed")]
    HeaderDecryption,
    /// The message number is older than the previous one and has no stored key
    /// (`CERatchetEarlierMessage`).
    #[error("earlier message")]
    EarlierMessage,
    /// The message number is the one just received (`CERatchetDuplicateMessage`); also a replay
    /// of a skipped message whose key was already used (where the reference says
    /// `CERatchetHeader`).
    #[error("duplicate message")]
    DuplicateMessage,
    /// The message would need more than [`super::MAX_SKIP`] keys skipped in one chain
    /// (`CERatchetTooManySkipped`).
    #[error("too many skipped messages")]
    TooManySkipped,
    /// The header is for the current chain but there is no receiving chain (`CERatchetState`).
    #[error("the ratchet has no receiving chain")]
    NoReceivingChain,
    /// The message body did not authenticate (`AESDecryptError`).
    #[error("message decryption failed")]
    MessageDecryption,
    /// The message body authenticated but its padding is invalid (`CryptoLargeMsgError`).
    #[error("bad message padding")]
    MessagePadding,
    /// A Diffie-Hellman agreement of the ratchet step failed.
    #[error("ratchet step failed: {0}")]
    Crypto(CryptoError),
}

/// Why a stored ratchet state could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PersistError {
    /// The format version byte is not one this code reads.
    #[error("unknown ratchet state format version {0}")]
    UnknownVersion(u8),
    /// A field of the state is too large for the format (cannot happen with states this code
    /// builds).
    #[error("ratchet state field too large: {0}")]
    FieldTooLarge(&'static str),
    /// The bytes do not hold a state in the expected layout.
    #[error("bad ratchet state encoding: {0}")]
    Decode(DecodeError),
}

impl From<DecodeError> for PersistError {
    fn from(e: DecodeError) -> Self {
        PersistError::Decode(e)
    }
}
