//! Transmission framing: three lines (correlation id, connection id, command), each ended by
//! LF or CRLF, and for the commands with a body either `:text` at the end of the command line
//! or a decimal size there, then that many bytes and an empty line.
//!
//! [`Decoder`] takes bytes in chunks of any size and yields one transmission or one refusal
//! at a time. Its memory is bounded: a line longer than [`MAX_LINE`] and a body larger than
//! [`MAX_BODY`] are not kept but skipped to their end, and answered `ERR CMD LARGE`.
//! The checks run in the reference's order (syntax, then the side, then the connection id,
//! then the body); after a refusal the decoder starts over at the next line, as the
//! reference does, except that the body of a command refused for its side or its missing
//! connection id is skipped by its size (the reference reads it as the next lines).

use std::marker::PhantomData;

use super::parse::{parse_command_line, BodySpec};
use super::wire::{AgentResponse, Transmission, WireCommand};
use super::write::{write_command_line, EncodeError, WriteCommand};
use crate::error::{AgentErrorType, CommandErrorType};

/// The largest body the decoder keeps: the largest user message (`SEND`, `MSG`), which is also
/// above the largest connection info a handshake message can carry.
pub const MAX_BODY: usize = 15811;

/// The longest line the decoder keeps, line end included: room for a `:text` body of
/// [`MAX_BODY`] bytes or a `JOIN` link with several queues.
pub const MAX_LINE: usize = 32 * 1024;

/// The first line the agent sends to a new client, without its CRLF.
pub fn welcome_line(version: &str) -> String {
    format!("Welcome to SMP agent v{version}")
}

/// A transmission the decoder could not accept, with the ids to answer it with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    /// The correlation id line (empty when that line was too long to keep).
    pub corr_id: Vec<u8>,
    /// The connection id line (empty when that line was too long to keep).
    pub conn_id: Vec<u8>,
    /// Why.
    pub error: CommandErrorType,
}

impl Rejected {
    /// The agent's answer: `ERR CMD <error>` with the same ids.
    pub fn answer(&self) -> Transmission<AgentResponse> {
        Transmission {
            corr_id: self.corr_id.clone(),
            conn_id: self.conn_id.clone(),
            command: AgentResponse::Err(AgentErrorType::Cmd(self.error)),
        }
    }
}

/// What the decoder yields: a transmission, or the refusal to answer.
pub type Decoded<C> = Result<Transmission<C>, Rejected>;

/// One line being read, kept only while it fits in [`MAX_LINE`].
#[derive(Debug, Default)]
struct LineBuffer {
    bytes: Vec<u8>,
    too_long: bool,
}

impl LineBuffer {
    /// Takes bytes up to and including the first LF of `input`; returns how many it took and
    /// whether the line is complete.
    fn take(&mut self, input: &[u8]) -> (usize, bool) {
        let (chunk, complete) = match input.iter().position(|&b| b == b'\n') {
            Some(end) => (input.get(..end).unwrap_or_default(), true),
            None => (input, false),
        };
        if !self.too_long {
            if self.bytes.len() + chunk.len() < MAX_LINE {
                self.bytes.extend_from_slice(chunk);
            } else {
                self.too_long = true;
                self.bytes = Vec::new();
            }
        }
        (chunk.len() + usize::from(complete), complete)
    }

