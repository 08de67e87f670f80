//! Writing command lines as the reference's `serializeCommand` does: the command word, its
//! fields separated by spaces, and a body as its decimal size, a line feed and the bytes (the
//! transmission's CRLF follows). We always write bodies in that sized form; the `:text` form
//! is only read.

use simplex_core::encoding::string::{str_encode_list, StrEncode};

use super::parse::protocol_word;
use super::wire::{AgentResponse, ClientCommand};

/// A value the encoder refuses, because the other side would read it back as something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A line feed in a field: the line would split.
    #[error("a line break inside {0}")]
    LineBreak(&'static str),
    /// A space in a confirmation or invitation id, which is read up to the first space.
    #[error("a space inside {0}")]
    SpaceInId(&'static str),
}

/// A command either side can write.
pub trait WriteCommand {
    /// Appends the command line up to its body (without the body's size), and returns the
    /// body for the commands that carry one.
    fn write_head<'a>(&'a self, out: &mut Vec<u8>) -> Result<Option<&'a [u8]>, EncodeError>;
}

/// Appends the whole command line of `command`, its body included (without the line end).
pub fn write_command_line(
    command: &impl WriteCommand,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    let start = out.len();
    let body = command.write_head(out)?;
    let head = out.get(start..).unwrap_or_default();
    // A CR ending the line is fine: the transmission's CRLF follows, and only one CR is
    // dropped when it is read.
    if head.contains(&b'\n') {
        out.truncate(start);
        return Err(EncodeError::LineBreak("the command line"));
    }
    if let Some(body) = body {
        out.extend_from_slice(format!(" {}\n", body.len()).as_bytes());
        out.extend_from_slice(body);
    }
    Ok(())
}

/// A confirmation or invitation id, which the reader takes up to the next space.
fn write_id(id: &[u8], what: &'static str, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if id.contains(&b' ') {
        return Err(EncodeError::SpaceInId(what));
    }
    out.extend_from_slice(id);
    Ok(())
}

fn word(out: &mut Vec<u8>, word: &str) {
    out.extend_from_slice(word.as_bytes())
}

impl WriteCommand for ClientCommand {
    fn write_head<'a>(&'a self, out: &mut Vec<u8>) -> Result<Option<&'a [u8]>, EncodeError> {
        Ok(match self {
            Self::New(mode) => {
                word(out, "NEW ");
                mode.str_encode(out);
                None
            }
            Self::Join { request, info } => {
                word(out, "JOIN ");
                request.str_encode(out);
                Some(info)
            }
            Self::Let {
                confirmation_id,
                info,
            } => {
                word(out, "LET ");
                write_id(confirmation_id, "a confirmation id", out)?;
                Some(info)
            }
            Self::Accept {
                invitation_id,
                info,
            } => {
                word(out, "ACPT ");
                write_id(invitation_id, "an invitation id", out)?;
                Some(info)
            }
            Self::Reject { invitation_id } => {
                // The id runs to the end of the line here, so any byte but a line break goes.
                word(out, "RJCT ");
                out.extend_from_slice(invitation_id);
                None
            }
            Self::Subscribe => {
                word(out, "SUB");
                None
            }
            Self::Send { flags, body } => {
                word(out, "SEND ");
                flags.notification.str_encode(out);
                Some(body)
            }
            Self::Ack(id) => {
                word(out, &format!("ACK {id}"));
                None
            }
            Self::Suspend => {
                word(out, "OFF");
                None
            }
            Self::Delete => {
                word(out, "DEL");
                None
            }
            Self::Check => {
                word(out, "CHK");
                None
            }
        })
    }
}

impl WriteCommand for AgentResponse {
    fn write_head<'a>(&'a self, out: &mut Vec<u8>) -> Result<Option<&'a [u8]>, EncodeError> {
        Ok(match self {
            Self::Invitation(request) => {
                word(out, "INV ");
                request.str_encode(out);
                None
            }
            Self::Confirmation {
                confirmation_id,
                servers,
                info,
            } => {
                word(out, "CONF ");
                write_id(confirmation_id, "a confirmation id", out)?;
                out.push(b' ');
                str_encode_list(servers, out);
                Some(info)
            }
            Self::Request {
                invitation_id,
                servers,
                info,
            } => {
                word(out, "REQ ");
                write_id(invitation_id, "an invitation id", out)?;
                out.push(b' ');
                servers.str_encode(out);
                Some(info)
            }
            Self::Info(info) => {
                word(out, "INFO");
                Some(info)
            }
            Self::Connected => {
                word(out, "CON");
                None
            }
            Self::End => {
                word(out, "END");
                None
            }
            Self::Connect { protocol, host } | Self::Disconnect { protocol, host } => {
                let tag = match self {
                    Self::Connect { .. } => "CONNECT ",
                    _ => "DISCONNECT ",
                };
                word(out, tag);
                out.extend_from_slice(protocol_word(*protocol));
                out.push(b' ');
                host.str_encode(out);
                None
            }
            Self::Down {
                server,
                connections,
            }
            | Self::Up {
                server,
                connections,
            } => {
                let tag = match self {
                    Self::Down { .. } => "DOWN ",
                    _ => "UP ",
                };
                word(out, tag);
                server.str_encode(out);
                out.push(b' ');
                str_encode_list(connections, out);
                None
            }
            Self::MsgId(id) => {
                word(out, &format!("MID {id}"));
                None
            }
            Self::Sent(id) => {
                word(out, &format!("SENT {id}"));
                None
            }
            Self::MsgError { id, error } => {
                word(out, &format!("MERR {id} "));
                error.str_encode(out);
                None
            }
            Self::Message { meta, flags, body } => {
                word(out, "MSG ");
                meta.str_encode(out);
                out.push(b' ');
                flags.notification.str_encode(out);
                Some(body)
            }
            Self::Stat(stats) => {
                word(out, "STAT ");
                stats.str_encode(out);
                None
            }
            Self::Ok => {
                word(out, "OK");
                None
            }
            Self::Err(error) => {
                word(out, "ERR ");
                error.str_encode(out);
                None
            }
            Self::Suspended => {
                word(out, "SUSPENDED");
                None
            }
        })
    }
}
