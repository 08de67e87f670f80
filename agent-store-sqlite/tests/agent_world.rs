//! Agents against the real server machine, in memory, as in `agent/tests/agent_server.rs`, but
//! each agent's store is an SQLite file: batches are group-committed as a shell would, and a
//! crash drops the agent and its open database, then reopens the file and loads from it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::connection::{ConnectionType, QueueStatus};
use simplex_agent::machine::{
    Agent, AgentCommand, AgentConfig, AgentEvent, AgentInput, AgentOutput, CorrId, SocketAction,
};
use simplex_agent::protocol::{ConnectionMode, ConnectionRequest};
use simplex_agent::store::{BatchId, ConnectionId, RecordBatch, Store, StoreState};
use simplex_agent_store_sqlite::{MigrationConfirmation, SqliteStore};
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

enum Delivery {
    ToServer(ServerIn),
    ToAgent(usize, AgentIn),
}

enum ServerIn {
    Accepted(u64),
    Received(u64, Vec<u8>),
    PeerClosed(u64),
}

enum AgentIn {
    Connected(ConnId),
    Received(ConnId, Vec<u8>),
    Closed(ConnId),
    Committed(BatchId),
    CommitFailed(BatchId),
}

type Shown = Vec<(CorrId, Option<ConnectionId>, AgentEvent)>;

struct Node {
    agent: Agent,
    store: SqliteStore,
    path: PathBuf,
    events: Shown,
    uncommitted: Vec<RecordBatch>,
    seed: u64,
}

struct World {
    _dir: tempfile::TempDir,
    server: ServerDriver<ChaCha20Rng>,
    server_address: ServerAddress,
    nodes: Vec<Node>,
    to_server: BTreeMap<(usize, ConnId), u64>,
    to_agent: BTreeMap<u64, (usize, ConnId)>,
    next_socket: u64,
    queue: VecDeque<Delivery>,
    /// Group commits made (each one transaction for all of a node's pending batches).
    group_commits: usize,
}

fn clock() -> Clock {
    Clock {
        now: Instant::from_micros(1_000_000),
        wall_clock: UnixTime {
            seconds: 1_700_000_000,
            nanoseconds: 0,
        },
    }
}

