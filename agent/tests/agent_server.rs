//! Agents against the real server machine, in memory: every byte goes through the manager's
//! TLS and the server driver, every batch through a `MemoryStore`, and an agent can crash at
//! any output boundary and restart from what its store holds.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use std::collections::BTreeMap;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::machine::connection::{ConnectionType, QueueStatus};
use simplex_agent::machine::{AgentCommand, AgentEvent, CommandError, CorrId};
use simplex_agent::protocol::{ConnectionMode, ConnectionRequest};
use simplex_agent::store::ConnectionId;
use world::{new_command, World};

#[test]
fn new_inv_creates_the_queue_on_the_server_and_answers_the_link() {
    let mut world = World::new(1);
    world.command(0, b"1", new_command(ConnectionMode::Invitation));
    world.run();
    assert_eq!(world.server.server().queue_count(), 1);
    let node = &world.nodes[0];
    let [(corr, Some(conn), AgentEvent::Inv(ConnectionRequest::Invitation { data, .. }))] =
        node.events.as_slice()
    else {
        panic!("{:?}", node.events)
    };
    assert_eq!(corr, &CorrId(b"1".to_vec()));
    // The link names the queue the server made, and the store holds what the agent holds.
    let queue = &world.server.server().queue_records()[0];
    assert_eq!(data.queues.first().address.sender_id, queue.sender_id);
    assert_eq!(node.store.state(), node.agent.state());
    let stored = &node.store.state().connections[conn];
    assert_eq!(ConnectionType::of(stored), Some(ConnectionType::Rcv));
    assert_eq!(stored.rcv_queue.as_ref().unwrap().status, QueueStatus::New);
    assert_eq!(
        stored.rcv_queue.as_ref().unwrap().rcv_id,
        queue.recipient_id
    );
    // The queue is subscribed (NEW subscribes on the server; the manager keeps it).
    assert_eq!(
        node.agent
            .manager()
            .subscription_count(&world.server_address),
        1
    );
}

#[test]
fn new_con_through_the_server_gives_a_contact_link() {
    let mut world = World::new(1);
    world.command(0, b"c", new_command(ConnectionMode::Contact));
    world.run();
    let node = &world.nodes[0];
    assert!(matches!(
        node.events.as_slice(),
        [(
            _,
            Some(_),
            AgentEvent::Inv(ConnectionRequest::Contact { .. })
        )]
    ));
    assert_eq!(node.store.state(), node.agent.state());
}

#[test]
fn a_crash_before_the_commit_shows_nothing_and_loses_only_the_uncommitted() {
    let mut world = World::new(1);
    world.auto_commit = false;
    world.command(0, b"1", new_command(ConnectionMode::Invitation));
    world.run();
    // The queue exists on the server, the batch is waiting, the user has seen nothing.
    assert_eq!(world.server.server().queue_count(), 1);
    assert_eq!(world.nodes[0].uncommitted.len(), 1);
    assert!(world.nodes[0].events.is_empty());
    world.crash_and_restart(0);
    world.auto_commit = true;
    world.run();
    // Nothing durable names the orphan queue; the restarted agent has no connection.
    assert!(world.nodes[0].agent.state().connections.is_empty());
    assert!(world.nodes[0].events.is_empty());

    // A second NEW after the restart completes and survives another crash once committed.
    world.command(0, b"2", new_command(ConnectionMode::Invitation));
    world.run();
    assert_eq!(world.nodes[0].events.len(), 1);
    let before = world.nodes[0].agent.state().clone();
    world.crash_and_restart(0);
    world.run();
    assert_eq!(world.nodes[0].agent.state(), &before);
    assert_eq!(before.connections.len(), 1);
}

#[test]
fn two_agents_each_create_invitations_on_one_server() {
    let mut world = World::new(2);
    for round in 0..3u8 {
        world.command(0, &[b'a', round], new_command(ConnectionMode::Invitation));
        world.command(1, &[b'b', round], new_command(ConnectionMode::Contact));
    }
    world.run();
    assert_eq!(world.server.server().queue_count(), 6);
    for node in &world.nodes {
        assert_eq!(node.events.len(), 3, "{:?}", node.events);
        assert_eq!(node.agent.state().connections.len(), 3);
        assert_eq!(node.store.state(), node.agent.state());
    }
}

