//! The commit rule on the `NEW` flows, with the real connection manager; the server's answer
//! to `NEW` is handed to the agent the way the manager reports it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::address::{Scheme, ServerAddress, TransportHost};
use simplex_core::client::{ConnectionManager, ManagerConfig, ManagerEvent, Reply, RequestError};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::{x25519, x448};
use simplex_core::encoding::NonEmpty;
use simplex_core::protocol::EntityId;
use simplex_core::time::{Clock, Instant};

use super::*;
use crate::protocol::{ConnectionMode, ConnectionRequest};
use crate::store::{BatchId, MemoryStore, Store};

fn server() -> ServerAddress {
    ServerAddress {
        scheme: Scheme::Smp,
        hosts: NonEmpty::one(TransportHost::Domain("smp.example".into())),
        port: String::new(),
        key_hash: KeyHash::from_bytes([7; 32]),
    }
}

fn agent(seed: u64, servers: Vec<ServerAddress>) -> Agent {
    let manager = ConnectionManager::new(
        ManagerConfig::default(),
        Box::new(ChaCha20Rng::seed_from_u64(seed ^ 1)),
        Instant::ZERO,
    );
    Agent::new(
        AgentConfig {
            smp_servers: servers,
            sign_algorithm: SignAlgorithm::Ed25519,
            delivery: Default::default(),
        },
        StoreState::new(),
        manager,
        Box::new(ChaCha20Rng::seed_from_u64(seed)),
        Clock::default(),
    )
}

fn drain(agent: &mut Agent) -> Vec<AgentOutput> {
    let mut out = Vec::new();
    loop {
        match agent.poll_output() {
            AgentOutput::Timeout(_) => return out,
            o => out.push(o),
        }
    }
}

fn input(agent: &mut Agent, input: AgentInput<'_>) -> Vec<AgentOutput> {
    agent.handle_input(Clock::default(), input).unwrap();
    drain(agent)
}

fn new_command(mode: ConnectionMode, conn: Option<ConnectionId>) -> AgentInput<'static> {
    AgentInput::Command {
        corr_id: CorrId(b"1".to_vec()),
        conn,
        command: AgentCommand::New { mode },
    }
}

/// Sends `NEW`, checks nothing but the connection went out, and answers it as the server
/// would; returns what the agent emitted then and the sender id the server gave.
fn create(agent: &mut Agent, mode: ConnectionMode) -> (Vec<AgentOutput>, EntityId) {
    let out = input(agent, new_command(mode, None));
    assert!(
        out.iter()
            .all(|o| matches!(o, AgentOutput::Socket(SocketAction::Connect { .. }))),
        "{out:?}"
    );
    assert_eq!(out.len(), 1);
    let id = *agent.requests.keys().next().unwrap();
    let sender_id = EntityId::new(vec![2; 24]).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(99);
    let reply = Reply::Ids {
        recipient_id: EntityId::new(vec![1; 24]).unwrap(),
        sender_id: sender_id.clone(),
        server_dh_key: x25519::PrivateKey::generate(&mut rng).public_key(),
    };
    agent.on_manager_events(vec![ManagerEvent::Response {
        id,
        server: server(),
        entity_id: EntityId::empty(),
        result: Ok(reply),
    }]);
    (drain(agent), sender_id)
}

fn only_batch(out: Vec<AgentOutput>) -> RecordBatch {
    match <[AgentOutput; 1]>::try_from(out) {
        Ok([AgentOutput::Persist(batch)]) => batch,
        Ok(other) => panic!("expected one batch, got {other:?}"),
        Err(out) => panic!("expected one batch, got {out:?}"),
    }
}

