//! The in-memory world of the agent tests: agents against the real server machine, every
//! byte through the managers' TLS and the server driver, every batch through a
//! `MemoryStore`; an agent can crash at any output boundary and restart from what its store
//! holds. Beside the agents, a bare SMP client (`RawClient`) sends what a test builds with the
//! pipeline directly (a peer's next messages, from a copy of its stored state).

// Test helpers: a failed unwrap is a failed test; not every test file uses every helper.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::{
    Agent, AgentCommand, AgentConfig, AgentEvent, AgentInput, AgentOutput, CorrId, SocketAction,
};
use simplex_agent::protocol::{ConnectionMode, ConnectionRequest};
use simplex_agent::store::{BatchId, ConnectionId, MemoryStore, RecordBatch, Store, StoreState};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::client::{
    ConnId, ConnectionManager, ManagerConfig, ManagerEvent, ManagerInput, ManagerOutput, Reply,
    Request, RequestError, SignAlgorithm,
};
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::time::{Clock, Instant};

mod faults;
mod raw;
#[allow(unused_imports)]
pub use raw::RawSender;
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;
use simplex_server::driver::{DriverConfig, DriverInput, DriverOutput, ServerDriver};
use simplex_server::{Server, ServerConfig};

/// The node index of the bare client in deliveries.
pub const CLIENT: usize = usize::MAX;

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/fixtures")
        .join(name);
    std::fs::read(path).unwrap()
}

fn identity() -> ServerIdentity {
    ServerIdentity::from_pem(
        &fixture("server.crt"),
        &fixture("ca.crt"),
        &fixture("server.key"),
    )
    .unwrap()
}

/// Something for a node, delivered in order.
enum Delivery {
    ToServer(ServerIn),
    ToNode(usize, Owned),
}

/// A server input that owns its bytes.
enum ServerIn {
    Accepted(u64),
    Received(u64, Vec<u8>),
    PeerClosed(u64),
}

/// A node input that owns its bytes.
enum Owned {
    Connected(ConnId),
    ConnectFailed(ConnId),
    Received(ConnId, Vec<u8>),
    Closed(ConnId),
    Committed(BatchId),
    CommitFailed(BatchId),
}

/// One agent with its store and what it showed.
pub struct Node {
    pub agent: Agent,
    pub store: MemoryStore,
    pub events: Vec<(CorrId, Option<ConnectionId>, AgentEvent)>,
    /// `CONNECT`, `DISCONNECT`, `DOWN` and `UP`, kept apart from the connections' events.
    pub server_events: Vec<AgentEvent>,
    /// Batches handed out and not yet committed (a crash loses them).
    pub uncommitted: VecDeque<RecordBatch>,
    /// Commits the store refused, over the node's whole life.
    pub failed_commits: usize,
    pub seed: u64,
}

/// A bare SMP client: requests a test built, and their answers in order.
pub struct RawClient {
    manager: ConnectionManager,
    pub answers: Vec<Result<Reply, RequestError>>,
}

/// Agents, one server, a bare client, and the wires between them.
pub struct World {
    pub server: ServerDriver<ChaCha20Rng>,
    pub server_address: ServerAddress,
    pub nodes: Vec<Node>,
    pub client: RawClient,
    /// (node, its stream) -> server socket, and back.
    to_server: BTreeMap<(usize, ConnId), u64>,
    to_node: BTreeMap<u64, (usize, ConnId)>,
    next_socket: u64,
    queue: VecDeque<Delivery>,
    pub clock: Clock,
    /// Commit batches as soon as they come (otherwise they wait for `commit_all`).
    pub auto_commit: bool,
    /// The server cannot be reached: connections are refused.
    pub down: bool,
}

pub fn clock() -> Clock {
    Clock {
        now: Instant::from_micros(1_000_000),
        wall_clock: UnixTime {
            seconds: 1_700_000_000,
            nanoseconds: 0,
        },
    }
}

pub fn new_agent(seed: u64, server: &ServerAddress, state: StoreState) -> Agent {
    let manager = ConnectionManager::new(
        ManagerConfig::default(),
        Box::new(ChaCha20Rng::seed_from_u64(seed ^ 0x5eed)),
        clock().now,
    );
    Agent::new(
        AgentConfig {
            smp_servers: vec![server.clone()],
            sign_algorithm: SignAlgorithm::Ed448,
            delivery: Default::default(),
        },
        state,
        manager,
        Box::new(ChaCha20Rng::seed_from_u64(seed)),
        clock(),
    )
}

