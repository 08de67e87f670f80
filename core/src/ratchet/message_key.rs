//! Message keys: the AES-256-GCM key and 16-byte IV of one message body, used once.

use crate::crypto::aead::{decrypt_padded, encrypt_padded, AesIv, AesKey, AuthTag};
use crate::crypto::error::CryptoError;
use crate::crypto::secret::Secret;

/// The key and IV of one message body. Zeroized on drop (the key), redacted in `Debug`.
#[derive(Clone, Debug)]
pub struct MessageKey {
    key: AesKey,
    iv: AesIv,
}

impl MessageKey {
    pub(crate) fn new(key: Secret<32>, iv: AesIv) -> Self {
        Self { key, iv }
    }

    /// A message key from its parts (copied).
    pub fn from_parts(key: &[u8; 32], iv: [u8; 16]) -> Self {
        Self {
            key: Secret::from_array(key),
            iv: AesIv(iv),
        }
    }

    /// The key bytes. Secret: only for persistence and test vectors.
    pub fn expose_key(&self) -> &[u8; 32] {
        self.key.expose()
    }

    /// The IV.
    pub fn iv(&self) -> &AesIv {
        &self.iv
    }

    /// Pads and encrypts a message body.
    pub(crate) fn seal(
        &self,
        padded_len: usize,
        ad: &[u8],
        msg: &[u8],
    ) -> Result<(AuthTag, Vec<u8>), CryptoError> {
        encrypt_padded(&self.key, &self.iv, padded_len, ad, msg)
    }

    /// Authenticates, decrypts and unpads a message body.
    pub(crate) fn open(
        &self,
        ad: &[u8],
        body: &[u8],
        tag: &AuthTag,
    ) -> Result<Vec<u8>, CryptoError> {
        decrypt_padded(&self.key, &self.iv, ad, body, tag)
    }
}
