//! Chain keys and the two chains built on them.
//!
//! The chain KDF is `hkdf3(salt = "", ikm = chain key, "SimpleXChainRatchet")`: the first 32
//! bytes are the next chain key, the second 32 the message key, and the last 32 split into the
//! message IV (first 16) and the header IV (last 16). The sender uses the header IV to encrypt
//! the header of the same message.

use zeroize::Zeroizing;

use super::header::HeaderKey;
use super::message_key::MessageKey;
use crate::crypto::aead::AesIv;
use crate::crypto::kdf::hkdf_sha512;
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
    /// The chain key that replaces the old one ([`ChainKey::advance`]).
    pub next: NextChainKey,
    /// The key and IV of this message's body.
    pub message_key: MessageKey,
    /// The IV of this message's header.
    pub header_iv: AesIv,
}

/// A chain key just derived, until it replaces the old one: kept inline (no allocation per
/// message) and wiped on drop. Redacted in `Debug`.
#[derive(Clone)]
pub struct NextChainKey(Zeroizing<[u8; 32]>);

impl std::fmt::Debug for NextChainKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NextChainKey(<redacted>)")
    }
}

impl NextChainKey {
    /// The key bytes. Secret: only for test vectors.
    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }
}

impl ChainKey {
    /// Replaces this key with the next one, in place (the old bytes are overwritten).
    pub fn advance(&mut self, next: &NextChainKey) {
        self.0.expose_mut().copy_from_slice(next.expose());
    }

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

    /// The chain KDF (the reference's `chainKdf`). It runs twice per message (once on each
    /// side), so its output stays on the stack (wiped after) instead of in three heap secrets.
    pub fn step(&self) -> ChainStep {
        let mut okm = Zeroizing::new([0u8; 96]);
        // 96 bytes is far below HKDF-SHA512's limit of 255 * 64, so expansion cannot fail.
        if hkdf_sha512(b"", self.0.expose(), CHAIN_INFO, &mut okm[..]).is_err() {
            okm.fill(0);
        }
        let part = |i: usize| {
            let mut bytes = Zeroizing::new([0u8; 32]);
            bytes.copy_from_slice(&okm[i * 32..(i + 1) * 32]);
            bytes
        };
        let mut message_iv = [0u8; 16];
        let mut header_iv = [0u8; 16];
        message_iv.copy_from_slice(&okm[64..80]);
        header_iv.copy_from_slice(&okm[80..96]);
        ChainStep {
            next: NextChainKey(part(0)),
            message_key: MessageKey::new(part(1), AesIv(message_iv)),
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
