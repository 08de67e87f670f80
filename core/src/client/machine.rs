//! [`SmpClient`]: the client machine for one server connection.
//!
//! It wraps a [`ClientConnection`] (TLS + SMP hello + blocks) and adds what a client needs on
//! top: correlation ids, signing, matching responses to the commands that caused them, server
//! events that answer no command, response timeouts, `PING` on idle and a clean close.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;

use super::expect::{Expect, Unexpected};
use super::network::NetworkConfig;
use crate::crypto::cbox::CbNonce;
use crate::crypto::keys::SignKey;
use crate::encoding::{Version, VersionRange};
use crate::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, ErrorType, MsgFlags,
    MsgId, RcvMessage, SMP_VERSION_RANGE,
};
use crate::time::Instant;
use crate::tls::SessionId;
use crate::transport::{ApiError, ClientConnection, CloseReason, Input, Output, BLOCK_SIZE};

/// Settings of one client connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientConfig {
    /// Protocol versions to offer (the reference's `1-4`).
    pub version_range: VersionRange,
    /// Time allowed for each command's response (the reference's `tcpTimeout`, 5 s).
    pub response_timeout: Duration,
    /// Idle time after which `PING` is sent (the reference's `smpPingInterval`, 10 min).
    pub ping_interval: Duration,
    /// Close the connection after this many `PING`s in a row got no `PONG` in time. `None`
    /// (the default) never closes for that, as v3.2.0 does not.
    pub max_missed_pongs: Option<u32>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self::from_network(&NetworkConfig::default())
    }
}

impl ClientConfig {
    /// The client settings a network configuration implies.
    pub fn from_network(network: &NetworkConfig) -> Self {
        Self {
            version_range: SMP_VERSION_RANGE,
            response_timeout: network.tcp_timeout,
            ping_interval: network.smp_ping_interval,
            max_missed_pongs: None,
        }
    }
}

/// A command's handle: the number its correlation id is made of (the reference counts from 0
/// and sends the count in decimal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

impl RequestId {
    /// The correlation id this request travels with.
    pub fn corr_id(self) -> CorrId {
        // A u64 in decimal is at most 20 bytes: always a valid short id.
        CorrId::from_slice(self.0.to_string().as_bytes()).unwrap_or_default()
    }
}

/// A command to send: the queue it is about, the key that signs it, the command.
#[derive(Clone)]
pub struct Request {
    /// The queue id (`NEW` and `PING`: empty).
    pub entity_id: EntityId,
    /// Signs the transmission; `None` sends it unsigned.
    pub sign_key: Option<SignKey>,
    /// The command.
    pub command: Command,
}

impl std::fmt::Debug for Request {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Request")
            .field("entity_id", &self.entity_id)
            .field("signed", &self.sign_key.is_some())
            .field("command", &self.command.tag())
            .finish()
    }
}

impl Request {
    /// A signed command about `entity_id`.
    pub fn signed(entity_id: EntityId, key: &SignKey, command: Command) -> Self {
        Self {
            entity_id,
            sign_key: Some(key.clone()),
            command,
        }
    }

    /// `NEW`, signed with the recipient's key.
    pub fn create(keys: &super::RecipientKeys) -> Self {
        Self::signed(EntityId::empty(), &keys.sign_key, keys.new_command())
    }

    /// `SUB` for a recipient id.
    pub fn subscribe(recipient_id: EntityId, key: &SignKey) -> Self {
        Self::signed(recipient_id, key, Command::Sub)
    }

    /// `ACK` of a delivered message.
    pub fn ack(recipient_id: EntityId, key: &SignKey, msg_id: MsgId) -> Self {
        Self::signed(recipient_id, key, Command::Ack(msg_id))
    }

    /// `SEND` to a sender id; unsigned until the queue is secured.
    pub fn send(sender_id: EntityId, key: Option<&SignKey>, flags: MsgFlags, body: Bytes) -> Self {
        Self {
            entity_id: sender_id,
            sign_key: key.cloned(),
            command: Command::Send { flags, body },
        }
    }