#[test]
fn new_inv_answers_with_the_link_only_after_the_commit() {
    let mut agent = agent(1, vec![server()]);
    let (out, sender_id) = create(&mut agent, ConnectionMode::Invitation);
    // The connection, its queue and the X3DH keys in one batch; nothing else yet.
    let batch = only_batch(out);
    assert_eq!(batch.id, BatchId(1));
    assert!(matches!(
        batch.records.as_slice(),
        [
            Record::ConnectionCreated {
                mode: ConnectionMode::Invitation,
                agent_version: 2,
                ..
            },
            Record::RcvQueueAdded { .. },
            Record::RatchetKeysCreated { .. },
        ]
    ));
    assert_eq!(agent.manager().subscription_count(&server()), 0);

    // What the store holds after the commit is what the agent holds.
    let mut store = MemoryStore::new();
    store.commit(&batch).unwrap();
    assert_eq!(&store.load().unwrap(), agent.state());

    let out = input(&mut agent, AgentInput::Committed(batch.id));
    assert_eq!(agent.manager().subscription_count(&server()), 1);
    let [AgentOutput::Event {
        corr_id,
        conn: Some(conn),
        event: AgentEvent::Inv(ConnectionRequest::Invitation { data, e2e }),
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(corr_id, &CorrId(b"1".to_vec()));
    assert_eq!(conn.as_bytes().len(), 16);
    let stored = &agent.state().connections[conn];
    assert_eq!(
        connection::ConnectionType::of(stored),
        Some(connection::ConnectionType::Rcv)
    );
    let queue = stored.rcv_queue.as_ref().unwrap();
    assert_eq!(queue.status, connection::QueueStatus::New);
    // The link carries the stored keys' public halves and the server's sender id.
    let link_queue = data.queues.first();
    assert_eq!(link_queue.address.sender_id, sender_id);
    assert_eq!(link_queue.address.server, server());
    let e2e_private: [u8; 32] = queue.e2e_private_key.expose().try_into().unwrap();
    assert_eq!(
        link_queue.address.dh_public,
        x25519::PrivateKey::from_bytes(&e2e_private).public_key()
    );
    let keys = stored.ratchet_keys.as_ref().unwrap();
    let key2: [u8; 56] = keys.key2.expose().try_into().unwrap();
    assert_eq!(e2e.key2, x448::PrivateKey::from_bytes(&key2).public_key());
}

#[test]
fn new_con_makes_a_contact_address_without_ratchet_keys() {
    let mut agent = agent(2, vec![server()]);
    let (out, _) = create(&mut agent, ConnectionMode::Contact);
    let batch = only_batch(out);
    assert_eq!(batch.records.len(), 2);
    assert!(!batch
        .records
        .iter()
        .any(|r| matches!(r, Record::RatchetKeysCreated { .. })));
    let out = input(&mut agent, AgentInput::Committed(batch.id));
    let [AgentOutput::Event {
        conn: Some(conn),
        event: AgentEvent::Inv(ConnectionRequest::Contact { .. }),
        ..
    }] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!(
        connection::ConnectionType::of(&agent.state().connections[conn]),
        Some(connection::ConnectionType::Contact)
    );
}

#[test]
fn a_failed_commit_halts_the_connection_and_answers_an_error() {
    let mut agent = agent(3, vec![server()]);
    let (out, _) = create(&mut agent, ConnectionMode::Invitation);
    let batch = only_batch(out);
    let conn = match &batch.records[0] {
        Record::ConnectionCreated { conn, .. } => conn.clone(),
        r => panic!("{r:?}"),
    };
    let out = input(&mut agent, AgentInput::CommitFailed(batch.id));
    assert_eq!(
        out,
        vec![AgentOutput::Event {
            corr_id: CorrId(b"1".to_vec()),
            conn: Some(conn.clone()),
            event: AgentEvent::Err(CommandError::CommitFailed),
        }]
    );
    assert!(agent.is_halted(&conn));
    // The queue is never subscribed: nothing durable names it.
    assert_eq!(agent.manager().subscription_count(&server()), 0);
}

#[test]
fn a_server_error_answers_err_and_stores_nothing() {
    let mut agent = agent(4, vec![server()]);
    input(&mut agent, new_command(ConnectionMode::Invitation, None));
    let id = *agent.requests.keys().next().unwrap();
    agent.on_manager_events(vec![ManagerEvent::Response {
        id,
        server: server(),
        entity_id: EntityId::empty(),
        result: Err(RequestError::Timeout),
    }]);
    let out = drain(&mut agent);
    assert_eq!(
        out,
        vec![AgentOutput::Event {
            corr_id: CorrId(b"1".to_vec()),
            conn: None,
            event: AgentEvent::Err(CommandError::Server(RequestError::Timeout)),
        }]
    );
    assert!(agent.state().connections.is_empty());
}

#[test]
fn a_taken_connection_id_is_refused_and_no_servers_is_an_error() {
    let mut agent = agent(5, vec![server()]);
    let (out, _) = create(&mut agent, ConnectionMode::Contact);
    let batch = only_batch(out);
    let conn = match &batch.records[0] {
        Record::ConnectionCreated { conn, .. } => conn.clone(),
        r => panic!("{r:?}"),
    };
    input(&mut agent, AgentInput::Committed(batch.id));
    let out = input(
        &mut agent,
        new_command(ConnectionMode::Invitation, Some(conn.clone())),
    );
    assert!(matches!(
        out.as_slice(),
        [AgentOutput::Event {
            event: AgentEvent::Err(CommandError::Duplicate),
            ..
        }]
    ));

    let mut agent = self::agent(6, vec![]);
    let out = input(&mut agent, new_command(ConnectionMode::Invitation, None));
    assert!(matches!(
        out.as_slice(),
        [AgentOutput::Event {
            event: AgentEvent::Err(CommandError::NoServers),
            ..
        }]
    ));
}

#[test]
fn misuse_is_refused_without_changing_anything() {
    let mut agent = agent(7, vec![server()]);
    assert_eq!(
        agent.handle_input(Clock::default(), AgentInput::Committed(BatchId(1))),
        Err(AgentError::UnexpectedBatch(BatchId(1)))
    );
    agent
        .handle_input(Clock::default(), new_command(ConnectionMode::Contact, None))
        .unwrap();
    assert_eq!(
        agent.handle_input(Clock::default(), AgentInput::Timeout),
        Err(AgentError::OutputPending)
    );
    drain(&mut agent);
    let (out, _) = create_after_pending(&mut agent);
    let batch = only_batch(out);
    // Batches are confirmed in order: a later number is refused.
    assert_eq!(
        agent.handle_input(
            Clock::default(),
            AgentInput::Committed(BatchId(batch.id.0 + 1))
        ),
        Err(AgentError::UnexpectedBatch(BatchId(batch.id.0 + 1)))
    );
    assert!(agent
        .handle_input(Clock::default(), AgentInput::Committed(batch.id))
        .is_ok());
}

/// Answers the `NEW` already sent.
fn create_after_pending(agent: &mut Agent) -> (Vec<AgentOutput>, EntityId) {
    let id = *agent.requests.keys().next().unwrap();
    let sender_id = EntityId::new(vec![3; 24]).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(98);
    agent.on_manager_events(vec![ManagerEvent::Response {
        id,
        server: server(),
        entity_id: EntityId::empty(),
        result: Ok(Reply::Ids {
            recipient_id: EntityId::new(vec![4; 24]).unwrap(),
            sender_id: sender_id.clone(),
            server_dh_key: x25519::PrivateKey::generate(&mut rng).public_key(),
        }),
    }]);
    (drain(agent), sender_id)
}

#[test]
fn command_errors_read_as_the_reference_prints_them() {
    use simplex_core::encoding::string::StrEncode;
    let text = |e: CommandError| String::from_utf8(e.agent_error().to_str_bytes()).unwrap();
    assert_eq!(text(CommandError::NotFound), "CONN NOT_FOUND");
    assert_eq!(text(CommandError::Duplicate), "CONN DUPLICATE");
    assert_eq!(
        text(CommandError::Server(RequestError::Timeout)),
        "BROKER TIMEOUT"
    );
    assert_eq!(
        text(CommandError::Server(RequestError::Network)),
        "BROKER NETWORK"
    );
    assert!(text(CommandError::CommitFailed).starts_with("INTERNAL \""));
}

fn suspend(agent: &mut Agent, max_delay: core::time::Duration) -> Vec<AgentOutput> {
    input(agent, AgentInput::Suspend { max_delay })
}

fn is_suspended_event(out: &[AgentOutput]) -> bool {
    out.iter().any(|o| {
        matches!(
            o,
            AgentOutput::Event {
                event: AgentEvent::Suspended,
                ..
            }
        )
    })
}

#[test]
fn suspend_with_nothing_in_progress_is_suspended_at_once() {
    let mut agent = agent(11, vec![server()]);
    let out = suspend(&mut agent, core::time::Duration::from_secs(5));
    assert!(is_suspended_event(&out), "{out:?}");
    assert_eq!(agent.lifecycle(), AgentState::Suspended);
    // A second suspension says nothing more.
    assert!(suspend(&mut agent, core::time::Duration::ZERO).is_empty());
}

#[test]
fn suspend_waits_for_the_request_in_flight_and_the_batch_it_makes() {
    let mut agent = agent(12, vec![server()]);
    let out = input(&mut agent, new_command(ConnectionMode::Invitation, None));
    assert_eq!(out.len(), 1, "{out:?}");
    // `NEW` is in flight: suspending waits for it, however long the delay.
    let out = suspend(&mut agent, core::time::Duration::from_secs(1));
    assert!(!is_suspended_event(&out));
    assert!(matches!(agent.lifecycle(), AgentState::Suspending { .. }));
    assert!(agent.poll_timeout().is_some());
    let id = *agent.requests.keys().next().unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    agent.on_manager_events(vec![ManagerEvent::Response {
        id,
        server: server(),
        entity_id: EntityId::empty(),
        result: Ok(Reply::Ids {
            recipient_id: EntityId::new(vec![1; 24]).unwrap(),
            sender_id: EntityId::new(vec![2; 24]).unwrap(),
            server_dh_key: x25519::PrivateKey::generate(&mut rng).public_key(),
        }),
    }]);
    agent.check_suspended();
    let batch = only_batch(drain(&mut agent));
    assert!(matches!(agent.lifecycle(), AgentState::Suspending { .. }));
    // The batch is durable: its effects (the link) come out, then `SUSPENDED`.
    let out = input(&mut agent, AgentInput::Committed(batch.id));
    let events: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            AgentOutput::Event { event, .. } => Some(event.clone()),
            _ => None,
        })
        .collect();
    assert!(
        matches!(
            events.as_slice(),
            [AgentEvent::Inv(_), AgentEvent::Suspended]
        ),
        "{events:?}"
    );
    assert_eq!(agent.lifecycle(), AgentState::Suspended);
}

