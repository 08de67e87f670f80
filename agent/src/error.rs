//! The errors the agent reports to its users: the reference's `AgentErrorType` tree, in the
//! text form it takes after `ERR` and `MERR n` in the agent's TCP protocol (`ERR CONN SIMPLEX`,
//! `ERR SMP AUTH`, `ERR BROKER TIMEOUT`, `ERR INTERNAL "SEMsgNotFound"`). Their JSON form is
//! in [`crate::json`].
//!
//! Every leaf is written as its reference constructor name; an `INTERNAL` error's text is a
//! Haskell string literal ([`crate::haskell_string`]). SMP and NTF errors reuse the SMP
//! [`ErrorType`], whose text form is the one the server sends after its own `ERR`.

use simplex_core::encoding::string::{Scanner, StrDecode, StrEncode};
use simplex_core::encoding::{Decode, DecodeError, Encode, Reader};
use simplex_core::protocol::ErrorType;
use simplex_core::transport::HandshakeError as CoreHandshakeError;

use crate::haskell_string;

/// Declares an enum of unit variants, each with the reference constructor name it is written
/// as, and the lookups between the two.
macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)+
        }

        impl $name {
            /// Every value, in the reference's declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)+];

            /// The reference's constructor name: the value's text form and JSON tag.
            pub fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)+
                }
            }

            /// The value with constructor name `name`.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $($text => Some(Self::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

named_enum! {
    /// A command the agent could not accept (`CMD ...`).
    CommandErrorType {
        /// The command is not allowed here (e.g. a client sent an agent event).
        Prohibited = "PROHIBITED",
        /// The command does not parse.
        Syntax = "SYNTAX",
        /// The command needs a connection id and has none.
        NoConn = "NO_CONN",
        /// A binary body's size does not match the bytes that follow it.
        Size = "SIZE",
        /// The message does not fit in an SMP block.
        Large = "LARGE",
    }
}

named_enum! {
    /// A problem with the connection a command names (`CONN ...`).
    ConnectionErrorType {
        /// No such connection.
        NotFound = "NOT_FOUND",
        /// The connection already exists.
        Duplicate = "DUPLICATE",
        /// The connection has only its receive queue so far, and the command needs both.
        Simplex = "SIMPLEX",
        /// The joining side's `HELLO` was not answered in time.
        NotAccepted = "NOT_ACCEPTED",
        /// The peer's queue did not become available in time.
        NotAvailable = "NOT_AVAILABLE",
    }
}

named_enum! {
    /// Why the SMP handshake failed (inside [`TransportError::Handshake`]).
    HandshakeError {
        /// A hello did not parse.
        Parse = "PARSE",
        /// No version both sides support.
        Version = "VERSION",
        /// The server's identity is not the expected one.
        Identity = "IDENTITY",
    }
}

named_enum! {
    /// An error in another agent's message (`AGENT ...`).
    SmpAgentError {
        /// A message that does not parse.
        Message = "A_MESSAGE",
        /// A message not allowed at this point of the connection.
        Prohibited = "A_PROHIBITED",
        /// No common version of the SMP client, agent or encryption protocols.
        Version = "A_VERSION",
        /// A message that does not decrypt.
        Encryption = "A_ENCRYPTION",
        /// A message the ratchet has already decrypted: ignored, never shown.
        Duplicate = "A_DUPLICATE",
    }
}

/// A transport error with an SMP server (inside [`BrokerErrorType::Transport`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportError {
    /// A block that does not parse (`BLOCK`).
    BadBlock,
    /// A message that does not fit in a block (`LARGE_MSG`).
    LargeMsg,
    /// The server's session id is not this connection's (`SESSION`).
    BadSession,
    /// The handshake failed (written as the handshake error alone, e.g. `IDENTITY`).
    Handshake(HandshakeError),
}

