//! Message keys: the AES-256-GCM key and 16-byte IV of one message body, used once.
//!
//! The body is sealed and opened in place in the message buffer (same algorithm and padding
//! as [`crate::crypto::aead`]: 16-byte IV, plaintext padded first), which saves a copy of up to
//! 16 KB per message on each side; see `spec/performance.md`.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use zeroize::Zeroize;

use crate::crypto::aead::{AesIv, AesKey, AuthTag};
use crate::crypto::error::CryptoError;
use crate::crypto::secret::Secret;
use crate::encoding::{pad_into, unpad};

/// AES-256-GCM with the reference's 16-byte IV.
type Aes256Gcm16 = AesGcm<Aes256, U16>;

/// The key and IV of one message body. Zeroized on drop (the key), redacted in `Debug` (the IV
/// too: unlike the header IV it never travels).
#[derive(Clone)]
pub struct MessageKey {
    key: AesKey,
    iv: AesIv,
}

impl std::fmt::Debug for MessageKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MessageKey(<redacted>)")
    }
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

    fn cipher(&self) -> Aes256Gcm16 {
        Aes256Gcm16::new(GenericArray::from_slice(self.key.expose()))
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
        let start = out.len();
        pad_into(msg, padded_len, out)?;
        let body = out.get_mut(start..).ok_or(CryptoError::AesEncrypt)?;
        let tag = self
            .cipher()
            .encrypt_in_place_detached(GenericArray::from_slice(&self.iv.0), ad, body)
            .map_err(|_| CryptoError::AesEncrypt)?;
        Ok(AuthTag(tag.into()))
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
        let mut buf = body.to_vec();
        self.cipher()
            .decrypt_in_place_detached(
                GenericArray::from_slice(&self.iv.0),
                ad,
                &mut buf,
                GenericArray::from_slice(&tag.0),
            )
            .map_err(|_| CryptoError::AesDecrypt)?;
        match unpad(&buf).map(<[u8]>::len) {
            Ok(len) => {
                buf.copy_within(2..2 + len, 0);
                buf[len..].zeroize();
                buf.truncate(len);
                Ok(buf)
            }
            Err(e) => {
                buf.zeroize();
                Err(e.into())
            }
        }
    }
}
