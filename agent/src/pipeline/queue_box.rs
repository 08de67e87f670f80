//! The per-queue layer: an encoded [`AgentEnvelope`] in a client message, boxed with the
//! queue's X25519 secret (the reference's `agentCbEncrypt`, `agentCbEncryptOnce`,
//! `agentCbDecrypt` and the first half of `processSMPTransmission`).
//!
//! Which key boxes what:
//! - the confirmation to a one-time queue: the sender's fresh X25519 key for that queue goes
//!   in the clear header, so the recipient can compute the same secret; the private header
//!   carries the key the recipient will secure the queue with;
//! - every later message to that queue: the same secret, no key in either header;
//! - an invitation to a contact address: a one-time X25519 key, in the clear header, used for
//!   this one message (the address is shared by everyone who knows it).
//!
//! The recipient tells them apart by what it knows and what the header brings: no secret yet
//! and a key in the header is a confirmation or an invitation; a secret and no key is a
//! message; anything else is refused.

use bytes::Bytes;
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::{x25519, CryptoError};
use simplex_core::e2e::{ClientMessage, ClientMsgEnvelope, OpenError, PrivHeader, PubHeader};
use simplex_core::encoding::{Decode, Encode, Version, VersionRange};
use simplex_core::ratchet::E2eRatchetParams;

use super::error::{ReceiveError, SendError};
use crate::protocol::{AgentEnvelope, ConnectionRequest, SmpQueueInfo};

/// What the sender of a queue needs to box messages for it (the per-queue half of the
/// reference's `SndQueue`).
#[derive(Clone, Debug)]
pub struct SndQueueBox {
    /// The SMP client version agreed for the queue, written in every clear header.
    pub client_version: Version,
    /// DH(recipient's queue key, our queue key).
    pub dh_secret: x25519::SharedSecret,
    /// Our public X25519 key for the queue, sent in the confirmation only.
    pub dh_public: x25519::PublicKey,
    /// The key the recipient secures the queue with, sent in the confirmation only.
    pub sender_key: VerifyKey,
}

impl SndQueueBox {
    /// The box for `queue` with our X25519 key `own_dh` and our queue signing key's public
    /// half (the reference's `newSndQueue`).
    pub fn new(
        queue: &SmpQueueInfo,
        own_dh: &x25519::PrivateKey,
        sender_key: VerifyKey,
    ) -> Result<Self, CryptoError> {
        Ok(Self {
            client_version: queue.client_version,
            dh_secret: own_dh.diffie_hellman(&queue.address.dh_public)?,
            dh_public: own_dh.public_key(),
            sender_key,
        })
    }

    /// The `SEND` body of a confirmation whose agent envelope is `envelope` (the reference's
    /// `sendConfirmation`): our DH key in the clear header, our queue key in the private one,
    /// padded to 15936 bytes.
    pub fn seal_confirmation(&self, nonce: CbNonce, envelope: &[u8]) -> Result<Vec<u8>, SendError> {
        seal(
            &self.dh_secret,
            nonce,
            PubHeader {
                version: self.client_version,
                e2e_dh_key: Some(self.dh_public),
            },
            PrivHeader::Confirmation(Box::new(self.sender_key.clone())),
            envelope,
        )
    }

    /// The `SEND` body of any later message (the reference's `sendAgentMessage`): no keys in
    /// either header, padded to 16032 bytes.
    pub fn seal_message(&self, nonce: CbNonce, envelope: &[u8]) -> Result<Vec<u8>, SendError> {
        seal(
            &self.dh_secret,
            nonce,
            PubHeader {
                version: self.client_version,
                e2e_dh_key: None,
            },
            PrivHeader::Empty,
            envelope,
        )
    }
}

/// The `SEND` body of an invitation to a contact address (the reference's
/// `agentCbEncryptOnce` over `sendInvitation`'s envelope): boxed with DH(the address's key,
/// `one_time`), whose public half goes in the clear header; no private header key; padded to
/// 15936 bytes. `one_time` must be fresh and used for nothing else.
pub fn seal_invitation(
    client_version: Version,
    address_dh: &x25519::PublicKey,
    one_time: &x25519::PrivateKey,
    nonce: CbNonce,
    envelope: &[u8],
) -> Result<Vec<u8>, SendError> {
    let secret = one_time
        .diffie_hellman(address_dh)
        .map_err(SendError::Box)?;
    seal(
        &secret,
        nonce,
        PubHeader {
            version: client_version,
            e2e_dh_key: Some(one_time.public_key()),
        },
        PrivHeader::Empty,
        envelope,
    )
}

fn seal(
    secret: &x25519::SharedSecret,
    nonce: CbNonce,
    header: PubHeader,
    priv_header: PrivHeader,
    envelope: &[u8],
) -> Result<Vec<u8>, SendError> {
    let msg = ClientMessage {
        header: priv_header,
        body: Bytes::copy_from_slice(envelope),
    };
    ClientMsgEnvelope::seal(secret, nonce, header, &msg)
        .map(|e| e.to_bytes())
        .map_err(SendError::Box)
}

