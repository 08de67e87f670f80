//! What agents send each other, in two layers.
//!
//! [`AgentEnvelope`] is the body of the per-queue e2e box (after the SMP client's private
//! header): the agent version, then a confirmation (the joiner's ratchet keys and its
//! ratchet-encrypted connection info), a ratchet-encrypted message, or, through a contact
//! address, an invitation sent in the clear of the ratchet.
//!
//! [`AgentMessage`] is the plaintext inside the double ratchet: the connection info (alone, or
//! with the reply queues of the v2 duplex handshake), or a numbered message carrying the hash of
//! the previous one, whose payload is `HELLO`, `REPLY` (v1 reply queues) or a user message.

use bytes::Bytes;
use simplex_core::encoding::string::{StrDecode, StrEncode};
use simplex_core::encoding::{
    Decode, DecodeError, Encode, Large, NonEmpty, Reader, ShortBytes, Tail, Version,
};
use simplex_core::ratchet::params::E2eRatchetParams;

use super::conn_request::ConnectionRequest;
use super::queue::SmpQueueInfo;

/// The largest connection info a confirmation can carry once ratchet-encrypted (the
/// reference's `e2eEncConnInfoLength`).
pub const E2E_ENC_CONN_INFO_LENGTH: usize = 14848;

/// The length every ratchet-encrypted agent message is padded to (`e2eEncUserMsgLength`).
pub const E2E_ENC_USER_MSG_LENGTH: usize = 15856;

/// The body of the per-queue e2e box.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentEnvelope {
    /// The joiner's (or accepter's) first message: its ratchet keys, when it starts the
    /// ratchet here, and its connection info encrypted by the ratchet.
    Confirmation {
        /// The agent protocol version.
        agent_version: Version,
        /// The sender's X3DH keys (absent in the reply confirmation of the v1 handshake).
        e2e: Option<E2eRatchetParams>,
        /// The ratchet-encrypted [`AgentMessage`] with the connection info.
        enc_conn_info: Bytes,
    },
    /// A ratchet-encrypted [`AgentMessage`].
    Message {
        /// The agent protocol version.
        agent_version: Version,
        /// The ratchet-encrypted message.
        enc_agent_message: Bytes,
    },
    /// An invitation sent to a contact address: a one-time link back, with connection info
    /// protected only by the per-queue box.
    Invitation {
        /// The agent protocol version.
        agent_version: Version,
        /// The link to join.
        conn_req: ConnectionRequest,
        /// The sender's connection info.
        conn_info: Bytes,
    },
}

impl AgentEnvelope {
    /// The agent protocol version the envelope was written at.
    pub fn agent_version(&self) -> Version {
        match self {
            Self::Confirmation { agent_version, .. }
            | Self::Message { agent_version, .. }
            | Self::Invitation { agent_version, .. } => *agent_version,
        }
    }
}

/// Why an envelope could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    /// An invitation link longer than 65,535 bytes.
    #[error("the invitation link is too long")]
    LinkTooLong,
    /// An invitation that is not a one-time link.
    #[error("only a one-time invitation link can be sent")]
    NotInvitation,
}

impl AgentEnvelope {
    /// The binary form.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EnvelopeError> {
        let mut out = Vec::new();
        self.agent_version().encode(&mut out);
        match self {
            Self::Confirmation {
                e2e, enc_conn_info, ..
            } => {
                out.push(b'C');
                e2e.encode(&mut out);
                out.extend_from_slice(enc_conn_info);
            }
            Self::Message {
                enc_agent_message, ..
            } => {
                out.push(b'M');
                out.extend_from_slice(enc_agent_message);
            }
            Self::Invitation {
                conn_req,
                conn_info,
                ..
            } => {
                if !matches!(conn_req, ConnectionRequest::Invitation { .. }) {
                    return Err(EnvelopeError::NotInvitation);
                }
                out.push(b'I');
                Large::new(conn_req.to_str_bytes())
                    .map_err(|_| EnvelopeError::LinkTooLong)?
                    .encode(&mut out);
                out.extend_from_slice(conn_info);
            }
        }
        Ok(out)
    }
}

