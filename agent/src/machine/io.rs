//! What the [`super::Agent`] takes and gives: user commands and their events, socket events
//! and actions, store batches and their confirmations, and its errors (plain data).

use bytes::Bytes;
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::client::{
    ConnId, KeepAlive, ManagerConfig, ManagerError, RequestError, SocksProxy,
};
use simplex_core::protocol::MsgFlags;
use simplex_core::time::Instant;

use crate::error::{
    smp_request_error, AgentErrorType, CommandErrorType, ConnectionErrorType, SmpAgentError,
};
use crate::meta::{AgentMsgId, MsgMeta};
use crate::protocol::{ConnectionMode, ConnectionRequest};
use crate::store::{BatchId, ConfirmationId, ConnectionId, InvitationId, RecordBatch};

/// The user's handle on a command: echoed in every event that answers it (the reference's
/// `ACorrId`; empty for events that answer no command).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct CorrId(pub Vec<u8>);

/// A user command (the reference's `ACommand` sent by the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentCommand {
    /// `NEW INV` / `NEW CON`: create a receive queue and answer `INV` with the link.
    New {
        /// A one-time invitation or a contact address.
        mode: ConnectionMode,
    },
    /// `SUB`: subscribe the connection's receive queue (answered `OK` once the server did).
    Sub,
    /// `DEL`: delete the connection's receive queue on its server, then the connection.
    Del,
    /// `OFF`: suspend the connection's receive queue on its server (senders get `AUTH`).
    Off,
    /// `JOIN`: join an invitation link with our connection info (the v2 duplex handshake:
    /// a reply queue of ours goes in the confirmation); answered `OK` once the confirmation
    /// reached the inviter's server.
    Join {
        /// The invitation link (boxed: it is large beside the other commands).
        conn_req: Box<ConnectionRequest>,
        /// Our connection info (the inviter sees it in `CONF`).
        info: Bytes,
    },
    /// `LET confId info`: accept the joining party's confirmation (`CONF`) with our
    /// connection info; answered `OK` once our reply confirmation is stored.
    Let {
        /// The confirmation, from `CONF`.
        conf_id: ConfirmationId,
        /// Our connection info (the joining party sees it in `INFO`).
        info: Bytes,
    },
    /// `ACK msgId`: the user has taken the message in `MSG` with this internal id; the server
    /// may deliver the next one (answered `OK` once the server's copy is acknowledged).
    Ack {
        /// The message's internal id (`R=` in `MSG`).
        msg_id: AgentMsgId,
    },
    /// `ACPT invId info`: accept a contact request (`REQ`) by joining the invitation it
    /// carries; the command's connection id names the new connection.
    Acpt {
        /// The request, from `REQ`.
        inv_id: InvitationId,
        /// Our connection info (the requester sees it in `CONF`).
        info: Bytes,
    },
    /// `RJCT invId`: forget a contact request of this contact address.
    Rjct {
        /// The request, from `REQ`.
        inv_id: InvitationId,
    },
    /// `SEND flags body`: encrypt a message for the connection's send queue and store it;
    /// answered `MID n` once stored, then `SENT n` once the server has it (or `MERR n`).
    Send {
        /// The SMP flags to send with (`T`: the recipient's server notifies its device).
        flags: MsgFlags,
        /// The user's message.
        body: Bytes,
    },
}

/// Why a command failed. A placeholder for the reference's `AgentErrorType` tree (written in
/// `agent/src/error.rs`), with the cases the flows built so far need.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// No connection with this id (`CONN NOT_FOUND`).
    #[error("CONN NOT_FOUND")]
    NotFound,
    /// The command does not fit the connection's state (`CONN SIMPLEX`: a send-only
    /// connection whose queue is already active).
    #[error("CONN SIMPLEX")]
    Simplex,
    /// The command does not fit the connection or the confirmation (`CMD PROHIBITED`).
    #[error("CMD PROHIBITED")]
    Prohibited,
    /// The peer did not secure its queue for our `HELLO` (`CONN NOT_ACCEPTED`).
    #[error("CONN NOT_ACCEPTED")]
    NotAccepted,
    /// The peer's queue refused our confirmation or `HELLO` (`CONN NOT_AVAILABLE`).
    #[error("CONN NOT_AVAILABLE")]
    NotAvailable,
    /// A connection with this id exists (`CONN DUPLICATE`).
    #[error("CONN DUPLICATE")]
    Duplicate,
    /// The message does not fit in one agent message (`CMD LARGE`).
    #[error("CMD LARGE")]
    Large,
    /// No SMP server is configured to create queues on.
    #[error("no SMP servers configured")]
    NoServers,
    /// The server refused or did not answer (`SMP ...` / `BROKER ...`).
    #[error("server: {0}")]
    Server(RequestError),
    /// The connection's records could not be made durable: it is halted until the agent is
    /// restarted from its store (`INTERNAL`).
    #[error("store: commit failed, connection halted")]
    CommitFailed,
    /// The connection is halted by an earlier failed commit (`INTERNAL`).
    #[error("connection halted by a failed commit")]
    Halted,
    /// The other agent's link or message does not fit (`AGENT A_VERSION`...).
    #[error("AGENT {}", .0.name())]
    Agent(SmpAgentError),
    /// No received message with this id (`INTERNAL "SEMsgNotFound"`, the reference's store
    /// error for `ACK`).
    #[error("SEMsgNotFound")]
    MsgNotFound,
    /// Something the reference reports as `INTERNAL` (a key that did not agree...).
    #[error("internal: {0}")]
    Internal(&'static str),
}

