//! Client commands, by the party that sends them.

use bytes::Bytes;

use super::{no_params, split_tag, with_params, CommandError, ErrorType, MsgFlags, MsgId};
use crate::crypto::keys::VerifyKey;
use crate::crypto::x25519;
use crate::encoding::{Decode, Encode, Reader, Tail, Version};

/// Who may send a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Party {
    /// The queue's owner, who receives from it.
    Recipient,
    /// Whoever holds the queue's sender id.
    Sender,
    /// A notification server subscribed to the queue.
    Notifier,
}

/// A command a client sends to an SMP server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Create a queue: the recipient's signature key and its DH key for message bodies.
    New {
        /// Verifies the recipient's later commands.
        recipient_key: VerifyKey,
        /// The recipient's half of the DH secret that encrypts delivered bodies.
        dh_key: x25519::PublicKey,
    },
    /// Subscribe to the queue's messages.
    Sub,
    /// Secure the queue with the sender's key; unsigned `SEND`s are refused from then on.
    Key(VerifyKey),
    /// Enable notifications: the notifier's signature key and the recipient's DH key for
    /// notification metadata.
    NKey {
        /// Verifies the notifier's `NSUB`.
        notifier_key: VerifyKey,
        /// The recipient's half of the DH secret that encrypts notification metadata.
        dh_key: x25519::PublicKey,
    },
    /// Disable notifications.
    NDel,
    /// Receive one message without subscribing.
    Get,
    /// Acknowledge the delivered message (v1 carries no id: it decodes as an empty one).
    Ack(MsgId),
    /// Stop accepting messages.
    Off,
    /// Delete the queue and its messages.
    Del,
    /// Send a message (v1 has no flags: they decode as none).
    Send {
        /// Message flags.
        flags: MsgFlags,
        /// The body, at most 16088 bytes for the server to accept it.
        body: Bytes,
    },
    /// Keep the connection alive; answered with `PONG`.
    Ping,
    /// Subscribe to the queue's notifications.
    NSub,
}

impl Command {
    /// The command's wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::New { .. } => "NEW",
            Self::Sub => "SUB",
            Self::Key(_) => "KEY",
            Self::NKey { .. } => "NKEY",
            Self::NDel => "NDEL",
            Self::Get => "GET",
            Self::Ack(_) => "ACK",
            Self::Off => "OFF",
            Self::Del => "DEL",
            Self::Send { .. } => "SEND",
            Self::Ping => "PING",
            Self::NSub => "NSUB",
        }
    }

    /// The party allowed to send this command.
    pub fn party(&self) -> Party {
        match self {
            Self::Send { .. } | Self::Ping => Party::Sender,
            Self::NSub => Party::Notifier,
            _ => Party::Recipient,
        }
    }

    /// Appends the command's encoding for protocol `version`.
    pub fn encode(&self, version: Version, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Self::New {
                recipient_key: key,
                dh_key,
            }
            | Self::NKey {
                notifier_key: key,
                dh_key,
            } => {
                out.push(b' ');
                key.encode(out);
                dh_key.encode(out);
            }
            Self::Key(key) => {
                out.push(b' ');
                key.encode(out);
            }
            Self::Ack(msg_id) if version >= 2 => {
                out.push(b' ');
                msg_id.encode(out);
            }
            Self::Send { flags, body } => {
                out.push(b' ');
                if version >= 2 {
                    flags.encode(out);
                    out.push(b' ');
                }
                out.extend_from_slice(body);
            }
            _ => {}
        }
    }

    /// The command's encoding for protocol `version`.
    pub fn to_bytes(&self, version: Version) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(version, &mut out);
        out
    }

    /// Parses a command for protocol `version`: an unknown tag is `CMD UNKNOWN`, bad
    /// parameters (including anything left over) are `CMD SYNTAX`.
    pub fn parse(version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        let (tag, _) = split_tag(bytes);
        let mut r = Reader::new(bytes.slice(tag.len()..));
        let r = &mut r;
        let parsed = match tag {
            b"NEW" => with_params(r, |r| {
                Ok(Self::New {
                    recipient_key: VerifyKey::decode(r)?,
                    dh_key: x25519::PublicKey::decode(r)?,
                })
            }),
            b"SUB" => no_params(r, Self::Sub),
            b"KEY" => with_params(r, |r| Ok(Self::Key(VerifyKey::decode(r)?))),
            b"NKEY" => with_params(r, |r| {
                Ok(Self::NKey {
                    notifier_key: VerifyKey::decode(r)?,
                    dh_key: x25519::PublicKey::decode(r)?,
                })
            }),
            b"NDEL" => no_params(r, Self::NDel),
            b"GET" => no_params(r, Self::Get),
            b"ACK" if version == 1 => no_params(r, Self::Ack(MsgId::empty())),
            b"ACK" => with_params(r, |r| Ok(Self::Ack(MsgId::decode(r)?))),
            b"OFF" => no_params(r, Self::Off),
            b"DEL" => no_params(r, Self::Del),
            b"SEND" => with_params(r, |r| {
                let flags = if version == 1 {
                    MsgFlags::default()
                } else {
                    let flags = MsgFlags::decode(r)?;
                    r.expect_byte(b' ', "space")?;
                    flags
                };
                Ok(Self::Send {
                    flags,
                    body: Tail::decode(r)?.0,
                })
            }),
            b"PING" => no_params(r, Self::Ping),
            b"NSUB" => no_params(r, Self::NSub),
            _ => return Err(ErrorType::Cmd(CommandError::Unknown)),
        };
        parsed.map_err(|_| ErrorType::Cmd(CommandError::Syntax))
    }

    /// Checks which credentials the transmission carrying this command has (the reference's
    /// `checkCredentials`): `NEW` needs a signature and no entity; `SEND` needs an entity (the
    /// signature is checked later, against the queue); `PING` needs neither; the rest need
    /// both.
    pub fn check_credentials(&self, signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        let err = |e| Err(ErrorType::Cmd(e));
        match self {
            Self::New { .. } if !signed => err(CommandError::NoAuth),
            Self::New { .. } if has_entity => err(CommandError::HasAuth),
            Self::New { .. } => Ok(()),
            Self::Send { .. } if !has_entity => err(CommandError::NoEntity),
            Self::Send { .. } => Ok(()),
            Self::Ping if signed || has_entity => err(CommandError::HasAuth),
            Self::Ping => Ok(()),
            _ if !signed || !has_entity => err(CommandError::NoAuth),
            _ => Ok(()),
        }
    }
}