#[test]
fn once_suspended_commands_and_messages_wait_for_activate() {
    let mut agent = agent(13, vec![server()]);
    assert!(is_suspended_event(&suspend(
        &mut agent,
        core::time::Duration::ZERO
    )));
    // A command waits: nothing goes out.
    assert!(input(&mut agent, new_command(ConnectionMode::Invitation, None)).is_empty());
    assert!(agent.requests.is_empty());
    // A server message waits too (it names no queue of ours, so on `Activate` it is dropped
    // as an unknown queue's would be).
    agent.on_manager_events(vec![ManagerEvent::Message {
        server: server(),
        queue_id: EntityId::new(vec![9; 24]).unwrap(),
        message: Err(simplex_core::client::MessageError::Decrypt(
            simplex_core::client::DecryptError::Crypto(
                simplex_core::crypto::CryptoError::CbDecrypt,
            ),
        )),
    }]);
    assert_eq!(agent.held.messages_len(), 1);
    let out = input(&mut agent, AgentInput::Activate);
    assert_eq!(agent.lifecycle(), AgentState::Active);
    assert_eq!(agent.held.messages_len(), 0);
    // The held `NEW` runs now: the manager dials the server.
    assert!(
        out.iter()
            .any(|o| matches!(o, AgentOutput::Socket(SocketAction::Connect { .. }))),
        "{out:?}"
    );
    assert_eq!(agent.requests.len(), 1);
}

