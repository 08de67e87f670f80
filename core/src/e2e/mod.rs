//! The per-queue end-to-end layer: what the agent puts in a `SEND` body (the reference's
//! `ClientMsgEnvelope`, `PubHeader`, `ClientMessage`, `PrivHeader` in `Protocol.hs`).
//!
//! Layout (see `spec/ratchet.md`, "Client message envelopes"):
//! - [`PubHeader`]: `(client version: u16, maybe sender's X25519 DH key)`, the key as `0`, or
//!   `1` then 1-byte length + DER. The key is present only in the first message to a queue
//!   (confirmation or invitation), so the recipient can compute the queue's DH secret.
//! - [`ClientMessage`]: a [`PrivHeader`] (`_` for none, or `K` + the sender's verification key
//!   in a confirmation) followed by the agent message, with no length.
//! - [`ClientMsgEnvelope`]: `(PubHeader, 24-byte nonce, crypto_box of the padded
//!   ClientMessage)`; the box runs to the end. The padded length is
//!   [`E2E_ENC_CONFIRMATION_LENGTH`] (15936) when the header carries a key, else
//!   [`E2E_ENC_MESSAGE_LENGTH`] (16032), so every envelope is 16088 bytes or less.

use bytes::Bytes;

use crate::crypto::cbox::{cb_decrypt, cb_encrypt, CbNonce};
use crate::crypto::error::CryptoError;
use crate::crypto::keys::{PublicKey, VerifyKey};
use crate::crypto::x25519;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Tail, Version};

/// The padded length of a client message without a DH key in its header (the reference's
/// `e2eEncMessageLength`).
pub const E2E_ENC_MESSAGE_LENGTH: usize = 16032;

/// The padded length of a client message whose header carries the sender's DH key (the
/// reference's `e2eEncConfirmationLength`).
pub const E2E_ENC_CONFIRMATION_LENGTH: usize = 15936;

/// The unencrypted header of a client message (the reference's `PubHeader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubHeader {
    /// The sender's SMP client version.
    pub version: Version,
    /// The sender's public DH key for this queue, in the first message only.
    pub e2e_dh_key: Option<x25519::PublicKey>,
}

impl PubHeader {
    /// The length the client message is padded to under this header.
    pub fn padded_length(&self) -> usize {
        match self.e2e_dh_key {
            Some(_) => E2E_ENC_CONFIRMATION_LENGTH,
            None => E2E_ENC_MESSAGE_LENGTH,
        }
    }
}

impl Encode for PubHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.version.encode(out);
        self.e2e_dh_key.map(PublicKey::X25519).encode(out);
    }
}

impl Decode for PubHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let version = Version::decode(r)?;
        let e2e_dh_key = match Option::<PublicKey>::decode(r)? {
            None => None,
            Some(PublicKey::X25519(k)) => Some(k),
            Some(_) => return Err(DecodeError::Invalid("X25519 public key")),
        };
        Ok(Self {
            version,
            e2e_dh_key,
        })
    }
}

/// The encrypted header of a client message (the reference's `PrivHeader`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PrivHeader {
    /// A confirmation: the key the recipient should use to verify the sender's commands.
    Confirmation(Box<VerifyKey>),
    /// Any other message.
    Empty,
}

impl Encode for PrivHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            PrivHeader::Confirmation(key) => {
                out.push(b'K');
                key.encode(out);
            }
            PrivHeader::Empty => out.push(b'_'),
        }
    }
}

impl Decode for PrivHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'K' => Ok(PrivHeader::Confirmation(Box::new(VerifyKey::decode(r)?))),
            b'_' => Ok(PrivHeader::Empty),
            _ => Err(DecodeError::Invalid("PrivHeader")),
        }
    }
}

/// The plaintext of an envelope (the reference's `ClientMessage`): the private header and the
/// agent's message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMessage {
    /// The private header.
    pub header: PrivHeader,
    /// The agent message (the rest of the plaintext).
    pub body: Bytes,
}

impl Encode for ClientMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        out.extend_from_slice(&self.body);
    }
}

impl Decode for ClientMessage {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            header: PrivHeader::decode(r)?,
            body: r.take_rest(),
        })
    }
}

/// A `SEND` body as the agent builds it (the reference's `ClientMsgEnvelope`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientMsgEnvelope {
    /// The unencrypted header.
    pub header: PubHeader,
    /// The crypto_box nonce.
    pub nonce: CbNonce,
    /// The crypto_box of the padded [`ClientMessage`] (tag first).
    pub enc_body: Bytes,
}

impl Encode for ClientMsgEnvelope {
    fn encode(&self, out: &mut Vec<u8>) {
        self.header.encode(out);
        self.nonce.encode(out);
        out.extend_from_slice(&self.enc_body);
    }
}

impl Decode for ClientMsgEnvelope {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            header: PubHeader::decode(r)?,
            nonce: CbNonce::decode(r)?,
            enc_body: Tail::decode(r)?.0,
        })
    }
}

/// Why an envelope could not be opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OpenError {
    /// The box did not authenticate, or its padding is bad (`CBDecryptError`,
    /// `CryptoLargeMsgError`).
    #[error("envelope decryption failed: {0}")]
    Decrypt(CryptoError),
    /// The plaintext is not a client message.
    #[error("bad client message: {0}")]
    Encoding(DecodeError),
}

impl ClientMsgEnvelope {
    /// Encrypts `msg` for a queue with its DH `secret` (the agent's `agentCbEncrypt`): padded
    /// to the length [`PubHeader::padded_length`] gives.
    pub fn seal(
        secret: &x25519::SharedSecret,
        nonce: CbNonce,
        header: PubHeader,
        msg: &ClientMessage,
    ) -> Result<Self, CryptoError> {
        let enc_body = cb_encrypt(secret, &nonce, &msg.to_bytes(), header.padded_length())?;
        Ok(Self {
            header,
            nonce,
            enc_body: Bytes::from(enc_body),
        })
    }

    /// Decrypts the envelope with the queue's DH `secret` and parses the client message.
    pub fn open(&self, secret: &x25519::SharedSecret) -> Result<ClientMessage, OpenError> {
        let plain = cb_decrypt(secret, &self.nonce, &self.enc_body).map_err(OpenError::Decrypt)?;
        ClientMessage::decode_all(plain).map_err(OpenError::Encoding)
    }
}
