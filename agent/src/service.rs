//! [`AgentService`]: the [`Agent`] machine and its [`Store`] behind the shells' interface
//! ([`Service`]), so `simplex-io-mio` and `simplex-io-smol` drive the same agent.
//!
//! It only moves things: the user's commands from its [`AgentPort`] into the machine, the
//! machine's socket actions to the shell (as `ClientService` maps the manager's streams), its
//! record batches into the store, and the store's answer back into the machine as
//! `Committed` / `CommitFailed`. Every decision stays in the machine. A batch is committed
//! before the machine hears of it, so what depends on the batch (bytes, events) comes out of
//! the machine only after the store said the records are durable; a failed commit reaches the
//! machine as `CommitFailed`, which halts the connections of the batch (never log and carry
//! on).
//!
//! Group commit: the batches one input produced are committed one by one, in order, in the
//! same turn; a store that batches transactions can do so inside [`Store::commit`] (the SQLite
//! store's issue measures that).

use std::collections::VecDeque;

use simplex_core::client::{conn_of, socket_of};
use simplex_core::driver::{Service, ShellInput, SocketAction as ShellAction, Waker};
use simplex_core::time::{Clock, Instant};

use crate::machine::{
    Agent, AgentCommand, AgentEvent, AgentInput, AgentOutput, CorrId, SocketAction,
};
use crate::store::{ConnectionId, Store};

/// A user command as the port hands it over.
#[derive(Debug)]
pub struct PortCommand {
    /// Echoed in the answer.
    pub corr_id: CorrId,
    /// The connection (for `NEW`: the id to give it, or `None`).
    pub conn: Option<ConnectionId>,
    /// The command.
    pub command: AgentCommand,
}

/// What the user hands the agent through the port: a command about a connection, or a
/// setting of the agent as a whole.
#[derive(Debug)]
pub enum PortInput {
    /// A command (answered by events with its `corr_id`).
    Command(PortCommand),
    /// Suspend, waiting for delivery in progress at most this long; `SUSPENDED` follows.
    Suspend(core::time::Duration),
    /// Back to work after a suspension.
    Activate,
    /// The servers new connections create their queues on (an empty list is ignored).
    SetServers(Vec<simplex_core::address::ServerAddress>),
    /// Network settings for the server connections made from now on.
    SetNetwork(Box<simplex_core::client::ManagerConfig>),
}

/// An event for the user as the port receives it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortEvent {
    /// The command it answers (empty if none).
    pub corr_id: CorrId,
    /// The connection it is about.
    pub conn: Option<ConnectionId>,
    /// The event.
    pub event: AgentEvent,
}

/// Where an [`AgentService`] takes the user's commands from and puts its events.
pub trait AgentPort {
    /// The next input waiting, if any (asked at the start of every turn until none).
    fn next_input(&mut self) -> Option<PortInput>;

    /// The events of one turn, in order (never empty).
    fn deliver(&mut self, events: Vec<PortEvent>);

    /// Called once before the first turn with a way to wake the shell from another thread.
    fn set_waker(&mut self, waker: Waker) {
        let _ = waker;
    }
}

/// An [`AgentPort`] in memory: commands pushed by the user, events kept until taken.
#[derive(Debug, Default)]
pub struct AgentMailbox {
    inputs: VecDeque<PortInput>,
    events: VecDeque<PortEvent>,
}

impl AgentMailbox {
    /// Queues an input for the next turn.
    pub fn push(&mut self, input: PortInput) {
        self.inputs.push_back(input);
    }

    /// The events so far, oldest first.
    pub fn take_events(&mut self) -> impl Iterator<Item = PortEvent> + '_ {
        self.events.drain(..)
    }
}

impl AgentPort for AgentMailbox {
    fn next_input(&mut self) -> Option<PortInput> {
        self.inputs.pop_front()
    }

    fn deliver(&mut self, events: Vec<PortEvent>) {
        self.events.extend(events);
    }
}

/// Counts of what the service did, for logs and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServiceCounts {
    /// Batches the store made durable.
    pub committed: u64,
    /// Batches the store refused (their connections are halted).
    pub commit_failures: u64,
    /// Shell reports about streams the agent had already let go of (ignored).
    pub stale_socket_reports: u64,
}

/// The agent and its store behind the shell interface, with the user's port.
pub struct AgentService<S: Store, P: AgentPort> {
    agent: Agent,
    store: S,
    port: P,
    counts: ServiceCounts,
    /// The last store error (its text: the error itself may hold data we do not keep).
    last_store_error: Option<String>,
    stopped: bool,
}

impl<S: Store, P: AgentPort> std::fmt::Debug for AgentService<S, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentService")
            .field("agent", &self.agent)
            .field("counts", &self.counts)
            .finish_non_exhaustive()
    }
}

impl<S: Store, P: AgentPort> AgentService<S, P> {
    /// Wraps an agent (made from `store`'s snapshot) with its store and the user's port.
    pub fn new(agent: Agent, store: S, port: P) -> Self {
        Self {
            agent,
            store,
            port,
            counts: ServiceCounts::default(),
            last_store_error: None,
            stopped: false,
        }
    }

    /// The agent, to look at.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The store, to look at.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Ends the service and gives its store back (to restart an agent on it).
    pub fn into_store(self) -> S {
        self.store
    }