impl World {
    pub fn new(agents: usize) -> Self {
        Self::with_server(agents, ServerConfig::default())
    }

    pub fn with_server(agents: usize, config: ServerConfig) -> Self {
        let identity = identity();
        let server_address = ServerAddress {
            scheme: Scheme::Smp,
            hosts: NonEmpty::one(TransportHost::Domain("localhost".into())),
            port: "5223".into(),
            key_hash: identity.key_hash(),
        };
        let server = Server::new(config, ChaCha20Rng::seed_from_u64(1000), clock());
        let server = ServerDriver::new(server, identity, DriverConfig::default(), [3; 32]);
        let nodes = (0..agents as u64)
            .map(|seed| Node {
                agent: new_agent(seed, &server_address, StoreState::default()),
                store: MemoryStore::new(),
                events: Vec::new(),
                server_events: Vec::new(),
                uncommitted: VecDeque::new(),
                failed_commits: 0,
                seed,
            })
            .collect();
        let client = RawClient {
            manager: ConnectionManager::new(
                ManagerConfig::default(),
                Box::new(ChaCha20Rng::seed_from_u64(0xc11e)),
                clock().now,
            ),
            answers: Vec::new(),
        };
        let mut world = Self {
            server,
            server_address,
            nodes,
            client,
            to_server: BTreeMap::new(),
            to_node: BTreeMap::new(),
            next_socket: 1,
            queue: VecDeque::new(),
            clock: clock(),
            auto_commit: true,
            down: false,
        };
        world.drain_server();
        world
    }

    pub fn command(&mut self, agent: usize, corr: &[u8], command: AgentCommand) {
        self.command_on(agent, corr, None, command);
    }

    pub fn command_on(
        &mut self,
        agent: usize,
        corr: &[u8],
        conn: Option<ConnectionId>,
        command: AgentCommand,
    ) {
        let input = AgentInput::Command {
            corr_id: CorrId(corr.to_vec()),
            conn,
            command,
        };
        self.nodes[agent]
            .agent
            .handle_input(self.clock, input)
            .unwrap();
        self.drain_agent(agent);
    }

    /// The bare client sends `request` to the world's server.
    pub fn raw_request(&mut self, request: Request) {
        let input = ManagerInput::Request {
            server: self.server_address.clone(),
            request: Box::new(request),
        };
        self.client
            .manager
            .handle_input(self.clock.now, input)
            .unwrap();
        self.drain_client();
    }

    /// Node `i` opens stream `conn` to the server: refused while the server is down.
    fn open_stream(&mut self, i: usize, conn: ConnId) {
        if self.down {
            self.queue
                .push_back(Delivery::ToNode(i, Owned::ConnectFailed(conn)));
            return;
        }
        let socket = self.next_socket;
        self.next_socket += 1;
        self.to_server.insert((i, conn), socket);
        self.to_node.insert(socket, (i, conn));
        self.queue
            .push_back(Delivery::ToServer(ServerIn::Accepted(socket)));
        self.queue
            .push_back(Delivery::ToNode(i, Owned::Connected(conn)));
    }

    /// A socket action of node `i` (an agent or the client), wired to the server.
    fn socket_action(&mut self, i: usize, action: SocketAction) {
        match action {
            SocketAction::Connect { conn, .. } => self.open_stream(i, conn),
            SocketAction::Transmit { conn, bytes } => {
                if let Some(&socket) = self.to_server.get(&(i, conn)) {
                    self.queue
                        .push_back(Delivery::ToServer(ServerIn::Received(socket, bytes)));
                }
            }
            SocketAction::Disconnect { conn } => {
                if let Some(socket) = self.to_server.remove(&(i, conn)) {
                    self.to_node.remove(&socket);
                    self.queue
                        .push_back(Delivery::ToServer(ServerIn::PeerClosed(socket)));
                }
            }
        }
    }

    pub fn drain_agent(&mut self, i: usize) {
        loop {
            match self.nodes[i].agent.poll_output() {
                AgentOutput::Timeout(_) => return,
                AgentOutput::Persist(batch) => self.nodes[i].uncommitted.push_back(batch),
                AgentOutput::Event {
                    corr_id,
                    conn,
                    event,
                } => match event {
                    AgentEvent::Connect { .. }
                    | AgentEvent::Disconnect { .. }
                    | AgentEvent::Down { .. }
                    | AgentEvent::Up { .. } => self.nodes[i].server_events.push(event),
                    event => self.nodes[i].events.push((corr_id, conn, event)),
                },
                AgentOutput::Socket(action) => self.socket_action(i, action),
            }
        }
    }

