//! The public keys each party contributes to X3DH (the reference's `E2ERatchetParams` and
//! `E2ERatchetParamsUri`).
//!
//! Binary form: `(version: u16, key1, key2)`, each key as a 1-byte length and its X.509
//! SubjectPublicKeyInfo DER (68 bytes for X448). URI form, inside connection requests:
//! `v=<version range>&x3dh=<key1>,<key2>`, the keys as base64url (with padding) of their DER,
//! written without percent-escaping.

use super::E2E_ENCRYPT_VERSIONS;
use crate::crypto::{keys, x448};
use crate::encoding::query::{Escaping, QueryParams};
use crate::encoding::string::{Scanner, StrDecode, StrEncode};
use crate::encoding::{Decode, DecodeError, Encode, Reader, Version, VersionRange};

/// Appends the binary form of an X448 public key: 1-byte length, then its DER.
pub(crate) fn encode_x448_key(key: &x448::PublicKey, out: &mut Vec<u8>) {
    keys::PublicKey::X448(*key).encode(out)
}

/// Reads the binary form of an X448 public key; a key of another algorithm is refused.
pub(crate) fn decode_x448_key(r: &mut Reader) -> Result<x448::PublicKey, DecodeError> {
    match keys::PublicKey::decode(r)? {
        keys::PublicKey::X448(key) => Ok(key),
        _ => Err(DecodeError::Invalid("X448 public key")),
    }
}

/// The text form of an X448 public key: base64url (with padding) of its DER.
fn x448_key_text(key: &x448::PublicKey) -> String {
    keys::PublicKey::X448(*key).to_base64url()
}

/// Parses the text form of an X448 public key.
fn x448_key_from_text(text: &[u8]) -> Result<x448::PublicKey, DecodeError> {
    let text = std::str::from_utf8(text).map_err(|_| DecodeError::Invalid("X448 public key"))?;
    match keys::PublicKey::from_base64url(text) {
        Ok(keys::PublicKey::X448(key)) => Ok(key),
        _ => Err(DecodeError::Invalid("X448 public key")),
    }
}

/// The keys a party publishes for X3DH, with the ratchet version it uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eRatchetParams {
    /// The ratchet version.
    pub version: Version,
    /// The first X448 public key.
    pub key1: x448::PublicKey,
    /// The second X448 public key; its private half also starts the initiator's ratchet.
    pub key2: x448::PublicKey,
}

impl Encode for E2eRatchetParams {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        encode_x448_key(&self.key1, out);
        encode_x448_key(&self.key2, out);
    }
}

impl Decode for E2eRatchetParams {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            version: Version::decode(r)?,
            key1: decode_x448_key(r)?,
            key2: decode_x448_key(r)?,
        })
    }
}

/// The keys a party publishes for X3DH with the range of ratchet versions it supports, as
/// carried in connection request URIs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct E2eRatchetParamsUri {
    /// The supported ratchet versions.
    pub versions: VersionRange,
    /// The first X448 public key.
    pub key1: x448::PublicKey,
    /// The second X448 public key.
    pub key2: x448::PublicKey,
}

impl E2eRatchetParamsUri {
    /// These keys at the version agreed with `ours`, or `None` when the ranges do not overlap
    /// (the reference's `compatibleVersion`).
    pub fn compatible(&self, ours: &VersionRange) -> Option<E2eRatchetParams> {
        let version = self.versions.compatible_version(ours)?;
        Some(E2eRatchetParams {
            version,
            key1: self.key1,
            key2: self.key2,
        })
    }

    /// [`Self::compatible`] with the versions this implementation supports.
    pub fn compatible_with_ours(&self) -> Option<E2eRatchetParams> {
        self.compatible(&E2E_ENCRYPT_VERSIONS)
    }
}

impl E2eRatchetParams {
    /// The same keys with a version range (the reference's `toVersionRangeT`).
    pub fn with_versions(&self, versions: VersionRange) -> E2eRatchetParamsUri {
        E2eRatchetParamsUri {
            versions,
            key1: self.key1,
            key2: self.key2,
        }
    }
}

impl StrEncode for E2eRatchetParamsUri {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let keys = format!(
            "{},{}",
            x448_key_text(&self.key1),
            x448_key_text(&self.key2)
        )
        .into_bytes();
        QueryParams {
            escaping: Escaping::NoEscaping,
            params: vec![
                (b"v".to_vec(), self.versions.to_str_bytes()),
                (b"x3dh".to_vec(), keys),
            ],
        }
        .str_encode(out)
    }
}

impl StrDecode for E2eRatchetParamsUri {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let query = QueryParams::str_parse(s)?;
        let versions: VersionRange = query.param(b"v")?;
        let keys = query
            .get(b"x3dh")
            .ok_or(DecodeError::Invalid("missing x3dh parameter"))?;
        let mut parts = keys.split(|&b| b == b',');
        let mut key = || -> Result<x448::PublicKey, DecodeError> {
            let text = parts.next().ok_or(DecodeError::Invalid("bad e2e params"))?;
            x448_key_from_text(text)
        };
        let (key1, key2) = (key()?, key()?);
        if parts.next().is_some() {
            return Err(DecodeError::Invalid("bad e2e params"));
        }
        Ok(Self {
            versions,
            key1,
            key2,
        })
    }
}