fn new_agent(seed: u64, server: &ServerAddress, state: StoreState) -> Agent {
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

fn open(path: &Path) -> SqliteStore {
    SqliteStore::open(path, MigrationConfirmation::No).unwrap()
}

impl World {
    fn new(agents: usize) -> Self {
        let identity = ServerIdentity::from_pem(
            &fixture("server.crt"),
            &fixture("ca.crt"),
            &fixture("server.key"),
        )
        .unwrap();
        let server_address = ServerAddress {
            scheme: Scheme::Smp,
            hosts: NonEmpty::one(TransportHost::Domain("localhost".into())),
            port: "5223".into(),
            key_hash: identity.key_hash(),
        };
        let server = Server::new(
            ServerConfig::default(),
            ChaCha20Rng::seed_from_u64(1000),
            clock(),
        );
        let server = ServerDriver::new(server, identity, DriverConfig::default(), [3; 32]);
        let dir = tempfile::tempdir().unwrap();
        let nodes = (0..agents as u64)
            .map(|seed| {
                let path = dir.path().join(format!("agent{seed}.db"));
                let mut store = open(&path);
                let state = store.load().unwrap();
                Node {
                    agent: new_agent(seed, &server_address, state),
                    store,
                    path,
                    events: Vec::new(),
                    uncommitted: Vec::new(),
                    seed,
                }
            })
            .collect();
        let mut world = Self {
            _dir: dir,
            server,
            server_address,
            nodes,
            to_server: BTreeMap::new(),
            to_agent: BTreeMap::new(),
            next_socket: 1,
            queue: VecDeque::new(),
            group_commits: 0,
        };
        world.drain_server();
        world
    }

    fn command_on(
        &mut self,
        i: usize,
        corr: &[u8],
        conn: Option<ConnectionId>,
        command: AgentCommand,
    ) {
        let input = AgentInput::Command {
            corr_id: CorrId(corr.to_vec()),
            conn,
            command,
        };
        self.nodes[i].agent.handle_input(clock(), input).unwrap();
        self.drain_agent(i);
    }

    fn drain_agent(&mut self, i: usize) {
        loop {
            match self.nodes[i].agent.poll_output() {
                AgentOutput::Timeout(_) => return,
                AgentOutput::Persist(batch) => self.nodes[i].uncommitted.push(batch),
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
                AgentOutput::Socket(SocketAction::Connect { conn, .. }) => {
                    let socket = self.next_socket;
                    self.next_socket += 1;
                    self.to_server.insert((i, conn), socket);
                    self.to_agent.insert(socket, (i, conn));
                    self.queue
                        .push_back(Delivery::ToServer(ServerIn::Accepted(socket)));
                    self.queue
                        .push_back(Delivery::ToAgent(i, AgentIn::Connected(conn)));
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

    fn drain_server(&mut self) {
        loop {
            match self.server.poll_output() {
                DriverOutput::Timeout(_) => return,
                DriverOutput::Write { conn, bytes } => {
                    if let Some(&(i, c)) = self.to_agent.get(&conn) {
                        self.queue
                            .push_back(Delivery::ToAgent(i, AgentIn::Received(c, bytes)));
                    }
                }
                DriverOutput::CloseSocket { conn } => {
                    if let Some((i, c)) = self.to_agent.remove(&conn) {
                        self.to_server.remove(&(i, c));
                        self.queue
                            .push_back(Delivery::ToAgent(i, AgentIn::Closed(c)));
                    }
                }
                _ => {}
            }
        }
    }

    /// The shell's group commit: every pending batch of the node in one transaction; if that
    /// is refused, each batch alone, so only a bad batch fails.
    fn commit_all(&mut self, i: usize) {
        let batches = std::mem::take(&mut self.nodes[i].uncommitted);
        if batches.is_empty() {
            return;
        }
        self.group_commits += 1;
        let answers: Vec<AgentIn> = match self.nodes[i].store.commit_many(&batches) {
            Ok(()) => batches.iter().map(|b| AgentIn::Committed(b.id)).collect(),
            Err(_) => batches
                .iter()
                .map(|b| match self.nodes[i].store.commit(b) {
                    Ok(()) => AgentIn::Committed(b.id),
                    Err(_) => AgentIn::CommitFailed(b.id),
                })
                .collect(),
        };
        for answer in answers {
            self.queue.push_back(Delivery::ToAgent(i, answer));
        }
    }

    fn run(&mut self) {
        assert!(self.run_steps(100_000), "the world did not settle");
    }

    fn run_steps(&mut self, steps: usize) -> bool {
        for _ in 0..steps {
            for i in 0..self.nodes.len() {
                self.commit_all(i);
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
                    let _ = self.server.handle_input(clock(), input);
                    self.drain_server();
                }
                Delivery::ToAgent(i, input) => {
                    let agent = &mut self.nodes[i].agent;
                    let input = match &input {
                        AgentIn::Connected(c) => AgentInput::Connected(*c),
                        AgentIn::Received(c, b) => AgentInput::Received(*c, b),
                        AgentIn::Closed(c) => AgentInput::Closed(*c),
                        AgentIn::Committed(id) => AgentInput::Committed(*id),
                        AgentIn::CommitFailed(id) => AgentInput::CommitFailed(*id),
                    };
                    // A stream of an agent that crashed since is unknown to its new manager.
                    if agent.handle_input(clock(), input).is_ok() {
                        self.drain_agent(i);
                    }
                }
            }
        }
        self.queue.is_empty() && self.nodes.iter().all(|n| n.uncommitted.is_empty())
    }

    /// The agent crashes: its batches not yet committed and everything in flight to it are
    /// lost, its database is closed; it restarts from what the reopened file holds.
    fn crash_and_restart(&mut self, i: usize) {
        self.nodes[i].uncommitted.clear();
        self.nodes[i].events.clear();
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
        let node = &mut self.nodes[i];
        // The restarted process opens the file anew (the old connection closes as it is
        // replaced; what it had not committed was never written).
        node.store = open(&node.path);
        let state = node.store.load().unwrap();
        node.seed += 100;
        node.agent = new_agent(node.seed, &self.server_address, state);
    }

    fn stored(&mut self, i: usize) -> StoreState {
        self.nodes[i].store.load().unwrap()
    }
}

fn invitation_link(world: &mut World) -> ConnectionRequest {
    world.command_on(
        0,
        b"inv",
        None,
        AgentCommand::New {
            mode: ConnectionMode::Invitation,
        },
    );
    world.run();
    let Some((_, _, AgentEvent::Inv(link))) = world.nodes[0].events.pop() else {
        panic!("{:?}", world.nodes[0].events)
    };
    link
}

fn join(world: &mut World, link: ConnectionRequest) {
    let command = AgentCommand::Join {
        conn_req: Box::new(link),
        info: bytes::Bytes::from_static(b"bob's profile"),
    };
    world.command_on(1, b"j", None, command);
}

fn allow(world: &mut World) {
    let Some((_, Some(conn), AgentEvent::Conf { id, .. })) = world.nodes[0].events.last().cloned()
    else {
        panic!("no CONF: {:?}", world.nodes[0].events)
    };
    let command = AgentCommand::Let {
        conf_id: id,
        info: bytes::Bytes::from_static(b"alice's profile"),
    };
    world.command_on(0, b"let", Some(conn), command);
}

fn duplex_active(state: &StoreState) -> bool {
    state.connections.values().any(|c| {
        c.rcv_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
            && c.snd_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
    })
}

#[test]
fn two_agents_complete_the_duplex_handshake_on_sqlite_stores() {
    let mut world = World::new(2);
    let link = invitation_link(&mut world);
    join(&mut world, link);
    world.run();
    allow(&mut world);
    world.run();
    let bob: Vec<AgentEvent> = world.nodes[1].events.iter().map(|e| e.2.clone()).collect();
    assert_eq!(
        bob,
        [
            AgentEvent::Ok,
            AgentEvent::Info(bytes::Bytes::from_static(b"alice's profile")),
            AgentEvent::Con
        ]
    );
    assert!(matches!(
        world.nodes[0].events.last(),
        Some((_, _, AgentEvent::Con))
    ));
    for i in 0..2 {
        let stored = world.stored(i);
        assert_eq!(&stored, world.nodes[i].agent.state(), "agent {i}");
        let conn = stored.connections.values().next().unwrap();
        assert_eq!(ConnectionType::of(conn), Some(ConnectionType::Duplex));
        assert!(duplex_active(&stored));
        assert!(conn.ratchet.is_some() && conn.ratchet_keys.is_none());
        assert!(stored.confirmations.is_empty());
        // The file holds the same after a reopen.
        let reopened = open(&world.nodes[i].path).load().unwrap();
        assert_eq!(reopened, stored, "agent {i} after reopening");
    }
    assert_eq!(world.server.server().message_count(), 0);
    assert!(world.group_commits > 0);
}

/// What agent `i` showed before a crash names connections its reopened store holds, in at
/// least the state the event claims.
fn check_shown_is_durable(state: &StoreState, shown: &Shown, at: &str) {
    for (_, conn, event) in shown {
        let Some(conn) = conn else { continue };
        let Some(stored) = state.connections.get(conn) else {
            panic!("{at}: {event:?} shown for a connection the file lacks")
        };
        let queues = (
            stored.rcv_queue.as_ref().map(|q| q.status),
            stored.snd_queue.as_ref().map(|q| q.status),
        );
        match event {
            AgentEvent::Con => assert_eq!(
                queues,
                (Some(QueueStatus::Active), Some(QueueStatus::Active)),
                "{at}: CON shown before both queues were stored active"
            ),
            AgentEvent::Info(_) => assert!(
                stored.rcv_queue.as_ref().unwrap().e2e_dh_secret.is_some(),
                "{at}: INFO shown before the reply confirmation was stored"
            ),
            _ => {}
        }
    }
}

/// Crashes the inviter or the joiner after every number of deliveries of the handshake (the
/// `JOIN` phase and then the `LET` phase), reopens its file, subscribes its connections again
/// and runs to rest: what was shown is durable, the agent ends holding what its file holds,
/// and the handshake completes.
#[test]
fn a_crash_at_any_step_of_the_handshake_restarts_from_the_file() {
    let mut points = 0;
    let mut completed = 0;
    for let_phase in [false, true] {
        for crashed in [0, 1] {
            for steps in (0..).step_by(3) {
                let mut world = World::new(2);
                let link = invitation_link(&mut world);
                join(&mut world, link);
                if let_phase {
                    world.run();
                    allow(&mut world);
                }
                let settled = world.run_steps(steps);
                let at = format!("let phase {let_phase}, agent {crashed}, {steps} steps");
                let shown = world.nodes[crashed].events.clone();
                world.crash_and_restart(crashed);
                check_shown_is_durable(&world.stored(crashed), &shown, &at);
                let conns: Vec<ConnectionId> =
                    world.stored(crashed).connections.keys().cloned().collect();
                for conn in conns {
                    world.command_on(crashed, b"sub", Some(conn), AgentCommand::Sub);
                }
                world.run();
                for i in 0..2 {
                    let stored = world.stored(i);
                    assert_eq!(world.nodes[i].agent.state(), &stored, "{at}: agent {i}");
                }
                if let_phase && duplex_active(&world.stored(0)) && duplex_active(&world.stored(1)) {
                    completed += 1;
                }
                points += 1;
                if settled {
                    break;
                }
            }
        }
    }
    assert!(points > 15, "only {points} crash points");
    assert!(
        completed > 0,
        "no run completed the handshake after a crash"
    );
}