    /// `PING`.
    pub fn ping() -> Self {
        Self {
            entity_id: EntityId::empty(),
            sign_key: None,
            command: Command::Ping,
        }
    }
}

/// A successful answer to a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reply {
    /// `NEW` created a queue.
    Ids {
        /// The recipient's id.
        recipient_id: EntityId,
        /// The id senders use.
        sender_id: EntityId,
        /// The server's half of the body key.
        server_dh_key: crate::crypto::x25519::PublicKey,
    },
    /// `NKEY` enabled notifications.
    Nid {
        /// The id the notifier subscribes with.
        notifier_id: EntityId,
        /// The server's half of the notification key.
        server_dh_key: crate::crypto::x25519::PublicKey,
    },
    /// `OK`.
    Ok,
    /// `PONG`.
    Pong,
    /// A message delivered in answer to `SUB`, `GET` or `ACK` (still encrypted).
    Message(RcvMessage),
}

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    /// The server answered `ERR`.
    #[error("server error: {0:?}")]
    Protocol(ErrorType),
    /// The server's answer did not parse (the reference's `PCEResponseError`).
    #[error("unreadable response: {0:?}")]
    Response(ErrorType),
    /// An answer that does not fit the command, or about another queue.
    #[error("unexpected response: {0}")]
    Unexpected(Unexpected),
    /// No answer within the response timeout.
    #[error("response timeout")]
    Timeout,
    /// The connection ended (or could not be made) before an answer came.
    #[error("network error")]
    Network,
    /// The transmission fits in no block.
    #[error("the command is too large for a block")]
    TooLarge,
    /// No host of the server fits the required host mode.
    #[error("no compatible host")]
    IncompatibleHost,
}

/// Why the client connection ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientCloseReason {
    /// The transport ended (closed, TLS failure, handshake failure or timeout).
    Transport(CloseReason),
    /// Too many `PING`s in a row went unanswered.
    PongTimeout,
}

/// What the client machine feeds back.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientOutput {
    /// Bytes to write to the socket.
    Transmit(Vec<u8>),
    /// The connection is up.
    Connected {
        /// The negotiated protocol version.
        version: Version,
        /// The tls-unique session id.
        session_id: SessionId,
    },
    /// The answer to a request.
    Response {
        /// Which request.
        id: RequestId,
        /// The queue it was about.
        entity_id: EntityId,
        /// The answer.
        result: Result<Reply, RequestError>,
    },
    /// A message delivered to a subscribed queue (still encrypted for the recipient).
    Message {
        /// The recipient id.
        entity_id: EntityId,
        /// The message.
        message: RcvMessage,
    },
    /// The queue's subscription moved to another connection.
    End {
        /// The recipient id.
        entity_id: EntityId,
    },
    /// A notification for a notifier subscription.
    Notification {
        /// The notifier id.
        entity_id: EntityId,
        /// The nonce of the metadata's encryption.
        nonce: CbNonce,
        /// The encrypted metadata.
        encrypted_meta: Bytes,
    },
    /// A transmission that answers nothing and is not an event (an `ERR` with no correlation
    /// id, such as `ERR BLOCK`, or an answer after its request timed out).
    Unsolicited {
        /// The entity id it carried.
        entity_id: EntityId,
        /// The message or the error.
        message: Result<BrokerMsg, ErrorType>,
    },
    /// The connection ended; every open request has been answered with
    /// [`RequestError::Network`] before this.
    Closed(ClientCloseReason),
    /// Nothing more for now; call again at this instant at the latest.
    Timeout(Option<Instant>),
}

/// What a request waits for.
#[derive(Debug)]
struct InFlight {
    id: RequestId,
    entity_id: EntityId,
    expect: Expect,
    internal_ping: bool,
}