#[test]
fn sub_after_a_restart_subscribes_the_stored_queue_again() {
    let mut world = World::new(1);
    world.command(0, b"1", new_command(ConnectionMode::Invitation));
    world.run();
    let conn = world.nodes[0].events[0].1.clone().unwrap();
    world.crash_and_restart(0);
    world.run();
    let address = world.server_address.clone();
    assert_eq!(
        world.nodes[0].agent.manager().subscription_count(&address),
        0
    );
    world.command_on(0, b"2", Some(conn.clone()), AgentCommand::Sub);
    world.run();
    assert_eq!(
        world.nodes[0].events,
        vec![(CorrId(b"2".to_vec()), Some(conn), AgentEvent::Ok)]
    );
    assert_eq!(
        world.nodes[0].agent.manager().subscription_count(&address),
        1
    );

    world.command_on(
        0,
        b"3",
        Some(ConnectionId(b"nope".to_vec())),
        AgentCommand::Sub,
    );
    world.run();
    assert!(matches!(
        world.nodes[0].events.last(),
        Some((_, _, AgentEvent::Err(CommandError::NotFound)))
    ));
}

#[test]
fn sub_of_a_connection_not_yet_durable_waits_for_its_commit() {
    let mut world = World::new(1);
    world.auto_commit = false;
    let conn = ConnectionId(b"my-own-conn-id".to_vec());
    world.command_on(
        0,
        b"1",
        Some(conn.clone()),
        new_command(ConnectionMode::Contact),
    );
    world.run();
    world.command_on(0, b"2", Some(conn.clone()), AgentCommand::Sub);
    world.run();
    // Nothing about the connection is shown before its batch is durable.
    assert!(world.nodes[0].events.is_empty());
    world.commit_all(0);
    world.run();
    let events = &world.nodes[0].events;
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(matches!(&events[0], (c, Some(id), AgentEvent::Inv(_)) if c.0 == b"1" && *id == conn));
    assert_eq!(
        events[1],
        (CorrId(b"2".to_vec()), Some(conn), AgentEvent::Ok)
    );
}

/// Crashes the agent after every number of deliveries a `NEW` takes, and checks what the
/// user saw against what the restarted agent has: a link shown names a durable connection;
/// the restarted agent holds exactly its store's state; every stored connection has its queue
/// and (an invitation) its X3DH keys.
#[test]
fn a_crash_at_any_step_of_new_never_shows_a_link_the_store_lacks() {
    let mut total = 0;
    for steps in 0.. {
        let mut world = World::new(1);
        world.command(0, b"1", new_command(ConnectionMode::Invitation));
        let settled = world.run_steps(steps);
        let seen: Vec<ConnectionId> = world.nodes[0]
            .events
            .iter()
            .filter_map(|(_, conn, e)| matches!(e, AgentEvent::Inv(_)).then(|| conn.clone())?)
            .collect();
        world.crash_and_restart(0);
        world.run();
        let node = &world.nodes[0];
        assert_eq!(
            node.agent.state(),
            node.store.state(),
            "after {steps} steps"
        );
        for conn in &seen {
            assert!(
                node.store.state().connections.contains_key(conn),
                "after {steps} steps"
            );
        }
        for c in node.store.state().connections.values() {
            assert!(
                c.rcv_queue.is_some() && c.ratchet_keys.is_some(),
                "after {steps} steps"
            );
        }
        total += 1;
        if settled {
            assert_eq!(seen.len(), 1, "the whole run shows the link");
            break;
        }
    }
    assert!(total > 5, "only {total} crash points");
}

#[test]
fn del_deletes_the_queue_on_the_server_then_the_connection() {
    let mut world = World::new(1);
    world.command(0, b"1", new_command(ConnectionMode::Invitation));
    world.run();
    let conn = world.nodes[0].events[0].1.clone().unwrap();
    assert_eq!(world.server.server().queue_count(), 1);
    world.command_on(0, b"2", Some(conn.clone()), AgentCommand::Del);
    world.run();
    let node = &world.nodes[0];
    assert_eq!(
        node.events.last(),
        Some(&(CorrId(b"2".to_vec()), Some(conn.clone()), AgentEvent::Ok))
    );
    assert_eq!(world.server.server().queue_count(), 0);
    assert!(node.store.state().connections.is_empty());
    assert_eq!(node.agent.state(), node.store.state());
    assert_eq!(
        node.agent
            .manager()
            .subscription_count(&world.server_address),
        0
    );
    world.command_on(0, b"3", Some(conn), AgentCommand::Del);
    world.run();
    assert!(matches!(
        world.nodes[0].events.last(),
        Some((_, _, AgentEvent::Err(CommandError::NotFound)))
    ));
}

