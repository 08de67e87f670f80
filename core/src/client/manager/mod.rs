//! [`ConnectionManager`]: SMP client connections to many servers, one per server.
//!
//! Each server has one slot: idle, connecting (requests and subscriptions made meanwhile wait
//! on that one connection), connected, or backing off before the next attempt. The manager
//! asks the shell to open TCP streams ([`ManagerOutput::Connect`]) and runs SOCKS5, TLS and
//! SMP over the bytes it is given. When a connection drops it reports the server's
//! subscriptions down once, reconnects on the reference's retry schedule, resubscribes every
//! queue in one batch and reports them up once. See `spec/client.md`.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::expect::Expect;
use super::machine::{ClientInput, ClientOutput, Request, RequestError, RequestId, SmpClient};
use super::retry::{Backoff, ChildRng, RetryInterval};
use crate::address::{ServerAddress, TransportHost};
use crate::crypto::rng::CryptoRng;
use crate::protocol::Command;
use crate::socks5::{Socks5Client, Socks5Output, Socks5Target};
use crate::time::Instant;
use crate::tls::TlsSession;
use crate::transport::ClientConnection;

mod api;
mod commands;
mod replies;
mod servers;

use servers::{DeadlineIndex, ServerKey, Servers};

pub use api::{
    ConnId, ManagerConfig, ManagerError, ManagerEvent, ManagerHandled, ManagerInput, ManagerOutput,
    ManagerRequestId, MessageError, QueueSubscription, SubKey, SubParty,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SubStatus {
    /// Not subscribed on the current connection.
    Pending,
    /// `SUB`/`NSUB` sent on the current connection.
    Subscribing,
    /// Active on the current connection.
    Active,
}

struct SubEntry {
    sub: QueueSubscription,
    status: SubStatus,
    /// Was active before the last drop: its return is reported in `Up`.
    was_down: bool,
}

struct Link {
    conn: ConnId,
    client: SmpClient,
    /// The TCP stream is open.
    opened: bool,
    /// SOCKS5 in progress (cleared once the tunnel is open).
    socks: Option<Socks5Client>,
    /// Whether the SMP connection is up.
    up: bool,
    /// The end of the connect timeout (until `up`).
    connect_deadline: Instant,
    /// Bytes the client produced before the stream (or the SOCKS5 tunnel) could carry them.
    held: Vec<Vec<u8>>,
    /// Pending subscriptions are to be submitted once the client's outputs are drained (it
    /// takes no input before that).
    submit_subs: bool,
}

enum SlotState {
    Idle,
    Linked(Box<Link>),
    Backoff { until: Instant },
}

struct Slot {
    state: SlotState,
    subs: BTreeMap<SubKey, SubEntry>,
    backoff: Backoff,
    /// In a reconnection: resubscriptions still unanswered, and those answered OK.
    resubscribing: Option<(usize, Vec<SubKey>)>,
    /// Retry pending subscriptions on the live connection at this time.
    retry_subs_at: Option<Instant>,
    user_requests: BTreeMap<RequestId, (ManagerRequestId, Expect)>,
    sub_requests: BTreeMap<RequestId, SubKey>,
}

/// Connections to many SMP servers; one per server.
pub struct ConnectionManager {
    config: ManagerConfig,
    rng: Box<dyn CryptoRng + Send>,
    slots: Servers<Slot>,
    /// Each server's next deadline (backoff end, connect timeout, its client's timers).
    deadlines: DeadlineIndex,
    /// Servers whose deadline may have moved during the current input.
    touched: BTreeSet<ServerKey>,
    /// Whether `poll_output` reached `Timeout` since the last input.
    drained: bool,
    conns: BTreeMap<ConnId, ServerAddress>,
    next_conn: u64,
    next_request: u64,
    outputs: VecDeque<ManagerOutput>,
    now: Instant,
}

impl std::fmt::Debug for ConnectionManager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionManager")
            .field("servers", &self.slots.len())
            .field("connections", &self.conns.len())
            .finish_non_exhaustive()
    }
}

