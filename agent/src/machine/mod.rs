//! [`Agent`]: the agent as one sans-IO machine (see `spec/agent.md`, "The machine").
//!
//! It owns a [`ConnectionManager`] and its durable state ([`StoreState`], loaded once). An
//! input changes the state in memory and emits what changed as a numbered [`RecordBatch`];
//! everything that would let the world see the change (an event to the user, a request that
//! puts bytes on the wire, a subscription) waits in that batch's effects until the shell says
//! `Committed`. So what the world has seen is always durable, whatever the shell crashes at.

pub mod connection;
mod contact;
mod delete;
mod delivery;
mod handshake;
mod incoming;
mod io;
mod join;
mod lifecycle;
mod new_conn;
mod receive;
mod send;
mod server_events;
mod subscribe;
#[cfg(test)]
mod tests;

pub use delivery::{DeliveryConfig, SndMessageType};
pub use io::{
    AgentCommand, AgentError, AgentEvent, AgentInput, AgentOutput, CommandError, CorrId,
    SocketAction,
};
pub use lifecycle::AgentState;

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use rand_core::CryptoRngCore;
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    ConnectionManager, ManagerError, ManagerEvent, ManagerHandled, ManagerInput, ManagerOutput,
    ManagerRequestId, QueueSubscription, SignAlgorithm, SubKey,
};
use simplex_core::time::{Clock, Instant};

use crate::store::{ApplyError, BatchId, ConnectionId, Record, RecordBatch, StoreState};
use new_conn::NewQueue;

/// Settings of the agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentConfig {
    /// Servers to create receive queues on (one is picked at random for each, as the
    /// reference's `getSMPServer` does).
    pub smp_servers: Vec<ServerAddress>,
    /// The signature algorithm of queue keys (the reference's `cmdSignAlg`: Ed448).
    pub sign_algorithm: SignAlgorithm,
    /// How stored messages are retried and when they expire.
    pub delivery: DeliveryConfig,
}

/// Something the world may see only once a batch is durable.
#[derive(Debug)]
enum Effect {
    /// Tell the user.
    Event {
        corr_id: CorrId,
        conn: ConnectionId,
        event: AgentEvent,
    },
    /// Have the manager keep a queue subscribed; with `answer`, tell the user when the
    /// server confirmed it.
    Subscribe {
        conn: ConnectionId,
        server: ServerAddress,
        sub: QueueSubscription,
        answer: Option<CorrId>,
    },
    /// Send a request that puts what a batch records on the wire (a confirmation's `SEND`);
    /// `pending` says what its answer is for.
    Request {
        conn: ConnectionId,
        server: ServerAddress,
        request: Box<simplex_core::client::Request>,
        pending: PendingRequest,
    },
    /// A step of the connection's send queue worker (see [`delivery`]).
    Outbox {
        conn: ConnectionId,
        step: delivery::OutboxStep,
    },
}

impl Effect {
    fn connection(&self) -> &ConnectionId {
        match self {
            Self::Event { conn, .. }
            | Self::Subscribe { conn, .. }
            | Self::Request { conn, .. }
            | Self::Outbox { conn, .. } => conn,
        }
    }

    /// Who waits for this effect to be answered, if anyone: they get an error if it is
    /// dropped.
    fn waiting(self) -> Option<(CorrId, ConnectionId)> {
        match self {
            Self::Event { corr_id, conn, .. } => Some((corr_id, conn)),
            Self::Subscribe { answer, conn, .. } => answer.map(|corr_id| (corr_id, conn)),
            Self::Request { pending, .. } => pending.waiting(),
            Self::Outbox { .. } => None,
        }
    }
}

/// A batch handed to the shell and not yet confirmed.
#[derive(Debug)]
struct Uncommitted {
    id: BatchId,
    /// The connections its records are about (halted if it fails).
    conns: BTreeSet<ConnectionId>,
    effects: Vec<Effect>,
}