#[test]
fn servers_and_network_settings_change_for_new_connections() {
    let mut agent = agent(14, vec![server()]);
    assert_eq!(
        agent.handle_input(Clock::default(), AgentInput::SetServers(Vec::new())),
        Err(AgentError::NoServers)
    );
    let other = ServerAddress {
        hosts: NonEmpty::one(TransportHost::Domain("other.example".into())),
        ..server()
    };
    assert!(input(&mut agent, AgentInput::SetServers(vec![other.clone()])).is_empty());
    let proxy = simplex_core::client::SocksProxy {
        host: TransportHost::Ipv4([127, 0, 0, 1]),
        port: 9050,
        credentials: None,
    };
    let mut network = ManagerConfig::default();
    network.network.socks_proxy = Some(proxy.clone());
    assert!(input(&mut agent, AgentInput::SetNetwork(Box::new(network))).is_empty());
    // The next queue is made on the new server, through the proxy.
    let out = input(&mut agent, new_command(ConnectionMode::Invitation, None));
    let [AgentOutput::Socket(SocketAction::Connect {
        server: dialled,
        proxy: via,
        ..
    })] = out.as_slice()
    else {
        panic!("{out:?}")
    };
    assert_eq!((dialled, via.as_ref()), (&other, Some(&proxy)));
}
