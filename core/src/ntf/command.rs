//! NTF client commands: tokens (`TNEW`, `TVFY`, `TCHK`, `TRPL`, `TDEL`, `TCRN`) and
//! subscriptions (`SNEW`, `SCHK`, `SDEL`, `PING`), with the credentials each needs.

use bytes::Bytes;

use super::types::{DeviceToken, NtfRegCode, SmpQueueNtf};
use crate::crypto::keys::{SignKey, VerifyKey};
use crate::crypto::x25519;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Version};
use crate::protocol::{CommandError, EntityId, ErrorType, ProtocolMessage};

/// What `TNEW` registers: the device token, the key that will verify the client's later
/// token commands, and the client's half of the DH secret that encrypts pushes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewToken {
    /// The device's push token.
    pub token: DeviceToken,
    /// Verifies the signatures of this token's commands.
    pub verify_key: VerifyKey,
    /// The client's DH key for push payloads.
    pub dh_key: x25519::PublicKey,
}

/// What `SNEW` subscribes: the token to notify, the SMP queue, and the notifier key the
/// server signs `NSUB` with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewSubscription {
    /// The (active) token the pushes go to.
    pub token_id: EntityId,
    /// The queue to watch.
    pub queue: SmpQueueNtf,
    /// The queue's notifier private key (the SMP server verifies `NSUB` with its public half).
    pub notifier_key: SignKey,
}

/// A command a client sends to an NTF server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NtfCommand {
    /// Register a device token.
    TNew(NewToken),
    /// Verify the token with the code from the verification push.
    TVfy(NtfRegCode),
    /// Ask for the token's status (`TKN`).
    TChk,
    /// Replace the device token, keeping the subscriptions.
    TRpl(DeviceToken),
    /// Delete the token and all its subscriptions.
    TDel,
    /// Periodic background pushes every that many minutes (at least 20; 0 turns them off).
    TCrn(u16),
    /// Subscribe to a queue's notifications.
    SNew(NewSubscription),
    /// Ask for the subscription's status (`SUB`).
    SChk,
    /// Delete the subscription.
    SDel,
    /// Keep the connection alive; answered with `PONG`.
    Ping,
}

/// The two kinds of entity NTF commands are about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NtfEntity {
    /// A device token (`T…` commands).
    Token,
    /// A subscription (`S…` commands and `PING`).
    Subscription,
}

impl NtfCommand {
    /// The wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::TNew(_) => "TNEW",
            Self::TVfy(_) => "TVFY",
            Self::TChk => "TCHK",
            Self::TRpl(_) => "TRPL",
            Self::TDel => "TDEL",
            Self::TCrn(_) => "TCRN",
            Self::SNew(_) => "SNEW",
            Self::SChk => "SCHK",
            Self::SDel => "SDEL",
            Self::Ping => "PING",
        }
    }

    /// Which kind of entity the command is about.
    pub fn entity(&self) -> NtfEntity {
        match self {
            Self::TNew(_)
            | Self::TVfy(_)
            | Self::TChk
            | Self::TRpl(_)
            | Self::TDel
            | Self::TCrn(_) => NtfEntity::Token,
            _ => NtfEntity::Subscription,
        }
    }

    /// Appends the command's encoding (the same in every NTF version).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Self::TNew(new) => {
                out.extend_from_slice(b" T");
                new.token.encode(out);
                new.verify_key.encode(out);
                new.dh_key.encode(out);
            }
            Self::TVfy(code) => {
                out.push(b' ');
                code.encode(out);
            }
            Self::TRpl(token) => {
                out.push(b' ');
                token.encode(out);
            }
            Self::TCrn(minutes) => {
                out.push(b' ');
                minutes.encode(out);
            }
            Self::SNew(new) => {
                out.extend_from_slice(b" S");
                new.token_id.encode(out);
                new.queue.encode(out);
                new.notifier_key.encode(out);
            }
            Self::TChk | Self::TDel | Self::SChk | Self::SDel | Self::Ping => {}
        }
    }

    /// The command's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Parses a command: an unknown tag is `CMD UNKNOWN`; bad parameters, anything left over,
    /// or a new-entity record of the other kind (`SNEW T…`) are `CMD SYNTAX`.
    pub fn parse(bytes: &Bytes) -> Result<Self, ErrorType> {
        let (tag, _) = crate::protocol::split_tag(bytes);
        let r = &mut Reader::new(bytes.slice(tag.len()..));
        let parsed = match tag {
            b"TNEW" => params(r, |r| {
                r.expect_byte(b'T', "new token")?;
                Ok(Self::TNew(NewToken {
                    token: DeviceToken::decode(r)?,
                    verify_key: VerifyKey::decode(r)?,
                    dh_key: x25519::PublicKey::decode(r)?,
                }))
            }),
            b"TVFY" => params(r, |r| Ok(Self::TVfy(NtfRegCode::decode(r)?))),
            b"TCHK" => none(r, Self::TChk),
            b"TRPL" => params(r, |r| Ok(Self::TRpl(DeviceToken::decode(r)?))),
            b"TDEL" => none(r, Self::TDel),
            b"TCRN" => params(r, |r| Ok(Self::TCrn(u16::decode(r)?))),
            b"SNEW" => params(r, |r| {
                r.expect_byte(b'S', "new subscription")?;
                Ok(Self::SNew(NewSubscription {
                    token_id: EntityId::decode(r)?,
                    queue: SmpQueueNtf::decode(r)?,
                    notifier_key: SignKey::decode(r)?,
                }))
            }),
            b"SCHK" => none(r, Self::SChk),
            b"SDEL" => none(r, Self::SDel),
            b"PING" => none(r, Self::Ping),
            _ => return Err(ErrorType::Cmd(CommandError::Unknown)),
        };
        parsed.map_err(|_| ErrorType::Cmd(CommandError::Syntax))
    }

    /// The reference's `checkCredentials`: `TNEW` and `SNEW` need a signature and no entity
    /// id (`NO_AUTH`, `HAS_AUTH`); `PING` needs neither (`HAS_AUTH`); every other command
    /// needs both (`NO_AUTH`).
    pub fn check_credentials(&self, signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        let err = |e| Err(ErrorType::Cmd(e));
        match self {
            Self::TNew(_) | Self::SNew(_) if !signed => err(CommandError::NoAuth),
            Self::TNew(_) | Self::SNew(_) if has_entity => err(CommandError::HasAuth),
            Self::TNew(_) | Self::SNew(_) => Ok(()),
            Self::Ping if signed || has_entity => err(CommandError::HasAuth),
            Self::Ping => Ok(()),
            _ if !signed || !has_entity => err(CommandError::NoAuth),
            _ => Ok(()),
        }
    }
}

/// `" " params` to the end of the input.
fn params<T>(
    r: &mut Reader,
    parse: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    r.expect_byte(b' ', "space")?;
    let value = parse(r)?;
    r.finish()?;
    Ok(value)
}

/// Nothing after the tag.
fn none<T>(r: &mut Reader, value: T) -> Result<T, DecodeError> {
    r.finish().map(|()| value)
}

impl ProtocolMessage for NtfCommand {
    /// NTF has one version (1); the encoding does not depend on it.
    fn parse(_version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        NtfCommand::parse(bytes)
    }

    fn check_credentials(&self, signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        NtfCommand::check_credentials(self, signed, has_entity)
    }
}
