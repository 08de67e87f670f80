//! A small in-memory world for the sending tests: agents, the real server driver, every
//! byte through the manager's TLS and every batch through a `MemoryStore` (the same shape as
//! `agent_server.rs`'s world), with simulated time and a server that can be made unreachable.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::path::Path;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::{
    Agent, AgentCommand, AgentConfig, AgentEvent, AgentInput, AgentOutput, CorrId, SocketAction,
};
use simplex_agent::protocol::ConnectionMode;
use simplex_agent::store::{ConnectionId, MemoryStore, RecordBatch, Store};
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::client::{ConnId, ConnectionManager, ManagerConfig, SignAlgorithm};
use simplex_core::encoding::{NonEmpty, UnixTime};
use simplex_core::time::{Clock, Instant};
use simplex_core::tls::ServerIdentity;
use simplex_core::transport::Framing;
use simplex_server::driver::{DriverConfig, DriverInput, DriverOutput, ServerDriver};
use simplex_server::{Server, ServerConfig};

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
    ToAgent(usize, Owned),
}

/// A server input that owns its bytes.
enum ServerIn {
    Accepted(u64),
    Received(u64, Vec<u8>),
    PeerClosed(u64),
}

/// An agent input that owns its bytes.
enum Owned {
    Connected(ConnId),
    ConnectFailed(ConnId),
    Received(ConnId, Vec<u8>),
    Closed(ConnId),
    Committed(simplex_agent::store::BatchId),
    CommitFailed(simplex_agent::store::BatchId),
}

pub struct Node {
    pub agent: Agent,
    pub store: MemoryStore,
    pub events: Vec<(CorrId, Option<ConnectionId>, AgentEvent)>,
    /// Batches handed out and not yet committed (a crash loses them).
    pub uncommitted: VecDeque<RecordBatch>,
    /// Commits the store refused, over the node's whole life.
    pub failed_commits: usize,
    pub seed: u64,
}