impl CommandError {
    /// The error as the agent reports it in `ERR` (the reference's `AgentErrorType`).
    pub fn agent_error(&self) -> AgentErrorType {
        match self {
            Self::NotFound => AgentErrorType::Conn(ConnectionErrorType::NotFound),
            Self::Simplex => AgentErrorType::Conn(ConnectionErrorType::Simplex),
            Self::Duplicate => AgentErrorType::Conn(ConnectionErrorType::Duplicate),
            Self::Prohibited => AgentErrorType::Cmd(CommandErrorType::Prohibited),
            Self::Large => AgentErrorType::Cmd(CommandErrorType::Large),
            Self::NotAccepted => AgentErrorType::Conn(ConnectionErrorType::NotAccepted),
            Self::NotAvailable => AgentErrorType::Conn(ConnectionErrorType::NotAvailable),
            Self::Server(e) => smp_request_error(e),
            Self::Agent(e) => AgentErrorType::Agent(*e),
            Self::MsgNotFound => AgentErrorType::Internal("SEMsgNotFound".into()),
            other => AgentErrorType::Internal(other.to_string()),
        }
    }
}

/// What the agent tells the user (the reference's `ACommand` sent to the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AgentEvent {
    /// `INV`: the connection request to share.
    Inv(ConnectionRequest),
    /// `OK`: the command succeeded.
    Ok,
    /// `CONF`: the joining party's confirmation came (v2: with its reply queues' servers);
    /// `LET` with this id accepts it.
    Conf {
        /// The confirmation to name in `LET`.
        id: ConfirmationId,
        /// The servers of the joining party's reply queues.
        servers: Vec<ServerAddress>,
        /// The joining party's connection info.
        info: Bytes,
    },
    /// `INFO`: the inviter's connection info, from its reply confirmation (the joiner).
    Info(Bytes),
    /// `CON`: both queues carry messages; the connection is ready.
    Con,
    /// `MSG`: a user message; `ACK` with its internal id lets the next one come.
    Msg {
        /// Integrity verdict and ids (boxed: it is large beside the other events).
        meta: Box<MsgMeta>,
        /// The flags it was sent with.
        flags: MsgFlags,
        /// The user's message.
        body: Bytes,
    },
    /// `REQ`: a contact request came to a contact address; `ACPT` or `RJCT` with this id
    /// answers it.
    Req {
        /// The request, to name in `ACPT` / `RJCT`.
        id: InvitationId,
        /// The servers of the requester's invitation queues.
        servers: Vec<ServerAddress>,
        /// The requester's connection info.
        info: Bytes,
    },
    /// `END`: another client subscribed to this connection's receive queue; the server
    /// stopped delivering its messages to us.
    End,
    /// `CONNECT`: a connection to a server is up (named by the host dialled).
    Connect {
        /// SMP or NTF.
        scheme: Scheme,
        /// The host.
        host: TransportHost,
    },
    /// `DISCONNECT`: a connection to a server that carried subscriptions dropped.
    Disconnect {
        /// SMP or NTF.
        scheme: Scheme,
        /// The host.
        host: TransportHost,
    },
    /// `DOWN`: these connections' subscriptions on the server are down until it is reached
    /// again (the manager reconnects and resubscribes by itself).
    Down {
        /// The server.
        server: ServerAddress,
        /// The connections.
        conns: Vec<ConnectionId>,
    },
    /// `UP`: these connections are subscribed again after a reconnection.
    Up {
        /// The server.
        server: ServerAddress,
        /// The connections.
        conns: Vec<ConnectionId>,
    },
    /// `ERR`.
    Err(CommandError),
    /// `SUSPENDED`: nothing is in progress after `Suspend`.
    Suspended,
    /// `MID n`: the message of `SEND` is stored under this id and will be delivered.
    Mid(u64),
    /// `SENT n`: the server accepted the message with this id.
    Sent(u64),
    /// `MERR n err`: the message with this id will not be delivered.
    Merr(u64, CommandError),
}

