//! The SMP client: one machine per server connection ([`SmpClient`]) and a manager for many
//! servers ([`ConnectionManager`]), both sans-IO (see `spec/client.md`).
//!
//! The model:
//!
//! - [`SmpClient`] wraps a [`ClientConnection`](crate::transport::ClientConnection). Commands
//!   are [`Request`]s (queue id, signing key, command); each gets a [`RequestId`] whose decimal
//!   digits are its correlation id, as the reference counts them. Responses are matched by
//!   correlation id to typed [`Reply`]s or [`RequestError`]s; `MSG`, `END` and `NMSG` without
//!   a correlation id are events. Commands given together go out in as few blocks as v4
//!   batching allows. Each command has a response timeout; an idle connection sends `PING`.
//! - [`ConnectionManager`] keeps one connection per server, makes requests wait on a
//!   connection being opened, reconnects on the reference's retry schedule, resubscribes
//!   every queue in one batch after a reconnection, and reports subscriptions
//!   [`ManagerEvent::Down`]/[`ManagerEvent::Up`] once per server. It opens delivered message
//!   bodies with each queue's key, so the user gets plaintext ([`ReceivedMessage`]).
//! - [`ClientService`] puts the manager behind the shells' interface
//!   ([`crate::driver::Service`]), so `simplex-io-mio` and `simplex-io-smol` drive it; the
//!   embedder's commands and events pass through its [`ClientPort`] within those turns.
//! - [`NetworkConfig`] is the reference agent's: SOCKS5 proxy, host mode, timeouts,
//!   keep-alive. The SOCKS5 exchange itself is [`crate::socks5`].

mod decrypt;
mod expect;
mod machine;
mod manager;
mod network;
mod queue_keys;
mod retry;
mod service;

pub use decrypt::{
    decrypt_message, decrypt_notification, parse_notification_meta, DecryptError, NotificationMeta,
    ReceivedMessage,
};
pub use expect::{Expect, ReplyKind, Unexpected};
pub use machine::{
    ClientCloseReason, ClientConfig, ClientError, ClientInput, ClientOutput, Handled, Reply,
    Request, RequestError, RequestId, SmpClient,
};
pub use manager::{
    ConnId, ConnectionManager, ManagerConfig, ManagerError, ManagerEvent, ManagerHandled,
    ManagerInput, ManagerOutput, ManagerRequestId, MessageError, QueueSubscription, SubKey,
    SubParty,
};
pub use network::{
    server_port, HostMode, IncompatibleHost, KeepAlive, NetworkConfig, SocksProxy, DEFAULT_SMP_PORT,
};
pub use queue_keys::{body_key, generate_sign_key, RecipientKeys, SignAlgorithm};
pub use retry::{Backoff, RetryInterval};
pub use service::{conn_of, socket_of, ClientCommand, ClientPort, ClientService, Mailbox};
