//! The agent's TCP command protocol, as simplexmq v3.2.0's smp-agent speaks it to its clients:
//! the commands and events as values ([`wire`]), their command lines ([`parse`], [`write`](mod@write)) and
//! the framing of transmissions with an incremental, bounded decoder ([`transmission`]).
//!
//! Pure: bytes in, values out, and back. The listener that serves it, and the translation to
//! and from the agent machine's own commands and events, live elsewhere. The wire forms and
//! where we differ from the reference on purpose are in `spec/agent-protocol.md`.

pub mod parse;
pub mod transmission;
pub mod wire;
pub mod write;

pub use parse::{parse_command_line, BodySpec};
pub use transmission::{
    encode_transmission, transmission_bytes, welcome_line, Decoded, Decoder, Rejected, MAX_BODY,
    MAX_LINE,
};
pub use wire::{AgentResponse, ClientCommand, ParsedCommand, Transmission, WireCommand};
pub use write::{write_command_line, EncodeError, WriteCommand};