/// What the recipient of a queue knows to open what arrives on it (the per-queue half of the
/// reference's `RcvQueue`).
#[derive(Clone, Copy, Debug)]
pub struct RcvQueueBox<'a> {
    /// Our X25519 key for the queue, whose public half is in the queue's address.
    pub dh_private: &'a x25519::PrivateKey,
    /// The secret shared with the queue's sender, once its confirmation has been accepted.
    pub dh_secret: Option<&'a x25519::SharedSecret>,
}

/// A confirmation, opened by the per-queue layer: the ratchet-encrypted connection info is
/// still to be decrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedConfirmation {
    /// The key to secure the queue with.
    pub sender_key: VerifyKey,
    /// The sender's X25519 key for the queue.
    pub sender_dh: x25519::PublicKey,
    /// The secret every later message on the queue is boxed with; stored when the
    /// confirmation is accepted.
    pub dh_secret: x25519::SharedSecret,
    /// The sender's SMP client version (from the clear header).
    pub client_version: Version,
    /// The sender's agent version.
    pub agent_version: Version,
    /// The sender's X3DH keys, when it starts the ratchet with this confirmation.
    pub e2e: Option<E2eRatchetParams>,
    /// The ratchet-encrypted connection info.
    pub enc_conn_info: Bytes,
}

/// An invitation received on a contact address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenedInvitation {
    /// The sender's SMP client version (from the clear header).
    pub client_version: Version,
    /// The sender's agent version.
    pub agent_version: Version,
    /// The one-time link to join.
    pub conn_req: ConnectionRequest,
    /// The sender's connection info.
    pub conn_info: Bytes,
}

/// What arrived on a queue, opened by the per-queue layer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// The first message from a queue's sender.
    Confirmation(Box<OpenedConfirmation>),
    /// A request through a contact address.
    Invitation(Box<OpenedInvitation>),
    /// A message from the queue's known sender; the ratchet-encrypted agent message is still
    /// to be decrypted.
    Message {
        /// The sender's agent version.
        agent_version: Version,
        /// The ratchet-encrypted agent message.
        enc_agent_message: Bytes,
    },
}

/// Opens `body`, a `MSG` body after the server's layer is removed
/// (`simplex_core::client::decrypt`), with the queue's keys. `client_versions` are the SMP
/// client versions we speak: a clear header outside them is refused, as the reference does
/// before decrypting. Agent versions are not checked here (the reference accepts any in
/// invitations and messages; see [`super::receive`] for confirmations).
pub fn open(
    queue: RcvQueueBox<'_>,
    client_versions: &VersionRange,
    body: &[u8],
) -> Result<Opened, ReceiveError> {
    let envelope = ClientMsgEnvelope::decode_slice(body).map_err(ReceiveError::Encoding)?;
    let client_version = envelope.header.version;
    if !client_versions.contains(client_version) {
        return Err(ReceiveError::Version);
    }
    match (queue.dh_secret, envelope.header.e2e_dh_key) {
        (None, Some(sender_dh)) => {
            let dh_secret = queue
                .dh_private
                .diffie_hellman(&sender_dh)
                .map_err(ReceiveError::Box)?;
            let (priv_header, agent_envelope) = open_box(&envelope, &dh_secret)?;
            match (priv_header, agent_envelope) {
                (
                    PrivHeader::Confirmation(sender_key),
                    AgentEnvelope::Confirmation {
                        agent_version,
                        e2e,
                        enc_conn_info,
                    },
                ) => Ok(Opened::Confirmation(Box::new(OpenedConfirmation {
                    sender_key: *sender_key,
                    sender_dh,
                    dh_secret,
                    client_version,
                    agent_version,
                    e2e,
                    enc_conn_info,
                }))),
                (
                    PrivHeader::Empty,
                    AgentEnvelope::Invitation {
                        agent_version,
                        conn_req,
                        conn_info,
                    },
                ) => Ok(Opened::Invitation(Box::new(OpenedInvitation {
                    client_version,
                    agent_version,
                    conn_req,
                    conn_info,
                }))),
                _ => Err(ReceiveError::Prohibited),
            }
        }
        (Some(dh_secret), None) => match open_box(&envelope, dh_secret)? {
            (
                PrivHeader::Empty,
                AgentEnvelope::Message {
                    agent_version,
                    enc_agent_message,
                },
            ) => Ok(Opened::Message {
                agent_version,
                enc_agent_message,
            }),
            _ => Err(ReceiveError::Prohibited),
        },
        _ => Err(ReceiveError::Prohibited),
    }
}

/// Opens the box and parses both headers' worth of plaintext (the reference's
/// `decryptClientMessage`).
fn open_box(
    envelope: &ClientMsgEnvelope,
    secret: &x25519::SharedSecret,
) -> Result<(PrivHeader, AgentEnvelope), ReceiveError> {
    let msg = envelope.open(secret).map_err(|e| match e {
        OpenError::Decrypt(e) => ReceiveError::Box(e),
        OpenError::Encoding(e) => ReceiveError::Encoding(e),
    })?;
    let agent_envelope = AgentEnvelope::decode_all(msg.body).map_err(ReceiveError::Encoding)?;
    Ok((msg.header, agent_envelope))
}
