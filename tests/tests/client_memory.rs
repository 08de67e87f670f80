//! The SMP client (`ClientService` over `ConnectionManager`) against the real server driver, in
//! memory: no sockets, no threads, a virtual clock, and every byte moved by this file in
//! chunks whose sizes come from a seed. The same seed gives the same run, byte for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_core::time::Clock;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::client::{
    decrypt_notification, generate_sign_key, ClientCommand, ClientService, ConnectionManager,
    ManagerConfig, ManagerEvent, ManagerRequestId, QueueSubscription, RecipientKeys, Reply,
    Request, RequestError, SignAlgorithm, SubParty,
};
use simplex_core::crypto::x25519;
use simplex_core::driver::{Service, ShellInput, SocketAction, SocketId};
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{Command, ErrorType, MsgFlags, MsgId};
use simplex_core::time::Instant;
use simplex_server::driver::{DriverInput, DriverOutput, ServerDriver};
use simplex_server::ServerConfig;
use simplex_tests::client_queue::Queue;
use simplex_tests::harness::identity;
use simplex_tests::sim::persisted::Persisted;

const WALL_START: i64 = 1_700_000_000;

/// The server side: the production driver, restartable from its store log and journal.
struct MemServer {
    driver: Option<ServerDriver<ChaCha20Rng>>,
    deadline: Option<Instant>,
    persisted: Persisted,
    /// Client sockets the driver knows (same ids on both sides).
    conns: BTreeSet<u64>,
}

struct World {
    rng: ChaCha20Rng,
    now: Instant,
    server: MemServer,
    client: ClientService,
    client_deadline: Option<Instant>,
    to_server: VecDeque<(u64, Vec<u8>)>,
    to_client: VecDeque<(u64, Vec<u8>)>,
    /// Server closes waiting to reach the client (after the bytes before them).
    closed_by_server: Vec<u64>,
    events: Vec<ManagerEvent>,
    /// Everything the client wrote, in order: the run's fingerprint.
    client_bytes: Vec<u8>,
    address: ServerAddress,
}

impl World {
    fn new(seed: u64) -> Self {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut client_seed = [0u8; 32];
        rng.fill_bytes(&mut client_seed);
        let manager = ConnectionManager::new(
            ManagerConfig::default(),
            Box::new(ChaCha20Rng::from_seed(client_seed)),
            Instant::ZERO,
        );
        let key_hash = identity().key_hash();
        let address = ServerAddress::str_decode(
            format!("smp://{}@localhost:5223", key_hash.to_base64url()).as_bytes(),
        )
        .unwrap();
        assert!(matches!(address.hosts.first(), TransportHost::Domain(_)));
        let mut world = World {
            rng,
            now: Instant::ZERO,
            server: MemServer {
                driver: None,
                deadline: None,
                persisted: Persisted::default(),
                conns: BTreeSet::new(),
            },
            client: ClientService::new(manager),
            client_deadline: None,
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            closed_by_server: Vec::new(),
            events: Vec::new(),
            client_bytes: Vec::new(),
            address,
        };
        world.start_server();
        world
    }

    fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            wall_clock: UnixTime::from_seconds(
                WALL_START + (self.now.as_micros() / 1_000_000) as i64,
            ),
        }
    }

    fn start_server(&mut self) {
        let mut server_seed = [0u8; 32];
        let mut tls_seed = [0u8; 32];
        self.rng.fill_bytes(&mut server_seed);
        self.rng.fill_bytes(&mut tls_seed);
        let header = self.server.persisted.restart_header(
            (server_seed, tls_seed),
            self.clock(),
            ServerConfig::default(),
            Duration::from_secs(30),
            identity().key_hash(),
        );
        self.server.driver = Some(header.build_driver(identity()).unwrap());
        self.drain_server();
    }

    /// The server process dies: its sockets reset, its memory is gone; its files stay.
    fn crash_server(&mut self) {
        self.server.driver = None;
        self.server.deadline = None;
        self.to_server.clear();
        self.to_client.clear();
        for conn in std::mem::take(&mut self.server.conns) {
            self.closed_by_server.push(conn);
        }
    }

    fn drain_server(&mut self) {
        while let Some(driver) = self.server.driver.as_mut() {
            let output = driver.poll_output();
            if self.server.persisted.keep(&output) {
                continue;
            }
            match output {
                DriverOutput::Write { conn, bytes } => self.to_client.push_back((conn, bytes)),
                DriverOutput::CloseSocket { conn } => {
                    self.server.conns.remove(&conn);
                    self.closed_by_server.push(conn);
                }
                DriverOutput::Timeout(deadline) => {
                    self.server.deadline = deadline;
                    return;
                }
                DriverOutput::Persist(_)
                | DriverOutput::Journal(_)
                | DriverOutput::SaveMessage { .. }
                | DriverOutput::StatsBackup(_)
                | DriverOutput::Stats(_) => {}
                // A lone driver has no other shard to mail.
                DriverOutput::Mail { .. } => {}
            }
        }
    }

    fn server_input(&mut self, input: DriverInput<'_>) {
        let clock = self.clock();
        if let Some(driver) = self.server.driver.as_mut() {
            driver.handle_input(clock, input).unwrap();
        }
        self.drain_server();
    }

    fn client_input(&mut self, input: ShellInput<'_>) {
        let clock = Clock {
            now: self.now,
            wall_clock: self.clock().wall_clock,
        };
        let mut actions = Vec::new();
        self.client_deadline = self.client.handle(clock, input, &mut actions);
        self.events.extend(self.client.port_mut().take_events());
        for action in actions {
            match action {
                SocketAction::Connect {
                    socket, host, port, ..
                } => {
                    assert_eq!((host.as_str(), port), ("localhost", 5223));
                    if self.server.driver.is_some() {
                        self.server.conns.insert(socket);
                        self.server_input(DriverInput::Accepted {
                            conn: socket,
                            framing: simplex_core::transport::Framing::Raw,
                        });
                        self.client_input(ShellInput::Connected(socket));
                    } else {
                        self.client_input(ShellInput::ConnectFailed(socket));
                    }
                }
                SocketAction::Write(socket, bytes) => {
                    self.client_bytes.extend_from_slice(&bytes);
                    self.to_server.push_back((socket, bytes));
                }
                SocketAction::Close(socket) => {
                    if self.server.conns.remove(&socket) {
                        self.server_input(DriverInput::PeerClosed { conn: socket });
                    }
                }
            }
        }
    }

    /// Moves one chunk (of a seeded size) in each direction; whether anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        if let Some((conn, mut bytes)) = self.to_server.pop_front() {
            let n = self.chunk(bytes.len());
            let rest = bytes.split_off(n);
            if !rest.is_empty() {
                self.to_server.push_front((conn, rest));
            }
            if self.server.conns.contains(&conn) {
                self.server_input(DriverInput::Received {
                    conn,
                    bytes: &bytes,
                });
            }
            moved = true;
        }
        if let Some((conn, mut bytes)) = self.to_client.pop_front() {
            let n = self.chunk(bytes.len());
            let rest = bytes.split_off(n);
            if !rest.is_empty() {
                self.to_client.push_front((conn, rest));
            }
            self.client_input(ShellInput::Received(conn as SocketId, &bytes));
            moved = true;
        }
        if self.to_client.is_empty() && !self.closed_by_server.is_empty() {
            for conn in std::mem::take(&mut self.closed_by_server) {
                self.client_input(ShellInput::PeerClosed(conn));
            }
            moved = true;
        }
        moved
    }

    fn chunk(&mut self, len: usize) -> usize {
        match self.rng.next_u32() % 4 {
            0 => len,
            _ => 1 + (self.rng.next_u32() as usize % len.max(1)),
        }
    }

    /// Moves bytes until nothing moves.
    fn settle(&mut self) {
        self.client_input(ShellInput::Tick);
        for _ in 0..1_000_000 {
            if !self.step() {
                return;
            }
        }
        panic!("no quiescence");
    }

    /// Jumps the clock to the next deadline (at most `limit` ahead) and settles.
    fn advance(&mut self, limit: Duration) {
        let cap = self.now + limit;
        let next = [self.client_deadline, self.server.deadline]
            .into_iter()
            .flatten()
            .min()
            .map_or(cap, |d| d.min(cap));
        self.now = self.now.max(next);
        self.server_input(DriverInput::Tick);
        self.settle();
    }

    /// Hands the client a command; the turn it is taken in is run at once. Returns the id a
    /// request got.
    fn command(&mut self, command: ClientCommand) -> Option<ManagerRequestId> {
        self.client.port_mut().push(command);
        self.client_input(ShellInput::Tick);
        self.client.port_mut().take_accepted().next()
    }

    fn take_events(&mut self) -> Vec<ManagerEvent> {
        std::mem::take(&mut self.events)
    }

    /// Sends a request and runs the world until its answer.
    fn call(&mut self, request: Request) -> Result<Reply, RequestError> {
        let address = self.address.clone();
        let id = self
            .command(ClientCommand::Request {
                server: address,
                request: Box::new(request),
            })
            .expect("a request id");
        for _ in 0..100 {
            self.settle();
            if let Some(result) = self.answer(id) {
                return result;
            }
            self.advance(Duration::from_secs(1));
        }
        panic!("no answer");
    }

    fn answer(&mut self, id: ManagerRequestId) -> Option<Result<Reply, RequestError>> {
        let i = self
            .events
            .iter()
            .position(|e| matches!(e, ManagerEvent::Response { id: r, .. } if *r == id))?;
        match self.events.remove(i) {
            ManagerEvent::Response { result, .. } => Some(result),
            _ => None,
        }
    }
}