    fn drain_client(&mut self) {
        loop {
            match self.client.manager.poll_output() {
                ManagerOutput::Timeout(_) => return,
                ManagerOutput::Connect { conn, .. } => {
                    // Only the stream matters to the wiring.
                    self.open_stream(CLIENT, conn)
                }
                ManagerOutput::Transmit { conn, bytes } => {
                    self.socket_action(CLIENT, SocketAction::Transmit { conn, bytes })
                }
                ManagerOutput::Disconnect { conn } => {
                    self.socket_action(CLIENT, SocketAction::Disconnect { conn })
                }
                ManagerOutput::Event(ManagerEvent::Response { result, .. }) => {
                    self.client.answers.push(result)
                }
                ManagerOutput::Event(_) => {}
            }
        }
    }

    fn drain_server(&mut self) {
        loop {
            match self.server.poll_output() {
                DriverOutput::Timeout(_) => return,
                DriverOutput::Write { conn, bytes } => {
                    if let Some(&(i, c)) = self.to_node.get(&conn) {
                        self.queue
                            .push_back(Delivery::ToNode(i, Owned::Received(c, bytes)));
                    }
                }
                DriverOutput::CloseSocket { conn } => {
                    if let Some((i, c)) = self.to_node.remove(&conn) {
                        self.to_server.remove(&(i, c));
                        self.queue.push_back(Delivery::ToNode(i, Owned::Closed(c)));
                    }
                }
                _ => {}
            }
        }
    }

    /// Commits every batch handed out, in order, and confirms each.
    pub fn commit_all(&mut self, i: usize) {
        while let Some(batch) = self.nodes[i].uncommitted.pop_front() {
            let answer = match self.nodes[i].store.commit(&batch) {
                Ok(()) => Owned::Committed(batch.id),
                Err(_) => {
                    self.nodes[i].failed_commits += 1;
                    Owned::CommitFailed(batch.id)
                }
            };
            self.queue.push_back(Delivery::ToNode(i, answer));
        }
    }

    /// Delivers everything until nothing moves.
    pub fn run(&mut self) {
        if !self.run_steps(100_000) {
            panic!("the world did not settle");
        }
    }

    /// Delivers at most `steps` things; whether everything settled.
    pub fn run_steps(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            if !self.step() {
                return true;
            }
        }
        self.settled()
    }

    /// Nothing in flight and nothing waiting for a commit.
    pub fn settled(&self) -> bool {
        self.queue.is_empty() && self.nodes.iter().all(|n| n.uncommitted.is_empty())
    }

    /// Delivers one thing; `false` if there was nothing to deliver.
    pub fn step(&mut self) -> bool {
        if self.auto_commit {
            for i in 0..self.nodes.len() {
                self.commit_all(i);
            }
        }
        let Some(delivery) = self.queue.pop_front() else {
            return false;
        };
        match delivery {
            Delivery::ToServer(input) => {
                let input = match &input {
                    ServerIn::Accepted(conn) => DriverInput::Accepted {
                        conn: *conn,
                        framing: Framing::Raw,
                    },
                    ServerIn::Received(conn, bytes) => DriverInput::Received { conn: *conn, bytes },
                    ServerIn::PeerClosed(conn) => DriverInput::PeerClosed { conn: *conn },
                };
                // A socket the server already closed is gone.
                let _ = self.server.handle_input(self.clock, input);
                self.drain_server();
            }
            Delivery::ToNode(CLIENT, owned) => {
                let manager = &mut self.client.manager;
                let now = self.clock.now;
                let result = match &owned {
                    Owned::Connected(c) => manager.handle_input(now, ManagerInput::Connected(*c)),
                    Owned::ConnectFailed(c) => {
                        manager.handle_input(now, ManagerInput::ConnectFailed(*c))
                    }
                    Owned::Received(c, b) => {
                        manager.handle_input(now, ManagerInput::Received(*c, b))
                    }
                    Owned::Closed(c) => manager.handle_input(now, ManagerInput::Closed(*c)),
                    Owned::Committed(_) | Owned::CommitFailed(_) => return true,
                };
                if result.is_ok() {
                    self.drain_client();
                }
            }
            Delivery::ToNode(i, owned) => {
                let agent = &mut self.nodes[i].agent;
                let result = match &owned {
                    Owned::Connected(c) => {
                        agent.handle_input(self.clock, AgentInput::Connected(*c))
                    }
                    Owned::ConnectFailed(c) => {
                        agent.handle_input(self.clock, AgentInput::ConnectFailed(*c))
                    }
                    Owned::Received(c, b) => {
                        agent.handle_input(self.clock, AgentInput::Received(*c, b))
                    }
                    Owned::Closed(c) => agent.handle_input(self.clock, AgentInput::Closed(*c)),
                    Owned::Committed(id) => {
                        agent.handle_input(self.clock, AgentInput::Committed(*id))
                    }
                    Owned::CommitFailed(id) => {
                        agent.handle_input(self.clock, AgentInput::CommitFailed(*id))
                    }
                };
                // A stream of an agent that crashed since is unknown to its new manager.
                if result.is_ok() {
                    self.drain_agent(i);
                }
            }
        }
        true
    }

    /// The agent crashes: uncommitted batches and everything in flight to it are lost; it
    /// restarts from its store's snapshot (with what it showed forgotten).
    pub fn crash_and_restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.uncommitted.clear();
        node.events.clear();
        node.server_events.clear();
        self.queue
            .retain(|d| !matches!(d, Delivery::ToNode(j, _) if *j == i));
        let sockets: Vec<u64> = self
            .to_node
            .iter()
            .filter(|(_, (j, _))| *j == i)
            .map(|(s, _)| *s)
            .collect();
        for s in sockets {
            if let Some((j, c)) = self.to_node.remove(&s) {
                self.to_server.remove(&(j, c));
            }
            self.queue
                .push_back(Delivery::ToServer(ServerIn::PeerClosed(s)));
        }
        let state = self.nodes[i].store.load().unwrap();
        self.nodes[i].seed += 100;
        let seed = self.nodes[i].seed;
        self.nodes[i].agent = new_agent(seed, &self.server_address, state);
    }

    /// `SUB` of every connection agent `i` has stored (as a user does after a restart).
    pub fn subscribe_all(&mut self, i: usize) {
        let conns: Vec<ConnectionId> = self.nodes[i]
            .store
            .state()
            .connections
            .keys()
            .cloned()
            .collect();
        for conn in conns {
            self.command_on(i, b"sub", Some(conn), AgentCommand::Sub);
        }
    }
}

