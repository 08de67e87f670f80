//! Building what a connection sends, up to the agent envelope. The envelope is what the agent
//! stores for delivery (the reference's `msg_body`); each delivery attempt boxes it for the
//! queue with a fresh nonce ([`super::queue_box`]), so a retry never reuses the ratchet.
//!
//! Every builder returns the next ratchet state and the next sender numbering with the
//! envelope: the caller persists all three together before the envelope goes anywhere.

use bytes::Bytes;
use simplex_core::encoding::{Encode, Version};
use simplex_core::ratchet::{E2eRatchetParams, Ratchet};

use super::error::SendError;
use super::session;
use crate::integrity::{message_hash, SndIntegrity};
use crate::protocol::message::{E2E_ENC_CONN_INFO_LENGTH, E2E_ENC_USER_MSG_LENGTH};
use crate::protocol::{AMessage, AgentEnvelope, AgentMessage, ConnectionRequest};

/// A built message or confirmation: the envelope to store and deliver, with the state it
/// leaves behind.
#[derive(Clone, Debug)]
pub struct Prepared {
    /// The id the message took from the connection's sequence.
    pub snd_msg_id: i64,
    /// SHA-256 of the encoded agent message (the reference's `internal_hash`).
    pub internal_hash: [u8; 32],
    /// The encoded [`AgentEnvelope`], to box per delivery attempt.
    pub envelope: Vec<u8>,
    /// The ratchet after encrypting.
    pub ratchet: Ratchet,
    /// The sender numbering after this message.
    pub integrity: SndIntegrity,
}

/// A numbered message (`HELLO`, `REPLY` or a user message; the reference's `enqueueMessage`):
/// the next id and the last hash in its header, ratchet-encrypted padded to
/// [`E2E_ENC_USER_MSG_LENGTH`], in a message envelope.
pub fn prepare_message(
    ratchet: &Ratchet,
    integrity: &SndIntegrity,
    agent_version: Version,
    message: AMessage,
) -> Result<Prepared, SendError> {
    let header = integrity.next_header()?;
    let snd_msg_id = header.snd_msg_id;
    let plaintext = AgentMessage::Message { header, message }.to_bytes();
    let internal_hash = message_hash(&plaintext);
    let (enc_agent_message, ratchet) =
        session::encrypt(ratchet, E2E_ENC_USER_MSG_LENGTH, &plaintext)?;
    let envelope = encode(&AgentEnvelope::Message {
        agent_version,
        enc_agent_message: Bytes::from(enc_agent_message),
    })?;
    Ok(Prepared {
        snd_msg_id,
        internal_hash,
        envelope,
        ratchet,
        integrity: integrity.after_sent(snd_msg_id, internal_hash),
    })
}

/// The joining party's confirmation (the reference's `confirmQueue`): its X3DH keys and its
/// connection info, [`AgentMessage::ConnInfo`] in the v1 handshake or
/// [`AgentMessage::ConnInfoReply`] with its reply queue in v2, ratchet-encrypted padded to
/// [`E2E_ENC_CONN_INFO_LENGTH`]. It takes an id but records no hash, as the reference.
pub fn prepare_join_confirmation(
    ratchet: &Ratchet,
    integrity: &SndIntegrity,
    agent_version: Version,
    e2e: E2eRatchetParams,
    conn_info: &AgentMessage,
) -> Result<Prepared, SendError> {
    if matches!(conn_info, AgentMessage::Message { .. }) {
        return Err(SendError::NotConnInfo);
    }
    let (snd_msg_id, integrity) = integrity.reserve_id()?;
    let plaintext = conn_info.to_bytes();
    let (enc_conn_info, ratchet) = session::encrypt(ratchet, E2E_ENC_CONN_INFO_LENGTH, &plaintext)?;
    let envelope = encode(&AgentEnvelope::Confirmation {
        agent_version,
        e2e: Some(e2e),
        enc_conn_info: Bytes::from(enc_conn_info),
    })?;
    Ok(Prepared {
        snd_msg_id,
        internal_hash: message_hash(&plaintext),
        envelope,
        ratchet,
        integrity,
    })
}

/// The confirmation sent on the reply queue (the reference's `enqueueConfirmation`: the
/// initiator's in v2, the joining party's after `REPLY` in v1): no X3DH keys (the ratchet is
/// already running), [`AgentMessage::ConnInfo`] padded to [`E2E_ENC_CONN_INFO_LENGTH`]. It
/// takes an id and records its hash like a message, so the next message links to it.
pub fn prepare_reply_confirmation(
    ratchet: &Ratchet,
    integrity: &SndIntegrity,
    agent_version: Version,
    conn_info: Bytes,
) -> Result<Prepared, SendError> {
    let header = integrity.next_header()?;
    let snd_msg_id = header.snd_msg_id;
    let plaintext = AgentMessage::ConnInfo(conn_info).to_bytes();
    let internal_hash = message_hash(&plaintext);
    let (enc_conn_info, ratchet) = session::encrypt(ratchet, E2E_ENC_CONN_INFO_LENGTH, &plaintext)?;
    let envelope = encode(&AgentEnvelope::Confirmation {
        agent_version,
        e2e: None,
        enc_conn_info: Bytes::from(enc_conn_info),
    })?;
    Ok(Prepared {
        snd_msg_id,
        internal_hash,
        envelope,
        ratchet,
        integrity: integrity.after_sent(snd_msg_id, internal_hash),
    })
}

/// The envelope of an invitation to a contact address (the reference's `sendInvitation`):
/// the one-time link and connection info, outside any ratchet (there is none yet), to be
/// boxed with [`super::queue_box::seal_invitation`].
pub fn invitation_envelope(
    agent_version: Version,
    conn_req: ConnectionRequest,
    conn_info: Bytes,
) -> Result<Vec<u8>, SendError> {
    encode(&AgentEnvelope::Invitation {
        agent_version,
        conn_req,
        conn_info,
    })
}

fn encode(envelope: &AgentEnvelope) -> Result<Vec<u8>, SendError> {
    envelope.to_bytes().map_err(SendError::Envelope)
}