/// What the shell and the user feed the agent.
#[derive(Debug)]
pub enum AgentInput<'a> {
    /// A user command, about `conn` (for `NEW`: the id to give the connection; `None` lets the
    /// agent make one, as an empty id does in the reference).
    Command {
        /// Echoed in the answer.
        corr_id: CorrId,
        /// The connection.
        conn: Option<ConnectionId>,
        /// The command.
        command: AgentCommand,
    },
    /// The TCP stream is open.
    Connected(ConnId),
    /// The TCP stream could not be opened.
    ConnectFailed(ConnId),
    /// Bytes read from a stream (all are consumed).
    Received(ConnId, &'a [u8]),
    /// A stream reached end of file or failed.
    Closed(ConnId),
    /// The store made this batch durable. Batches are confirmed in the order they were given.
    Committed(BatchId),
    /// The store could not make this batch durable (nothing of it was applied).
    CommitFailed(BatchId),
    /// Only time passed (the timeout asked for, or any later time).
    Timeout,
    /// `suspendAgent`: finish what is in progress (delivery waited for at most `max_delay`),
    /// then say `SUSPENDED`; server messages and, once suspended, commands wait for
    /// `Activate`.
    Suspend {
        /// How long delivery in progress is waited for (zero: suspend at once).
        max_delay: core::time::Duration,
    },
    /// `activateAgent`: back to work; what waited runs now.
    Activate,
    /// `setSMPServers`: new connections create their receive queues on these servers (one
    /// picked at random each time); existing connections keep theirs. An empty list is
    /// refused ([`AgentError::NoServers`]).
    SetServers(Vec<ServerAddress>),
    /// `setNetworkConfig`: network settings (SOCKS5 proxy, host mode, timeouts) for the server
    /// connections made from now on.
    SetNetwork(Box<ManagerConfig>),
    /// Stop: every server connection is closed (TLS close_notify sent) and every subscription
    /// forgotten; requests in flight are answered with errors. Records already handed out
    /// stay to be confirmed.
    Shutdown,
}

/// A socket action for the shell: the connection manager's, passed through.
// `Connect` is the large one, as in `ManagerOutput`; actions are handed out one at a time.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum SocketAction {
    /// Open a TCP stream (to the proxy, if any) and report `Connected` or `ConnectFailed`.
    Connect {
        /// The stream.
        conn: ConnId,
        /// The server.
        server: ServerAddress,
        /// The chosen host.
        host: TransportHost,
        /// The server's port.
        port: u16,
        /// The SOCKS5 proxy to connect to instead.
        proxy: Option<SocksProxy>,
        /// TCP keep-alive to set.
        keep_alive: Option<KeepAlive>,
    },
    /// Write bytes to a stream.
    Transmit {
        /// The stream.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close a stream.
    Disconnect {
        /// The stream.
        conn: ConnId,
    },
}

/// What the agent asks of the shell, or tells the user.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentOutput {
    /// Make this batch durable, then report `Committed` (or `CommitFailed`). Batches come
    /// numbered 1, 2, 3...; commit them in that order.
    Persist(RecordBatch),
    /// A socket action.
    Socket(SocketAction),
    /// An event for the user.
    Event {
        /// The command it answers (empty if none).
        corr_id: CorrId,
        /// The connection it is about.
        conn: Option<ConnectionId>,
        /// The event.
        event: AgentEvent,
    },
    /// Nothing more for now; give `Timeout` at this instant at the latest.
    Timeout(Option<Instant>),
}

/// API misuse: the input broke the agent's contract. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AgentError {
    /// An input came before the outputs of the previous one were drained to
    /// [`AgentOutput::Timeout`].
    #[error("outputs of the previous input were not drained")]
    OutputPending,
    /// A commit confirmation for a batch that is not the oldest one outstanding.
    #[error("batch {0:?} is not the next one to confirm")]
    UnexpectedBatch(BatchId),
    /// `SetServers` with no server.
    #[error("no SMP servers given")]
    NoServers,
    /// The connection manager refused a socket input (an unknown stream...).
    #[error("connection manager: {0}")]
    Manager(ManagerError),
}
