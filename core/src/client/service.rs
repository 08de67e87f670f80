//! [`ClientService`]: the [`ConnectionManager`] as a [`Service`], so either shell can drive
//! it (see `spec/client.md`, "Running on a shell").
//!
//! It only translates: the manager's streams become outgoing sockets
//! ([`SocketAction::Connect`], to the SOCKS5 proxy when one is set), its bytes become writes,
//! and what the shell reports becomes manager input. [`Service::handle`] is its only door: at
//! the start of each turn it takes the embedder's commands from its [`ClientPort`] (a request,
//! subscriptions, forgetting one) as manager inputs, stamped with that turn's clock, and at
//! the end of the turn it hands the port the turn's events. An embedder that gets commands
//! from another thread keeps them in its port and wakes the shell ([`ClientPort::set_waker`]).
//! [`Mailbox`] is a port kept in memory, for tests and single-threaded embedders.

use crate::time::Clock;
use std::collections::VecDeque;

use super::machine::Request;
use super::manager::{
    ConnId, ConnectionManager, ManagerEvent, ManagerInput, ManagerOutput, ManagerRequestId,
    QueueSubscription, SubKey,
};
use crate::address::ServerAddress;
use crate::driver::{Service, ShellInput, SocketAction, SocketId, Waker, FIRST_OUTGOING_SOCKET};
use crate::encoding::UnixTime;
use crate::time::Instant;

/// What an embedder asks of the client (the user's [`ManagerInput`]s).
#[derive(Debug)]
pub enum ClientCommand {
    /// [`ManagerInput::Request`]; the id it gets is given to [`ClientPort::accepted`].
    Request {
        /// The server.
        server: ServerAddress,
        /// The command (boxed: it is by far the largest).
        request: Box<Request>,
    },
    /// [`ManagerInput::Subscribe`].
    Subscribe {
        /// The server.
        server: ServerAddress,
        /// The subscriptions.
        subs: Vec<QueueSubscription>,
    },
    /// [`ManagerInput::Forget`].
    Forget {
        /// The server.
        server: ServerAddress,
        /// Which subscription.
        sub: SubKey,
    },
}

/// Where a [`ClientService`] takes commands from and puts events: the embedder's side.
pub trait ClientPort {
    /// The next command waiting, if any. Called at the start of every turn but the last
    /// ([`ShellInput::Shutdown`]) until it gives none.
    fn next_command(&mut self) -> Option<ClientCommand>;

    /// The id the [`ClientCommand::Request`] just taken got (before any event about it).
    fn accepted(&mut self, id: ManagerRequestId);

    /// The events of one turn, in order (never empty). One call per turn, so an embedder
    /// never sees half of what one input caused.
    fn deliver(&mut self, events: Vec<ManagerEvent>);

    /// Called once before the first turn with a way to wake the shell from another thread.
    fn set_waker(&mut self, waker: Waker) {
        let _ = waker;
    }
}

/// A [`ClientPort`] in memory: commands pushed by the embedder, request ids and events kept
/// until taken.
#[derive(Debug, Default)]
pub struct Mailbox {
    commands: VecDeque<ClientCommand>,
    accepted: VecDeque<ManagerRequestId>,
    events: VecDeque<ManagerEvent>,
}

impl Mailbox {
    /// Queues a command for the next turn.
    pub fn push(&mut self, command: ClientCommand) {
        self.commands.push_back(command);
    }

    /// The ids of the requests taken so far, oldest first.
    pub fn take_accepted(&mut self) -> impl Iterator<Item = ManagerRequestId> + '_ {
        self.accepted.drain(..)
    }

    /// The events so far, oldest first.
    pub fn take_events(&mut self) -> impl Iterator<Item = ManagerEvent> + '_ {
        self.events.drain(..)
    }
}

impl ClientPort for Mailbox {
    fn next_command(&mut self) -> Option<ClientCommand> {
        self.commands.pop_front()
    }

    fn accepted(&mut self, id: ManagerRequestId) {
        self.accepted.push_back(id);
    }

    fn deliver(&mut self, events: Vec<ManagerEvent>) {
        self.events.extend(events);
    }
}

/// The connection manager behind the shell interface, with the embedder's port.
#[derive(Debug)]
pub struct ClientService<P = Mailbox> {
    manager: ConnectionManager,
    port: P,
    now: Instant,
    wall_clock: Option<UnixTime>,
    stopped: bool,
}

/// The socket a manager stream travels on.
pub fn socket_of(conn: ConnId) -> SocketId {
    FIRST_OUTGOING_SOCKET.saturating_add(conn.0)
}

/// The manager stream a socket carries, if it is one of ours.
pub fn conn_of(socket: SocketId) -> Option<ConnId> {
    socket.checked_sub(FIRST_OUTGOING_SOCKET).map(ConnId)
}

