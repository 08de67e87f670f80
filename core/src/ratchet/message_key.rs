//! Message keys: the AES-256-GCM key and 16-byte IV of one message body, used once.
//!
//! The body is sealed where it is written in the message buffer and unpadded in place when
//! opened ([`crate::crypto::aead`]: 16-byte IV, plaintext padded first), which saves a copy of
//! up to 16 KB per message on each side; see `spec/performance.md`.

use zeroize::Zeroizing;

use crate::crypto::aead::{AesIv, AuthTag, PreparedKey};
use crate::crypto::error::CryptoError;

/// The key and IV of one message body. Zeroized on drop (the key), redacted in `Debug` (the IV
/// too: unlike the header IV it never travels). The key is held inline: two are made per
/// message (one on each side) and most live only until the body is sealed or opened.
#[derive(Clone)]
pub struct MessageKey {
    key: Zeroizing<[u8; 32]>,
    iv: AesIv,
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
}

impl MessageKey {
    pub(crate) fn new(key: Zeroizing<[u8; 32]>, iv: AesIv) -> Self {
        Self { key, iv }
    }

    /// A message key from its parts (copied).
    pub fn from_parts(key: &[u8; 32], iv: [u8; 16]) -> Self {
        Self {
            key: Zeroizing::new(*key),
            iv: AesIv(iv),
        }
    }

    /// The key bytes. Secret: only for persistence and test vectors.
    pub fn expose_key(&self) -> &[u8; 32] {
        &self.key
    }

    /// The IV.
    pub fn iv(&self) -> &AesIv {
        &self.iv
    }

    /// Appends `msg` padded to `padded_len` to `out` and encrypts it there; returns the tag.
    /// On error `out` may hold a partial body and must be discarded.
    pub(crate) fn seal_into(
        &self,
        padded_len: usize,
        ad: &[u8],
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<AuthTag, CryptoError> {
        PreparedKey::from_bytes(&self.key).encrypt_padded_into(&self.iv, padded_len, ad, msg, out)
    }

    /// Authenticates and decrypts `body`, then removes the padding. Nothing of the plaintext
    /// is returned unless the tag verifies ([`CryptoError::AesDecrypt`]); bad padding inside an
    /// authentic body is [`CryptoError::LargeMsg`].
    pub(crate) fn open(
        &self,
        ad: &[u8],
        body: &[u8],
        tag: &AuthTag,
    ) -> Result<Vec<u8>, CryptoError> {
        PreparedKey::from_bytes(&self.key).decrypt_padded(&self.iv, ad, body, tag)
    }
}