#[test]
fn a_crash_between_the_servers_del_and_the_commit_keeps_the_connection_stored() {
    let mut world = World::new(1);
    world.command(0, b"1", new_command(ConnectionMode::Contact));
    world.run();
    let conn = world.nodes[0].events[0].1.clone().unwrap();
    world.auto_commit = false;
    world.command_on(0, b"2", Some(conn.clone()), AgentCommand::Del);
    world.run();
    assert_eq!(world.server.server().queue_count(), 0);
    assert!(world.nodes[0].events.len() == 1, "no OK before the commit");
    world.crash_and_restart(0);
    world.auto_commit = true;
    world.run();
    // The store still names the connection; the server no longer has its queue.
    assert!(world.nodes[0].agent.state().connections.contains_key(&conn));
    world.command_on(0, b"3", Some(conn), AgentCommand::Sub);
    world.run();
    assert!(matches!(
        world.nodes[0].events.last(),
        Some((_, _, AgentEvent::Err(CommandError::Server(_))))
    ));
}

/// Random runs of `NEW`, `SUB`, `OFF` and `DEL` with failed commits and agent crashes, against what
/// the user saw: a link shown names a stored connection until a `DEL` of it was answered `OK`,
/// after which the store no longer has it; with no failed commit since the last restart, the
/// agent holds exactly its store's state.
#[test]
fn random_commands_failures_and_crashes_keep_the_store_and_the_user_in_agreement() {
    use rand_chacha::rand_core::RngCore;
    use std::collections::BTreeSet;
    for seed in 0..48u64 {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let mut world = World::new(1);
        let mut shown: BTreeSet<ConnectionId> = BTreeSet::new();
        let mut deleted: BTreeSet<ConnectionId> = BTreeSet::new();
        // Failed commits counted when the agent last (re)started.
        let mut failed_at_start = 0;
        let mut dels: BTreeMap<Vec<u8>, ConnectionId> = BTreeMap::new();
        for step in 0..40u32 {
            let corr = format!("{seed}-{step}").into_bytes();
            let known: Vec<ConnectionId> = shown.difference(&deleted).cloned().collect();
            match rng.next_u32() % 10 {
                0..=2 => world.command(0, &corr, new_command(ConnectionMode::Invitation)),
                3 => world.command(0, &corr, new_command(ConnectionMode::Contact)),
                4 | 5 if !known.is_empty() => {
                    let conn = known[rng.next_u32() as usize % known.len()].clone();
                    world.command_on(0, &corr, Some(conn), AgentCommand::Sub);
                }
                6 if !known.is_empty() => {
                    let conn = known[rng.next_u32() as usize % known.len()].clone();
                    dels.insert(corr.clone(), conn.clone());
                    world.command_on(0, &corr, Some(conn), AgentCommand::Del);
                }
                7 => world.nodes[0].store.fail_next_commit(),
                9 if !known.is_empty() => {
                    let conn = known[rng.next_u32() as usize % known.len()].clone();
                    world.command_on(0, &corr, Some(conn), AgentCommand::Off);
                }
                8 => {
                    // Crash at a random point of the work in flight.
                    world.run_steps(rng.next_u32() as usize % 12);
                    collect(&mut world, &dels, &mut shown, &mut deleted);
                    world.crash_and_restart(0);
                    failed_at_start = world.nodes[0].failed_commits;
                }
                _ => {}
            }
            world.run();
            collect(&mut world, &dels, &mut shown, &mut deleted);
            let node = &world.nodes[0];
            let stored = &node.store.state().connections;
            for conn in shown.difference(&deleted) {
                assert!(
                    stored.contains_key(conn),
                    "seed {seed} step {step}: shown link lost"
                );
            }
            for conn in &deleted {
                assert!(
                    !stored.contains_key(conn),
                    "seed {seed} step {step}: deleted kept"
                );
            }
            if node.failed_commits == failed_at_start {
                assert_eq!(
                    node.agent.state(),
                    node.store.state(),
                    "seed {seed} step {step}"
                );
            }
        }
    }
}

