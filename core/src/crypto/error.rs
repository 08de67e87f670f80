//! Errors of the crypto layer.
//!
//! The variants that cross a protocol boundary mirror the reference's `CryptoError`
//! (`CryptoLargeMsgError`, `CBDecryptError`, `AESDecryptError`); the key-encoding errors are
//! ours, typed so that a caller can map them to the protocol's syntax errors.

use crate::encoding::PadError;

/// A crypto operation failed. Carries no key or message bytes, so it is safe to log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The message does not fit the padded length (or a padded plaintext's length prefix is
    /// larger than what follows it): the reference's `CryptoLargeMsgError`.
    #[error("message too large for its padded length")]
    LargeMsg,
    /// A crypto_box packet failed authentication or is shorter than its tag: `CBDecryptError`.
    #[error("crypto_box decryption failed")]
    CbDecrypt,
    /// AES-GCM authentication failed: `AESDecryptError`.
    #[error("AES-GCM decryption failed")]
    AesDecrypt,
    /// The AES-GCM implementation refused its input (e.g. over the GCM length limit).
    #[error("AES-GCM encryption failed")]
    AesEncrypt,
    /// A Diffie-Hellman agreement could not be computed by any backend.
    #[error("Diffie-Hellman agreement failed")]
    DhFailed,
    /// The two keys of an agreement are of different algorithms.
    #[error("keys of different algorithms")]
    AlgorithmMismatch,
    /// HKDF was asked for more output than it can produce.
    #[error("HKDF output length too large")]
    KdfLength,
}

impl From<PadError> for CryptoError {
    fn from(_: PadError) -> Self {
        CryptoError::LargeMsg
    }
}

/// A key, signature or key hash could not be decoded from its DER, binary or text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyDecodeError {
    /// The bytes are not the DER structure expected (wrong tag, length or version).
    #[error("malformed key DER: {0}")]
    Malformed(&'static str),
    /// The algorithm identifier is not one of Ed25519, Ed448, X25519, X448.
    #[error("unknown key algorithm")]
    UnknownAlgorithm,
    /// The key is of a known algorithm that this role does not accept (e.g. a DH key where a
    /// signature key is needed).
    #[error("key algorithm not allowed here")]
    WrongAlgorithm,
    /// The key or signature has the wrong number of bytes for its algorithm.
    #[error("wrong key or signature length: {0}")]
    WrongLength(usize),
    /// Bytes follow the DER structure.
    #[error("{0} trailing bytes after the key")]
    TrailingBytes(usize),
    /// The text form is not base64url with padding.
    #[error("invalid base64url")]
    Base64,
}
