//! Reading one command line (the third line of a transmission) as the reference's
//! `commandP` does: the command word, its fields, and for the commands with a body, what is
//! left of the line, which says where the body is ([`BodySpec`]).
//!
//! Like the reference, the whole line must be one command: `SUB ` or `OKAY` is a syntax error.

use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::encoding::string::{Scanner, StrDecode};
use simplex_core::encoding::{DecodeError, NonEmpty};
use simplex_core::protocol::MsgFlags;

use super::wire::{AgentResponse, ClientCommand, ParsedCommand};
use crate::error::AgentErrorType;
use crate::meta::{parse_servers, AgentMsgId, ConnectionStats, MsgMeta};
use crate::protocol::{ConnectionMode, ConnectionRequest};

/// Where a command's body is, as the end of its line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BodySpec {
    /// `:text`: the body is the rest of the line.
    Inline(Vec<u8>),
    /// A decimal size: the body is the next this many bytes, then an empty line.
    Sized(u64),
    /// Neither (answered `ERR CMD SYNTAX` once the command is otherwise accepted, as the
    /// reference checks the body last).
    Invalid,
}

impl BodySpec {
    fn read(text: &[u8]) -> Self {
        if let Some(inline) = text.strip_prefix(b":") {
            return Self::Inline(inline.to_vec());
        }
        // The reference reads the size with Haskell's `read`, which also takes surrounding
        // spaces, parentheses and a minus sign; a size is digits here.
        let mut s = Scanner::new(text);
        match s.decimal() {
            Ok(size) if s.is_empty() => Self::Sized(size),
            _ => Self::Invalid,
        }
    }
}

/// A command line's command (its body still empty) and, for those with a body, where it is.
pub type ParsedLine = (ParsedCommand, Option<BodySpec>);

/// Parses a command line (without its line end). `None` is a syntax error.
pub fn parse_command_line(line: &[u8]) -> Option<ParsedLine> {
    let mut s = Scanner::new(line);
    let tag = s.take_till(|b| b == b' ');
    // Commands without fields are the bare word.
    if s.is_empty() {
        return bare_command(tag).map(|command| (command, None));
    }
    s.space().ok()?;
    let (command, rest) = command_with_fields(tag, &mut s).ok()?;
    match rest {
        Rest::Nothing => {
            s.finish().ok()?;
            Some((command, None))
        }
        Rest::Body => Some((command, Some(BodySpec::read(s.take_rest())))),
    }
}

/// What follows a command's fields.
enum Rest {
    /// The end of the line.
    Nothing,
    /// The body's specification, up to the end of the line.
    Body,
}

fn bare_command(tag: &[u8]) -> Option<ParsedCommand> {
    use ParsedCommand::{Agent, Client};
    Some(match tag {
        b"SUB" => Client(ClientCommand::Subscribe),
        b"OFF" => Client(ClientCommand::Suspend),
        b"DEL" => Client(ClientCommand::Delete),
        b"CHK" => Client(ClientCommand::Check),
        b"END" => Agent(AgentResponse::End),
        b"CON" => Agent(AgentResponse::Connected),
        b"OK" => Agent(AgentResponse::Ok),
        b"SUSPENDED" => Agent(AgentResponse::Suspended),
        // `RJCT ` and `INFO ` with nothing after the space are commands, but not these.
        _ => return None,
    })
}

