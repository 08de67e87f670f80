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

/// The parts of an encoded [`EncRatchetMessage`], borrowed from the input (decryption needs no
/// copy of the body).
pub(crate) struct MessageParts<'a> {
    /// The encoded encrypted header.
    pub(crate) header: &'a [u8],
    /// The body's authentication tag.
    pub(crate) auth_tag: AuthTag,
    /// The encrypted body.
    pub(crate) body: &'a [u8],
}

impl<'a> MessageParts<'a> {
    /// Splits an encoded message, with the same rules as [`EncRatchetMessage::decode`].
    pub(crate) fn parse(msg: &'a [u8]) -> Result<Self, DecodeError> {
        let end =
            |needed: usize, available: usize| DecodeError::UnexpectedEnd { needed, available };
        let (&len, rest) = msg.split_first().ok_or(end(1, 0))?;
        let (header, rest) = rest
            .split_at_checked(usize::from(len))
            .ok_or(end(usize::from(len), rest.len()))?;
        let (tag, body) = rest.split_at_checked(16).ok_or(end(16, rest.len()))?;
        let mut auth_tag = [0u8; 16];
        auth_tag.copy_from_slice(tag);
        Ok(Self {
            header,
            auth_tag: AuthTag(auth_tag),
            body,
        })
    }
}