/// The client machine for one SMP server connection.
pub struct SmpClient {
    conn: ClientConnection,
    config: ClientConfig,
    version: Option<Version>,
    session_id: Option<SessionId>,
    next_corr: u64,
    /// Requests made before the connection is up, in order.
    waiting: VecDeque<(RequestId, Request)>,
    /// Encoded transmissions the connection has not taken yet (back-pressure).
    outbox: VecDeque<Vec<u8>>,
    /// Wire bytes the connection produced while an input was being handled.
    wire: VecDeque<Vec<u8>>,
    /// The connection's own next wake-up (TLS and hello deadlines).
    conn_timeout: Option<Instant>,
    /// The latest `now` seen.
    now: Instant,
    in_flight: HashMap<CorrId, InFlight>,
    /// Deadlines in the order they were set (all use the same timeout, so in time order).
    deadlines: VecDeque<(Instant, CorrId)>,
    last_sent: Instant,
    ping_outstanding: bool,
    missed_pongs: u32,
    outputs: VecDeque<ClientOutput>,
    closed: bool,
    reported_closed: bool,
    /// Whether `poll_output` reached `Timeout` since the last input.
    drained: bool,
}

impl std::fmt::Debug for SmpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmpClient")
            .field("version", &self.version)
            .field("in_flight", &self.in_flight.len())
            .field("waiting", &self.waiting.len())
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

/// What [`SmpClient::handle_input`] accepts.
#[derive(Debug)]
pub enum ClientInput<'a> {
    /// Bytes read from the socket.
    Received(&'a [u8]),
    /// The socket reached end of file.
    PeerClosed,
    /// Commands to send (they wait for the connection if it is not up yet). All commands
    /// given in one input go out together, in as few blocks as fit under v4; each gets an id
    /// ([`Handled::submitted`]) its [`ClientOutput::Response`] will carry.
    Submit(Vec<Request>),
    /// Close the connection cleanly.
    Close,
    /// Only time passed.
    Tick,
}

/// What an accepted input did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Handled {
    /// How many received bytes were consumed (all of them unless the connection closed
    /// meanwhile); 0 for inputs that carry none.
    pub consumed: usize,
    /// The ids of the commands of a [`ClientInput::Submit`], in order; empty otherwise.
    pub submitted: Vec<RequestId>,
}

/// API misuse: the input broke the machine's contract and was not taken. Nothing changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClientError {
    /// An input came before the outputs of the previous one were drained to
    /// [`ClientOutput::Timeout`].
    #[error("outputs of the previous input were not drained")]
    OutputPending,
    /// Commands submitted after the connection ended.
    #[error("the connection is closed")]
    Closed,
    /// The connection refused the input.
    #[error("{0}")]
    Transport(#[from] ApiError),
}

impl SmpClient {
    /// A client over a fresh [`ClientConnection`] (made with the same version range).
    pub fn new(conn: ClientConnection, config: ClientConfig, now: Instant) -> Self {
        Self {
            conn,
            config,
            version: None,
            session_id: None,
            next_corr: 0,
            waiting: VecDeque::new(),
            outbox: VecDeque::new(),
            wire: VecDeque::new(),
            conn_timeout: None,
            now,
            in_flight: HashMap::new(),
            deadlines: VecDeque::new(),
            last_sent: now,
            ping_outstanding: false,
            missed_pongs: 0,
            outputs: VecDeque::new(),
            closed: false,
            reported_closed: false,
            drained: true,
        }
    }

    /// The negotiated version, once connected.
    pub fn version(&self) -> Option<Version> {
        self.version
    }

    /// The session id, once connected.
    pub fn session_id(&self) -> Option<&SessionId> {
        self.session_id.as_ref()
    }

    /// Whether commands go out right away.
    pub fn is_connected(&self) -> bool {
        self.version.is_some() && !self.closed
    }

    /// Whether the connection has ended.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Requests waiting for an answer (or for the connection).
    pub fn pending_requests(&self) -> usize {
        self.in_flight.len() + self.waiting.len()
    }

