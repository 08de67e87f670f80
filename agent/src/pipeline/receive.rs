//! The ratchet half of receiving (the reference's `smpConfirmation` and `agentClientMsg`):
//! what [`super::queue_box::open`] returned, decrypted and checked into what the agent acts
//! on, with the ratchet state to persist. Nothing here changes the state passed in.

use bytes::Bytes;
use simplex_core::crypto::rng::CryptoRng;
use simplex_core::crypto::x448;
use simplex_core::encoding::{Decode, NonEmpty};
use simplex_core::ratchet::{DecryptError, Ratchet};

use super::error::ReceiveError;
use super::queue_box::OpenedConfirmation;
use super::session::{self, RatchetUpdate, SkippedChange};
use super::Versions;
use crate::integrity::{message_hash, MsgIntegrity, RcvIntegrity};
use crate::protocol::{AMessage, AgentMessage, MsgPrivHeader, SmpQueueInfo};

/// The connection info in the joining party's confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinerInfo {
    /// Connection info alone (the v1 handshake: the reply queue comes later, in `REPLY`).
    Info(Bytes),
    /// Connection info with the queue to answer on (the v2 duplex handshake).
    InfoReply {
        /// The joining party's reply queues.
        reply_queues: NonEmpty<SmpQueueInfo>,
        /// Its connection info.
        conn_info: Bytes,
    },
}

/// The initiator's reading of the joining party's confirmation: the info, and the ratchet
/// started from the confirmation's keys (persisted when the user accepts, with `LET`).
#[derive(Clone, Debug)]
pub struct JoinConfirmation {
    /// What the joining party sent.
    pub info: JoinerInfo,
    /// The initiator's ratchet after decrypting the confirmation.
    pub ratchet: Ratchet,
}

/// The initiator opens the joining party's confirmation on its invitation queue: `own1`,
/// `own2` are the X3DH keys of its invitation link. The confirmation must start the ratchet
/// (carry X3DH keys) and be the first message of its chain (skip nothing), as the reference
/// requires. As in the reference, a body that does not authenticate is
/// [`ReceiveError::Prohibited`] here (a header that does not open is a ratchet error).
pub fn read_join_confirmation(
    confirmation: &OpenedConfirmation,
    own1: &x448::PrivateKey,
    own2: &x448::PrivateKey,
    versions: &Versions,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<JoinConfirmation, ReceiveError> {
    check_versions(confirmation, versions)?;
    let theirs = confirmation.e2e.as_ref().ok_or(ReceiveError::Prohibited)?;
    let ratchet = session::initiator_ratchet(own1, own2, theirs)
        .map_err(|e| ReceiveError::Ratchet(DecryptError::Crypto(e)))?;
    let (plaintext, update) = session::decrypt(&ratchet, rng, &confirmation.enc_conn_info)
        .map_err(|e| match e {
            // The reference reads these (the ones its ratchet returns beside a new state
            // rather than throws) as a confirmation it does not accept.
            ReceiveError::Ratchet(
                DecryptError::MessageDecryption
                | DecryptError::MessagePadding
                | DecryptError::TooManySkipped,
            ) => ReceiveError::Prohibited,
            e => e,
        })?;
    if update.skipped != SkippedChange::NoChange {
        return Err(ReceiveError::Prohibited);
    }
    let info = match parse(plaintext)? {
        AgentMessage::ConnInfo(info) => JoinerInfo::Info(info),
        AgentMessage::ConnInfoReply {
            reply_queues,
            conn_info,
        } => JoinerInfo::InfoReply {
            reply_queues,
            conn_info,
        },
        AgentMessage::Message { .. } => return Err(ReceiveError::Prohibited),
    };
    Ok(JoinConfirmation {
        info,
        ratchet: update.ratchet,
    })
}

/// The other party's confirmation on the reply queue (the initiator's in v2, the joining
/// party's in v1), decrypted with the running `ratchet`: its connection info and the state
/// change. It must not carry X3DH keys and must hold plain connection info.
pub fn read_reply_confirmation(
    confirmation: &OpenedConfirmation,
    ratchet: &Ratchet,
    versions: &Versions,
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<(Bytes, RatchetUpdate), ReceiveError> {
    check_versions(confirmation, versions)?;
    if confirmation.e2e.is_some() {
        return Err(ReceiveError::Prohibited);
    }
    let (plaintext, update) = session::decrypt(ratchet, rng, &confirmation.enc_conn_info)?;
    match parse(plaintext)? {
        AgentMessage::ConnInfo(info) => Ok((info, update)),
        _ => Err(ReceiveError::Prohibited),
    }
}

/// The reference's check of a confirmation's versions (`smpConfirmation`).
fn check_versions(
    confirmation: &OpenedConfirmation,
    versions: &Versions,
) -> Result<(), ReceiveError> {
    if versions.agent.contains(confirmation.agent_version)
        && versions.smp_client.contains(confirmation.client_version)
    {
        Ok(())
    } else {
        Err(ReceiveError::Version)
    }
}

/// A numbered message, decrypted. `Debug` shows the header and sizes, not the content.
#[derive(Clone)]
pub struct ReceivedMessage {
    /// The sender's id and previous-message hash.
    pub header: MsgPrivHeader,
    /// What it carries.
    pub message: AMessage,
    /// The encoded agent message, as the reference stores it (to show the message again if
    /// the server redelivers it before the user acknowledges it).
    pub body: Vec<u8>,
    /// SHA-256 of [`Self::body`], the hash the next message must link to.
    pub internal_hash: [u8; 32],
    /// The ratchet state change.
    pub update: RatchetUpdate,
}

impl std::fmt::Debug for ReceivedMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.message {
            AMessage::Hello => "HELLO",
            AMessage::Reply(_) => "REPLY",
            AMessage::UserMessage(_) => "A_MSG",
        };
        f.debug_struct("ReceivedMessage")
            .field("snd_msg_id", &self.header.snd_msg_id)
            .field("message", &kind)
            .field("body_len", &self.body.len())
            .field("update", &self.update)
            .finish_non_exhaustive()
    }
}

impl ReceivedMessage {
    /// The verdict on this message against the recipient's numbering, and the numbering to
    /// persist after it.
    pub fn integrity(&self, state: &RcvIntegrity) -> (MsgIntegrity, RcvIntegrity) {
        let id = self.header.snd_msg_id;
        (
            state.check(id, self.header.prev_msg_hash.as_bytes()),
            state.after_received(id, self.internal_hash),
        )
    }
}

/// Decrypts the ratchet message of a message envelope (the reference's `agentClientMsg`).
/// Only a numbered message is allowed in a message envelope.
pub fn read_message(
    ratchet: &Ratchet,
    enc_agent_message: &[u8],
    rng: &mut (impl CryptoRng + ?Sized),
) -> Result<ReceivedMessage, ReceiveError> {
    let (plaintext, update) = session::decrypt(ratchet, rng, enc_agent_message)?;
    let internal_hash = message_hash(&plaintext);
    match parse(plaintext.clone())? {
        AgentMessage::Message { header, message } => Ok(ReceivedMessage {
            header,
            message,
            body: plaintext,
            internal_hash,
            update,
        }),
        _ => Err(ReceiveError::Prohibited),
    }
}

fn parse(plaintext: Vec<u8>) -> Result<AgentMessage, ReceiveError> {
    AgentMessage::decode_all(plaintext).map_err(ReceiveError::Encoding)
}