/// What a manager request was for.
#[derive(Debug)]
enum PendingRequest {
    /// `NEW` for a new connection's receive queue.
    CreateQueue(Box<NewQueue>),
    /// `DEL` or `OFF` of a connection's receive queue.
    QueueCommand(delete::QueueCommand),
    /// `NEW` for a joining party's reply queue.
    JoinQueue(Box<join::Joining>),
    /// The joining party's confirmation `SEND`.
    ConfirmationSent(join::ConfirmationSent),
    /// `ACK` of a server message (its answer changes nothing).
    Ack,
    /// `KEY` on one of our receive queues.
    Secure(handshake::Securing),
    /// `ACK` of a user message the user acknowledged.
    UserAck(receive::Acking),
    /// An invitation's `SEND` to a contact address.
    InvitationSent(contact::InvitationSent),
    /// A stored message's `SEND` (see [`delivery`]).
    Deliver(delivery::Delivering),
}

impl PendingRequest {
    /// Who waits for this request's answer, if anyone.
    fn waiting(self) -> Option<(CorrId, ConnectionId)> {
        match self {
            Self::ConfirmationSent(sent) => Some(sent.waiting()),
            Self::Secure(securing) => securing.waiting(),
            Self::UserAck(acking) => acking.waiting(),
            Self::InvitationSent(sent) => Some(sent.waiting()),
            Self::Deliver(_) => None,
            Self::CreateQueue(_) | Self::QueueCommand(_) | Self::JoinQueue(_) | Self::Ack => None,
        }
    }
}

/// The agent machine.
pub struct Agent {
    config: AgentConfig,
    manager: ConnectionManager,
    rng: Box<dyn CryptoRngCore + Send>,
    /// The durable state as it is once every batch handed out is committed.
    state: StoreState,
    /// Connections whose batch failed to commit: their memory is ahead of the store, so they
    /// take no more commands until the agent restarts from the store.
    halted: BTreeSet<ConnectionId>,
    uncommitted: VecDeque<Uncommitted>,
    next_batch: u64,
    requests: BTreeMap<ManagerRequestId, PendingRequest>,
    /// `SUB`s waiting for the server's answer, by server and subscription.
    subscribing: HashMap<(ServerAddress, SubKey), Vec<(CorrId, ConnectionId)>>,
    /// The send queues' workers, by connection (each has at most one send queue).
    outboxes: BTreeMap<ConnectionId, delivery::Outbox>,
    outputs: VecDeque<AgentOutput>,
    manager_deadline: Option<Instant>,
    /// Active, suspending or suspended.
    lifecycle: AgentState,
    /// What a suspension holds until `Activate`.
    held: lifecycle::Held,
    /// The host last dialled for each server (named in `CONNECT` / `DISCONNECT`).
    dialled: HashMap<ServerAddress, simplex_core::address::TransportHost>,
    /// Whether `poll_output` reached `Timeout` since the last input.
    drained: bool,
    clock: Clock,
}

impl std::fmt::Debug for Agent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Agent")
            .field("connections", &self.state.connections.len())
            .field("uncommitted", &self.uncommitted.len())
            .field("halted", &self.halted.len())
            .finish_non_exhaustive()
    }
}

impl Agent {
    /// An agent over `state`, the store's snapshot (loaded once, here). `manager` makes its
    /// connections (it has its own randomness, for TLS); `rng` makes every key and id.
    pub fn new(
        config: AgentConfig,
        state: StoreState,
        manager: ConnectionManager,
        rng: Box<dyn CryptoRngCore + Send>,
        clock: Clock,
    ) -> Self {
        Self {
            config,
            manager,
            rng,
            state,
            halted: BTreeSet::new(),
            uncommitted: VecDeque::new(),
            next_batch: 1,
            requests: BTreeMap::new(),
            subscribing: HashMap::new(),
            outboxes: BTreeMap::new(),
            outputs: VecDeque::new(),
            manager_deadline: None,
            dialled: HashMap::new(),
            lifecycle: AgentState::Active,
            held: lifecycle::Held::default(),
            drained: true,
            clock,
        }
    }

    /// The durable state the machine holds (what the store holds once every batch handed out
    /// is committed).
    pub fn state(&self) -> &StoreState {
        &self.state
    }

    /// Whether a failed commit halted this connection.
    pub fn is_halted(&self, conn: &ConnectionId) -> bool {
        self.halted.contains(conn)
    }

    /// The connection manager (for its counts and state; inputs go through the agent).
    pub fn manager(&self) -> &ConnectionManager {
        &self.manager
    }