impl ConnectionManager {
    /// A manager with no connections. `rng` is the one source of randomness: each
    /// connection's TLS randomness is derived from it.
    pub fn new(config: ManagerConfig, rng: Box<dyn CryptoRng + Send>, now: Instant) -> Self {
        Self {
            config,
            rng,
            slots: Servers::default(),
            deadlines: DeadlineIndex::default(),
            touched: BTreeSet::new(),
            drained: true,
            conns: BTreeMap::new(),
            next_conn: 0,
            next_request: 0,
            outputs: VecDeque::new(),
            now,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &ManagerConfig {
        &self.config
    }

    /// Whether the server's connection is up.
    pub fn is_connected(&self, server: &ServerAddress) -> bool {
        matches!(self.slots.get(server).map(|s| &s.state), Some(SlotState::Linked(l)) if l.up)
    }

    /// How many TCP streams are open or being opened.
    pub fn connection_count(&self) -> usize {
        self.conns.len()
    }

    /// The subscriptions kept for a server.
    pub fn subscription_count(&self, server: &ServerAddress) -> usize {
        self.slots.get(server).map_or(0, |s| s.subs.len())
    }

    /// Feeds an input. Afterwards drain [`Self::poll_output`] until it returns
    /// [`ManagerOutput::Timeout`]; another input before that is refused
    /// ([`ManagerError::OutputPending`]). Only the servers the input concerns, and those whose
    /// deadline has passed, are looked at.
    pub fn handle_input(
        &mut self,
        now: Instant,
        input: ManagerInput<'_>,
    ) -> Result<ManagerHandled, ManagerError> {
        if !self.drained {
            return Err(ManagerError::OutputPending);
        }
        // Refuse what names an unknown stream before anything changes.
        match &input {
            ManagerInput::Connected(conn) => {
                let server = self.server_of(*conn)?;
                if self.link_mut(&server, *conn)?.opened {
                    return Err(ManagerError::AlreadyConnected(*conn));
                }
            }
            ManagerInput::ConnectFailed(conn)
            | ManagerInput::Closed(conn)
            | ManagerInput::Received(conn, _) => {
                let server = self.server_of(*conn)?;
                self.link_mut(&server, *conn)?;
            }
            _ => {}
        }
        self.now = self.now.max(now);
        self.drained = false;
        let mut handled = ManagerHandled::default();
        match input {
            ManagerInput::Tick => {}
            ManagerInput::Request { server, request } => {
                self.touch(&server);
                handled.request = Some(self.request(now, &server, *request));
            }
            ManagerInput::Subscribe { server, subs } => {
                self.touch(&server);
                self.subscribe(now, &server, subs);
            }
            ManagerInput::Forget { server, sub } => handled.forgotten = self.forget(&server, &sub),
            ManagerInput::Close => self.close(now),
            ManagerInput::SetConfig(config) => self.config = *config,
            ManagerInput::Connected(conn) => {
                let server = self.server_of(conn)?;
                self.link_mut(&server, conn)?.opened = true;
                self.process_link(now, &server, false);
            }
            ManagerInput::ConnectFailed(conn) | ManagerInput::Closed(conn) => {
                let server = self.server_of(conn)?;
                self.link_failed(now, &server);
            }
            ManagerInput::Received(conn, bytes) => {
                let server = self.server_of(conn)?;
                handled.consumed = self.receive(now, &server, conn, bytes)?;
            }
        }
        // The servers this input touched first, so that a deadline it moved is seen as due.
        self.refresh_deadlines();
        self.on_time(now);
        self.refresh_deadlines();
        Ok(handled)
    }

    /// Bytes from a stream: to SOCKS5 while the tunnel is being made, then to the client.
    fn receive(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        conn: ConnId,
        bytes: &[u8],
    ) -> Result<usize, ManagerError> {
        let link = self.link_mut(server, conn)?;
        let mut rest = bytes;
        let mut consumed = 0;
        let mut socks_bytes = Vec::new();
        if let Some(socks) = link.socks.as_mut() {
            // The tunnel's outputs are drained right here, after every input, so the machine
            // never sees input with outputs pending; refused input fails the link all the same.
            let mut failed = match socks.handle_input(rest) {
                Ok(n) => {
                    rest = &rest[n..];
                    consumed += n;
                    false
                }
                Err(_) => true,
            };
            loop {
                match socks.poll_output() {
                    Socks5Output::Transmit(b) => socks_bytes.push(b),
                    Socks5Output::Connected(_) => {
                        link.socks = None;
                        break;
                    }
                    Socks5Output::Failed(_) => {
                        failed = true;
                        break;
                    }
                    Socks5Output::Wait => break,
                }
            }
            if failed {
                self.link_failed(now, server);
                return Ok(bytes.len());
            }
        }
        for bytes in socks_bytes {
            self.outputs
                .push_back(ManagerOutput::Transmit { conn, bytes });
        }
        let link = self.link_mut(server, conn)?;
        if link.socks.is_none() && !rest.is_empty() {
            consumed += link
                .client
                .handle_input(now, ClientInput::Received(rest))
                .map_or(rest.len(), |handled| handled.consumed);
        }
        self.process_link(now, server, false);
        Ok(consumed)
    }

    /// The next output. Drain until [`ManagerOutput::Timeout`].
    pub fn poll_output(&mut self) -> ManagerOutput {
        // Every link is drained right after each input it gets, so its outputs are here.
        match self.outputs.pop_front() {
            Some(out) => out,
            None => {
                self.drained = true;
                ManagerOutput::Timeout(self.deadlines.earliest())
            }
        }
    }

    fn server_of(&self, conn: ConnId) -> Result<ServerAddress, ManagerError> {
        self.conns
            .get(&conn)
            .cloned()
            .ok_or(ManagerError::UnknownConnection(conn))
    }

    fn link_mut(
        &mut self,
        server: &ServerAddress,
        conn: ConnId,
    ) -> Result<&mut Link, ManagerError> {
        match self.slots.get_mut(server).map(|s| &mut s.state) {
            Some(SlotState::Linked(link)) if link.conn == conn => Ok(link),
            _ => Err(ManagerError::UnknownConnection(conn)),
        }
    }

    fn event(&mut self, event: ManagerEvent) {
        self.outputs.push_back(ManagerOutput::Event(event));
    }

    /// Starts connecting unless a connection exists or is being made.
    fn ensure_link(&mut self, now: Instant, server: &ServerAddress) {
        let reconnect = self.config.reconnect;
        let slot = self
            .slots
            .get_or_insert_with(server, || Slot::new(&reconnect));
        if matches!(slot.state, SlotState::Linked(_)) {
            return;
        }
        self.start_link(now, server);
    }

    fn start_link(&mut self, now: Instant, server: &ServerAddress) {
        self.touch(server);
        let network = &self.config.network;
        let target = network.target(server);
        let Some(slot) = self.slots.get_mut(server) else {
            return;
        };
        let (host, port) = match target {
            Ok(t) => t,
            Err(_) => {
                let failed: Vec<SubKey> = slot.subs.keys().cloned().collect();
                slot.subs.clear();
                slot.state = SlotState::Idle;
                for sub in failed {
                    self.event(ManagerEvent::SubscriptionFailed {
                        server: server.clone(),
                        sub,
                        error: RequestError::IncompatibleHost,
                    });
                }
                return;
            }
        };
        let timeout = network.tcp_connect_timeout;
        let server_name = match &host {
            TransportHost::Ipv4([a, b, c, d]) => format!("{a}.{b}.{c}.{d}"),
            TransportHost::Onion(name) | TransportHost::Domain(name) => name.clone(),
        };
        let rng = Box::new(ChildRng::derive(&mut *self.rng));
        let tls = match TlsSession::client(&server_name, server.key_hash, rng, now, timeout) {
            Ok(tls) => tls,
            Err(_) => {
                slot.state = SlotState::Idle;
                self.connect_failed_without_link(now, server);
                return;
            }
        };
        let socks = match &network.socks_proxy {
            Some(proxy) => {
                match Socks5Client::new(Socks5Target::from(&host), port, proxy.credentials.clone())
                {
                    Ok(s) => Some(s),
                    Err(_) => {
                        slot.state = SlotState::Idle;
                        self.connect_failed_without_link(now, server);
                        return;
                    }
                }
            }
            None => None,
        };
        let conn = ConnId(self.next_conn);
        self.next_conn += 1;
        let connection = ClientConnection::client(
            tls,
            server.key_hash,
            self.config.client.version_range,
            now,
            timeout,
        );
        slot.state = SlotState::Linked(Box::new(Link {
            conn,
            client: SmpClient::new(connection, self.config.client.clone(), now),
            opened: false,
            socks,
            up: false,
            connect_deadline: now + timeout,
            held: Vec::new(),
            submit_subs: false,
        }));
        self.conns.insert(conn, server.clone());
        self.outputs.push_back(ManagerOutput::Connect {
            conn,
            server: server.clone(),
            host,
            port,
            proxy: network.socks_proxy.clone(),
            keep_alive: network.tcp_keep_alive,
        });
    }

    /// A connection could not even be started: back off if subscriptions wait.
    fn connect_failed_without_link(&mut self, now: Instant, server: &ServerAddress) {
        let interval = self.config.reconnect;
        if let Some(slot) = self.slots.get_mut(server) {
            if !slot.subs.is_empty() {
                let delay = slot.backoff.next_delay(&interval);
                slot.state = SlotState::Backoff { until: now + delay };
            }
        }
    }

    /// Sends `SUB`/`NSUB` for every pending subscription of a connected server, in one batch.
    fn send_pending_subs(&mut self, now: Instant, server: &ServerAddress) {
        let Some(slot) = self.slots.get_mut(server) else {
            return;
        };
        if let SlotState::Linked(link) = &mut slot.state {
            link.submit_subs = true;
            self.process_link(now, server, false);
        }
    }

    /// Timers of the servers that are due (connect deadlines, backoff ends, client timers,
    /// subscription retries), earliest first.
    fn on_time(&mut self, now: Instant) {
        for key in self.deadlines.due(now) {
            let Some(server) = self.slots.address(key).cloned() else {
                continue;
            };
            self.touched.insert(key);
            let mut failed = false;
            let mut retry_subs = false;
            let mut ticked = false;
            let mut reconnect = false;
            if let Some(slot) = self.slots.get_mut(&server) {
                match &mut slot.state {
                    SlotState::Linked(link) => {
                        if !link.up && now >= link.connect_deadline {
                            failed = true;
                        } else if link.socks.is_none() && link.opened {
                            ticked = link.client.handle_input(now, ClientInput::Tick).is_ok();
                        }
                        if slot.retry_subs_at.is_some_and(|t| now >= t) {
                            slot.retry_subs_at = None;
                            retry_subs = true;
                        }
                    }
                    SlotState::Backoff { until } => reconnect = now >= *until,
                    SlotState::Idle => {}
                }
            }
            if failed {
                self.link_failed(now, &server);
            } else if retry_subs {
                self.send_pending_subs(now, &server);
            } else if ticked {
                self.process_link(now, &server, false);
            } else if reconnect {
                self.start_link(now, &server);
            }
        }
    }

    /// Marks a server whose deadline may have moved.
    fn touch(&mut self, server: &ServerAddress) {
        let key = self.slots.key(server);
        self.touched.insert(key);
    }

    /// Re-reads the deadline of every server touched by the input.
    fn refresh_deadlines(&mut self) {
        for key in std::mem::take(&mut self.touched) {
            let deadline = self
                .slots
                .address(key)
                .and_then(|server| self.slots.get(server))
                .and_then(slot_deadline);
            self.deadlines.set(key, deadline);
        }
    }

    /// The stream failed (or was closed by the peer): end the link.
    fn link_failed(&mut self, now: Instant, server: &ServerAddress) {
        self.process_link(now, server, true);
    }

    /// Drains one link (ending it first when `end`); handles its end. Whether anything came
    /// out.
    fn process_link(&mut self, now: Instant, server: &ServerAddress, end: bool) -> bool {
        self.touch(server);
        let Some(mut slot) = self.slots.remove(server) else {
            return false;
        };
        let SlotState::Linked(mut link) = std::mem::replace(&mut slot.state, SlotState::Idle)
        else {
            self.slots.insert(server, slot);
            return false;
        };
        if end {
            let _ = link.client.handle_input(now, ClientInput::Close);
        }
        let before = self.outputs.len();
        let ended = self.drain_link(now, server, &mut slot, &mut link, end) || end;
        let was_up = link.up;
        let conn = link.conn;
        if !ended {
            slot.state = SlotState::Linked(link);
        }
        self.slots.insert(server, slot);
        if ended {
            self.after_drop(now, server, conn, was_up);
        }
        ended || self.outputs.len() > before
    }

    /// Moves one link's outputs out until its client is drained; returns whether its
    /// connection ended. Client bytes wait in the link until the stream (and the SOCKS5
    /// tunnel, if any) is open; pending subscriptions go in once the client is drained.
    fn drain_link(
        &mut self,
        now: Instant,
        server: &ServerAddress,
        slot: &mut Slot,
        link: &mut Link,
        discard: bool,
    ) -> bool {
        loop {
            if !discard && link.opened {
                if let Some(socks) = link.socks.as_mut() {
                    // Only the greeting waits here (the stream just opened): replies to the
                    // proxy's messages go out as they are read, in `receive`.
                    if let Socks5Output::Transmit(bytes) = socks.poll_output() {
                        self.outputs.push_back(ManagerOutput::Transmit {
                            conn: link.conn,
                            bytes,
                        });
                        continue;
                    }
                } else {
                    for bytes in std::mem::take(&mut link.held) {
                        self.outputs.push_back(ManagerOutput::Transmit {
                            conn: link.conn,
                            bytes,
                        });
                    }
                }
            }
            match link.client.poll_output() {
                ClientOutput::Transmit(bytes) => {
                    if discard {
                    } else if link.opened && link.socks.is_none() {
                        self.outputs.push_back(ManagerOutput::Transmit {
                            conn: link.conn,
                            bytes,
                        });
                    } else {
                        link.held.push(bytes);
                    }
                }
                ClientOutput::Timeout(_) => {
                    if link.submit_subs && !discard {
                        link.submit_subs = false;
                        submit_pending_subs(now, slot, link);
                        continue;
                    }
                    return false;
                }
                ClientOutput::Closed(_) => return true,
                other => self.on_client_output(now, server, slot, link, other),
            }
        }
    }

    /// A link ended: report its subscriptions down, then reconnect (at once after a working
    /// connection, as the reference does; after the next backoff step after a failed
    /// attempt), or go idle when nothing needs the server.
    fn after_drop(&mut self, now: Instant, server: &ServerAddress, conn: ConnId, was_up: bool) {
        self.conns.remove(&conn);
        self.outputs.push_back(ManagerOutput::Disconnect { conn });
        let interval = self.config.reconnect;
        let Some(slot) = self.slots.get_mut(server) else {
            return;
        };
        slot.user_requests.clear();
        slot.sub_requests.clear();
        slot.resubscribing = None;
        slot.retry_subs_at = None;
        let mut down = Vec::new();
        for (key, entry) in slot.subs.iter_mut() {
            if entry.status == SubStatus::Active {
                entry.was_down = true;
                down.push(key.clone());
            }
            entry.status = SubStatus::Pending;
        }
        let has_subs = !slot.subs.is_empty();
        if has_subs && !was_up {
            let delay = slot.backoff.next_delay(&interval);
            slot.state = SlotState::Backoff { until: now + delay };
        }
        if was_up && !down.is_empty() {
            down.sort();
            self.event(ManagerEvent::Down {
                server: server.clone(),
                subs: down,
            });
        }
        if has_subs && was_up {
            self.start_link(now, server);
        }
    }
}

/// A server's next deadline: its backoff's end, or its link's connect timeout, its client's
/// next timer and the next subscription retry, whichever is first.
fn slot_deadline(slot: &Slot) -> Option<Instant> {
    let mut next: Option<Instant> = None;
    let mut consider = |t: Instant| next = Some(next.map_or(t, |n: Instant| n.min(t)));
    match &slot.state {
        SlotState::Backoff { until } => consider(*until),
        SlotState::Linked(link) => {
            if !link.up {
                consider(link.connect_deadline);
            }
            if link.opened && link.socks.is_none() {
                if let Some(t) = link.client.poll_timeout() {
                    consider(t);
                }
            }
            if let Some(t) = slot.retry_subs_at {
                consider(t);
            }
        }
        SlotState::Idle => {}
    }
    next
}

/// Submits every pending subscription on a live link, in one batch; starts a resubscription
/// round for those that were down.
fn submit_pending_subs(now: Instant, slot: &mut Slot, link: &mut Link) {
    if !link.up {
        return;
    }
    let mut keys: Vec<SubKey> = slot
        .subs
        .iter()
        .filter(|(_, e)| e.status == SubStatus::Pending)
        .map(|(k, _)| k.clone())
        .collect();
    if keys.is_empty() {
        return;
    }
    keys.sort();
    let requests: Vec<Request> = keys
        .iter()
        .filter_map(|k| slot.subs.get(k))
        .map(|e| {
            let command = match e.sub.party {
                SubParty::Recipient => Command::Sub,
                SubParty::Notifier => Command::NSub,
            };
            Request::signed(e.sub.queue_id.clone(), &e.sub.sign_key, command)
        })
        .collect();
    let Ok(handled) = link.client.handle_input(now, ClientInput::Submit(requests)) else {
        return;
    };
    let ids = handled.submitted;
    let mut resubscribing = 0;
    for (id, key) in ids.into_iter().zip(keys) {
        if let Some(e) = slot.subs.get_mut(&key) {
            e.status = SubStatus::Subscribing;
            if e.was_down {
                resubscribing += 1;
            }
        }
        slot.sub_requests.insert(id, key);
    }
    if resubscribing > 0 {
        let round = slot.resubscribing.get_or_insert((0, Vec::new()));
        round.0 += resubscribing;
    }
}

impl Slot {
    fn new(interval: &RetryInterval) -> Self {
        Self {
            state: SlotState::Idle,
            subs: BTreeMap::new(),
            backoff: Backoff::new(interval),
            resubscribing: None,
            retry_subs_at: None,
            user_requests: BTreeMap::new(),
            sub_requests: BTreeMap::new(),
        }
    }
}
