//! The protocol's error codes, as `ERR` carries them.

use crate::encoding::{Decode, DecodeError, Encode, Reader};

/// What a command was refused for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CommandError {
    /// The command tag is unknown, or belongs to the server.
    Unknown,
    /// The command's parameters do not parse.
    Syntax,
    /// `GET` and `SUB` mixed on one connection for the same queue.
    Prohibited,
    /// A signature or entity id the command needs is missing.
    NoAuth,
    /// A signature or entity id the command must not have is present.
    HasAuth,
    /// The entity id the command needs is missing.
    NoEntity,
}

/// An error the server answers with (`ERR ...`), or a client-side reading of a bad response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorType {
    /// Bad block, transmission encoding, or signature size.
    Block,
    /// The transmission's session id is not this connection's.
    Session,
    /// A command error.
    Cmd(CommandError),
    /// Bad signature, or no such queue (indistinguishable on purpose).
    Auth,
    /// The queue is full.
    Quota,
    /// `ACK` with nothing delivered to acknowledge.
    NoMsg,
    /// The message body is over 16088 bytes.
    LargeMsg,
    /// An internal server error.
    Internal,
    /// Never sent by the server; kept because the reference can parse it.
    Duplicate,
}

impl CommandError {
    fn name(self) -> &'static [u8] {
        match self {
            Self::Unknown => b"UNKNOWN",
            Self::Syntax => b"SYNTAX",
            Self::Prohibited => b"PROHIBITED",
            Self::NoAuth => b"NO_AUTH",
            Self::HasAuth => b"HAS_AUTH",
            Self::NoEntity => b"NO_ENTITY",
        }
    }

    fn from_name(name: &[u8]) -> Option<Self> {
        Some(match name {
            b"UNKNOWN" => Self::Unknown,
            b"SYNTAX" => Self::Syntax,
            b"PROHIBITED" => Self::Prohibited,
            b"NO_AUTH" => Self::NoAuth,
            b"HAS_AUTH" => Self::HasAuth,
            // The protocol's older name for a missing entity; read, never written.
            b"NO_ENTITY" | b"NO_QUEUE" => Self::NoEntity,
            _ => return None,
        })
    }
}

impl ErrorType {
    fn name(self) -> &'static [u8] {
        match self {
            Self::Block => b"BLOCK",
            Self::Session => b"SESSION",
            Self::Cmd(_) => b"CMD",
            Self::Auth => b"AUTH",
            Self::Quota => b"QUOTA",
            Self::NoMsg => b"NO_MSG",
            Self::LargeMsg => b"LARGE_MSG",
            Self::Internal => b"INTERNAL",
            Self::Duplicate => b"DUPLICATE_",
        }
    }
}

impl std::fmt::Display for ErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

impl Encode for ErrorType {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self.name());
        if let Self::Cmd(e) = self {
            out.push(b' ');
            out.extend_from_slice(e.name());
        }
    }
}

impl Decode for ErrorType {
    fn decode(r: &mut Reader) -> Result<Self, DecodeError> {
        let name = r.take_until(b' ');
        Ok(match &name[..] {
            b"BLOCK" => Self::Block,
            b"SESSION" => Self::Session,
            b"CMD" => {
                r.expect_byte(b' ', "space")?;
                let cmd = r.take_until(b' ');
                Self::Cmd(
                    CommandError::from_name(&cmd).ok_or(DecodeError::Invalid("command error"))?,
                )
            }
            b"AUTH" => Self::Auth,
            b"QUOTA" => Self::Quota,
            b"NO_MSG" => Self::NoMsg,
            b"LARGE_MSG" => Self::LargeMsg,
            b"INTERNAL" => Self::Internal,
            b"DUPLICATE_" => Self::Duplicate,
            _ => return Err(DecodeError::Invalid("error type")),
        })
    }
}