    /// The finished line without its CR, or `None` when it was too long; the buffer is reset.
    fn finish(&mut self) -> Option<Vec<u8>> {
        let too_long = std::mem::take(&mut self.too_long);
        let mut line = std::mem::take(&mut self.bytes);
        if too_long {
            return None;
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        Some(line)
    }
}

/// Where the decoder is inside a transmission.
#[derive(Debug)]
enum State<C> {
    /// Reading line `index` (0: corrId, 1: connId, 2: command).
    Line { index: usize },
    /// Reading (or skipping) the `remaining` bytes of a sized body.
    Body { outcome: Outcome<C>, remaining: u64 },
    /// Reading the line after a sized body, which must be empty.
    AfterBody { outcome: Outcome<C> },
}

/// What a transmission comes to once its body is read.
#[derive(Debug)]
enum Outcome<C> {
    /// The command, its body being filled.
    Accepted(C),
    /// A refusal that waits for the body to be skipped.
    Refused(CommandErrorType),
}

/// An incremental decoder of transmissions carrying commands of type `C` (a
/// [`ClientCommand`](super::ClientCommand) on the agent's side, an [`AgentResponse`] on a
/// client's).
#[derive(Debug)]
pub struct Decoder<C> {
    state: State<C>,
    line: LineBuffer,
    /// The id lines read so far; `None` for a line that was too long.
    corr_id: Option<Vec<u8>>,
    conn_id: Option<Vec<u8>>,
    _command: PhantomData<C>,
}

impl<C: WireCommand> Default for Decoder<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: WireCommand> Decoder<C> {
    /// A decoder at the start of a transmission.
    pub fn new() -> Self {
        Self {
            state: State::Line { index: 0 },
            line: LineBuffer::default(),
            corr_id: None,
            conn_id: None,
            _command: PhantomData,
        }
    }

    /// Whether part of a transmission has been read (a stream ending now ends mid-way).
    pub fn in_progress(&self) -> bool {
        !matches!(self.state, State::Line { index: 0 })
            || !self.line.bytes.is_empty()
            || self.line.too_long
    }

    /// Reads from `input` until one transmission is complete or the input is used up.
    /// Returns how many bytes it took, and the transmission or refusal if one completed;
    /// call again with the rest.
    pub fn feed(&mut self, input: &[u8]) -> (usize, Option<Decoded<C>>) {
        let mut used = 0;
        while used < input.len() {
            let rest = input.get(used..).unwrap_or_default();
            let (taken, done) = self.step(rest);
            used += taken;
            if let Some(decoded) = done {
                return (used, Some(decoded));
            }
        }
        (used, None)
    }

    /// Reads all of `input`, returning every transmission and refusal completed in it.
    pub fn feed_all(&mut self, mut input: &[u8]) -> Vec<Decoded<C>> {
        let mut decoded = Vec::new();
        while !input.is_empty() {
            let (used, done) = self.feed(input);
            input = input.get(used..).unwrap_or_default();
            decoded.extend(done);
        }
        decoded
    }

    /// One step: a line's worth of bytes, or a body's.
    fn step(&mut self, input: &[u8]) -> (usize, Option<Decoded<C>>) {
        match std::mem::replace(&mut self.state, State::Line { index: 0 }) {
            State::Line { index } => {
                let (taken, complete) = self.line.take(input);
                if !complete {
                    self.state = State::Line { index };
                    return (taken, None);
                }
                let line = self.line.finish();
                let done = match index {
                    0 => {
                        self.corr_id = line;
                        self.state = State::Line { index: 1 };
                        None
                    }
                    1 => {
                        self.conn_id = line;
                        self.state = State::Line { index: 2 };
                        None
                    }
                    _ => self.command_line(line),
                };
                (taken, done)
            }
            State::Body {
                mut outcome,
                remaining,
            } => {
                let available = u64::try_from(input.len()).unwrap_or(u64::MAX);
                let n = remaining.min(available);
                let count = usize::try_from(n).unwrap_or(input.len());
                if let Outcome::Accepted(command) = &mut outcome {
                    if let Some(body) = command.body_mut() {
                        body.extend_from_slice(input.get(..count).unwrap_or_default());
                    }
                }
                self.state = match remaining - n {
                    0 => State::AfterBody { outcome },
                    remaining => State::Body { outcome, remaining },
                };
                (count, None)
            }
            State::AfterBody { outcome } => {
                let (taken, complete) = self.line.take(input);
                if !complete {
                    self.state = State::AfterBody { outcome };
                    return (taken, None);
                }
                let ends_body = self.line.finish().is_some_and(|line| line.is_empty());
                let done = match outcome {
                    Outcome::Refused(error) => self.refuse(error),
                    Outcome::Accepted(_) if !ends_body => self.refuse(CommandErrorType::Size),
                    Outcome::Accepted(command) => self.accept(command),
                };
                (taken, Some(done))
            }
        }
    }

