//! [`ClientService`]: the [`ConnectionManager`] as a [`Service`], so either shell can drive
//! it (see `spec/client.md`, "Running on a shell").
//!
//! It only translates: the manager's streams become outgoing sockets
//! ([`SocketAction::Connect`], to the SOCKS5 proxy when one is set), its bytes become writes,
//! and what the shell reports becomes manager input. Events for the user are queued here; the
//! embedder takes them with [`ClientService::take_events`] after each call. Requests and
//! subscriptions go straight to the manager ([`ClientService::manager`]), stamped with the
//! time of the last input ([`ClientService::now`]) — an embedder that gets requests from
//! another thread hands them over inside `handle` (after the shell's waker fired), so their
//! outputs are carried out in the same call.

use crate::time::Clock;
use std::collections::VecDeque;

use super::manager::{ConnId, ConnectionManager, ManagerEvent, ManagerInput, ManagerOutput};
use crate::address::TransportHost;
use crate::driver::{Service, ShellInput, SocketAction, SocketId, FIRST_OUTGOING_SOCKET};
use crate::encoding::UnixTime;
use crate::time::Instant;

/// The connection manager behind the shell interface.
#[derive(Debug)]
pub struct ClientService {
    manager: ConnectionManager,
    events: VecDeque<ManagerEvent>,
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

fn host_text(host: &TransportHost) -> String {
    match host {
        TransportHost::Ipv4([a, b, c, d]) => format!("{a}.{b}.{c}.{d}"),
        TransportHost::Onion(name) | TransportHost::Domain(name) => name.clone(),
    }
}

impl ClientService {
    /// Wraps a manager.
    pub fn new(manager: ConnectionManager) -> Self {
        Self {
            manager,
            events: VecDeque::new(),
            now: Instant::ZERO,
            wall_clock: None,
            stopped: false,
        }
    }

    /// The manager, to make requests and subscriptions (stamp them with [`Self::now`]); their
    /// outputs are carried out at the end of the current or next [`Service::handle`] call.
    pub fn manager(&mut self) -> &mut ConnectionManager {
        &mut self.manager
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

    /// The events for the user so far, oldest first.
    pub fn take_events(&mut self) -> impl Iterator<Item = ManagerEvent> + '_ {
        self.events.drain(..)
    }

    /// Moves the manager's outputs to `actions` and the event queue; returns its deadline.
    pub fn drain(&mut self, actions: &mut Vec<SocketAction>) -> Option<Instant> {
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
                        Some(proxy) => (host_text(&proxy.host), proxy.port),
                        None => (host_text(&host), port),
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
                ManagerOutput::Event(event) => self.events.push_back(event),
                ManagerOutput::Timeout(deadline) => return deadline,
            }
        }
    }
}

impl Service for ClientService {
    fn handle(
        &mut self,
        clock: Clock,
        input: ShellInput<'_>,
        actions: &mut Vec<SocketAction>,
    ) -> Option<Instant> {
        self.now = self.now.max(clock.now);
        self.wall_clock = Some(clock.wall_clock);
        let now = self.now;
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
                self.manager.close(now);
                None
            }
        };
        if let Some(input) = input {
            // A report about a stream the manager already let go of (it closed the socket
            // while the shell was reading from it): nothing to do.
            let _ = self.manager.handle_input(now, input);
        }
        self.drain(actions)
    }
}
