//! `SEND` and the delivery of stored messages, end to end through the real server machine in
//! memory, with simulated time: `MID` then `SENT`, retries while the server is unreachable,
//! `QUOTA` waiting on one queue only, expiry after `messageTimeout`, and crashes of the
//! sender at every step of sending.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use std::time::Duration;

use bytes::Bytes;
use simplex_agent::machine::{AgentCommand, AgentEvent, CommandError};
use simplex_agent::store::ConnectionId;
use simplex_core::client::RequestError;
use simplex_core::protocol::MsgFlags;
use simplex_server::ServerConfig;
use world::World;

fn send(body: &'static [u8]) -> AgentCommand {
    AgentCommand::Send {
        flags: MsgFlags { notification: true },
        body: Bytes::from_static(body),
    }
}

/// The `MID`, `SENT` and `MERR` events agent `i` showed about `conn`.
fn message_events(world: &World, i: usize, conn: &ConnectionId) -> Vec<AgentEvent> {
    world.nodes[i]
        .events
        .iter()
        .filter(|(_, c, e)| {
            c.as_ref() == Some(conn)
                && matches!(
                    e,
                    AgentEvent::Mid(_) | AgentEvent::Sent(_) | AgentEvent::Merr(..)
                )
        })
        .map(|(_, _, e)| e.clone())
        .collect()
}

const SECOND: Duration = Duration::from_secs(1);

#[test]
fn send_answers_mid_then_sent_once_the_server_has_it() {
    let mut world = World::new(2);
    let (alice, _bob) = world.connect(0, 1);
    let on_server = world.server.server().message_count();
    for body in [&b"one"[..], b"two", b"three"] {
        world.command_on(0, b"s", Some(alice.clone()), send(body));
    }
    world.run();
    // The handshake took ids 1-3 (confirmation, HELLO): the first user message is 4 (as the
    // reference's, REFERENCE-NOTES 31).
    assert_eq!(
        message_events(&world, 0, &alice),
        [
            AgentEvent::Mid(4),
            AgentEvent::Mid(5),
            AgentEvent::Mid(6),
            AgentEvent::Sent(4),
            AgentEvent::Sent(5),
            AgentEvent::Sent(6)
        ]
    );
    assert_eq!(world.server.server().message_count(), on_server + 3);
    // Delivered messages are forgotten; the store holds what the agent holds.
    let node = &world.nodes[0];
    assert!(node.store.state().connections[&alice]
        .snd_messages
        .is_empty());
    assert_eq!(node.store.state(), node.agent.state());
}

#[test]
fn send_is_refused_as_the_reference_refuses_it() {
    let mut world = World::new(1);
    world.command(
        0,
        b"n",
        AgentCommand::New {
            mode: simplex_agent::protocol::ConnectionMode::Invitation,
        },
    );
    world.run();
    let conn = world.nodes[0].events[0].1.clone().unwrap();
    // A receive-only connection has nowhere to send: `CONN SIMPLEX`.
    world.command_on(0, b"s", Some(conn), send(b"hi"));
    world.command_on(0, b"t", Some(ConnectionId(b"nope".to_vec())), send(b"hi"));
    world.run();
    let errors: Vec<_> = world.nodes[0].events[1..]
        .iter()
        .map(|(_, _, e)| e.clone())
        .collect();
    assert_eq!(
        errors,
        [
            AgentEvent::Err(CommandError::Simplex),
            AgentEvent::Err(CommandError::NotFound)
        ]
    );
}

#[test]
fn a_body_too_large_is_cmd_large_and_takes_no_id() {
    let mut world = World::new(2);
    let (alice, _) = world.connect(0, 1);
    let large = Bytes::from(vec![b'x'; 15_812]);
    let largest = Bytes::from(vec![b'x'; 15_811]);
    for body in [large, largest] {
        world.command_on(
            0,
            b"s",
            Some(alice.clone()),
            AgentCommand::Send {
                flags: MsgFlags::default(),
                body,
            },
        );
    }
    world.run();
    let events: Vec<_> = world.nodes[0]
        .events
        .iter()
        .filter(|(c, _, _)| c.0 == b"s")
        .map(|(_, _, e)| e.clone())
        .collect();
    assert_eq!(
        events,
        [AgentEvent::Err(CommandError::Large), AgentEvent::Mid(4)]
    );
}

