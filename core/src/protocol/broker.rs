//! Messages the server sends: responses to commands, delivered messages, notifications.

use bytes::Bytes;

use super::{
    no_params, split_tag, with_params, CommandError, EntityId, ErrorType, MsgFlags, MsgId,
};
use crate::crypto::cbox::CbNonce;
use crate::crypto::x25519;
use crate::encoding::{Decode, Encode, Reader, ShortBytes, Tail, UnixTime, Version};

/// A message delivered to a recipient.
///
/// From v3 the timestamp and flags travel inside the encrypted body, so on the wire a v3+
/// `MSG` carries only the id and the body; decoding it gives a zero timestamp and no flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RcvMessage {
    /// The message id (also the nonce of the body's encryption).
    pub msg_id: MsgId,
    /// When the server received the message (v1 and v2 only).
    pub timestamp: UnixTime,
    /// The sender's flags (v2 only).
    pub flags: MsgFlags,
    /// The body, encrypted by the server for the recipient.
    pub encrypted_body: Bytes,
}

/// A message from the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrokerMsg {
    /// The new queue's ids and the server's DH key for message bodies.
    Ids {
        /// The recipient's id for the queue.
        recipient_id: EntityId,
        /// The id senders use.
        sender_id: EntityId,
        /// The server's half of the body-encryption DH secret.
        server_dh_key: x25519::PublicKey,
    },
    /// A delivered message.
    Msg(RcvMessage),
    /// Notifications enabled: the notifier id and the server's DH key for metadata.
    Nid {
        /// The id the notifier subscribes with.
        notifier_id: EntityId,
        /// The server's half of the metadata-encryption DH secret.
        server_dh_key: x25519::PublicKey,
    },
    /// A notification: encrypted message metadata.
    NMsg {
        /// The nonce of the metadata's encryption.
        nonce: CbNonce,
        /// The encrypted metadata (padded to 128 bytes before encryption, so 144 bytes).
        encrypted_meta: ShortBytes,
    },
    /// The subscription moved to another connection.
    End,
    /// Success.
    Ok,
    /// Failure.
    Err(ErrorType),
    /// The answer to `PING`.
    Pong,
}

impl BrokerMsg {
    /// The message's wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::Ids { .. } => "IDS",
            Self::Msg(_) => "MSG",
            Self::Nid { .. } => "NID",
            Self::NMsg { .. } => "NMSG",
            Self::End => "END",
            Self::Ok => "OK",
            Self::Err(_) => "ERR",
            Self::Pong => "PONG",
        }
    }

    /// Appends the message's encoding for protocol `version`.
    pub fn encode(&self, version: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Self::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            } => {
                out.push(b' ');
                (recipient_id, sender_id, server_dh_key).encode(out);
            }
            Self::Msg(msg) => {
                out.push(b' ');
                msg.msg_id.encode(out);
                match version {
                    1 => msg.timestamp.encode(out),
                    2 => {
                        msg.timestamp.encode(out);
                        msg.flags.encode(out);
                        out.push(b' ');
                    }
                    _ => {}
                }
                out.extend_from_slice(&msg.encrypted_body);
            }
            Self::Nid {
                notifier_id,
                server_dh_key,
            } => {
                out.push(b' ');
                (notifier_id, server_dh_key).encode(out);
            }
            Self::NMsg {
                nonce,
                encrypted_meta,
            } => {
                out.push(b' ');
                (nonce, encrypted_meta).encode(out);
            }
            Self::Err(e) => {
                out.push(b' ');
                e.encode(out);
            }
            Self::End | Self::Ok | Self::Pong => {}
        }
    }

    /// The message's encoding for protocol `version`.
    pub fn to_bytes(&self, version: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(version, &mut out);
        out
    }

    /// Parses a server message for protocol `version` (`CMD UNKNOWN` / `CMD SYNTAX` as for
    /// commands).
    pub fn parse(version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        let (tag, _) = split_tag(bytes);
        let mut r = Reader::new(bytes.slice(tag.len()..));
        let parsed = match tag {
            b"IDS" => with_params(&mut r, |r| {
                Ok(Self::Ids {
                    recipient_id: EntityId::decode(r)?,
                    sender_id: EntityId::decode(r)?,
                    server_dh_key: x25519::PublicKey::decode(r)?,
                })
            }),
            b"MSG" => with_params(&mut r, |r| {
                let msg_id = MsgId::decode(r)?;
                let (timestamp, flags) = match version {
                    1 => (UnixTime::decode(r)?, MsgFlags::default()),
                    2 => {
                        let timestamp = UnixTime::decode(r)?;
                        let flags = MsgFlags::decode(r)?;
                        r.expect_byte(b' ', "space")?;
                        (timestamp, flags)
                    }
                    _ => (UnixTime::default(), MsgFlags::default()),
                };
                Ok(Self::Msg(RcvMessage {
                    msg_id,
                    timestamp,
                    flags,
                    encrypted_body: Tail::decode(r)?.0,
                }))
            }),
            b"NID" => with_params(&mut r, |r| {
                Ok(Self::Nid {
                    notifier_id: EntityId::decode(r)?,
                    server_dh_key: x25519::PublicKey::decode(r)?,
                })
            }),
            b"NMSG" => with_params(&mut r, |r| {
                Ok(Self::NMsg {
                    nonce: CbNonce::decode(r)?,
                    encrypted_meta: ShortBytes::decode(r)?,
                })
            }),
            b"END" => no_params(&mut r, Self::End),
            b"OK" => no_params(&mut r, Self::Ok),
            b"ERR" => with_params(&mut r, |r| Ok(Self::Err(ErrorType::decode(r)?))),
            b"PONG" => no_params(&mut r, Self::Pong),
            _ => return Err(ErrorType::Cmd(CommandError::Unknown)),
        };
        parsed.map_err(|_| ErrorType::Cmd(CommandError::Syntax))
    }

    /// Checks the entity id against the message (the reference's rules for server messages):
    /// `PONG` must have none; `IDS` and `ERR` may have any; the rest need one.
    pub fn check_entity(&self, has_entity: bool) -> Result<(), ErrorType> {
        match self {
            Self::Ids { .. } | Self::Err(_) => Ok(()),
            Self::Pong if has_entity => Err(ErrorType::Cmd(CommandError::HasAuth)),
            Self::Pong => Ok(()),
            _ if !has_entity => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}