/// Moves the user's events into what the oracle knows: links shown, deletions answered `OK`.
fn collect(
    world: &mut World,
    dels: &BTreeMap<Vec<u8>, ConnectionId>,
    shown: &mut std::collections::BTreeSet<ConnectionId>,
    deleted: &mut std::collections::BTreeSet<ConnectionId>,
) {
    for (corr, conn, event) in world.nodes[0].events.drain(..) {
        match (event, conn) {
            (AgentEvent::Inv(_), Some(conn)) => {
                shown.insert(conn);
            }
            (AgentEvent::Ok, Some(conn)) if dels.get(&corr.0) == Some(&conn) => {
                deleted.insert(conn);
            }
            _ => {}
        }
    }
}

#[test]
fn off_suspends_the_queue_on_the_server_and_stores_nothing() {
    let mut world = World::new(1);
    world.command(0, b"1", new_command(ConnectionMode::Invitation));
    world.run();
    let conn = world.nodes[0].events[0].1.clone().unwrap();
    let before = world.nodes[0].store.state().clone();
    world.command_on(0, b"2", Some(conn.clone()), AgentCommand::Off);
    world.run();
    assert_eq!(
        world.nodes[0].events.last(),
        Some(&(CorrId(b"2".to_vec()), Some(conn), AgentEvent::Ok))
    );
    let queue = &world.server.server().queue_records()[0];
    assert_eq!(queue.status, simplex_server::queue::QueueStatus::Off);
    assert_eq!(world.nodes[0].store.state(), &before);
    world.command_on(0, b"3", None, AgentCommand::Off);
    world.run();
    assert!(matches!(
        world.nodes[0].events.last(),
        Some((_, None, AgentEvent::Err(CommandError::NotFound)))
    ));
}

/// Agent 0 makes an invitation; the link it shows.
fn invitation_link(world: &mut World) -> ConnectionRequest {
    world.command(0, b"inv", new_command(ConnectionMode::Invitation));
    world.run();
    let Some((_, _, AgentEvent::Inv(link))) = world.nodes[0].events.pop() else {
        panic!("{:?}", world.nodes[0].events)
    };
    link
}

fn join_command(link: ConnectionRequest, info: &'static [u8]) -> AgentCommand {
    AgentCommand::Join {
        conn_req: Box::new(link),
        info: bytes::Bytes::from_static(info),
    }
}

#[test]
fn join_stores_both_queues_then_sends_the_confirmation_and_answers_ok() {
    let mut world = World::new(2);
    let link = invitation_link(&mut world);
    world.command(1, b"j", join_command(link.clone(), b"bob's profile"));
    world.run();
    let node = &world.nodes[1];
    let [(corr, Some(conn), AgentEvent::Ok)] = node.events.as_slice() else {
        panic!("{:?}", node.events)
    };
    assert_eq!(corr, &CorrId(b"j".to_vec()));
    assert_eq!(node.store.state(), node.agent.state());
    let stored = &node.store.state().connections[conn];
    assert_eq!(ConnectionType::of(stored), Some(ConnectionType::Duplex));
    assert_eq!(stored.duplex_handshake, Some(true));
    assert_eq!(stored.agent_version, 2);
    let snd = stored.snd_queue.as_ref().unwrap();
    let rcv = stored.rcv_queue.as_ref().unwrap();
    assert_eq!(snd.status, QueueStatus::Confirmed);
    assert_eq!(rcv.status, QueueStatus::New);
    assert_eq!(snd.snd_id, link.data().queues.first().address.sender_id);
    assert!(stored.ratchet.is_some(), "the ratchet step is stored");
    assert_eq!(stored.counters.last_internal_snd_msg_id, 1);
    assert!(stored.counters.last_snd_msg_hash.is_empty());
    // The reply queue exists on the server and is subscribed; the confirmation reached the
    // inviter's queue (the inviter does not take it in yet), which is still unsecured.
    let server = world.server.server();
    assert_eq!(server.queue_count(), 2);
    let reply = server
        .queue_records()
        .into_iter()
        .find(|q| q.recipient_id == rcv.rcv_id)
        .unwrap();
    assert_eq!(reply.sender_id, rcv.snd_id);
    let inviter = server
        .queue_records()
        .into_iter()
        .find(|q| q.sender_id == snd.snd_id)
        .unwrap();
    assert!(inviter.sender_key.is_none());
    assert_eq!(
        node.agent
            .manager()
            .subscription_count(&world.server_address),
        1
    );
}

