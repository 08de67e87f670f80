//! Chain keys and the two chains built on them.
//!
//! The chain KDF is `hkdf3(salt = "", ikm = chain key, "SimpleXChainRatchet")`: the first 32
//! bytes are the next chain key, the second 32 the message key, and the last 32 split into the
//! message IV (first 16) and the header IV (last 16). The sender uses the header IV to encrypt
//! the header of the same message.

use super::header::HeaderKey;
use super::message_key::MessageKey;
use crate::crypto::aead::AesIv;
use crate::crypto::kdf::hkdf3;
use crate::crypto::secret::Secret;
use crate::crypto::x448;

/// The info string of the chain KDF.
const CHAIN_INFO: &[u8] = b"SimpleXChainRatchet";

/// A 32-byte chain key. Zeroized on drop, redacted in `Debug`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChainKey(Secret<32>);

/// What one chain KDF step yields.
#[derive(Debug, Clone)]
pub struct ChainStep {
    /// The chain key that replaces the old one.
    pub next: ChainKey,
    /// The key and IV of this message's body.
    pub message_key: MessageKey,
    /// The IV of this message's header.
    pub header_iv: AesIv,
}

impl ChainKey {
    /// A chain key from its bytes (copied).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self(Secret::from_array(bytes))
    }

    pub(crate) fn from_secret(secret: Secret<32>) -> Self {
        Self(secret)
    }

    /// The key bytes. Secret: only for persistence and test vectors.
    pub fn expose(&self) -> &[u8; 32] {
        self.0.expose()
    }

    /// The chain KDF (the reference's `chainKdf`).
    pub fn step(&self) -> ChainStep {
        let (next, message_key, ivs) = hkdf3(b"", self.0.expose(), CHAIN_INFO);
        let ivs = ivs.expose();
        let mut message_iv = [0u8; 16];
        let mut header_iv = [0u8; 16];
        message_iv.copy_from_slice(&ivs[..16]);
        header_iv.copy_from_slice(&ivs[16..]);
        ChainStep {
            next: ChainKey(next),
            message_key: MessageKey::new(message_key, AesIv(message_iv)),
            header_iv: AesIv(header_iv),
        }
    }
}

/// The sending half of the ratchet (the reference's `SndRatchet`).
#[derive(Clone, Debug)]
pub struct SendingChain {
    /// The peer's current ratchet public key (`rcDHRr`).
    pub their_ratchet_key: x448::PublicKey,
    /// The sending chain key (`rcCKs`).
    pub chain_key: ChainKey,
    /// The key that encrypts the headers of this chain (`rcHKs`).
    pub header_key: HeaderKey,
}

/// The receiving half of the ratchet (the reference's `RcvRatchet`).
#[derive(Clone, Debug)]
pub struct ReceivingChain {
    /// The receiving chain key (`rcCKr`).
    pub chain_key: ChainKey,
    /// The key that decrypts the headers of this chain (`rcHKr`).
    pub header_key: HeaderKey,
}