/// One queue's keys and ids.
fn create(world: &mut World, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(seed));
    let reply = world.call(Request::create(&keys)).unwrap();
    Queue::from_ids(keys, reply)
}

/// Messages delivered so far: (msg id, body).
fn delivered(events: &[ManagerEvent]) -> Vec<(MsgId, Bytes)> {
    events
        .iter()
        .filter_map(|e| match e {
            ManagerEvent::Message { message: Ok(m), .. } => {
                Some((m.msg_id.clone(), m.body.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The whole life of a queue: create, secure, subscribe, send, receive and acknowledge,
/// notifications, delete. Returns the client's bytes (the run's fingerprint).
fn queue_life(seed: u64) -> Vec<u8> {
    let mut world = World::new(seed);
    let q = create(&mut world, seed);

    // Secure it: unsigned SEND is refused from then on, signed SEND accepted.
    let sender_key = generate_sign_key(
        SignAlgorithm::Ed25519,
        &mut ChaCha20Rng::seed_from_u64(seed + 1),
    );
    let key = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::Key(sender_key.verify_key()),
    );
    assert_eq!(world.call(key), Ok(Reply::Ok));
    let unsigned = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from_static(b"x"),
    );
    assert_eq!(
        world.call(unsigned),
        Err(RequestError::Protocol(ErrorType::Auth))
    );

    // Subscribe, then send three messages and take them one by one.
    let address = world.address.clone();
    world.command(ClientCommand::Subscribe {
        server: address.clone(),
        subs: vec![q.subscription()],
    });
    world.settle();
    assert!(world
        .take_events()
        .iter()
        .any(|e| matches!(e, ManagerEvent::Subscribed { .. })));
    for i in 0..3 {
        let body = Bytes::from(format!("message {i}"));
        let send = Request::send(
            q.sender_id.clone(),
            Some(&sender_key),
            MsgFlags::default(),
            body,
        );
        assert_eq!(world.call(send), Ok(Reply::Ok));
    }
    let mut got = Vec::new();
    for _ in 0..3 {
        world.settle();
        let mut new = delivered(&world.take_events());
        assert_eq!(new.len(), 1, "one message until it is acknowledged");
        let (msg_id, body) = new.remove(0);
        got.push(body);
        let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, msg_id);
        assert_eq!(world.call(ack), Ok(Reply::Ok));
    }
    assert_eq!(
        got,
        ["message 0", "message 1", "message 2"].map(Bytes::from)
    );

    // Notifications: NKEY, a notifier subscription, a message with the flag.
    let notifier_key = generate_sign_key(
        SignAlgorithm::Ed448,
        &mut ChaCha20Rng::seed_from_u64(seed + 2),
    );
    let ntf_dh = x25519::PrivateKey::generate(&mut ChaCha20Rng::seed_from_u64(seed + 3));
    let nkey = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::NKey {
            notifier_key: notifier_key.verify_key(),
            dh_key: ntf_dh.public_key(),
        },
    );
    let (notifier_id, server_ntf_dh) = match world.call(nkey) {
        Ok(Reply::Nid {
            notifier_id,
            server_dh_key,
        }) => (notifier_id, server_dh_key),
        other => panic!("{other:?}"),
    };
    world.command(ClientCommand::Subscribe {
        server: address.clone(),
        subs: vec![QueueSubscription {
            party: SubParty::Notifier,
            queue_id: notifier_id.clone(),
            sign_key: notifier_key,
            body_key: None,
        }],
    });
    world.settle();
    world.take_events();
    let send = Request::send(
        q.sender_id.clone(),
        Some(&sender_key),
        MsgFlags { notification: true },
        Bytes::from_static(b"ring"),
    );
    assert_eq!(world.call(send), Ok(Reply::Ok));
    world.settle();
    let events = world.take_events();
    let (msg_id, _) = delivered(&events).pop().expect("the message");
    let (nonce, meta) = events
        .iter()
        .find_map(|e| match e {
            ManagerEvent::Notification {
                notifier_id: n,
                nonce,
                encrypted_meta,
                ..
            } if *n == notifier_id => Some((*nonce, encrypted_meta.clone())),
            _ => None,
        })
        .expect("a notification");
    let ntf_key = simplex_core::client::body_key(&ntf_dh, &server_ntf_dh).unwrap();
    let meta = decrypt_notification(&ntf_key, &nonce, &meta).unwrap();
    assert_eq!(meta.msg_id, msg_id, "the notification names the message");

    // Delete: the queue is gone for the sender and the recipient.
    let del = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Del);
    assert_eq!(world.call(del), Ok(Reply::Ok));
    let send = Request::send(
        q.sender_id.clone(),
        Some(&sender_key),
        MsgFlags::default(),
        Bytes::from_static(b"late"),
    );
    assert_eq!(
        world.call(send),
        Err(RequestError::Protocol(ErrorType::Auth))
    );
    world.client_bytes
}

/// Seeds to run: `CLIENT_SEEDS=N` runs N of them (3 by default).
fn seeds(first: u64) -> std::ops::Range<u64> {
    let n = std::env::var("CLIENT_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    first..first + n
}

#[test]
fn queue_life_against_the_server_machine() {
    for seed in seeds(1) {
        queue_life(seed);
    }
}

#[test]
fn the_same_seed_gives_the_same_run() {
    assert_eq!(queue_life(11), queue_life(11));
    assert_ne!(queue_life(11), queue_life(12));
}

/// The server crashes between messages and restarts from its store log and journal; the
/// client reconnects and resubscribes on its own. Every accepted message reaches the caller
/// exactly once (after de-duplication by message id), in order.
#[test]
fn server_crash_mid_stream_loses_nothing() {
    for seed in seeds(1_000) {
        let mut world = World::new(seed);
        let q = create(&mut world, seed);
        let address = world.address.clone();
        world.command(ClientCommand::Subscribe {
            server: address.clone(),
            subs: vec![q.subscription()],
        });
        world.settle();
        let mut seen: BTreeMap<MsgId, Bytes> = BTreeMap::new();
        let mut order = Vec::new();
        let mut downs = 0;
        let mut ups = 0;
        let crash_at = 3 + (seed as usize % 4);
        let mut sent = 0;
        let mut acked: BTreeSet<MsgId> = BTreeSet::new();
        for round in 0..40 {
            if sent < 10 {
                let body = Bytes::from(format!("{sent}"));
                let send = Request::send(q.sender_id.clone(), None, MsgFlags::default(), body);
                if world.call(send) == Ok(Reply::Ok) {
                    sent += 1;
                }
            }
            if round == crash_at {
                world.crash_server();
                world.settle();
                world.advance(Duration::from_secs(3));
                world.start_server();
            }
            world.advance(Duration::from_secs(3));
            for event in world.take_events() {
                match event {
                    ManagerEvent::Message { message: Ok(m), .. } => {
                        if seen.insert(m.msg_id.clone(), m.body.clone()).is_none() {
                            order.push(m.body.clone());
                        }
                        if acked.insert(m.msg_id.clone()) {
                            let ack = Request::ack(
                                q.recipient_id.clone(),
                                &q.keys.sign_key,
                                m.msg_id.clone(),
                            );
                            world.command(ClientCommand::Request {
                                server: address.clone(),
                                request: Box::new(ack),
                            });
                        }
                    }
                    ManagerEvent::Down { .. } => downs += 1,
                    ManagerEvent::Up { .. } => ups += 1,
                    _ => {}
                }
            }
            if sent == 10 && order.len() == 10 {
                break;
            }
        }
        assert_eq!(downs, 1, "seed {seed}");
        assert_eq!(ups, 1, "seed {seed}");
        let expected: Vec<Bytes> = (0..10).map(|i| Bytes::from(format!("{i}"))).collect();
        assert_eq!(order, expected, "seed {seed}");
    }
}
