//! What a [`super::ConnectionManager`] takes and gives: its configuration, the subscriptions
//! it keeps, its inputs, outputs and events, and its errors (plain data; the machine is in the
//! parent module).

use bytes::Bytes;

use crate::address::{ServerAddress, TransportHost};
use crate::client::decrypt::{DecryptError, ReceivedMessage};
use crate::client::machine::{ClientConfig, Reply, Request, RequestError};
use crate::client::network::{KeepAlive, NetworkConfig, SocksProxy};
use crate::client::retry::RetryInterval;
use crate::crypto::cbox::{CbKey, CbNonce};
use crate::crypto::keys::SignKey;
use crate::protocol::{EntityId, RcvMessage};
use crate::time::Instant;

/// A TCP stream the manager asked the shell for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

/// A user request's handle, unique across servers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ManagerRequestId(pub u64);

/// Settings of the manager.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ManagerConfig {
    /// How to reach servers.
    pub network: NetworkConfig,
    /// Per-connection settings (response timeout, ping...).
    pub client: ClientConfig,
    /// The reconnect schedule.
    pub reconnect: RetryInterval,
}

impl ManagerConfig {
    /// Settings for a network configuration, with the agent's reconnect schedule.
    pub fn from_network(network: NetworkConfig) -> Self {
        Self {
            client: ClientConfig::from_network(&network),
            network,
            reconnect: RetryInterval::AGENT,
        }
    }
}

/// Who a subscription is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SubParty {
    /// The queue's recipient (`SUB`): delivered messages.
    Recipient,
    /// A notifier (`NSUB`): notifications.
    Notifier,
}

/// A subscription to keep alive across reconnections.
#[derive(Clone)]
pub struct QueueSubscription {
    /// Recipient or notifier.
    pub party: SubParty,
    /// The recipient id (or notifier id).
    pub queue_id: EntityId,
    /// Signs `SUB` / `NSUB`.
    pub sign_key: SignKey,
    /// Opens delivered message bodies (recipients).
    pub body_key: Option<CbKey>,
}

impl std::fmt::Debug for QueueSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueSubscription")
            .field("party", &self.party)
            .field("queue_id", &self.queue_id)
            .finish_non_exhaustive()
    }
}

/// A subscription's key: party and queue id.
pub type SubKey = (SubParty, EntityId);

/// Why a delivered message could not be handed over as plaintext.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// No subscription with a body key for the queue (the message is given as it came).
    #[error("no body key for the queue")]
    NoKey(RcvMessage),
    /// The body did not open.
    #[error("{0}")]
    Decrypt(DecryptError),
}

/// What happened, for the user.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerEvent {
    /// A connection to the server is up.
    Connected {
        /// The server.
        server: ServerAddress,
    },
    /// The answer to a request.
    Response {
        /// Which request.
        id: ManagerRequestId,
        /// The server.
        server: ServerAddress,
        /// The queue it was about.
        entity_id: EntityId,
        /// The answer.
        result: Result<Reply, RequestError>,
    },
    /// A new subscription is active.
    Subscribed {
        /// The server.
        server: ServerAddress,
        /// Which subscription.
        sub: SubKey,
    },
    /// A subscription failed for good (it is forgotten).
    SubscriptionFailed {
        /// The server.
        server: ServerAddress,
        /// Which subscription.
        sub: SubKey,
        /// Why.
        error: RequestError,
    },
    /// A message arrived for a subscribed queue.
    Message {
        /// The server.
        server: ServerAddress,
        /// The recipient id.
        queue_id: EntityId,
        /// The opened message.
        message: Result<ReceivedMessage, MessageError>,
    },
    /// A notification arrived for a notifier subscription.
    Notification {
        /// The server.
        server: ServerAddress,
        /// The notifier id.
        notifier_id: EntityId,
        /// The nonce of the metadata's encryption.
        nonce: CbNonce,
        /// The encrypted metadata (the recipient opens it, see `decrypt_notification`).
        encrypted_meta: Bytes,
    },
    /// Another connection took the subscription over (it is forgotten).
    End {
        /// The server.
        server: ServerAddress,
        /// Which subscription.
        sub: SubKey,
    },
    /// The connection dropped: these subscriptions are down until reconnected. Once per
    /// server per disconnection.
    Down {
        /// The server.
        server: ServerAddress,
        /// Every subscription that was active.
        subs: Vec<SubKey>,
    },
    /// After a reconnection, these subscriptions are active again. Once per server per
    /// reconnection.
    Up {
        /// The server.
        server: ServerAddress,
        /// Every subscription resubscribed.
        subs: Vec<SubKey>,
    },
}