fn command_with_fields(
    tag: &[u8],
    s: &mut Scanner<'_>,
) -> Result<(ParsedCommand, Rest), DecodeError> {
    use ParsedCommand::{Agent, Client};
    let command = match tag {
        b"NEW" => Client(ClientCommand::New(ConnectionMode::str_parse(s)?)),
        b"INV" => Agent(AgentResponse::Invitation(ConnectionRequest::str_parse(s)?)),
        b"JOIN" => {
            let request = ConnectionRequest::str_parse(s)?;
            s.space()?;
            let info = Vec::new();
            return Ok((Client(ClientCommand::Join { request, info }), Rest::Body));
        }
        b"CONF" => {
            let confirmation_id = raw_id(s)?;
            let servers = parse_servers(s)?;
            s.space()?;
            let confirmation = AgentResponse::Confirmation {
                confirmation_id,
                servers,
                info: Vec::new(),
            };
            return Ok((Agent(confirmation), Rest::Body));
        }
        b"LET" => {
            let confirmation_id = raw_id(s)?;
            let info = Vec::new();
            let command = ClientCommand::Let {
                confirmation_id,
                info,
            };
            return Ok((Client(command), Rest::Body));
        }
        b"REQ" => {
            let invitation_id = raw_id(s)?;
            let servers = NonEmpty::new(parse_servers(s)?)
                .ok_or(DecodeError::Invalid("REQ without servers"))?;
            s.space()?;
            let request = AgentResponse::Request {
                invitation_id,
                servers,
                info: Vec::new(),
            };
            return Ok((Agent(request), Rest::Body));
        }
        b"ACPT" => {
            let invitation_id = raw_id(s)?;
            let info = Vec::new();
            let command = ClientCommand::Accept {
                invitation_id,
                info,
            };
            return Ok((Client(command), Rest::Body));
        }
        b"RJCT" => Client(ClientCommand::Reject {
            invitation_id: s.take_rest().to_vec(),
        }),
        b"INFO" => return Ok((Agent(AgentResponse::Info(Vec::new())), Rest::Body)),
        b"CONNECT" => {
            let (protocol, host) = protocol_and_host(s)?;
            Agent(AgentResponse::Connect { protocol, host })
        }
        b"DISCONNECT" => {
            let (protocol, host) = protocol_and_host(s)?;
            Agent(AgentResponse::Disconnect { protocol, host })
        }
        b"DOWN" => {
            let (server, connections) = server_and_connections(s)?;
            Agent(AgentResponse::Down {
                server,
                connections,
            })
        }
        b"UP" => {
            let (server, connections) = server_and_connections(s)?;
            Agent(AgentResponse::Up {
                server,
                connections,
            })
        }
        b"SEND" => {
            let flags = msg_flags(s)?;
            s.space()?;
            let body = Vec::new();
            return Ok((Client(ClientCommand::Send { flags, body }), Rest::Body));
        }
        b"MID" => Agent(AgentResponse::MsgId(msg_id(s)?)),
        b"SENT" => Agent(AgentResponse::Sent(msg_id(s)?)),
        b"MERR" => {
            let id = msg_id(s)?;
            s.space()?;
            Agent(AgentResponse::MsgError {
                id,
                error: AgentErrorType::str_parse(s)?,
            })
        }
        b"MSG" => {
            let meta = MsgMeta::str_parse(s)?;
            s.space()?;
            let flags = msg_flags(s)?;
            s.space()?;
            let message = AgentResponse::Message {
                meta,
                flags,
                body: Vec::new(),
            };
            return Ok((Agent(message), Rest::Body));
        }
        b"ACK" => Client(ClientCommand::Ack(msg_id(s)?)),
        b"STAT" => Agent(AgentResponse::Stat(ConnectionStats::str_parse(s)?)),
        b"ERR" => Agent(AgentResponse::Err(AgentErrorType::str_parse(s)?)),
        _ => return Err(DecodeError::Invalid("command word")),
    };
    Ok((command, Rest::Nothing))
}

/// A confirmation or invitation id: the raw bytes up to the next space, and the space.
fn raw_id(s: &mut Scanner<'_>) -> Result<Vec<u8>, DecodeError> {
    let id = s.take_till(|b| b == b' ').to_vec();
    s.space()?;
    Ok(id)
}

/// A message id: unsigned decimal, within the 64-bit signed range the agent stores.
fn msg_id(s: &mut Scanner<'_>) -> Result<AgentMsgId, DecodeError> {
    AgentMsgId::try_from(s.decimal()?).map_err(|_| DecodeError::Invalid("message id"))
}

/// Message flags: `T` or `F`, then any further flag characters up to the next space, skipped
/// (the reference leaves room for future flags there).
fn msg_flags(s: &mut Scanner<'_>) -> Result<MsgFlags, DecodeError> {
    let notification = bool::str_parse(s)?;
    s.take_till(|b| b == b' ');
    Ok(MsgFlags { notification })
}

/// The words for server protocols in `CONNECT` and `DISCONNECT`.
pub(super) fn protocol_word(protocol: Scheme) -> &'static [u8] {
    match protocol {
        Scheme::Smp => b"smp",
        Scheme::Ntf => b"ntf",
    }
}

fn protocol_and_host(s: &mut Scanner<'_>) -> Result<(Scheme, TransportHost), DecodeError> {
    let protocol = match s.take_till(|b| b == b' ') {
        b"smp" => Scheme::Smp,
        b"ntf" => Scheme::Ntf,
        _ => return Err(DecodeError::Invalid("protocol")),
    };
    s.space()?;
    Ok((protocol, TransportHost::str_parse(s)?))
}

/// A server, a space, and a possibly empty comma-separated list of base64url connection ids.
fn server_and_connections(
    s: &mut Scanner<'_>,
) -> Result<(ServerAddress, Vec<Vec<u8>>), DecodeError> {
    let server = ServerAddress::str_parse(s)?;
    s.space()?;
    let mut connections = Vec::new();
    if s.is_empty() {
        return Ok((server, connections));
    }
    loop {
        connections.push(s.base64url()?);
        if !s.eat(b',') {
            return Ok((server, connections));
        }
    }
}
