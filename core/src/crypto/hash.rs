//! Hashes and the server identity.
//!
//! A server is identified by [`KeyHash`]: SHA-256 over the DER of its CA ("offline")
//! certificate — not the online certificate it presents in TLS. Clients send it in their hello
//! and put it in server addresses as base64url with padding. See `spec/crypto.md`.

use std::fmt;

use sha2::{Digest, Sha256, Sha512};
use subtle::ConstantTimeEq;

use super::error::KeyDecodeError;
use crate::encoding::{Decode, DecodeError, Encode, Reader};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-512 of `data`.
pub fn sha512(data: &[u8]) -> [u8; 64] {
    Sha512::digest(data).into()
}

/// The server identity: SHA-256 of the CA certificate's DER.
///
/// Binary form: 1-byte length (32) then the hash. Text form: base64url with padding.
#[derive(Clone, Copy)]
pub struct KeyHash([u8; 32]);

impl KeyHash {
    /// Wraps a hash value.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The identity of a server whose CA certificate has this DER encoding.
    pub fn of_certificate_der(der: &[u8]) -> Self {
        Self(sha256(der))
    }

    /// The 32 hash bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// base64url with padding (44 characters), as in server addresses.
    pub fn to_base64url(&self) -> String {
        crate::encoding::string::base64url_encode(&self.0)
    }

    /// Parses the base64url form.
    pub fn from_base64url(text: &str) -> Result<Self, KeyDecodeError> {
        let bytes = crate::encoding::string::base64url_decode(text.as_bytes())
            .map_err(|_| KeyDecodeError::Base64)?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| KeyDecodeError::WrongLength(bytes.len()))?;
        Ok(Self(arr))
    }
}

impl PartialEq for KeyHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for KeyHash {}

impl std::hash::Hash for KeyHash {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}

impl fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyHash({})", self.to_base64url())
    }
}

impl fmt::Display for KeyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl Encode for KeyHash {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(32);
        out.extend_from_slice(&self.0);
    }
}

impl Decode for KeyHash {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let bytes = r.short_bytes()?;
        let arr: [u8; 32] = bytes
            .as_ref()
            .try_into()
            .map_err(|_| DecodeError::Invalid("key hash length"))?;
        Ok(Self(arr))
    }
}

impl crate::encoding::string::StrEncode for KeyHash {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.to_base64url().as_bytes())
    }
}

impl crate::encoding::string::StrDecode for KeyHash {
    fn str_parse(s: &mut crate::encoding::string::Scanner<'_>) -> Result<Self, DecodeError> {
        let bytes = s.base64url()?;
        let arr: [u8; 32] = bytes
            .as_slice()
            .try_into()
            .map_err(|_| DecodeError::Invalid("key hash length"))?;
        Ok(Self(arr))
    }
}