#[test]
fn messages_sent_while_the_server_is_unreachable_go_out_in_order_when_it_returns() {
    let mut world = World::new(2);
    let (alice, _) = world.connect(0, 1);
    world.set_down(true);
    for body in [&b"one"[..], b"two"] {
        world.command_on(0, b"s", Some(alice.clone()), send(body));
    }
    world.run();
    let stored = world.nodes[0].store.state().connections[&alice].clone();
    // Retried every second for a minute: nothing goes through, nothing is given up, and no
    // attempt takes a ratchet step or changes the stored envelope.
    world.advance(Duration::from_secs(60), SECOND);
    assert_eq!(world.nodes[0].store.state().connections[&alice], stored);
    assert_eq!(
        message_events(&world, 0, &alice),
        [AgentEvent::Mid(4), AgentEvent::Mid(5)]
    );
    assert_eq!(
        world.nodes[0].agent.state().connections[&alice]
            .snd_messages
            .len(),
        2
    );
    world.set_down(false);
    // The waits have grown past 1 s by now; the manager reconnects on its own schedule.
    world.advance(Duration::from_secs(240), SECOND);
    assert_eq!(
        message_events(&world, 0, &alice),
        [
            AgentEvent::Mid(4),
            AgentEvent::Mid(5),
            AgentEvent::Sent(4),
            AgentEvent::Sent(5)
        ]
    );
}

#[test]
fn a_message_that_outlives_message_timeout_is_merr_with_the_last_error() {
    let mut world = World::new(2);
    let (alice, _) = world.connect(0, 1);
    world.set_down(true);
    world.command_on(0, b"s", Some(alice.clone()), send(b"late"));
    world.run();
    world.advance(Duration::from_secs(5), SECOND);
    assert_eq!(message_events(&world, 0, &alice), [AgentEvent::Mid(4)]);
    // The wall clock jumps past the two days of `messageTimeout`: the next failed attempt
    // gives the message up with the error it failed with (`MERR 4 BROKER NETWORK`).
    world.jump(SECOND, Duration::from_secs(2 * 86_400 + 1));
    world.advance(Duration::from_secs(120), SECOND);
    assert_eq!(
        message_events(&world, 0, &alice),
        [
            AgentEvent::Mid(4),
            AgentEvent::Merr(4, CommandError::Server(RequestError::Network))
        ]
    );
    assert!(world.nodes[0].agent.state().connections[&alice]
        .snd_messages
        .is_empty());
    // The next message is delivered once the server is back.
    world.set_down(false);
    world.command_on(0, b"s", Some(alice.clone()), send(b"next"));
    world.advance(Duration::from_secs(240), SECOND);
    assert_eq!(
        message_events(&world, 0, &alice)[2..],
        [AgentEvent::Mid(5), AgentEvent::Sent(5)]
    );
}