    /// The command line has arrived: decide, or go on to its body.
    fn command_line(&mut self, line: Option<Vec<u8>>) -> Option<Decoded<C>> {
        if self.corr_id.is_none() || self.conn_id.is_none() {
            return Some(self.refuse(CommandErrorType::Large));
        }
        let Some(line) = line else {
            return Some(self.refuse(CommandErrorType::Large));
        };
        let Some((parsed, spec)) = parse_command_line(&line) else {
            return Some(self.refuse(CommandErrorType::Syntax));
        };
        let no_conn = self.conn_id.as_ref().is_some_and(|id| id.is_empty());
        let command = match C::from_parsed(parsed) {
            None => Err(CommandErrorType::Prohibited),
            Some(command) if no_conn && command.needs_conn_id() => Err(CommandErrorType::NoConn),
            Some(command) => Ok(command),
        };
        match (command, spec) {
            (Err(error), Some(BodySpec::Sized(size))) => {
                self.start_body(Outcome::Refused(error), size)
            }
            (Err(error), _) => Some(self.refuse(error)),
            (Ok(command), None) => Some(self.accept(command)),
            (Ok(_), Some(BodySpec::Invalid)) => Some(self.refuse(CommandErrorType::Syntax)),
            (Ok(_), Some(BodySpec::Inline(body))) if body.len() > MAX_BODY => {
                Some(self.refuse(CommandErrorType::Large))
            }
            (Ok(mut command), Some(BodySpec::Inline(body))) => {
                if let Some(slot) = command.body_mut() {
                    *slot = body;
                }
                Some(self.accept(command))
            }
            (Ok(command), Some(BodySpec::Sized(size))) => {
                let fits = usize::try_from(size).is_ok_and(|size| size <= MAX_BODY);
                let outcome = if fits {
                    Outcome::Accepted(command)
                } else {
                    Outcome::Refused(CommandErrorType::Large)
                };
                self.start_body(outcome, size)
            }
        }
    }

    fn start_body(&mut self, outcome: Outcome<C>, size: u64) -> Option<Decoded<C>> {
        self.state = if size == 0 {
            State::AfterBody { outcome }
        } else {
            State::Body {
                outcome,
                remaining: size,
            }
        };
        None
    }

    fn ids(&mut self) -> (Vec<u8>, Vec<u8>) {
        (
            self.corr_id.take().unwrap_or_default(),
            self.conn_id.take().unwrap_or_default(),
        )
    }

    fn accept(&mut self, command: C) -> Decoded<C> {
        let (corr_id, conn_id) = self.ids();
        Ok(Transmission {
            corr_id,
            conn_id,
            command,
        })
    }

    fn refuse(&mut self, error: CommandErrorType) -> Decoded<C> {
        let (corr_id, conn_id) = self.ids();
        Err(Rejected {
            corr_id,
            conn_id,
            error,
        })
    }
}

/// Appends a transmission as the reference writes it: each line ended by CRLF, a body as its
/// size, LF, the bytes, then the command line's CRLF.
pub fn encode_transmission<C: WriteCommand>(
    transmission: &Transmission<C>,
    out: &mut Vec<u8>,
) -> Result<(), EncodeError> {
    for (id, what) in [
        (&transmission.corr_id, "the correlation id"),
        (&transmission.conn_id, "the connection id"),
    ] {
        // A CR at the end is fine: the line's own CRLF follows, and only one CR is dropped.
        if id.contains(&b'\n') {
            return Err(EncodeError::LineBreak(what));
        }
    }
    let start = out.len();
    for id in [&transmission.corr_id, &transmission.conn_id] {
        out.extend_from_slice(id);
        out.extend_from_slice(b"\r\n");
    }
    if let Err(e) = write_command_line(&transmission.command, out) {
        out.truncate(start);
        return Err(e);
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// A transmission's bytes, as [`encode_transmission`] writes them.
pub fn transmission_bytes<C: WriteCommand>(
    transmission: &Transmission<C>,
) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::new();
    encode_transmission(transmission, &mut out)?;
    Ok(out)
}