    /// The user's port.
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// What the service did so far.
    pub fn counts(&self) -> ServiceCounts {
        self.counts
    }

    /// The text of the last error the store gave, if any.
    pub fn last_store_error(&self) -> Option<&str> {
        self.last_store_error.as_deref()
    }

    /// Whether [`ShellInput::Shutdown`] was handled.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Gives the agent one input, then drains it: socket actions go to `actions`, events to
    /// `events`, batches into the store, whose answers are the agent's next inputs. Returns
    /// the agent's deadline once nothing is left to commit.
    fn feed(
        &mut self,
        clock: Clock,
        input: AgentInput<'_>,
        actions: &mut Vec<ShellAction>,
        events: &mut Vec<PortEvent>,
    ) -> Option<Instant> {
        if self.agent.handle_input(clock, input).is_err() {
            // The agent is always drained here, so the only refusal is a report about a
            // stream it already let go of (closed while the shell was reading it).
            self.counts.stale_socket_reports += 1;
        }
        let mut answers = VecDeque::new();
        loop {
            let deadline = self.drain(actions, events, &mut answers);
            let Some(answer) = answers.pop_front() else {
                return deadline;
            };
            // Batches are answered in the order they were given, one input at a time.
            let _ = self.agent.handle_input(clock, answer);
        }
    }

    /// Drains the agent to its `Timeout`, committing each batch as it comes and keeping the
    /// answer for the agent's next input.
    fn drain(
        &mut self,
        actions: &mut Vec<ShellAction>,
        events: &mut Vec<PortEvent>,
        answers: &mut VecDeque<AgentInput<'static>>,
    ) -> Option<Instant> {
        loop {
            match self.agent.poll_output() {
                AgentOutput::Persist(batch) => match self.store.commit(&batch) {
                    Ok(()) => {
                        self.counts.committed += 1;
                        answers.push_back(AgentInput::Committed(batch.id));
                    }
                    Err(e) => {
                        self.counts.commit_failures += 1;
                        self.last_store_error = Some(e.to_string());
                        answers.push_back(AgentInput::CommitFailed(batch.id));
                    }
                },
                AgentOutput::Socket(action) => actions.push(shell_action(action)),
                AgentOutput::Event {
                    corr_id,
                    conn,
                    event,
                } => events.push(PortEvent {
                    corr_id,
                    conn,
                    event,
                }),
                AgentOutput::Timeout(deadline) => return deadline,
            }
        }
    }
}

/// The agent's socket action in the shell's terms (a SOCKS5 proxy, when set, is dialled
/// instead of the server; the manager speaks SOCKS5 on the stream).
fn shell_action(action: SocketAction) -> ShellAction {
    match action {
        SocketAction::Connect {
            conn,
            host,
            port,
            proxy,
            keep_alive,
            ..
        } => {
            let (host, port) = match proxy {
                Some(proxy) => (proxy.host.dial_name(), proxy.port),
                None => (host.dial_name(), port),
            };
            ShellAction::Connect {
                socket: socket_of(conn),
                host,
                port,
                keep_alive,
            }
        }
        SocketAction::Transmit { conn, bytes } => ShellAction::Write(socket_of(conn), bytes),
        SocketAction::Disconnect { conn } => ShellAction::Close(socket_of(conn)),
    }
}

impl<S: Store, P: AgentPort> Service for AgentService<S, P> {
    fn set_waker(&mut self, waker: Waker) {
        self.port.set_waker(waker);
    }

    fn handle(
        &mut self,
        clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<ShellAction>,
    ) -> Option<Instant> {
        let mut events = Vec::new();
        if !matches!(input, ShellInput::Shutdown) {
            while let Some(user) = self.port.next_input() {
                let input = match user {
                    PortInput::Command(PortCommand {
                        corr_id,
                        conn,
                        command,
                    }) => AgentInput::Command {
                        corr_id,
                        conn,
                        command,
                    },
                    PortInput::Suspend(max_delay) => AgentInput::Suspend { max_delay },
                    PortInput::Activate => AgentInput::Activate,
                    PortInput::SetServers(servers) if servers.is_empty() => continue,
                    PortInput::SetServers(servers) => AgentInput::SetServers(servers),
                    PortInput::SetNetwork(config) => AgentInput::SetNetwork(config),
                };
                self.feed(clock, input, actions, &mut events);
            }
        }
        let input = match input {
            ShellInput::Connected(socket) => conn_of(socket).map(AgentInput::Connected),
            ShellInput::ConnectFailed(socket) => conn_of(socket).map(AgentInput::ConnectFailed),
            ShellInput::Received(socket, bytes) => {
                conn_of(socket).map(|conn| AgentInput::Received(conn, bytes))
            }
            ShellInput::PeerClosed(socket) => conn_of(socket).map(AgentInput::Closed),
            // An agent accepts nothing on this interface: a socket it did not ask for is
            // closed at once.
            ShellInput::Accepted(socket, _) => {
                actions.push(ShellAction::Close(socket));
                None
            }
            ShellInput::Tick => Some(AgentInput::Timeout),
            ShellInput::Shutdown => {
                self.stopped = true;
                Some(AgentInput::Shutdown)
            }
        };
        let deadline = self.feed(
            clock,
            input.unwrap_or(AgentInput::Timeout),
            actions,
            &mut events,
        );
        if !events.is_empty() {
            self.port.deliver(events);
        }
        deadline
    }
}