#[test]
fn a_full_queue_waits_without_blocking_another_queue() {
    let config = ServerConfig {
        msg_queue_quota: 2,
        ..ServerConfig::default()
    };
    let mut world = World::with_server(3, config);
    let (to_bob, _) = world.connect(0, 1);
    let (to_carol, _) = world.connect(0, 2);
    // Bob's agent does not acknowledge user messages yet: his queue fills up at 2.
    for body in [&b"1"[..], b"2", b"3", b"4"] {
        world.command_on(0, b"s", Some(to_bob.clone()), send(body));
    }
    world.run();
    world.command_on(0, b"c", Some(to_carol.clone()), send(b"to carol"));
    world.advance(Duration::from_secs(120), SECOND);
    let bob_events = message_events(&world, 0, &to_bob);
    let sent: Vec<_> = bob_events
        .iter()
        .filter(|e| matches!(e, AgentEvent::Sent(_)))
        .collect();
    // Two fit and are sent in order; the rest wait (QUOTA is retried, never an error).
    assert_eq!(
        sent,
        [&AgentEvent::Sent(4), &AgentEvent::Sent(5)],
        "{bob_events:?}"
    );
    assert!(!bob_events.iter().any(|e| matches!(e, AgentEvent::Merr(..))));
    assert_eq!(
        world.nodes[0].agent.state().connections[&to_bob]
            .snd_messages
            .len(),
        4 - sent.len()
    );
    assert_eq!(
        message_events(&world, 0, &to_carol),
        [AgentEvent::Mid(4), AgentEvent::Sent(4)]
    );
}

/// Crashes the sender after every number of deliveries that sending three messages takes,
/// restarts it from its store and `SUB`s the connection: every message that got `MID` is
/// stored, and every stored message reaches the server; at most the one message whose `OK`
/// was lost with the crash reaches it twice (the recipient's ratchet refuses the copy as
/// `A_DUPLICATE`). Nothing stays pending.
#[test]
fn a_crash_at_any_step_of_sending_loses_no_message_that_got_mid() {
    let mut points = 0;
    for steps in 0.. {
        let mut world = World::new(2);
        let (alice, _) = world.connect(0, 1);
        let on_server = world.server.server().message_count();
        let ids_before = world.nodes[0].store.state().connections[&alice]
            .counters
            .last_internal_snd_msg_id;
        for body in [&b"one"[..], b"two", b"three"] {
            world.command_on(0, b"s", Some(alice.clone()), send(body));
        }
        let settled = world.run_steps(steps);
        let mids: Vec<u64> = world.nodes[0]
            .events
            .iter()
            .filter_map(|(_, _, e)| match e {
                AgentEvent::Mid(id) => Some(*id),
                _ => None,
            })
            .collect();
        world.crash_and_restart(0);
        world.run();
        world.command_on(0, b"sub", Some(alice.clone()), AgentCommand::Sub);
        world.advance(Duration::from_secs(30), SECOND);
        let node = &world.nodes[0];
        assert_eq!(
            node.store.state(),
            node.agent.state(),
            "after {steps} steps"
        );
        let stored = &node.store.state().connections[&alice];
        assert!(stored.snd_messages.is_empty(), "after {steps} steps");
        let durable = stored.counters.last_internal_snd_msg_id - ids_before;
        assert!(durable >= mids.len() as u64, "after {steps} steps");
        let arrived = (world.server.server().message_count() - on_server) as u64;
        assert!(
            arrived == durable || arrived == durable + 1,
            "after {steps} steps: {arrived} arrived, {durable} stored"
        );
        points += 1;
        if settled {
            assert_eq!(mids.len(), 3);
            break;
        }
    }
    assert!(points > 10, "only {points} crash points");
}

/// Runs a handshake up to the first moment the joiner (agent 1) has its `HELLO` stored and
/// not yet answered; the world there, the HELLO's id and both connections.
fn until_hello_pending() -> (World, u64, ConnectionId, ConnectionId) {
    for steps in 0..400 {
        let mut world = World::new(2);
        world.command(
            0,
            b"inv",
            AgentCommand::New {
                mode: simplex_agent::protocol::ConnectionMode::Invitation,
            },
        );
        world.run();
        let Some((_, _, AgentEvent::Inv(link))) = world.nodes[0].events.pop() else {
            panic!()
        };
        world.command(
            1,
            b"j",
            AgentCommand::Join {
                conn_req: Box::new(link),
                info: Bytes::from_static(b"joiner"),
            },
        );
        world.run();
        let Some((_, Some(alice), AgentEvent::Conf { id, .. })) =
            world.nodes[0].events.last().cloned()
        else {
            panic!()
        };
        world.command_on(
            0,
            b"let",
            Some(alice.clone()),
            AgentCommand::Let {
                conf_id: id,
                info: Bytes::from_static(b"inviter"),
            },
        );
        if world.run_steps(steps) {
            break;
        }
        let bob = world.nodes[1]
            .store
            .state()
            .connections
            .keys()
            .next()
            .unwrap()
            .clone();
        let hello = world.nodes[1].store.state().connections[&bob]
            .snd_messages
            .values()
            .find(|m| m.msg.msg_type == b'H')
            .map(|m| m.msg.internal_id);
        if let Some(hello) = hello {
            return (world, hello, alice, bob);
        }
    }
    panic!("no step left HELLO stored and unsent");
}