impl From<CoreHandshakeError> for TransportError {
    fn from(e: CoreHandshakeError) -> Self {
        match e {
            CoreHandshakeError::Parse => Self::Handshake(HandshakeError::Parse),
            CoreHandshakeError::Version => Self::Handshake(HandshakeError::Version),
            CoreHandshakeError::Identity => Self::Handshake(HandshakeError::Identity),
            CoreHandshakeError::BadSession => Self::BadSession,
        }
    }
}

/// A problem talking to an SMP server (`BROKER ...`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BrokerErrorType {
    /// The server's response does not parse as any response (`RESPONSE <smp error>`).
    Response(ErrorType),
    /// A response that does not fit the command (`UNEXPECTED`).
    Unexpected,
    /// The network failed (`NETWORK`).
    Network,
    /// None of the server's hosts may be used under the host mode (`HOST`).
    Host,
    /// The TLS or SMP transport failed (`TRANSPORT <transport error>`).
    Transport(TransportError),
    /// The server did not answer in time (`TIMEOUT`).
    Timeout,
}

/// An error the agent reports for a command or a message (`ERR <this>`, `MERR n <this>`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AgentErrorType {
    /// The command was refused (`CMD ...`).
    Cmd(CommandErrorType),
    /// The connection does not allow it (`CONN ...`).
    Conn(ConnectionErrorType),
    /// An SMP server answered with an error (`SMP ...`).
    Smp(ErrorType),
    /// A notifications server answered with an error (`NTF ...`).
    Ntf(ErrorType),
    /// Talking to a server failed (`BROKER ...`).
    Broker(BrokerErrorType),
    /// The other agent sent something wrong (`AGENT ...`).
    Agent(SmpAgentError),
    /// A failure inside the agent or its store (`INTERNAL "text"`).
    Internal(String),
}

impl std::fmt::Display for AgentErrorType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_str_bytes()))
    }
}

impl std::error::Error for AgentErrorType {}

/// Reads one word (up to a space or line end), as the reference's `parseRead1` does.
fn word<'a>(s: &mut Scanner<'a>) -> Result<&'a str, DecodeError> {
    std::str::from_utf8(s.take_till(|b| b == b' ' || b == b'\n'))
        .map_err(|_| DecodeError::Invalid("error name"))
}

/// Reads a unit variant by its constructor name.
fn named<T>(s: &mut Scanner<'_>, from_name: fn(&str) -> Option<T>) -> Result<T, DecodeError> {
    from_name(word(s)?).ok_or(DecodeError::Invalid("error name"))
}

fn smp_error_encode(e: &ErrorType, out: &mut Vec<u8>) {
    // The SMP error's binary form is its text form: `AUTH`, `CMD SYNTAX`.
    e.encode(out)
}

/// Reads an SMP error: one word, or `CMD` and the command error's word.
fn smp_error_parse(s: &mut Scanner<'_>) -> Result<ErrorType, DecodeError> {
    let mut text = word(s)?.as_bytes().to_vec();
    if text == b"CMD" {
        s.expect(b' ', "SMP command error")?;
        text.push(b' ');
        text.extend_from_slice(word(s)?.as_bytes());
    }
    let mut reader = Reader::from_slice(&text);
    let e = ErrorType::decode(&mut reader)?;
    reader.finish()?;
    Ok(e)
}

impl StrEncode for TransportError {
    fn str_encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(match self {
            Self::BadBlock => b"BLOCK",
            Self::LargeMsg => b"LARGE_MSG",
            Self::BadSession => b"SESSION",
            Self::Handshake(e) => e.name().as_bytes(),
        })
    }
}

impl StrDecode for TransportError {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        Ok(match word(s)? {
            "BLOCK" => Self::BadBlock,
            "LARGE_MSG" => Self::LargeMsg,
            "SESSION" => Self::BadSession,
            other => Self::Handshake(
                HandshakeError::from_name(other).ok_or(DecodeError::Invalid("transport error"))?,
            ),
        })
    }
}