    /// How many more blocks of commands go to the connection at once: its send capacity
    /// less the blocks already queued here. Commands submitted beyond it are kept (and sent as
    /// `Transmit` outputs are drained), so this is for a caller that wants to pace itself.
    pub fn send_capacity(&self) -> usize {
        let queued = if self.version.is_some_and(|v| v >= 4) {
            let lens: Vec<usize> = self.outbox.iter().map(Vec::len).collect();
            let (mut start, mut blocks) = (0, 0);
            while start < lens.len() {
                start += block_fill(lens[start..].iter().copied());
                blocks += 1;
            }
            blocks
        } else {
            self.outbox.len()
        };
        self.conn.send_capacity().saturating_sub(queued)
    }

    /// Feeds an input. Afterwards drain [`Self::poll_output`] until it returns
    /// [`ClientOutput::Timeout`]; another input before that is refused
    /// ([`ClientError::OutputPending`]).
    pub fn handle_input(
        &mut self,
        now: Instant,
        input: ClientInput<'_>,
    ) -> Result<Handled, ClientError> {
        if !self.drained {
            return Err(ClientError::OutputPending);
        }
        if self.closed && matches!(input, ClientInput::Submit(_)) {
            return Err(ClientError::Closed);
        }
        self.now = self.now.max(now);
        let mut handled = Handled::default();
        match input {
            ClientInput::Received(bytes) => {
                if self.closed {
                    // Bytes that were in flight when the connection ended: nothing to do.
                    handled.consumed = bytes.len();
                    return Ok(handled);
                }
                let mut done = 0;
                while done < bytes.len() {
                    let n = self
                        .conn
                        .handle_input(now, Input::Received(&bytes[done..]))?;
                    done += n;
                    self.drain_connection();
                    if n == 0 || self.conn.is_closed() {
                        break;
                    }
                }
                handled.consumed = done;
            }
            ClientInput::Submit(requests) => {
                handled.submitted = Vec::with_capacity(requests.len());
                for request in requests {
                    let id = RequestId(self.next_corr);
                    self.next_corr += 1;
                    handled.submitted.push(id);
                    if self.version.is_some() {
                        self.encode(now, id, request, false);
                    } else {
                        self.waiting.push_back((id, request));
                    }
                }
            }
            ClientInput::PeerClosed => {
                if !self.conn.is_closed() {
                    self.conn.handle_input(now, Input::PeerClosed)?;
                }
            }
            ClientInput::Close => {
                if !self.conn.is_closed() {
                    self.conn.handle_input(now, Input::Close)?;
                }
            }
            ClientInput::Tick => {
                if !self.conn.is_closed() {
                    self.conn.handle_input(now, Input::Tick)?;
                }
            }
        }
        self.drained = false;
        self.drain_connection();
        self.check_timers(now);
        Ok(handled)
    }

    /// The next output. Drain until [`ClientOutput::Timeout`].
    pub fn poll_output(&mut self) -> ClientOutput {
        if let Some(bytes) = self.wire.pop_front() {
            return ClientOutput::Transmit(bytes);
        }
        loop {
            self.flush();
            match self.conn.poll_output() {
                Output::Transmit(bytes) => return ClientOutput::Transmit(bytes),
                Output::Timeout(t) => {
                    self.conn_timeout = t;
                    // The connection took everything it had room for; if more waits and it
                    // now has room, go round again.
                    if self.outbox.is_empty() || !self.flush() {
                        break;
                    }
                }
                other => self.on_connection_output(other),
            }
        }
        if let Some(out) = self.outputs.pop_front() {
            return out;
        }
        self.drained = true;
        ClientOutput::Timeout(self.poll_timeout())
    }