/// What the manager asks of the shell, or tells the user.
#[derive(Debug, Clone, PartialEq)]
pub enum ManagerOutput {
    /// Open a TCP stream and report [`ManagerInput::Connected`] or
    /// [`ManagerInput::ConnectFailed`]. With a proxy, connect to the proxy (the manager speaks
    /// SOCKS5 itself, naming `host:port`); otherwise to `host:port`.
    Connect {
        /// The stream's id in later inputs and outputs.
        conn: ConnId,
        /// The server.
        server: ServerAddress,
        /// The chosen host.
        host: TransportHost,
        /// The server's port.
        port: u16,
        /// The SOCKS5 proxy to connect to instead, if any.
        proxy: Option<SocksProxy>,
        /// TCP keep-alive to set on the socket.
        keep_alive: Option<KeepAlive>,
    },
    /// Write bytes to a stream.
    Transmit {
        /// The stream.
        conn: ConnId,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// Close a stream (and forget it).
    Disconnect {
        /// The stream.
        conn: ConnId,
    },
    /// Something for the user.
    Event(ManagerEvent),
    /// Nothing more for now; call again at this instant at the latest.
    Timeout(Option<Instant>),
}

/// What the shell and the user feed the manager.
#[derive(Debug)]
pub enum ManagerInput<'a> {
    /// Send a request to a server, connecting first if needed (requests made while it
    /// connects wait on that one connection). Its id is [`ManagerHandled::request`]; the
    /// answer comes as [`ManagerEvent::Response`].
    Request {
        /// The server.
        server: ServerAddress,
        /// The command (boxed: it is by far the largest input).
        request: Box<Request>,
    },
    /// Subscribe queues of one server (in as few blocks as fit) and keep them subscribed
    /// across reconnections. The outcome comes as [`ManagerEvent::Subscribed`] or
    /// [`ManagerEvent::SubscriptionFailed`].
    Subscribe {
        /// The server.
        server: ServerAddress,
        /// The subscriptions.
        subs: Vec<QueueSubscription>,
    },
    /// Forget a subscription locally (the server keeps it until the connection ends);
    /// [`ManagerHandled::forgotten`] says whether it was kept.
    Forget {
        /// The server.
        server: ServerAddress,
        /// Which subscription.
        sub: SubKey,
    },
    /// Close every connection and forget every subscription; open requests are answered with
    /// [`crate::client::RequestError::Network`].
    Close,
    /// New settings (network, client, reconnect schedule) for connections made from now on;
    /// the connections already open keep theirs (as the reference's `setNetworkConfig`).
    SetConfig(Box<ManagerConfig>),
    /// The TCP stream is open.
    Connected(ConnId),
    /// The TCP stream could not be opened.
    ConnectFailed(ConnId),
    /// Bytes read from a stream.
    Received(ConnId, &'a [u8]),
    /// A stream reached end of file or failed.
    Closed(ConnId),
    /// Only time passed.
    Tick,
}

/// What an accepted input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerHandled {
    /// Bytes of a [`ManagerInput::Received`] consumed (all, unless the connection ended
    /// meanwhile); 0 for other inputs.
    pub consumed: usize,
    /// The id of a [`ManagerInput::Request`].
    pub request: Option<ManagerRequestId>,
    /// Whether a [`ManagerInput::Forget`] found the subscription.
    pub forgotten: bool,
}

/// API misuse: the input broke the manager's contract (or named a stream it does not know:
/// already closed, or never asked for). Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagerError {
    /// An input came before the outputs of the previous one were drained to
    /// [`ManagerOutput::Timeout`].
    #[error("outputs of the previous input were not drained")]
    OutputPending,
    /// Unknown stream.
    #[error("unknown connection {0:?}")]
    UnknownConnection(ConnId),
    /// The stream was already reported connected.
    #[error("connection {0:?} was already reported open")]
    AlreadyConnected(ConnId),
}