    /// Feeds an input. Afterwards drain [`Self::poll_output`] until it returns
    /// [`AgentOutput::Timeout`]; another input before that is refused.
    pub fn handle_input(&mut self, clock: Clock, input: AgentInput<'_>) -> Result<(), AgentError> {
        if !self.drained {
            return Err(AgentError::OutputPending);
        }
        if let AgentInput::Committed(id) | AgentInput::CommitFailed(id) = &input {
            if self.uncommitted.front().map(|b| b.id) != Some(*id) {
                return Err(AgentError::UnexpectedBatch(*id));
            }
        }
        let now = clock.now.max(self.clock.now);
        self.clock = Clock { now, ..clock };
        let manager_input = match input {
            AgentInput::Command {
                corr_id,
                conn,
                command,
            } => {
                self.drained = false;
                if let Some((corr_id, conn, command)) = self.hold_command(corr_id, conn, command) {
                    self.run_command(corr_id, conn, command);
                }
                self.check_suspended();
                return Ok(());
            }
            AgentInput::Suspend { max_delay } => {
                self.drained = false;
                self.suspend(max_delay);
                return Ok(());
            }
            AgentInput::Activate => {
                self.drained = false;
                self.activate();
                return Ok(());
            }
            AgentInput::SetServers(servers) => {
                if servers.is_empty() {
                    return Err(AgentError::NoServers);
                }
                self.config.smp_servers = servers;
                return Ok(());
            }
            AgentInput::SetNetwork(config) => ManagerInput::SetConfig(config),
            AgentInput::Committed(_) => {
                self.drained = false;
                self.committed();
                self.check_suspended();
                return Ok(());
            }
            AgentInput::CommitFailed(_) => {
                self.drained = false;
                self.commit_failed();
                self.check_suspended();
                return Ok(());
            }
            AgentInput::Connected(conn) => ManagerInput::Connected(conn),
            AgentInput::ConnectFailed(conn) => ManagerInput::ConnectFailed(conn),
            AgentInput::Received(conn, bytes) => ManagerInput::Received(conn, bytes),
            AgentInput::Closed(conn) => ManagerInput::Closed(conn),
            AgentInput::Timeout => {
                // Deliveries whose wait is over go out before the manager's own timers run.
                self.drained = false;
                self.retry_due();
                ManagerInput::Tick
            }
            AgentInput::Shutdown => ManagerInput::Close,
        };
        // The manager refuses an unknown stream before it changes anything.
        self.feed_manager(manager_input)
            .map_err(AgentError::Manager)?;
        self.drained = false;
        self.check_suspended();
        Ok(())
    }

    /// Runs a user command.
    fn run_command(&mut self, corr_id: CorrId, conn: Option<ConnectionId>, command: AgentCommand) {
        match command {
            AgentCommand::New { mode } => self.new_connection(corr_id, conn, mode),
            AgentCommand::Sub => self.subscribe_connection(corr_id, conn),
            AgentCommand::Del => self.delete_connection(corr_id, conn),
            AgentCommand::Off => self.suspend_connection(corr_id, conn),
            AgentCommand::Let { conf_id, info } => {
                self.allow_connection(corr_id, conn, conf_id, info)
            }
            AgentCommand::Join { conn_req, info } => {
                self.join_connection(corr_id, conn, *conn_req, info)
            }
            AgentCommand::Send { flags, body } => self.send_message(corr_id, conn, flags, body),
            AgentCommand::Ack { msg_id } => self.ack_message(corr_id, conn, msg_id),
            AgentCommand::Acpt { inv_id, info } => self.accept_contact(corr_id, conn, inv_id, info),
            AgentCommand::Rjct { inv_id } => self.reject_contact(corr_id, conn, inv_id),
        }
    }

    /// The next output. Drain until [`AgentOutput::Timeout`].
    pub fn poll_output(&mut self) -> AgentOutput {
        match self.outputs.pop_front() {
            Some(out) => out,
            None => {
                self.drained = true;
                AgentOutput::Timeout(self.poll_timeout())
            }
        }
    }