#[test]
fn join_refuses_a_link_without_a_common_agent_version() {
    let mut world = World::new(2);
    let mut link = invitation_link(&mut world);
    let ConnectionRequest::Invitation { data, .. } = &mut link else {
        panic!()
    };
    data.agent_versions = simplex_core::encoding::VersionRange::new(3, 4).unwrap();
    world.command(1, b"j", join_command(link, b"info"));
    world.run();
    let node = &world.nodes[1];
    let [(_, None, AgentEvent::Err(e))] = node.events.as_slice() else {
        panic!("{:?}", node.events)
    };
    assert_eq!(e.agent_error().to_string(), "AGENT A_VERSION");
    assert!(node.store.state().connections.is_empty());
    assert_eq!(
        world.server.server().queue_count(),
        1,
        "no reply queue made"
    );
}

#[test]
fn the_inviter_stores_the_confirmation_then_shows_conf_and_acks_it() {
    let mut world = World::new(2);
    let link = invitation_link(&mut world);
    world.command(1, b"j", join_command(link, b"bob's profile"));
    world.run();
    let node = &world.nodes[0];
    let [(corr, Some(conn), AgentEvent::Conf { id, servers, info })] = node.events.as_slice()
    else {
        panic!("{:?}", node.events)
    };
    assert_eq!(corr, &CorrId::default());
    assert_eq!(&info[..], b"bob's profile");
    assert_eq!(servers, &vec![world.server_address.clone()]);
    assert_eq!(node.store.state(), node.agent.state());
    let stored = &node.store.state().confirmations[id];
    assert_eq!(&stored.conn, conn);
    assert_eq!(&stored.conn_info[..], b"bob's profile");
    assert!(stored.own_conn_info.is_none());
    assert!(!stored.reply_queues.is_empty());
    // The key the inviter will secure its queue with is the joiner's send key.
    let joiner = &world.nodes[1].store.state();
    let (_, joined) = joiner.connections.iter().next().unwrap();
    let snd_key = simplex_core::crypto::keys::SignKey::from_der(
        joined.snd_queue.as_ref().unwrap().snd_private_key.expose(),
    )
    .unwrap();
    assert_eq!(
        stored.sender_key.as_deref(),
        Some(snd_key.verify_key().to_der().as_slice())
    );
    // The queue stays new until `LET`; the server's copy was acknowledged after the commit.
    let queue = node.store.state().connections[conn]
        .rcv_queue
        .as_ref()
        .unwrap();
    assert_eq!(queue.status, QueueStatus::New);
    assert_eq!(world.server.server().message_count(), 0);
}

#[test]
fn a_crash_before_the_confirmation_is_stored_leaves_it_on_the_server() {
    let mut world = World::new(2);
    let link = invitation_link(&mut world);
    world.auto_commit = false;
    world.command(1, b"j", join_command(link, b"bob's profile"));
    // Commit only the joiner's batches until the inviter holds an uncommitted one.
    for _ in 0..10_000 {
        world.commit_all(1);
        if !world.nodes[0].uncommitted.is_empty() {
            break;
        }
        world.run_steps(1);
    }
    assert_eq!(world.nodes[0].uncommitted.len(), 1);
    assert!(
        world.nodes[0].events.is_empty(),
        "no CONF before the commit"
    );
    world.crash_and_restart(0);
    world.auto_commit = true;
    world.run();
    assert!(world.nodes[0].store.state().confirmations.is_empty());
    assert!(world.nodes[0].events.is_empty());
    assert_eq!(world.server.server().message_count(), 1, "not acknowledged");
}