pub fn new_command(mode: ConnectionMode) -> AgentCommand {
    AgentCommand::New { mode }
}

pub fn join_command(link: ConnectionRequest, info: &[u8]) -> AgentCommand {
    AgentCommand::Join {
        conn_req: Box::new(link),
        info: Bytes::copy_from_slice(info),
    }
}

/// Agent `i` makes a connection of `mode`; the link it shows and the connection.
pub fn make_link(
    world: &mut World,
    i: usize,
    mode: ConnectionMode,
) -> (ConnectionId, ConnectionRequest) {
    world.command(i, b"new", new_command(mode));
    world.run();
    let Some((_, Some(conn), AgentEvent::Inv(link))) = world.nodes[i].events.pop() else {
        panic!("{:?}", world.nodes[i].events)
    };
    (conn, link)
}

/// The last event of agent `i` matching `pick`, with its connection.
pub fn last_event<T>(
    world: &World,
    i: usize,
    pick: impl Fn(&AgentEvent) -> Option<T>,
) -> Option<(ConnectionId, T)> {
    world.nodes[i]
        .events
        .iter()
        .rev()
        .find_map(|(_, conn, e)| Some((conn.clone()?, pick(e)?)))
}

/// Agent `inviter` invites, agent `joiner` joins, `inviter` accepts: the whole v2 handshake.
/// Gives both connection ids (inviter's, joiner's).
pub fn handshake(world: &mut World, inviter: usize, joiner: usize) -> (ConnectionId, ConnectionId) {
    let (inviter_conn, link) = make_link(world, inviter, ConnectionMode::Invitation);
    world.command(joiner, b"j", join_command(link, b"joiner's profile"));
    world.run();
    let joiner_conn = world.nodes[joiner]
        .events
        .iter()
        .find_map(|(c, conn, e)| (c.0 == b"j" && *e == AgentEvent::Ok).then(|| conn.clone()))
        .flatten()
        .expect("JOIN answered OK");
    let (_, conf_id) = last_event(world, inviter, |e| match e {
        AgentEvent::Conf { id, .. } => Some(id.clone()),
        _ => None,
    })
    .expect("CONF");
    world.command_on(
        inviter,
        b"let",
        Some(inviter_conn.clone()),
        AgentCommand::Let {
            conf_id,
            info: Bytes::from_static(b"inviter's profile"),
        },
    );
    world.run();
    (inviter_conn, joiner_conn)
}