impl ClientService<Mailbox> {
    /// Wraps a manager, with an empty [`Mailbox`] as its port.
    pub fn new(manager: ConnectionManager) -> Self {
        Self::with_port(manager, Mailbox::default())
    }
}

impl<P: ClientPort> ClientService<P> {
    /// Wraps a manager, with the embedder's port.
    pub fn with_port(manager: ConnectionManager, port: P) -> Self {
        Self {
            manager,
            port,
            now: Instant::ZERO,
            wall_clock: None,
            stopped: false,
        }
    }

    /// The manager, to look at (its state only: commands go through the port).
    pub fn manager(&self) -> &ConnectionManager {
        &self.manager
    }

    /// The embedder's port.
    pub fn port(&self) -> &P {
        &self.port
    }

    /// The embedder's port, to queue commands and take events between turns.
    pub fn port_mut(&mut self) -> &mut P {
        &mut self.port
    }

    /// The monotonic time of the last input.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The wall-clock time of the last input (none before the first).
    pub fn wall_clock(&self) -> Option<UnixTime> {
        self.wall_clock
    }

    /// Whether [`ShellInput::Shutdown`] was handled.
    pub fn is_stopped(&self) -> bool {
        self.stopped
    }

    /// Feeds the manager one input and moves its outputs to `actions` and `events`; returns
    /// the manager's deadline and what the input did (`None`: the manager refused it, as a
    /// report about a stream it already let go of).
    fn feed(
        &mut self,
        input: ManagerInput<'_>,
        actions: &mut Vec<SocketAction>,
        events: &mut Vec<ManagerEvent>,
    ) -> (Option<Instant>, Option<super::manager::ManagerHandled>) {
        // The manager is always drained here, so the only refusals are about unknown streams:
        // the shell reported on a socket the manager closed while it was being read.
        let handled = self.manager.handle_input(self.now, input).ok();
        loop {
            match self.manager.poll_output() {
                ManagerOutput::Connect {
                    conn,
                    host,
                    port,
                    proxy,
                    keep_alive,
                    ..
                } => {
                    // With a proxy the stream goes to it; the manager names the server in
                    // its SOCKS5 request.
                    let (host, port) = match proxy {
                        Some(proxy) => (proxy.host.dial_name(), proxy.port),
                        None => (host.dial_name(), port),
                    };
                    actions.push(SocketAction::Connect {
                        socket: socket_of(conn),
                        host,
                        port,
                        keep_alive,
                    });
                }
                ManagerOutput::Transmit { conn, bytes } => {
                    actions.push(SocketAction::Write(socket_of(conn), bytes))
                }
                ManagerOutput::Disconnect { conn } => {
                    actions.push(SocketAction::Close(socket_of(conn)))
                }
                ManagerOutput::Event(event) => events.push(event),
                ManagerOutput::Timeout(deadline) => return (deadline, handled),
            }
        }
    }
}

impl<P: ClientPort> Service for ClientService<P> {
    fn set_waker(&mut self, waker: Waker) {
        self.port.set_waker(waker);
    }

    fn handle(
        &mut self,
        clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        self.now = self.now.max(clock.now);
        self.wall_clock = Some(clock.wall_clock);
        let mut events = Vec::new();
        if !matches!(input, ShellInput::Shutdown) {
            while let Some(command) = self.port.next_command() {
                let input = match command {
                    ClientCommand::Request { server, request } => {
                        ManagerInput::Request { server, request }
                    }
                    ClientCommand::Subscribe { server, subs } => {
                        ManagerInput::Subscribe { server, subs }
                    }
                    ClientCommand::Forget { server, sub } => ManagerInput::Forget { server, sub },
                };
                let (_, handled) = self.feed(input, actions, &mut events);
                if let Some(id) = handled.and_then(|h| h.request) {
                    self.port.accepted(id);
                }
            }
        }
        let input = match input {
            ShellInput::Connected(socket) => conn_of(socket).map(ManagerInput::Connected),
            ShellInput::ConnectFailed(socket) => conn_of(socket).map(ManagerInput::ConnectFailed),
            ShellInput::Received(socket, bytes) => {
                conn_of(socket).map(|conn| ManagerInput::Received(conn, bytes))
            }
            ShellInput::PeerClosed(socket) => conn_of(socket).map(ManagerInput::Closed),
            // A client accepts nothing: a socket it did not ask for is closed at once.
            ShellInput::Accepted(socket, _) => {
                actions.push(SocketAction::Close(socket));
                None
            }
            ShellInput::Tick => Some(ManagerInput::Tick),
            ShellInput::Shutdown => {
                self.stopped = true;
                Some(ManagerInput::Close)
            }
        };
        let (deadline, _) = self.feed(input.unwrap_or(ManagerInput::Tick), actions, &mut events);
        if !events.is_empty() {
            self.port.deliver(events);
        }
        deadline
    }
}