    /// The agent's own next deadline: a delivery retry or the end of a suspension delay.
    fn own_deadline(&self) -> Option<Instant> {
        match (self.delivery_deadline(), self.suspend_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// When the agent next needs a `Timeout` input (`None`: only on other inputs).
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.manager_deadline, self.own_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Applies records to the state in memory and hands them to the shell as the next batch;
    /// `effects` wait for its commit. A record that does not fit is a bug here: nothing of the
    /// batch is applied or emitted, and the connections concerned are halted rather than the
    /// store told something false.
    fn emit(&mut self, records: Vec<Record>, effects: Vec<Effect>) -> Result<(), ApplyError> {
        let conns: BTreeSet<ConnectionId> = records
            .iter()
            .filter_map(|r| record_connection(r, &self.state).cloned())
            .collect();
        if let Err((_, e)) = self.state.apply_all(&records) {
            self.halted.extend(conns);
            return Err(e);
        }
        let id = BatchId(self.next_batch);
        self.next_batch += 1;
        self.outputs
            .push_back(AgentOutput::Persist(RecordBatch { id, records }));
        self.uncommitted
            .push_back(Uncommitted { id, conns, effects });
        Ok(())
    }

    /// The oldest batch is durable: what waited for it happens now, in order.
    fn committed(&mut self) {
        let Some(batch) = self.uncommitted.pop_front() else {
            return;
        };
        for effect in batch.effects {
            if self.halted.contains(effect.connection()) {
                // An earlier batch of this connection failed: this one's effects would show
                // a state the store may not have.
                if let Some((corr_id, conn)) = effect.waiting() {
                    self.event(corr_id, Some(conn), AgentEvent::Err(CommandError::Halted));
                }
                continue;
            }
            self.run_effect(effect);
        }
    }

    fn run_effect(&mut self, effect: Effect) {
        match effect {
            Effect::Event {
                corr_id,
                conn,
                event,
            } => self.event(corr_id, Some(conn), event),
            Effect::Subscribe {
                conn,
                server,
                sub,
                answer,
            } => {
                if let Some(corr_id) = answer {
                    self.subscribing
                        .entry((server.clone(), (sub.party, sub.queue_id.clone())))
                        .or_default()
                        .push((corr_id, conn));
                }
                let subscribe = ManagerInput::Subscribe {
                    server,
                    subs: vec![sub],
                };
                // A subscription names no stream: the manager never refuses it.
                let _ = self.feed_manager(subscribe);
            }
            Effect::Request {
                server,
                request,
                pending,
                ..
            } => self.send_request(server, request, pending),
            Effect::Outbox { conn, step } => self.outbox_step(conn, step),
        }
    }

    /// Hands a request to the manager and remembers what its answer is for.
    fn send_request(
        &mut self,
        server: ServerAddress,
        request: Box<simplex_core::client::Request>,
        pending: PendingRequest,
    ) {
        let input = ManagerInput::Request { server, request };
        // A request names no stream: the manager never refuses it. Its answer may already be
        // among the manager's events (a server it cannot reach answers at once), so what the
        // answer is for is known before those events are handled.
        let Ok(handled) = self.manager.handle_input(self.clock.now, input) else {
            return;
        };
        if let Some(id) = handled.request {
            self.requests.insert(id, pending);
        }
        let events = self.drain_manager();
        self.on_manager_events(events);
    }

    /// Runs `effect` now, or after the last uncommitted batch about `conn` if there is one
    /// (so nothing about a connection shows before its records are durable).
    fn after_commits(&mut self, effect: Effect) {
        let conn = effect.connection().clone();
        match self
            .uncommitted
            .iter_mut()
            .rev()
            .find(|b| b.conns.contains(&conn))
        {
            Some(batch) => batch.effects.push(effect),
            None => self.run_effect(effect),
        }
    }

    /// The oldest batch is not durable: its connections halt, and whoever waited for an
    /// answer gets an error instead of the effect.
    fn commit_failed(&mut self) {
        let Some(batch) = self.uncommitted.pop_front() else {
            return;
        };
        self.halted.extend(batch.conns);
        for effect in batch.effects {
            if let Some((corr_id, conn)) = effect.waiting() {
                self.event(
                    corr_id,
                    Some(conn),
                    AgentEvent::Err(CommandError::CommitFailed),
                );
            }
        }
    }

    fn event(&mut self, corr_id: CorrId, conn: Option<ConnectionId>, event: AgentEvent) {
        self.outputs.push_back(AgentOutput::Event {
            corr_id,
            conn,
            event,
        });
    }

    /// Feeds the manager and handles everything it says, including what that makes us feed
    /// it next.
    fn feed_manager(&mut self, input: ManagerInput<'_>) -> Result<ManagerHandled, ManagerError> {
        let handled = self.manager.handle_input(self.clock.now, input)?;
        let events = self.drain_manager();
        self.on_manager_events(events);
        Ok(handled)
    }

    fn drain_manager(&mut self) -> Vec<ManagerEvent> {
        let mut events = Vec::new();
        loop {
            match self.manager.poll_output() {
                ManagerOutput::Connect {
                    conn,
                    server,
                    host,
                    port,
                    proxy,
                    keep_alive,
                } => {
                    self.dialled.insert(server.clone(), host.clone());
                    self.outputs
                        .push_back(AgentOutput::Socket(SocketAction::Connect {
                            conn,
                            server,
                            host,
                            port,
                            proxy,
                            keep_alive,
                        }))
                }
                ManagerOutput::Transmit { conn, bytes } => self
                    .outputs
                    .push_back(AgentOutput::Socket(SocketAction::Transmit { conn, bytes })),
                ManagerOutput::Disconnect { conn } => self
                    .outputs
                    .push_back(AgentOutput::Socket(SocketAction::Disconnect { conn })),
                ManagerOutput::Event(e) => events.push(e),
                ManagerOutput::Timeout(deadline) => {
                    self.manager_deadline = deadline;
                    return events;
                }
            }
        }
    }

    fn on_manager_events(&mut self, events: Vec<ManagerEvent>) {
        for event in events {
            match event {
                ManagerEvent::Response { id, result, .. } => match self.requests.remove(&id) {
                    Some(PendingRequest::CreateQueue(new)) => self.queue_created(*new, result),
                    Some(PendingRequest::QueueCommand(q)) => self.queue_command_done(q, result),
                    Some(PendingRequest::JoinQueue(j)) => self.reply_queue_created(*j, result),
                    Some(PendingRequest::ConfirmationSent(c)) => self.confirmation_sent(c, result),
                    Some(PendingRequest::Secure(s)) => self.secured(s, result),
                    Some(PendingRequest::UserAck(a)) => self.user_ack_done(a, result),
                    Some(PendingRequest::InvitationSent(i)) => self.invitation_sent(i, result),
                    Some(PendingRequest::Deliver(d)) => self.delivery_answered(d, result),
                    Some(PendingRequest::Ack) | None => {}
                },
                ManagerEvent::Subscribed { server, sub } => self.subscribed(server, sub, Ok(())),
                ManagerEvent::SubscriptionFailed { server, sub, error } => {
                    self.subscribed(server, sub, Err(error))
                }
                ManagerEvent::Message {
                    server,
                    queue_id,
                    message,
                } => {
                    if self.receiving_suspended() {
                        self.hold_message(server, queue_id, message);
                    } else {
                        self.message_received(server, queue_id, message);
                    }
                }
                ManagerEvent::Connected { server } => self.server_connected(server),
                ManagerEvent::Down { server, subs } => self.server_down(server, subs),
                ManagerEvent::Up { server, subs } => self.server_up(server, subs),
                ManagerEvent::End { server, sub } => self.subscription_ended(server, sub),
                // Notifier subscriptions come with the notifications issue.
                ManagerEvent::Notification { .. } => {}
            }
        }
    }
}

/// The connection a record is about (for a confirmation or invitation record that names only
/// its own id, the connection it belongs to in `state`).
fn record_connection<'a>(record: &'a Record, state: &'a StoreState) -> Option<&'a ConnectionId> {
    record.connection().or(match record {
        Record::ConfirmationAccepted { id, .. } | Record::ConfirmationDeleted { id } => {
            state.confirmations.get(id).map(|c| &c.conn)
        }
        Record::InvitationAccepted { id, .. } | Record::InvitationDeleted { id } => {
            state.invitations.get(id).map(|i| &i.contact_conn)
        }
        _ => None,
    })
}
