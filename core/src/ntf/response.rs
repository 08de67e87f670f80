//! NTF server responses: `IDTKN`, `IDSUB`, `OK`, `ERR`, `TKN`, `SUB`, `PONG`.

use bytes::Bytes;

use super::types::{NtfSubStatus, NtfTknStatus};
use crate::crypto::x25519;
use crate::encoding::{Decode, DecodeError, Encode, Reader, Version};
use crate::protocol::{CommandError, EntityId, ErrorType, ProtocolMessage};

/// What an NTF server answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NtfResponse {
    /// The new token's id and the server's DH key for push payloads (answers `TNEW`).
    TknId {
        /// The token id (the entity of later token commands).
        token_id: EntityId,
        /// The server's half of the push payloads' DH secret.
        dh_key: x25519::PublicKey,
    },
    /// The new subscription's id (answers `SNEW`; the reference's tag is `IDSUB`).
    SubId(EntityId),
    /// Done.
    Ok,
    /// Refused.
    Err(ErrorType),
    /// The token's status (answers `TCHK`).
    Tkn(NtfTknStatus),
    /// The subscription's status (answers `SCHK`).
    Sub(NtfSubStatus),
    /// Answers `PING`.
    Pong,
}

impl NtfResponse {
    /// The wire tag.
    pub fn tag(&self) -> &'static str {
        match self {
            Self::TknId { .. } => "IDTKN",
            Self::SubId(_) => "IDSUB",
            Self::Ok => "OK",
            Self::Err(_) => "ERR",
            Self::Tkn(_) => "TKN",
            Self::Sub(_) => "SUB",
            Self::Pong => "PONG",
        }
    }

    /// Appends the response's encoding.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.tag().as_bytes());
        match self {
            Self::TknId { token_id, dh_key } => {
                out.push(b' ');
                token_id.encode(out);
                dh_key.encode(out);
            }
            Self::SubId(id) => {
                out.push(b' ');
                id.encode(out);
            }
            Self::Err(e) => {
                out.push(b' ');
                e.encode(out);
            }
            Self::Tkn(status) => {
                out.push(b' ');
                status.encode(out);
            }
            Self::Sub(status) => {
                out.push(b' ');
                status.encode(out);
            }
            Self::Ok | Self::Pong => {}
        }
    }

    /// The response's encoding.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Parses a response: an unknown tag is `CMD UNKNOWN`, bad parameters `CMD SYNTAX`.
    pub fn parse(bytes: &Bytes) -> Result<Self, ErrorType> {
        let (tag, _) = crate::protocol::split_tag(bytes);
        let r = &mut Reader::new(bytes.slice(tag.len()..));
        let parsed = match tag {
            b"IDTKN" => params(r, |r| {
                Ok(Self::TknId {
                    token_id: EntityId::decode(r)?,
                    dh_key: x25519::PublicKey::decode(r)?,
                })
            }),
            b"IDSUB" => params(r, |r| Ok(Self::SubId(EntityId::decode(r)?))),
            b"OK" => r.finish().map(|()| Self::Ok),
            b"ERR" => params(r, |r| Ok(Self::Err(ErrorType::decode(r)?))),
            b"TKN" => params(r, |r| Ok(Self::Tkn(NtfTknStatus::decode(r)?))),
            b"SUB" => params(r, |r| Ok(Self::Sub(NtfSubStatus::decode(r)?))),
            b"PONG" => r.finish().map(|()| Self::Pong),
            _ => return Err(ErrorType::Cmd(CommandError::Unknown)),
        };
        parsed.map_err(|_| ErrorType::Cmd(CommandError::Syntax))
    }

    /// The reference's check on responses: `IDTKN`, `IDSUB` and `PONG` carry no entity id
    /// (`HAS_AUTH`), `ERR` may or may not, the rest must (`NO_ENTITY`).
    pub fn check_entity(&self, has_entity: bool) -> Result<(), ErrorType> {
        match self {
            Self::TknId { .. } | Self::SubId(_) | Self::Pong if has_entity => {
                Err(ErrorType::Cmd(CommandError::HasAuth))
            }
            Self::Err(_) | Self::TknId { .. } | Self::SubId(_) | Self::Pong => Ok(()),
            _ if !has_entity => Err(ErrorType::Cmd(CommandError::NoEntity)),
            _ => Ok(()),
        }
    }
}

fn params<T>(
    r: &mut Reader,
    parse: impl FnOnce(&mut Reader) -> Result<T, DecodeError>,
) -> Result<T, DecodeError> {
    r.expect_byte(b' ', "space")?;
    let value = parse(r)?;
    r.finish()?;
    Ok(value)
}

impl ProtocolMessage for NtfResponse {
    fn parse(_version: Version, bytes: &Bytes) -> Result<Self, ErrorType> {
        NtfResponse::parse(bytes)
    }

    fn check_credentials(&self, _signed: bool, has_entity: bool) -> Result<(), ErrorType> {
        self.check_entity(has_entity)
    }
}