/// Agents, one server, and the wires between them.
pub struct World {
    pub server: ServerDriver<ChaCha20Rng>,
    pub server_address: ServerAddress,
    pub nodes: Vec<Node>,
    /// (agent, its stream) -> server socket, and back.
    to_server: BTreeMap<(usize, ConnId), u64>,
    to_agent: BTreeMap<u64, (usize, ConnId)>,
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

pub fn new_agent(
    seed: u64,
    server: &ServerAddress,
    state: simplex_agent::store::StoreState,
) -> Agent {
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
                agent: new_agent(seed, &server_address, Default::default()),
                store: MemoryStore::new(),
                events: Vec::new(),
                uncommitted: VecDeque::new(),
                failed_commits: 0,
                seed,
            })
            .collect();
        let mut world = Self {
            server,
            server_address,
            nodes,
            to_server: BTreeMap::new(),
            to_agent: BTreeMap::new(),
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

    pub fn drain_agent(&mut self, i: usize) {
        loop {
            match self.nodes[i].agent.poll_output() {
                AgentOutput::Timeout(_) => return,
                AgentOutput::Persist(batch) => self.nodes[i].uncommitted.push_back(batch),
                AgentOutput::Event {
                    corr_id,
                    conn,
                    event,
                } => {
                    // Server status (`CONNECT`...) is not about the connections checked here.
                    if !matches!(
                        event,
                        AgentEvent::Connect { .. }
                            | AgentEvent::Disconnect { .. }
                            | AgentEvent::Down { .. }
                            | AgentEvent::Up { .. }
                    ) {
                        self.nodes[i].events.push((corr_id, conn, event))
                    }
                }
                AgentOutput::Socket(SocketAction::Connect { conn, .. }) if self.down => {
                    self.queue
                        .push_back(Delivery::ToAgent(i, Owned::ConnectFailed(conn)));
                }
                AgentOutput::Socket(SocketAction::Connect { conn, .. }) => {
                    let socket = self.next_socket;
                    self.next_socket += 1;
                    self.to_server.insert((i, conn), socket);
                    self.to_agent.insert(socket, (i, conn));
                    self.queue
                        .push_back(Delivery::ToServer(ServerIn::Accepted(socket)));
                    self.queue
                        .push_back(Delivery::ToAgent(i, Owned::Connected(conn)));
                }
                AgentOutput::Socket(SocketAction::Transmit { conn, bytes }) => {
                    if let Some(&socket) = self.to_server.get(&(i, conn)) {
                        self.queue
                            .push_back(Delivery::ToServer(ServerIn::Received(socket, bytes)));
                    }
                }
                AgentOutput::Socket(SocketAction::Disconnect { conn }) => {
                    if let Some(socket) = self.to_server.remove(&(i, conn)) {
                        self.to_agent.remove(&socket);
                        self.queue
                            .push_back(Delivery::ToServer(ServerIn::PeerClosed(socket)));
                    }
                }
            }
        }
    }

    pub fn drain_server(&mut self) {
        loop {
            match self.server.poll_output() {
                DriverOutput::Timeout(_) => return,
                DriverOutput::Write { conn, bytes } => {
                    if let Some(&(i, c)) = self.to_agent.get(&conn) {
                        self.queue
                            .push_back(Delivery::ToAgent(i, Owned::Received(c, bytes)));
                    }
                }
                DriverOutput::CloseSocket { conn } => {
                    if let Some((i, c)) = self.to_agent.remove(&conn) {
                        self.to_server.remove(&(i, c));
                        self.queue.push_back(Delivery::ToAgent(i, Owned::Closed(c)));
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
            self.queue.push_back(Delivery::ToAgent(i, answer));
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
            if self.auto_commit {
                for i in 0..self.nodes.len() {
                    self.commit_all(i);
                }
            }
            let Some(delivery) = self.queue.pop_front() else {
                return true;
            };
            match delivery {
                Delivery::ToServer(input) => {
                    let input = match &input {
                        ServerIn::Accepted(conn) => DriverInput::Accepted {
                            conn: *conn,
                            framing: Framing::Raw,
                        },
                        ServerIn::Received(conn, bytes) => {
                            DriverInput::Received { conn: *conn, bytes }
                        }
                        ServerIn::PeerClosed(conn) => DriverInput::PeerClosed { conn: *conn },
                    };
                    // A socket the server already closed is gone.
                    let _ = self.server.handle_input(self.clock, input);
                    self.drain_server();
                }
                Delivery::ToAgent(i, owned) => {
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
        }
        self.queue.is_empty() && self.nodes.iter().all(|n| n.uncommitted.is_empty())
    }

    /// The agent crashes: uncommitted batches and everything in flight to it are lost; it
    /// restarts from its store's snapshot.
    pub fn crash_and_restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.uncommitted.clear();
        node.events.clear();
        self.queue
            .retain(|d| !matches!(d, Delivery::ToAgent(j, _) if *j == i));
        let sockets: Vec<u64> = self
            .to_agent
            .iter()
            .filter(|(_, (j, _))| *j == i)
            .map(|(s, _)| *s)
            .collect();
        for s in sockets {
            if let Some((j, c)) = self.to_agent.remove(&s) {
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

    /// The server becomes unreachable (every connection drops, new ones are refused) or
    /// reachable again.
    pub fn set_down(&mut self, down: bool) {
        self.down = down;
        if down {
            let sockets: Vec<(u64, (usize, ConnId))> =
                self.to_agent.iter().map(|(s, a)| (*s, *a)).collect();
            for (socket, (i, c)) in sockets {
                self.to_agent.remove(&socket);
                self.to_server.remove(&(i, c));
                self.queue
                    .push_back(Delivery::ToServer(ServerIn::PeerClosed(socket)));
                self.queue.push_back(Delivery::ToAgent(i, Owned::Closed(c)));
            }
        }
        self.run();
    }

    /// Time passes by `by` in steps of at most `step`: after each step every agent and the
    /// server get `Timeout`, and the world runs to rest.
    pub fn advance(&mut self, by: std::time::Duration, step: std::time::Duration) {
        let mut left = by;
        while !left.is_zero() {
            let d = left.min(step);
            left -= d;
            self.jump(d, d);
        }
    }

    /// The monotonic clock moves by `mono` and the wall clock by `wall`; then `Timeout`s.
    pub fn jump(&mut self, mono: std::time::Duration, wall: std::time::Duration) {
        self.clock.now = Instant::from_micros(
            self.clock.now.as_micros() + u64::try_from(mono.as_micros()).unwrap(),
        );
        self.clock.wall_clock.seconds += i64::try_from(wall.as_secs()).unwrap();
        let _ = self.server.handle_input(self.clock, DriverInput::Tick);
        self.drain_server();
        for i in 0..self.nodes.len() {
            self.nodes[i]
                .agent
                .handle_input(self.clock, AgentInput::Timeout)
                .unwrap();
            self.drain_agent(i);
        }
        self.run();
    }

    /// A duplex connection between agents `a` (inviter) and `b` (joiner), both `CON`;
    /// their connection ids.
    pub fn connect(&mut self, a: usize, b: usize) -> (ConnectionId, ConnectionId) {
        self.command(
            a,
            b"inv",
            AgentCommand::New {
                mode: ConnectionMode::Invitation,
            },
        );
        self.run();
        let Some((_, _, AgentEvent::Inv(link))) = self.nodes[a].events.pop() else {
            panic!("{:?}", self.nodes[a].events)
        };
        let before: Vec<ConnectionId> = self.nodes[b]
            .store
            .state()
            .connections
            .keys()
            .cloned()
            .collect();
        self.command(
            b,
            b"j",
            AgentCommand::Join {
                conn_req: Box::new(link),
                info: bytes::Bytes::from_static(b"joiner"),
            },
        );
        self.run();
        let Some((_, Some(a_conn), AgentEvent::Conf { id, .. })) =
            self.nodes[a].events.last().cloned()
        else {
            panic!("{:?}", self.nodes[a].events)
        };
        self.command_on(
            a,
            b"let",
            Some(a_conn.clone()),
            AgentCommand::Let {
                conf_id: id,
                info: bytes::Bytes::from_static(b"inviter"),
            },
        );
        self.run();
        let b_conn = self.nodes[b]
            .store
            .state()
            .connections
            .keys()
            .find(|c| !before.contains(c))
            .unwrap()
            .clone();
        for (i, conn) in [(a, &a_conn), (b, &b_conn)] {
            assert!(
                self.nodes[i]
                    .events
                    .iter()
                    .any(|(_, c, e)| c.as_ref() == Some(conn) && *e == AgentEvent::Con),
                "{:?}",
                self.nodes[i].events
            );
        }
        (a_conn, b_conn)
    }
}
