//! AES-256-GCM as the reference uses it: a **16-byte IV** (not GCM's usual 12, so the counter
//! block is derived through GHASH as GCM specifies for other IV lengths), a detached 16-byte
//! tag, and a plaintext that is always padded to a fixed length first so the ciphertext length
//! says nothing about the message. See `spec/crypto.md`.

use aes_gcm::aead::consts::U16;
use aes_gcm::aead::generic_array::GenericArray;
use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::aes::Aes256;
use aes_gcm::AesGcm;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::error::CryptoError;
use super::rng::CryptoRng;
use super::secret::Secret;
use crate::encoding::{pad_into, unpad};

/// AES-256-GCM with a 16-byte nonce.
type Aes256Gcm16 = AesGcm<Aes256, U16>;

/// An AES-256 key.
pub type AesKey = Secret<32>;

/// Generates a random AES-256 key.
pub fn random_aes_key(rng: &mut (impl CryptoRng + ?Sized)) -> AesKey {
    Secret::random(rng)
}

/// The 16-byte GCM initialisation vector the reference uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AesIv(pub [u8; 16]);

impl AesIv {
    /// Generates a random IV.
    pub fn random(rng: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut iv = [0u8; 16];
        rng.fill_bytes(&mut iv);
        Self(iv)
    }
}

/// The 16-byte GCM authentication tag.
#[derive(Debug, Clone, Copy, Eq)]
pub struct AuthTag(pub [u8; 16]);

impl PartialEq for AuthTag {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl std::hash::Hash for AuthTag {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

fn cipher(key: &AesKey) -> Aes256Gcm16 {
    cipher_from_bytes(key.expose())
}

fn cipher_from_bytes(key: &[u8; 32]) -> Aes256Gcm16 {
    Aes256Gcm16::new(GenericArray::from_slice(key))
}

/// An AES-256-GCM key with its round keys and GHASH key already computed, for a key that
/// encrypts many messages (a ratchet chain's header key). Wiped on drop; redacted in `Debug`.
#[derive(Clone)]
pub struct PreparedKey(Aes256Gcm16);

impl std::fmt::Debug for PreparedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PreparedKey(<redacted>)")
    }
}

impl PreparedKey {
    /// Prepares `key`.
    pub fn new(key: &AesKey) -> Self {
        Self(cipher(key))
    }

    /// Prepares a key held elsewhere (a one-message key kept off the heap).
    pub fn from_bytes(key: &[u8; 32]) -> Self {
        Self(cipher_from_bytes(key))
    }

    /// As [`encrypt_padded`], with this key.
    pub fn encrypt_padded(
        &self,
        iv: &AesIv,
        padded_len: usize,
        associated_data: &[u8],
        msg: &[u8],
    ) -> Result<(AuthTag, Vec<u8>), CryptoError> {
        let mut buf = Vec::with_capacity(padded_len);
        let tag = seal_padded_into(&self.0, iv, padded_len, associated_data, msg, &mut buf)?;
        Ok((tag, buf))
    }

    /// As [`encrypt_padded_into`], with this key.
    pub fn encrypt_padded_into(
        &self,
        iv: &AesIv,
        padded_len: usize,
        associated_data: &[u8],
        msg: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<AuthTag, CryptoError> {
        seal_padded_into(&self.0, iv, padded_len, associated_data, msg, out)
    }

    /// As [`decrypt_padded`], with this key, decrypting `buf` in place: returns the content
    /// within it. On error `buf` is wiped.
    pub fn decrypt_padded_in_place<'b>(
        &self,
        iv: &AesIv,
        associated_data: &[u8],
        buf: &'b mut [u8],
        tag: &AuthTag,
    ) -> Result<&'b [u8], CryptoError> {
        let opened = self.0.decrypt_in_place_detached(
            GenericArray::from_slice(&iv.0),
            associated_data,
            buf,
            GenericArray::from_slice(&tag.0),
        );
        if opened.is_err() {
            buf.zeroize();
            return Err(CryptoError::AesDecrypt);
        }
        match unpad(buf).map(<[u8]>::len) {
            Ok(len) => Ok(&buf[2..2 + len]),
            Err(e) => {
                buf.zeroize();
                Err(e.into())
            }
        }
    }

    /// As [`decrypt_padded`], with this key.
    pub fn decrypt_padded(
        &self,
        iv: &AesIv,
        associated_data: &[u8],
        ciphertext: &[u8],
        tag: &AuthTag,
    ) -> Result<Vec<u8>, CryptoError> {
        open_padded(&self.0, iv, associated_data, ciphertext, tag)
    }
}

/// Pads `msg` to `padded_len` and encrypts it; returns the tag and the ciphertext
/// (`padded_len` bytes). Fails with [`CryptoError::LargeMsg`] if `msg` does not fit.
pub fn encrypt_padded(
    key: &AesKey,
    iv: &AesIv,
    padded_len: usize,
    associated_data: &[u8],
    msg: &[u8],
) -> Result<(AuthTag, Vec<u8>), CryptoError> {
    let mut buf = Vec::with_capacity(padded_len);
    let tag = encrypt_padded_into(key, iv, padded_len, associated_data, msg, &mut buf)?;
    Ok((tag, buf))
}

/// Like [`encrypt_padded`], but appends the ciphertext to `out` (no extra buffer: the padded
/// plaintext is encrypted where it is written). On error `out` may hold a partial body and
/// must be discarded.
pub fn encrypt_padded_into(
    key: &AesKey,
    iv: &AesIv,
    padded_len: usize,
    associated_data: &[u8],
    msg: &[u8],
    out: &mut Vec<u8>,
) -> Result<AuthTag, CryptoError> {
    seal_padded_into(&cipher(key), iv, padded_len, associated_data, msg, out)
}

fn seal_padded_into(
    cipher: &Aes256Gcm16,
    iv: &AesIv,
    padded_len: usize,
    associated_data: &[u8],
    msg: &[u8],
    out: &mut Vec<u8>,
) -> Result<AuthTag, CryptoError> {
    let start = out.len();
    pad_into(msg, padded_len, out)?;
    let body = out.get_mut(start..).ok_or(CryptoError::AesEncrypt)?;
    let tag = cipher
        .encrypt_in_place_detached(GenericArray::from_slice(&iv.0), associated_data, body)
        .map_err(|_| CryptoError::AesEncrypt)?;
    Ok(AuthTag(tag.into()))
}

/// Authenticates and decrypts `ciphertext`, then removes the padding.
///
/// Nothing of the plaintext is returned unless the tag verifies ([`CryptoError::AesDecrypt`]);
/// a bad length prefix inside an authentic plaintext is [`CryptoError::LargeMsg`].
pub fn decrypt_padded(
    key: &AesKey,
    iv: &AesIv,
    associated_data: &[u8],
    ciphertext: &[u8],
    tag: &AuthTag,
) -> Result<Vec<u8>, CryptoError> {
    open_padded(&cipher(key), iv, associated_data, ciphertext, tag)
}

fn open_padded(
    cipher: &Aes256Gcm16,
    iv: &AesIv,
    associated_data: &[u8],
    ciphertext: &[u8],
    tag: &AuthTag,
) -> Result<Vec<u8>, CryptoError> {
    let mut buf = ciphertext.to_vec();
    cipher
        .decrypt_in_place_detached(
            GenericArray::from_slice(&iv.0),
            associated_data,
            &mut buf,
            GenericArray::from_slice(&tag.0),
        )
        .map_err(|_| CryptoError::AesDecrypt)?;
    // Unpad in place: move the content to the front and wipe what follows it.
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