impl StrEncode for BrokerErrorType {
    fn str_encode(&self, out: &mut Vec<u8>) {
        match self {
            Self::Response(e) => {
                out.extend_from_slice(b"RESPONSE ");
                smp_error_encode(e, out);
            }
            Self::Transport(e) => {
                out.extend_from_slice(b"TRANSPORT ");
                e.str_encode(out);
            }
            Self::Unexpected => out.extend_from_slice(b"UNEXPECTED"),
            Self::Network => out.extend_from_slice(b"NETWORK"),
            Self::Host => out.extend_from_slice(b"HOST"),
            Self::Timeout => out.extend_from_slice(b"TIMEOUT"),
        }
    }
}

impl StrDecode for BrokerErrorType {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        Ok(match word(s)? {
            "RESPONSE" => {
                s.space()?;
                Self::Response(smp_error_parse(s)?)
            }
            "TRANSPORT" => {
                s.space()?;
                Self::Transport(TransportError::str_parse(s)?)
            }
            "UNEXPECTED" => Self::Unexpected,
            "NETWORK" => Self::Network,
            "HOST" => Self::Host,
            "TIMEOUT" => Self::Timeout,
            _ => return Err(DecodeError::Invalid("broker error")),
        })
    }
}

impl StrEncode for AgentErrorType {
    fn str_encode(&self, out: &mut Vec<u8>) {
        let (tag, detail): (&str, &str) = match self {
            Self::Cmd(e) => ("CMD ", e.name()),
            Self::Conn(e) => ("CONN ", e.name()),
            Self::Agent(e) => ("AGENT ", e.name()),
            Self::Smp(e) => {
                out.extend_from_slice(b"SMP ");
                return smp_error_encode(e, out);
            }
            Self::Ntf(e) => {
                out.extend_from_slice(b"NTF ");
                return smp_error_encode(e, out);
            }
            Self::Broker(e) => {
                out.extend_from_slice(b"BROKER ");
                return e.str_encode(out);
            }
            Self::Internal(text) => {
                out.extend_from_slice(b"INTERNAL ");
                out.extend_from_slice(haskell_string::show(text).as_bytes());
                return;
            }
        };
        out.extend_from_slice(tag.as_bytes());
        out.extend_from_slice(detail.as_bytes());
    }
}

impl StrDecode for AgentErrorType {
    fn str_parse(s: &mut Scanner<'_>) -> Result<Self, DecodeError> {
        let tag = word(s)?;
        s.space()?;
        Ok(match tag {
            "CMD" => Self::Cmd(named(s, CommandErrorType::from_name)?),
            "CONN" => Self::Conn(named(s, ConnectionErrorType::from_name)?),
            "SMP" => Self::Smp(smp_error_parse(s)?),
            "NTF" => Self::Ntf(smp_error_parse(s)?),
            "BROKER" => Self::Broker(BrokerErrorType::str_parse(s)?),
            "AGENT" => Self::Agent(named(s, SmpAgentError::from_name)?),
            // The text runs to the end of the line, as in the reference.
            "INTERNAL" => Self::Internal(haskell_string::read(s.take_rest())?),
            _ => return Err(DecodeError::Invalid("agent error")),
        })
    }
}

/// What the agent reports for a failed SMP request (the reference's `protocolClientError`
/// with `SMP` for the server's own errors).
pub fn smp_request_error(error: &simplex_core::client::RequestError) -> AgentErrorType {
    use simplex_core::client::RequestError;
    match error {
        RequestError::Protocol(e) => AgentErrorType::Smp(*e),
        RequestError::Response(e) => AgentErrorType::Broker(BrokerErrorType::Response(*e)),
        RequestError::Unexpected(_) => AgentErrorType::Broker(BrokerErrorType::Unexpected),
        RequestError::Timeout => AgentErrorType::Broker(BrokerErrorType::Timeout),
        RequestError::Network => AgentErrorType::Broker(BrokerErrorType::Network),
        RequestError::IncompatibleHost => AgentErrorType::Broker(BrokerErrorType::Host),
        RequestError::TooLarge => {
            AgentErrorType::Broker(BrokerErrorType::Transport(TransportError::LargeMsg))
        }
    }
}