/// Agent 0 invites, agent 1 joins, agent 0 accepts: the whole v2 handshake, with `corr`
/// tags `inv`, `j` and `let`. Gives both connection ids.
fn handshake(world: &mut World) -> (ConnectionId, ConnectionId) {
    let link = invitation_link(world);
    world.command(1, b"j", join_command(link, b"bob's profile"));
    world.run();
    let Some((_, Some(alice_conn), AgentEvent::Conf { id, .. })) =
        world.nodes[0].events.last().cloned()
    else {
        panic!("{:?}", world.nodes[0].events)
    };
    world.command_on(
        0,
        b"let",
        Some(alice_conn.clone()),
        AgentCommand::Let {
            conf_id: id,
            info: bytes::Bytes::from_static(b"alice's profile"),
        },
    );
    world.run();
    let bob_conn = world.nodes[1]
        .store
        .state()
        .connections
        .keys()
        .next()
        .unwrap()
        .clone();
    (alice_conn, bob_conn)
}

#[test]
fn two_agents_complete_the_duplex_handshake_through_the_server() {
    let mut world = World::new(2);
    let (alice_conn, bob_conn) = handshake(&mut world);
    let events = |i: usize| -> Vec<(Vec<u8>, AgentEvent)> {
        world.nodes[i]
            .events
            .iter()
            .map(|(c, _, e)| (c.0.clone(), e.clone()))
            .collect()
    };
    let alice = events(0);
    assert!(
        matches!(alice[0], (_, AgentEvent::Conf { .. })),
        "{alice:?}"
    );
    assert_eq!(
        alice[1..],
        [(b"let".to_vec(), AgentEvent::Ok), (vec![], AgentEvent::Con)]
    );
    let bob = events(1);
    assert_eq!(
        bob,
        [
            (b"j".to_vec(), AgentEvent::Ok),
            (
                vec![],
                AgentEvent::Info(bytes::Bytes::from_static(b"alice's profile"))
            ),
            (vec![], AgentEvent::Con),
        ]
    );
    for (i, conn) in [(0, &alice_conn), (1, &bob_conn)] {
        let node = &world.nodes[i];
        assert_eq!(node.store.state(), node.agent.state(), "agent {i}");
        let stored = &node.store.state().connections[conn];
        assert_eq!(ConnectionType::of(stored), Some(ConnectionType::Duplex));
        assert_eq!(
            stored.rcv_queue.as_ref().unwrap().status,
            QueueStatus::Active
        );
        assert_eq!(
            stored.snd_queue.as_ref().unwrap().status,
            QueueStatus::Active
        );
        assert!(stored.ratchet_keys.is_none());
        assert!(node.store.state().confirmations.is_empty());
        // Each sent its confirmation (id 1) and HELLO (id 2) and received the other's HELLO.
        assert_eq!(stored.counters.last_internal_snd_msg_id, 2, "agent {i}");
        assert_eq!(stored.counters.last_external_snd_msg_id, 2, "agent {i}");
    }
    // Both queues are secured with the other side's key, and every message was acknowledged.
    let server = world.server.server();
    assert_eq!(server.queue_count(), 2);
    assert!(server
        .queue_records()
        .iter()
        .all(|q| q.sender_key.is_some()));
    assert_eq!(server.message_count(), 0);
}

#[test]
fn let_of_an_unknown_confirmation_is_prohibited() {
    let mut world = World::new(2);
    world.command(0, b"inv", new_command(ConnectionMode::Invitation));
    world.run();
    let Some((_, Some(conn), _)) = world.nodes[0].events.pop() else {
        panic!()
    };
    let before = world.nodes[0].store.state().clone();
    world.command_on(
        0,
        b"let",
        Some(conn),
        AgentCommand::Let {
            conf_id: simplex_agent::store::ConfirmationId::generate(
                &mut ChaCha20Rng::seed_from_u64(9),
            ),
            info: bytes::Bytes::from_static(b"x"),
        },
    );
    world.run();
    let [(_, _, AgentEvent::Err(e))] = world.nodes[0].events.as_slice() else {
        panic!("{:?}", world.nodes[0].events)
    };
    assert_eq!(e.agent_error().to_string(), "CMD PROHIBITED");
    assert_eq!(world.nodes[0].store.state(), &before);
}