/// The joiner crashes after its `HELLO` is stored but before it is sent: after the restart,
/// `SUB` delivers it from the store and both sides reach `CON` (before, v2's HELLO was lost).
#[test]
fn a_hello_stored_before_a_crash_is_delivered_after_sub() {
    let (mut world, _, alice, bob) = until_hello_pending();
    world.crash_and_restart(1);
    world.run();
    world.command_on(1, b"sub", Some(bob.clone()), AgentCommand::Sub);
    world.advance(Duration::from_secs(10), SECOND);
    for (i, conn) in [(0, &alice), (1, &bob)] {
        let c = &world.nodes[i].store.state().connections[conn];
        assert!(c.snd_messages.is_empty());
        assert_eq!(
            c.snd_queue.as_ref().unwrap().status,
            simplex_agent::machine::connection::QueueStatus::Active
        );
    }
    assert!(
        world.nodes[1]
            .events
            .iter()
            .any(|(_, _, e)| *e == AgentEvent::Con),
        "{:?}",
        world.nodes[1].events
    );
}

/// A `HELLO` that cannot reach the server is retried until `helloTimeout`, then given up
/// with the error it failed with (`MERR n BROKER NETWORK`); the connection never shows `CON`.
#[test]
fn a_hello_past_hello_timeout_is_merr() {
    let (mut world, hello, _, bob) = until_hello_pending();
    world.set_down(true);
    world.advance(Duration::from_secs(30), SECOND);
    assert!(world.nodes[1].store.state().connections[&bob]
        .snd_messages
        .contains_key(&hello));
    world.jump(SECOND, Duration::from_secs(2 * 86_400 + 1));
    world.advance(Duration::from_secs(120), SECOND);
    assert!(
        world.nodes[1].events.contains(&(
            simplex_agent::machine::CorrId::default(),
            Some(bob.clone()),
            AgentEvent::Merr(hello, CommandError::Server(RequestError::Network))
        )),
        "{:?}",
        world.nodes[1].events
    );
    assert!(world.nodes[1].store.state().connections[&bob]
        .snd_messages
        .is_empty());
    assert!(!world.nodes[1]
        .events
        .iter()
        .any(|(_, _, e)| *e == AgentEvent::Con));
}

/// `MID` and the `SEND` to the server both wait for the commit of the message's batch; a
/// failed commit answers `SEND` with an error and sends nothing.
#[test]
fn nothing_of_a_message_shows_before_its_batch_is_durable() {
    let mut world = World::new(2);
    let (alice, _) = world.connect(0, 1);
    let on_server = world.server.server().message_count();
    world.auto_commit = false;
    world.command_on(0, b"s", Some(alice.clone()), send(b"wait"));
    world.run_steps(10_000);
    assert!(message_events(&world, 0, &alice).is_empty());
    assert_eq!(world.server.server().message_count(), on_server);
    world.commit_all(0);
    world.auto_commit = true;
    world.run();
    assert_eq!(
        message_events(&world, 0, &alice),
        [AgentEvent::Mid(4), AgentEvent::Sent(4)]
    );
    assert_eq!(world.server.server().message_count(), on_server + 1);
}
