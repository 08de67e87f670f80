//! The encrypted ratchet message (the reference's `EncRatchetMessage`):
//! `(encrypted header: 1-byte length + bytes, tag: 16 raw bytes, body: the rest)`.
//!
//! The body is the message padded to the caller's length and AES-256-GCM encrypted with the
//! message key; its associated data is the ratchet's associated data followed by the encoded
//! encrypted header, so the header cannot be swapped.

use bytes::Bytes;

use crate::crypto::aead::AuthTag;
use crate::encoding::{Decode, DecodeError, Encode, Reader, ShortBytes};

/// An encrypted ratchet message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncRatchetMessage {
    /// The encoded [`super::EncMessageHeader`].
    pub header: ShortBytes,
    /// The body's authentication tag.
    pub auth_tag: AuthTag,
    /// The encrypted, padded body.
    pub body: Bytes,
}

impl Encode for EncRatchetMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        out.reserve(1 + self.header.as_bytes().len() + 16 + self.body.len());
        self.header.encode(out);
        out.extend_from_slice(&self.auth_tag.0);
        out.extend_from_slice(&self.body);
    }
}

impl Decode for EncRatchetMessage {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            header: ShortBytes::decode(r)?,
            auth_tag: AuthTag(r.take_array()?),
            body: r.take_rest(),
        })
    }
}
