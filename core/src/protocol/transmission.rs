//! Transmissions: a signature, then the signed part — session id, correlation id, entity id
//! (each with a 1-byte length) and the command or message.
//!
//! The session id is both signed and sent, so a transmission captured on one connection is
//! refused on any other (`ERR SESSION`).

use bytes::Bytes;

use super::{BrokerMsg, Command, CorrId, EntityId, ErrorType};
use crate::crypto::keys::Signature;
use crate::encoding::{Decode, DecodeError, Encode, Reader, ShortBytes, Version};

/// A transmission split into its fields, nothing checked yet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawTransmission {
    /// The signature bytes; empty when unsigned.
    pub signature: Bytes,
    /// The bytes the signature covers.
    pub signed: Bytes,
    /// The session id the sender put in.
    pub session_id: Bytes,
    /// The correlation id.
    pub corr_id: CorrId,
    /// The entity (queue) id.
    pub entity_id: EntityId,
    /// The encoded command or message.
    pub command: Bytes,
}

/// Splits a transmission into its fields.
pub fn parse_transmission(bytes: Bytes) -> Result<RawTransmission, DecodeError> {
    let mut r = Reader::new(bytes);
    let signature = r.short_bytes()?;
    let signed = r.take_rest();
    let mut fields = Reader::new(signed.clone());
    let session_id = fields.short_bytes()?;
    let corr_id = CorrId::decode(&mut fields)?;
    let entity_id = EntityId::decode(&mut fields)?;
    let command = fields.take_rest();
    Ok(RawTransmission {
        signature,
        signed,
        session_id,
        corr_id,
        entity_id,
        command,
    })
}

/// The signed part of a transmission: what a client signs and what the server verifies.
pub fn signed_part(
    session_id: &[u8],
    corr_id: &CorrId,
    entity_id: &EntityId,
    command: &[u8],
) -> Result<Vec<u8>, crate::encoding::TooLong> {
    let mut out = Vec::with_capacity(
        3 + session_id.len()
            + corr_id.as_bytes().len()
            + entity_id.as_bytes().len()
            + command.len(),
    );
    ShortBytes::from_slice(session_id)?.encode(&mut out);
    corr_id.encode(&mut out);
    entity_id.encode(&mut out);
    out.extend_from_slice(command);
    Ok(out)
}

/// A whole transmission: the signature (1-byte length; `0` alone when unsigned) and the signed
/// part.
pub fn encode_transmission(signature: Option<&Signature>, signed: &[u8]) -> Vec<u8> {
    let sig = signature.map(|s| s.as_bytes()).unwrap_or_default();
    let mut out = Vec::with_capacity(1 + sig.len() + signed.len());
    // Ed25519 and Ed448 signatures are 64 and 114 bytes: always within a 1-byte length.
    out.push(sig.len() as u8);
    out.extend_from_slice(sig);
    out.extend_from_slice(signed);
    out
}

/// A message that transmissions carry: client commands one way, broker messages the other.
pub trait ProtocolMessage: Sized {
    /// Parses the message for protocol `version`.
    fn parse(version: Version, bytes: &Bytes) -> Result<Self, ErrorType>;
    /// Checks the transmission's credentials against the message.
    fn check_credentials(&self, signed: bool, has_entity: bool) -> Result<(), ErrorType>;
}

impl ProtocolMessage for Command {
    fn parse(version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        Command::parse(version, bytes)
    }

    fn check_credentials(&self, signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        Command::check_credentials(self, signed, has_entity)
    }
}

impl ProtocolMessage for BrokerMsg {
    fn parse(version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        BrokerMsg::parse(version, bytes)
    }

    fn check_credentials(&self, _signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        self.check_entity(has_entity)
    }
}

/// The signature of a received transmission, decoded by its size.
pub type TransmissionSignature = Option<Signature>;

/// A received transmission after the transport's checks: the session id matched, the
/// signature has a valid size, and the message parsed with the right credentials — or the
/// error to answer with.
///
/// Signature verification itself is the receiver's business (the server needs the queue's
/// key for it), so the signature and the signed bytes are kept.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedTransmission<M> {
    /// The signature, if any.
    pub signature: TransmissionSignature,
    /// The signed bytes (empty when the transmission was refused before parsing).
    pub signed: Bytes,
    /// The correlation id (empty when the transmission could not even be split).
    pub corr_id: CorrId,
    /// The entity id (empty on session and block errors).
    pub entity_id: EntityId,
    /// The message, or why it was refused.
    pub message: Result<M, ErrorType>,
}

impl<M: ProtocolMessage> VerifiedTransmission<M> {
    /// Applies the transport's checks to a received transmission (the reference's `tGet`): a
    /// transmission that does not split is `BLOCK` with no correlation id; a foreign session
    /// id is `SESSION`; a signature of a size no algorithm has is `BLOCK`.
    pub fn check(
        raw: Result<RawTransmission, DecodeError>,
        session_id: &[u8],
        version: Version,
    ) -> Self {
        let refused = |corr_id, error| Self {
            signature: None,
            signed: Bytes::new(),
            corr_id,
            entity_id: EntityId::empty(),
            message: Err(error),
        };
        let raw = match raw {
            Ok(raw) => raw,
            Err(_) => return refused(CorrId::empty(), ErrorType::Block),
        };
        if raw.session_id.as_ref() != session_id {
            return refused(raw.corr_id, ErrorType::Session);
        }
        let signature = if raw.signature.is_empty() {
            None
        } else {
            match Signature::from_bytes(&raw.signature) {
                Ok(sig) => Some(sig),
                Err(_) => return refused(raw.corr_id, ErrorType::Block),
            }
        };
        let message = M::parse(version, &raw.command).and_then(|m| {
            m.check_credentials(signature.is_some(), !raw.entity_id.is_empty())
                .map(|()| m)
        });
        Self {
            signature,
            signed: raw.signed,
            corr_id: raw.corr_id,
            entity_id: raw.entity_id,
            message,
        }
    }
}
