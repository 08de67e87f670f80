//! Message headers and their encryption.
//!
//! A [`MsgHeader`] is `(max version: u16, ratchet key: X448 public key as 1-byte length + DER,
//! PN: u32, Ns: u32)` — 79 bytes for X448 — padded to [`PADDED_HEADER_LEN`] (88) bytes so that
//! future fields fit without changing the size, then AES-256-GCM encrypted with the chain's
//! header key, the chain KDF's header IV, and the ratchet's associated data.
//!
//! The [`EncMessageHeader`] is `(version: u16, IV: 16 raw bytes, tag: 16 raw bytes, encrypted
//! header: 1-byte length + bytes)`: 123 bytes.

use super::params::{decode_x448_key, encode_x448_key};
use crate::crypto::aead::{AesIv, AesKey, AuthTag, PreparedKey};
use crate::crypto::error::CryptoError;
use crate::crypto::secret::Secret;
use crate::crypto::x448;
use crate::encoding::{Decode, DecodeError, Encode, Reader, ShortBytes, Version};

/// The size every header is padded to before encryption (the reference's `paddedHeaderLen`).
pub const PADDED_HEADER_LEN: usize = 88;

/// A header key (the reference's `HeaderKey`): encrypts the headers of one chain, so its AES
/// round keys are computed once, with the key. Equality is constant-time (on the key);
/// zeroized on drop, redacted in `Debug`.
#[derive(Clone, Debug)]
pub struct HeaderKey {
    key: AesKey,
    prepared: PreparedKey,
}

impl PartialEq for HeaderKey {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for HeaderKey {}

impl HeaderKey {
    /// A header key from its bytes (copied).
    pub fn from_bytes(bytes: &[u8; 32]) -> Self {
        Self::from_secret(Secret::from_array(bytes))
    }

    pub(crate) fn from_secret(key: Secret<32>) -> Self {
        let prepared = PreparedKey::new(&key);
        Self { key, prepared }
    }

    /// The key bytes. Secret: only for persistence and test vectors.
    pub fn expose(&self) -> &[u8; 32] {
        self.key.expose()
    }
}

/// The plaintext header of a ratchet message (the reference's `MsgHeader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgHeader {
    /// The highest ratchet version the sender supports.
    pub max_version: Version,
    /// The sender's current ratchet public key (`msgDHRs`).
    pub ratchet_key: x448::PublicKey,
    /// The number of messages in the sender's previous sending chain (`msgPN`).
    pub previous_chain_len: u32,
    /// The number of this message in its chain (`msgNs`).
    pub message_number: u32,
}

impl Encode for MsgHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.max_version.encode(out);
        encode_x448_key(&self.ratchet_key, out);
        self.previous_chain_len.encode(out);
        self.message_number.encode(out);
    }
}

impl Decode for MsgHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            max_version: Version::decode(r)?,
            ratchet_key: decode_x448_key(r)?,
            previous_chain_len: u32::decode(r)?,
            message_number: u32::decode(r)?,
        })
    }
}

/// An encrypted header (the reference's `EncMessageHeader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncMessageHeader {
    /// The ratchet version the message is encrypted with (the sender's minimum version).
    pub version: Version,
    /// The IV the header was encrypted with.
    pub iv: AesIv,
    /// The header's authentication tag.
    pub auth_tag: AuthTag,
    /// The encrypted, padded header.
    pub body: ShortBytes,
}

impl Encode for EncMessageHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        out.extend_from_slice(&self.iv.0);
        out.extend_from_slice(&self.auth_tag.0);
        self.body.encode(out);
    }
}

impl Decode for EncMessageHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            version: Version::decode(r)?,
            iv: AesIv(r.take_array()?),
            auth_tag: AuthTag(r.take_array()?),
            body: ShortBytes::decode(r)?,
        })
    }
}

/// Why a header could not be opened with one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HeaderOpenError {
    /// Not this key (or a forged header): try the next key.
    Authentication,
    /// The key fits but the content does not parse: fatal for the message.
    Encoding(DecodeError),
}

impl EncMessageHeader {
    /// Pads and encrypts `header` (the reference's header step of `rcEncrypt`), appending the
    /// encrypted header's encoding to `out`: the encryption happens where the bytes are written.
    /// On error `out` may hold a partial header and must be discarded.
    pub(crate) fn seal_into(
        version: Version,
        key: &HeaderKey,
        iv: AesIv,
        ad: &[u8],
        header: &MsgHeader,
        out: &mut Vec<u8>,
    ) -> Result<(), CryptoError> {
        version.encode(out);
        out.extend_from_slice(&iv.0);
        let tag_at = out.len();
        out.extend_from_slice(&[0u8; 16]);
        // PADDED_HEADER_LEN is below 256: the body's length fits its one-byte prefix.
        out.push(PADDED_HEADER_LEN as u8);
        let tag = key.prepared.encrypt_padded_into(
            &iv,
            PADDED_HEADER_LEN,
            ad,
            &header.to_bytes(),
            out,
        )?;
        out[tag_at..tag_at + 16].copy_from_slice(&tag.0);
        Ok(())
    }

    /// Decrypts and parses the header with `key`. As the reference, bytes after the header
    /// fields inside the padding are ignored (room for future fields).
    pub(crate) fn open(&self, key: &HeaderKey, ad: &[u8]) -> Result<MsgHeader, HeaderOpenError> {
        // Decrypted on the stack: a header is at most 255 bytes (its one-byte length prefix).
        let mut buf = zeroize::Zeroizing::new([0u8; 255]);
        let ciphertext = self.body.as_bytes();
        let buf = buf
            .get_mut(..ciphertext.len())
            .ok_or(HeaderOpenError::Authentication)?;
        buf.copy_from_slice(ciphertext);
        let plain = key
            .prepared
            .decrypt_padded_in_place(&self.iv, ad, buf, &self.auth_tag)
            .map_err(|_| HeaderOpenError::Authentication)?;
        MsgHeader::decode(&mut Reader::from_slice(plain)).map_err(HeaderOpenError::Encoding)
    }
}