impl Decode for AgentEnvelope {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let agent_version = Version::decode(r)?;
        match r.byte()? {
            b'C' => Ok(Self::Confirmation {
                agent_version,
                e2e: Option::<E2eRatchetParams>::decode(r)?,
                enc_conn_info: r.take_rest(),
            }),
            b'M' => Ok(Self::Message {
                agent_version,
                enc_agent_message: r.take_rest(),
            }),
            b'I' => {
                let conn_req = ConnectionRequest::str_decode(&r.large_bytes()?)?;
                if !matches!(conn_req, ConnectionRequest::Invitation { .. }) {
                    return Err(DecodeError::Invalid("invitation link mode"));
                }
                Ok(Self::Invitation {
                    agent_version,
                    conn_req,
                    conn_info: r.take_rest(),
                })
            }
            _ => Err(DecodeError::Invalid("agent envelope tag")),
        }
    }
}

/// The sender's numbering of a message and the hash chain that links it to the one before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsgPrivHeader {
    /// The sending agent's sequential id of this message.
    pub snd_msg_id: i64,
    /// SHA-256 of the previous message's body as sent (empty before the first).
    pub prev_msg_hash: ShortBytes,
}

/// The payload of a numbered agent message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AMessage {
    /// The first message on a secured queue.
    Hello,
    /// The reply queues (v1 handshake only).
    Reply(NonEmpty<SmpQueueInfo>),
    /// A user message.
    UserMessage(Bytes),
}

/// The plaintext inside the double ratchet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AgentMessage {
    /// Connection info (`I`).
    ConnInfo(Bytes),
    /// Connection info with the sender's reply queues (`D`, the v2 duplex handshake).
    ConnInfoReply {
        /// The queues to answer on.
        reply_queues: NonEmpty<SmpQueueInfo>,
        /// The connection info.
        conn_info: Bytes,
    },
    /// A numbered message (`M`).
    Message {
        /// Its number and hash link.
        header: MsgPrivHeader,
        /// What it carries.
        message: AMessage,
    },
}

impl Encode for MsgPrivHeader {
    fn encode(&self, out: &mut Vec<u8>) {
        self.snd_msg_id.encode(out);
        self.prev_msg_hash.encode(out);
    }
}

impl Decode for MsgPrivHeader {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        Ok(Self {
            snd_msg_id: i64::decode(r)?,
            prev_msg_hash: ShortBytes::decode(r)?,
        })
    }
}

impl Encode for AMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Hello => out.push(b'H'),
            Self::Reply(queues) => {
                out.push(b'R');
                queues.encode(out);
            }
            Self::UserMessage(body) => {
                out.push(b'M');
                out.extend_from_slice(body);
            }
        }
    }
}

impl Decode for AMessage {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'H' => Ok(Self::Hello),
            b'R' => Ok(Self::Reply(NonEmpty::decode(r)?)),
            b'M' => Ok(Self::UserMessage(Tail::decode(r)?.0)),
            _ => Err(DecodeError::Invalid("agent message type")),
        }
    }
}

impl Encode for AgentMessage {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::ConnInfo(info) => {
                out.push(b'I');
                out.extend_from_slice(info);
            }
            Self::ConnInfoReply {
                reply_queues,
                conn_info,
            } => {
                out.push(b'D');
                reply_queues.encode(out);
                out.extend_from_slice(conn_info);
            }
            Self::Message { header, message } => {
                out.push(b'M');
                header.encode(out);
                message.encode(out);
            }
        }
    }
}

impl Decode for AgentMessage {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        match r.byte()? {
            b'I' => Ok(Self::ConnInfo(r.take_rest())),
            b'D' => Ok(Self::ConnInfoReply {
                reply_queues: NonEmpty::decode(r)?,
                conn_info: r.take_rest(),
            }),
            b'M' => Ok(Self::Message {
                header: MsgPrivHeader::decode(r)?,
                message: AMessage::decode(r)?,
            }),
            _ => Err(DecodeError::Invalid("agent message tag")),
        }
    }
}
