//! The commands and events of the agent's TCP protocol as values: what a client sends
//! ([`ClientCommand`]) and what the agent sends back ([`AgentResponse`]), each with the
//! reference's command word. These are wire-level types, separate from the machine's own
//! inputs and outputs: the shell that serves the protocol translates between the two.

use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::encoding::NonEmpty;
use simplex_core::protocol::MsgFlags;

use crate::error::AgentErrorType;
use crate::meta::{AgentMsgId, ConnectionStats, MsgMeta};
use crate::protocol::{ConnectionMode, ConnectionRequest};

/// A command a client sends to the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCommand {
    /// `NEW INV|CON`: create a connection (invitation) or a contact address.
    New(ConnectionMode),
    /// `JOIN <link> <info>`: join a connection through an invitation or contact link, sending
    /// this side's connection info.
    Join {
        /// The link.
        request: ConnectionRequest,
        /// This side's connection info (a body).
        info: Vec<u8>,
    },
    /// `LET <id> <info>`: accept the peer's confirmation `id` (from `CONF`), sending this
    /// side's connection info.
    Let {
        /// The confirmation id from `CONF`.
        confirmation_id: Vec<u8>,
        /// This side's connection info (a body).
        info: Vec<u8>,
    },
    /// `ACPT <id> <info>`: accept the contact request `id` (from `REQ`).
    Accept {
        /// The invitation id from `REQ`.
        invitation_id: Vec<u8>,
        /// This side's connection info (a body).
        info: Vec<u8>,
    },
    /// `RJCT <id>`: reject the contact request `id`.
    Reject {
        /// The invitation id from `REQ`.
        invitation_id: Vec<u8>,
    },
    /// `SUB`: subscribe this session to the connection.
    Subscribe,
    /// `SEND <flags> <body>`: send a message.
    Send {
        /// The message flags (`T`: notify).
        flags: MsgFlags,
        /// The message (a body).
        body: Vec<u8>,
    },
    /// `ACK <id>`: acknowledge the received message `id`.
    Ack(AgentMsgId),
    /// `OFF`: suspend the connection (the peer's sends then fail).
    Suspend,
    /// `DEL`: delete the connection.
    Delete,
    /// `CHK`: ask for the connection's servers (answered by `STAT`).
    Check,
}

/// A response or event the agent sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentResponse {
    /// `INV <link>`: the answer to `NEW`.
    Invitation(ConnectionRequest),
    /// `CONF <id> <servers> <info>`: the joining side confirmed; `LET` it with `id`.
    Confirmation {
        /// The id to `LET`.
        confirmation_id: Vec<u8>,
        /// The servers of the joining side's reply queues (empty in a version 1 handshake).
        servers: Vec<ServerAddress>,
        /// The joining side's connection info (a body).
        info: Vec<u8>,
    },
    /// `REQ <id> <servers> <info>`: a contact request through an address; `ACPT` or `RJCT` it.
    Request {
        /// The id to `ACPT` or `RJCT`.
        invitation_id: Vec<u8>,
        /// The servers of the requester's queues.
        servers: NonEmpty<ServerAddress>,
        /// The requester's connection info (a body).
        info: Vec<u8>,
    },
    /// `INFO <info>`: the peer's connection info, on the joining side.
    Info(Vec<u8>),
    /// `CON`: the connection is established.
    Connected,
    /// `END`: another session subscribed to the connection.
    End,
    /// `CONNECT <protocol> <host>`: connected to a server.
    Connect {
        /// The server's protocol.
        protocol: Scheme,
        /// The host connected to.
        host: TransportHost,
    },
    /// `DISCONNECT <protocol> <host>`: disconnected from a server.
    Disconnect {
        /// The server's protocol.
        protocol: Scheme,
        /// The host disconnected from.
        host: TransportHost,
    },
    /// `DOWN <server> <connections>`: lost the subscriptions of these connections.
    Down {
        /// The server.
        server: ServerAddress,
        /// The connections affected (their ids, written in base64url).
        connections: Vec<Vec<u8>>,
    },
    /// `UP <server> <connections>`: resubscribed these connections.
    Up {
        /// The server.
        server: ServerAddress,
        /// The connections resubscribed (their ids, written in base64url).
        connections: Vec<Vec<u8>>,
    },
    /// `MID <id>`: the answer to `SEND`: the message's id.
    MsgId(AgentMsgId),
    /// `SENT <id>`: the message was accepted by the server.
    Sent(AgentMsgId),
    /// `MERR <id> <error>`: the message could not be sent.
    MsgError {
        /// The message's id.
        id: AgentMsgId,
        /// Why.
        error: AgentErrorType,
    },
    /// `MSG <meta> <flags> <body>`: a received message.
    Message {
        /// Ids, times and integrity.
        meta: MsgMeta,
        /// The sender's flags.
        flags: MsgFlags,
        /// The message (a body).
        body: Vec<u8>,
    },
    /// `STAT <stats>`: the answer to `CHK`.
    Stat(ConnectionStats),
    /// `OK`.
    Ok,
    /// `ERR <error>`.
    Err(AgentErrorType),
    /// `SUSPENDED`: the agent was suspended (written by the reference, never read back by it).
    Suspended,
}