    /// When the machine next needs a [`ClientInput::Tick`], as of the last
    /// [`Self::poll_output`] (the same instant its `Timeout` gave).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.closed {
            return None;
        }
        let mut next = self.conn_timeout;
        let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
        if self.version.is_some() {
            consider(self.last_sent + self.config.ping_interval);
        }
        if let Some((deadline, _)) = self.deadlines.front() {
            consider(*deadline);
        }
        next
    }

    /// Handles what the connection produced during an input, keeping its wire bytes for
    /// `poll_output`, so that it can take the rest of the input.
    fn drain_connection(&mut self) {
        loop {
            match self.conn.poll_output() {
                Output::Transmit(bytes) => self.wire.push_back(bytes),
                Output::Timeout(t) => {
                    self.conn_timeout = t;
                    break;
                }
                other => self.on_connection_output(other),
            }
        }
    }

    fn on_connection_output(&mut self, output: Output<BrokerMsg>) {
        match output {
            Output::Established {
                negotiated,
                session_id,
            } => {
                self.version = Some(negotiated.version);
                self.session_id = Some(session_id);
                self.outputs.push_back(ClientOutput::Connected {
                    version: negotiated.version,
                    session_id,
                });
                let now = self.now;
                self.last_sent = now;
                for (id, request) in std::mem::take(&mut self.waiting) {
                    self.encode(now, id, request, false);
                }
            }
            Output::Received(t) => self.on_transmission(t.corr_id, t.entity_id, t.message),
            // We never hand the connection a transmission that fits in no block.
            Output::TooLarge(_) => {}
            Output::Closed(reason) => self.on_closed(ClientCloseReason::Transport(reason)),
            Output::Transmit(_) | Output::Timeout(_) => {}
        }
    }

    fn on_transmission(
        &mut self,
        corr_id: CorrId,
        entity_id: EntityId,
        message: Result<BrokerMsg, ErrorType>,
    ) {
        let pending = if corr_id.is_empty() {
            None
        } else {
            self.in_flight.remove(&corr_id)
        };
        let Some(pending) = pending else {
            return self.on_event(entity_id, message);
        };
        let result = if pending.entity_id != entity_id {
            Err(RequestError::Unexpected(Unexpected::OtherQueue))
        } else {
            match message {
                Err(e) => Err(RequestError::Response(e)),
                Ok(msg) => pending.expect.check(msg),
            }
        };
        if pending.internal_ping {
            self.ping_outstanding = false;
            if result.is_ok() {
                self.missed_pongs = 0;
            }
            return;
        }
        self.outputs.push_back(ClientOutput::Response {
            id: pending.id,
            entity_id,
            result,
        });
    }

    fn on_event(&mut self, entity_id: EntityId, message: Result<BrokerMsg, ErrorType>) {
        let out = match message {
            Ok(BrokerMsg::Msg(message)) => ClientOutput::Message { entity_id, message },
            Ok(BrokerMsg::End) => ClientOutput::End { entity_id },
            Ok(BrokerMsg::NMsg {
                nonce,
                encrypted_meta,
            }) => ClientOutput::Notification {
                entity_id,
                nonce,
                encrypted_meta: encrypted_meta.into_bytes(),
            },
            message => ClientOutput::Unsolicited { entity_id, message },
        };
        self.outputs.push_back(out);
    }

    fn on_closed(&mut self, reason: ClientCloseReason) {
        if self.reported_closed {
            return;
        }
        self.closed = true;
        self.reported_closed = true;
        let mut open: Vec<InFlight> = self.in_flight.drain().map(|(_, p)| p).collect();
        open.sort_by_key(|p| p.id);
        for p in open.into_iter().filter(|p| !p.internal_ping) {
            self.outputs.push_back(ClientOutput::Response {
                id: p.id,
                entity_id: p.entity_id,
                result: Err(RequestError::Network),
            });
        }
        for (id, request) in std::mem::take(&mut self.waiting) {
            self.outputs.push_back(ClientOutput::Response {
                id,
                entity_id: request.entity_id,
                result: Err(RequestError::Network),
            });
        }
        self.deadlines.clear();
        self.outbox.clear();
        self.outputs.push_back(ClientOutput::Closed(reason));
    }

    /// Signs and queues one transmission.
    fn encode(&mut self, now: Instant, id: RequestId, request: Request, internal_ping: bool) {
        let (Some(version), Some(session_id)) = (self.version, self.session_id) else {
            self.waiting.push_back((id, request));
            return;
        };
        let corr_id = id.corr_id();
        let command = request.command.to_bytes(version);
        let transmission = signed_part(&session_id, &corr_id, &request.entity_id, &command)
            .ok()
            .map(|signed| {
                let signature = request.sign_key.as_ref().map(|k| k.sign(&signed));
                encode_transmission(signature.as_ref(), &signed)
            });
        // Under v4 a transmission travels with a count byte and a 2-byte length.
        let limit = if version >= 4 {
            BLOCK_SIZE - 2 - 3
        } else {
            BLOCK_SIZE - 2
        };
        match transmission {
            Some(t) if t.len() <= limit => {
                self.outbox.push_back(t);
                let deadline = now + self.config.response_timeout;
                self.deadlines.push_back((deadline, corr_id.clone()));
                self.in_flight.insert(
                    corr_id,
                    InFlight {
                        id,
                        entity_id: request.entity_id,
                        expect: Expect::of(&request.command),
                        internal_ping,
                    },
                );
                self.last_sent = self.last_sent.max(now);
            }
            _ => self.outputs.push_back(ClientOutput::Response {
                id,
                entity_id: request.entity_id,
                result: Err(RequestError::TooLarge),
            }),
        }
    }

    /// Hands queued transmissions to the connection one block's worth at a time (so blocks
    /// are full whatever the calls that queued them), as many blocks as its send capacity.
    /// Returns whether anything was taken.
    fn flush(&mut self) -> bool {
        if self.closed || self.version.is_none() {
            return false;
        }
        let batch = self.version.is_some_and(|v| v >= 4);
        let mut progress = false;
        let mut capacity = self.conn.send_capacity();
        while capacity > 0 && !self.outbox.is_empty() {
            let n = if batch {
                block_fill(self.outbox.iter().map(Vec::len))
            } else {
                1
            };
            let chunk: Vec<Vec<u8>> = self.outbox.drain(..n).collect();
            // Each chunk fills one block, and the connection said it takes this many.
            if self
                .conn
                .handle_input(self.now, Input::Send(chunk))
                .is_err()
            {
                break;
            }
            capacity -= 1;
            progress = true;
        }
        progress
    }

    fn check_timers(&mut self, now: Instant) {
        if self.closed {
            return;
        }
        while let Some((deadline, _)) = self.deadlines.front() {
            if *deadline > now {
                break;
            }
            let Some((_, corr_id)) = self.deadlines.pop_front() else {
                break;
            };
            let Some(pending) = self.in_flight.remove(&corr_id) else {
                continue;
            };
            if pending.internal_ping {
                self.ping_outstanding = false;
                self.missed_pongs += 1;
                if self
                    .config
                    .max_missed_pongs
                    .is_some_and(|max| self.missed_pongs >= max)
                {
                    let _ = self.conn.handle_input(now, Input::Close);
                    return self.on_closed(ClientCloseReason::PongTimeout);
                }
                continue;
            }
            self.outputs.push_back(ClientOutput::Response {
                id: pending.id,
                entity_id: pending.entity_id,
                result: Err(RequestError::Timeout),
            });
        }
        if self.version.is_some()
            && !self.ping_outstanding
            && now >= self.last_sent + self.config.ping_interval
        {
            let id = RequestId(self.next_corr);
            self.next_corr += 1;
            self.ping_outstanding = true;
            self.encode(now, id, Request::ping(), true);
            self.last_sent = now;
        }
    }
}

/// How many of the next transmissions (by length) fill one v4 block: a count byte, then each
/// with a 2-byte length, within the block's 16382 bytes of content and at most 255 of them.
fn block_fill(lens: impl Iterator<Item = usize>) -> usize {
    let mut used = 1;
    let mut n = 0;
    for len in lens {
        if n == 255 || used + 2 + len > BLOCK_SIZE - 2 {
            break;
        }
        used += 2 + len;
        n += 1;
    }
    n.max(1)
}