/// What agent `i` has shown, checked against its store after a crash and a restart: every
/// event names a connection the store holds, and what each event claims is durable.
fn check_shown_is_durable(
    world: &World,
    i: usize,
    shown: &[(CorrId, Option<ConnectionId>, AgentEvent)],
    at: &str,
) {
    let state = world.nodes[i].store.state();
    for (corr, conn, event) in shown {
        let Some(conn) = conn else { continue };
        let Some(stored) = state.connections.get(conn) else {
            panic!("{at}: agent {i} showed {event:?} for a connection its store lacks")
        };
        let rcv = stored.rcv_queue.as_ref().map(|q| q.status);
        let snd = stored.snd_queue.as_ref().map(|q| q.status);
        match event {
            AgentEvent::Conf { id, .. } => assert!(
                state.confirmations.contains_key(id) || snd.is_some(),
                "{at}: CONF of a confirmation not stored"
            ),
            AgentEvent::Info(_) => assert!(
                stored.rcv_queue.as_ref().unwrap().e2e_dh_secret.is_some(),
                "{at}: INFO before the reply confirmation is stored"
            ),
            AgentEvent::Con => assert_eq!(
                (rcv, snd),
                (Some(QueueStatus::Active), Some(QueueStatus::Active)),
                "{at}: CON before both queues are active"
            ),
            // JOIN: both queues and the confirmed send queue; LET: the reply's send queue.
            AgentEvent::Ok if corr.0 == b"j" => {
                assert!(
                    rcv.is_some(),
                    "{at}: JOIN OK before the reply queue is stored"
                );
                assert_ne!(
                    snd,
                    Some(QueueStatus::New),
                    "{at}: JOIN OK before Confirmed"
                );
            }
            AgentEvent::Ok if corr.0 == b"let" => {
                assert!(
                    snd.is_some(),
                    "{at}: LET OK before the send queue is stored"
                );
                assert_ne!(rcv, Some(QueueStatus::New), "{at}: LET OK before KEY");
            }
            _ => {}
        }
    }
}

/// Crashes the joiner or the inviter after every number of deliveries of the handshake's
/// `JOIN` phase and, separately, of its `LET` phase; the restarted agent subscribes its
/// connections again (`SUB`, as the reference's user does) and the world runs to rest. What
/// was shown before the crash is always durable, and each agent ends holding its store's state.
#[test]
fn a_crash_at_any_step_of_the_handshake_never_shows_what_the_store_lacks() {
    let mut points = 0;
    let mut completed_after_crash = 0;
    for let_phase in [false, true] {
        for crashed in [0, 1] {
            for steps in 0.. {
                let mut world = World::new(2);
                let link = invitation_link(&mut world);
                world.command(1, b"j", join_command(link, b"bob's profile"));
                if let_phase {
                    world.run();
                    let Some((_, Some(conn), AgentEvent::Conf { id, .. })) =
                        world.nodes[0].events.last().cloned()
                    else {
                        panic!("no CONF")
                    };
                    world.command_on(
                        0,
                        b"let",
                        Some(conn),
                        AgentCommand::Let {
                            conf_id: id,
                            info: bytes::Bytes::from_static(b"alice's profile"),
                        },
                    );
                }
                let settled = world.run_steps(steps);
                let at = format!("let phase {let_phase}, agent {crashed}, {steps} steps");
                let shown = world.nodes[crashed].events.clone();
                world.crash_and_restart(crashed);
                check_shown_is_durable(&world, crashed, &shown, &at);
                let conns: Vec<ConnectionId> = world.nodes[crashed]
                    .store
                    .state()
                    .connections
                    .keys()
                    .cloned()
                    .collect();
                for conn in conns {
                    world.command_on(crashed, b"sub", Some(conn), AgentCommand::Sub);
                }
                world.run();
                for i in 0..2 {
                    let node = &world.nodes[i];
                    assert_eq!(node.agent.state(), node.store.state(), "{at}: agent {i}");
                    let shown = node.events.clone();
                    check_shown_is_durable(&world, i, &shown, &at);
                }
                let connected = |i: usize| {
                    world.nodes[i].store.state().connections.values().any(|c| {
                        c.rcv_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
                            && c.snd_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
                    })
                };
                if let_phase && connected(0) && connected(1) {
                    completed_after_crash += 1;
                }
                points += 1;
                if settled {
                    break;
                }
            }
        }
    }
    assert!(points > 40, "only {points} crash points");
    assert!(completed_after_crash > 0, "no run completed the handshake");
}