/// The side of the protocol a value belongs to, as the decoder needs it: whether a parsed
/// command is this side's, which ones may come without a connection id, and where the body is.
pub trait WireCommand: Sized {
    /// The command as this side's type, or `None` when the other side sends it (answered
    /// `ERR CMD PROHIBITED`).
    fn from_parsed(parsed: ParsedCommand) -> Option<Self>;

    /// Whether the transmission must name a connection (`ERR CMD NO_CONN` otherwise).
    fn needs_conn_id(&self) -> bool;

    /// The command's body, for those that carry one.
    fn body_mut(&mut self) -> Option<&mut Vec<u8>>;
}

/// A command line parsed without knowing which side sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParsedCommand {
    /// A client's command.
    Client(ClientCommand),
    /// The agent's response or event.
    Agent(AgentResponse),
}

impl WireCommand for ClientCommand {
    fn from_parsed(parsed: ParsedCommand) -> Option<Self> {
        match parsed {
            ParsedCommand::Client(command) => Some(command),
            ParsedCommand::Agent(_) => None,
        }
    }

    /// `NEW`, `JOIN` and `ACPT` may name the new connection or leave it to the agent.
    fn needs_conn_id(&self) -> bool {
        !matches!(self, Self::New(_) | Self::Join { .. } | Self::Accept { .. })
    }

    fn body_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Self::Join { info, .. } | Self::Let { info, .. } | Self::Accept { info, .. } => {
                Some(info)
            }
            Self::Send { body, .. } => Some(body),
            _ => None,
        }
    }
}

impl WireCommand for AgentResponse {
    fn from_parsed(parsed: ParsedCommand) -> Option<Self> {
        match parsed {
            ParsedCommand::Agent(response) => Some(response),
            ParsedCommand::Client(_) => None,
        }
    }

    /// Errors, the events about servers and `SUSPENDED` (about the whole agent) need not name
    /// a connection.
    fn needs_conn_id(&self) -> bool {
        !matches!(
            self,
            Self::Err(_)
                | Self::Suspended
                | Self::Connect { .. }
                | Self::Disconnect { .. }
                | Self::Down { .. }
                | Self::Up { .. }
        )
    }

    fn body_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Self::Confirmation { info, .. } | Self::Request { info, .. } | Self::Info(info) => {
                Some(info)
            }
            Self::Message { body, .. } => Some(body),
            _ => None,
        }
    }
}

impl ParsedCommand {
    /// The body slot of whichever side's command this is.
    pub fn body_mut(&mut self) -> Option<&mut Vec<u8>> {
        match self {
            Self::Client(command) => command.body_mut(),
            Self::Agent(response) => response.body_mut(),
        }
    }
}

/// One transmission: the correlation id (the client's, echoed in the response; empty for
/// events), the connection id (empty when none is named), and the command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transmission<C> {
    /// The correlation id line.
    pub corr_id: Vec<u8>,
    /// The connection id line.
    pub conn_id: Vec<u8>,
    /// The command.
    pub command: C,
}
