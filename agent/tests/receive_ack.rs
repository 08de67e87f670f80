//! Receiving user messages and acknowledging them, end to end through the server machine:
//! `MSG` with its meta after the commit, `ACK` gating the next message, the reference's
//! `ACK` errors, and redeliveries after a crash at every output boundary of the receiver.
//! The sending side is built with the pipeline from a copy of the peer's stored state
//! (`world::RawSender`), so these tests depend only on the receiving side.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use simplex_agent::machine::{AgentCommand, AgentEvent, CorrId};
use simplex_agent::meta::{MsgErrorType, MsgIntegrity, MsgMeta};
use simplex_agent::protocol::ConnectionMode;
use simplex_agent::store::ConnectionId;
use world::{handshake, make_link, RawSender, World};

/// Alice (agent 0) invited Bob (agent 1); both connected. Gives a sender of Bob's next
/// messages to Alice and of Alice's to Bob, from their stores as the handshake left them.
fn connected() -> (World, ConnectionId, ConnectionId, RawSender, RawSender) {
    let mut world = World::new(2);
    let (alice, bob) = handshake(&mut world, 0, 1);
    let from_bob = RawSender::of(&world.nodes[1].store.state().connections[&bob], 71);
    let from_alice = RawSender::of(&world.nodes[0].store.state().connections[&alice], 72);
    for node in &mut world.nodes {
        node.events.clear();
    }
    (world, alice, bob, from_bob, from_alice)
}

/// The `MSG`s agent `i` showed: meta and body.
fn shown(world: &World, i: usize) -> Vec<(MsgMeta, Bytes)> {
    world.nodes[i]
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            AgentEvent::Msg { meta, body, .. } => Some(((**meta).clone(), body.clone())),
            _ => None,
        })
        .collect()
}

fn ack(world: &mut World, i: usize, conn: &ConnectionId, corr: &[u8], msg_id: i64) {
    world.command_on(i, corr, Some(conn.clone()), AgentCommand::Ack { msg_id });
    world.run();
}

fn answer(world: &World, i: usize, corr: &[u8]) -> AgentEvent {
    world.nodes[i]
        .events
        .iter()
        .rev()
        .find(|(c, _, _)| c.0 == corr)
        .map(|(_, _, e)| e.clone())
        .unwrap_or_else(|| panic!("no answer to {corr:?}"))
}

#[test]
fn messages_arrive_both_ways_with_integrity_ok_and_their_meta() {
    let (mut world, alice, bob, mut from_bob, mut from_alice) = connected();
    world.raw_request(from_bob.message(b"hello alice"));
    world.raw_request(from_alice.message(b"hello bob"));
    world.run();
    assert!(world.client.answers.iter().all(|a| a.is_ok()));
    for (i, conn, body) in [(0, &alice, "hello alice"), (1, &bob, "hello bob")] {
        let msgs = shown(&world, i);
        let [(meta, got)] = msgs.as_slice() else {
            panic!("agent {i}: {msgs:?}")
        };
        assert_eq!(&got[..], body.as_bytes());
        // The first user message: internal id 4 on both sides, the sender's id 3 (the
        // handshake took the ids before), as the reference numbers them.
        assert_eq!(meta.integrity, MsgIntegrity::Ok);
        assert_eq!((meta.rcv_id, meta.snd_id), (4, 3));
        assert_eq!(meta.rcv_time.seconds, world.clock.wall_clock.seconds);
        assert_eq!(meta.broker_time.seconds, world.clock.wall_clock.seconds);
        assert_eq!(meta.broker_id.len(), 24);
        let (_, event_conn, event) = world.nodes[i].events.last().unwrap();
        assert_eq!(event_conn.as_ref(), Some(conn));
        let AgentEvent::Msg { flags, .. } = event else {
            panic!()
        };
        assert!(flags.notification);
        // Stored before it was shown, not yet acknowledged by the user or to the server.
        let node = &world.nodes[i];
        assert_eq!(node.agent.state(), node.store.state());
        let stored = &node.store.state().connections[conn];
        let row = &stored.rcv_messages[&4];
        assert!(!row.user_acked);
        assert_eq!(row.msg.broker_id.as_bytes(), meta.broker_id.as_slice());
        assert_eq!(row.msg.external_snd_id, 3);
        assert_eq!(stored.counters.last_external_snd_msg_id, 3);
        assert_eq!(stored.last_rcv_broker_id, Some(row.msg.broker_id.clone()));
    }
    assert_eq!(world.server.server().message_count(), 2);
    // ACK: the server's copy goes, then the row, then OK.
    ack(&mut world, 0, &alice, b"a", 4);
    ack(&mut world, 1, &bob, b"b", 4);
    assert_eq!(answer(&world, 0, b"a"), AgentEvent::Ok);
    assert_eq!(answer(&world, 1, b"b"), AgentEvent::Ok);
    assert_eq!(world.server.server().message_count(), 0);
    for (i, conn) in [(0, &alice), (1, &bob)] {
        let node = &world.nodes[i];
        assert!(node.store.state().connections[conn].rcv_messages.is_empty());
        assert_eq!(node.agent.state(), node.store.state());
    }
}

#[test]
fn the_next_message_comes_only_after_the_ack_of_the_previous() {
    let (mut world, alice, _, mut from_bob, _) = connected();
    for body in [&b"one"[..], b"two", b"three"] {
        world.raw_request(from_bob.message(body));
    }
    world.run();
    let bodies = |world: &World| -> Vec<Bytes> {
        shown(world, 0)
            .into_iter()
            .map(|(_, b)| b)
            .collect::<Vec<_>>()
    };
    assert_eq!(bodies(&world), vec![Bytes::from_static(b"one")]);
    assert_eq!(world.server.server().message_count(), 3);
    ack(&mut world, 0, &alice, b"1", 4);
    assert_eq!(bodies(&world)[1..], [Bytes::from_static(b"two")]);
    ack(&mut world, 0, &alice, b"2", 5);
    assert_eq!(bodies(&world)[2..], [Bytes::from_static(b"three")]);
    ack(&mut world, 0, &alice, b"3", 6);
    let ids: Vec<(i64, i64)> = shown(&world, 0)
        .iter()
        .map(|(m, _)| (m.rcv_id, m.snd_id))
        .collect();
    assert_eq!(ids, [(4, 3), (5, 4), (6, 5)]);
    assert!(shown(&world, 0)
        .iter()
        .all(|(m, _)| m.integrity == MsgIntegrity::Ok));
    assert_eq!(world.server.server().message_count(), 0);
}

#[test]
fn ack_errors_are_the_references() {
    let (mut world, alice, _, mut from_bob, _) = connected();
    world.raw_request(from_bob.message(b"one"));
    world.run();
    let error = |world: &World, corr: &[u8]| match answer(world, 0, corr) {
        AgentEvent::Err(e) => e.agent_error().to_string(),
        other => panic!("{other:?}"),
    };
    // An id that was never shown.
    ack(&mut world, 0, &alice, b"unknown", 9);
    assert_eq!(error(&world, b"unknown"), "INTERNAL \"SEMsgNotFound\"");
    ack(&mut world, 0, &alice, b"negative", -1);
    assert_eq!(error(&world, b"negative"), "INTERNAL \"SEMsgNotFound\"");
    // A repeated ACK, after the first was answered.
    ack(&mut world, 0, &alice, b"first", 4);
    assert_eq!(answer(&world, 0, b"first"), AgentEvent::Ok);
    ack(&mut world, 0, &alice, b"again", 4);
    assert_eq!(error(&world, b"again"), "INTERNAL \"SEMsgNotFound\"");
    // No such connection; a contact address takes no ACK.
    ack(&mut world, 0, &ConnectionId(b"nope".to_vec()), b"nc", 4);
    assert_eq!(error(&world, b"nc"), "CONN NOT_FOUND");
    let (address, _) = make_link(&mut world, 0, ConnectionMode::Contact);
    ack(&mut world, 0, &address, b"contact", 4);
    assert_eq!(error(&world, b"contact"), "CMD PROHIBITED");
}

#[test]
fn skipped_ids_are_reported_in_the_integrity_verdict() {
    let (mut world, alice, _, mut from_bob, _) = connected();
    world.raw_request(from_bob.message(b"one"));
    world.run();
    ack(&mut world, 0, &alice, b"1", 4);
    from_bob.skip_one();
    from_bob.skip_one();
    world.raw_request(from_bob.message(b"four"));
    world.run();
    let msgs = shown(&world, 0);
    let (meta, body) = msgs.last().unwrap();
    assert_eq!(&body[..], b"four");
    assert_eq!(
        meta.integrity,
        MsgIntegrity::Error(MsgErrorType::Skipped { from: 4, to: 5 })
    );
    assert_eq!((meta.rcv_id, meta.snd_id), (5, 6));
    // The verdict is stored with the row, in its text form.
    let stored = &world.nodes[0].store.state().connections[&alice];
    assert_eq!(
        stored.rcv_messages[&5].msg.integrity,
        b"ERR IDS 4 5".to_vec()
    );
}

/// The user of agent 0 in the crash runs: acknowledges every `MSG` as it comes, and keeps
/// what it saw across the agent's restarts.
#[derive(Default)]
struct User {
    /// Events of the current agent life already looked at.
    seen: usize,
    /// Every `MSG` shown, by internal id: its meta and body, and how many times.
    shown: BTreeMap<i64, (MsgMeta, Bytes, usize)>,
    /// Bodies in the order first shown.
    order: Vec<Bytes>,
    /// Internal ids whose `ACK` was answered `OK`.
    acked: BTreeSet<i64>,
    /// Internal ids whose `ACK` was sent and not answered yet.
    pending: BTreeSet<i64>,
    acks_sent: usize,
}

impl User {
    /// Looks at agent 0's new events and answers each `MSG` with `ACK`.
    fn react(&mut self, world: &mut World, conn: &ConnectionId, at: &str) {
        while self.seen < world.nodes[0].events.len() {
            let (corr, _, event) = world.nodes[0].events[self.seen].clone();
            self.seen += 1;
            match event {
                AgentEvent::Msg { meta, body, .. } => {
                    assert!(
                        !self.acked.contains(&meta.rcv_id),
                        "{at}: message {} shown after its ACK was answered",
                        meta.rcv_id
                    );
                    let entry = self
                        .shown
                        .entry(meta.rcv_id)
                        .or_insert_with(|| ((*meta).clone(), body.clone(), 0));
                    assert_eq!((&entry.0, &entry.1), (&*meta, &body), "{at}: shown again");
                    if entry.2 == 0 {
                        self.order.push(body.clone());
                    }
                    entry.2 += 1;
                    self.send_ack(world, conn, meta.rcv_id, "ack");
                }
                AgentEvent::Ok if corr.0.starts_with(b"ack ") || corr.0.starts_with(b"reack ") => {
                    let id = acked_id(&corr);
                    self.pending.remove(&id);
                    self.acked.insert(id);
                }
                // An `ACK` repeated after a restart whose first answer was lost: the first
                // went through (the row is gone), as in the reference.
                AgentEvent::Err(e)
                    if corr.0.starts_with(b"reack ")
                        && e.agent_error().to_string() == "INTERNAL \"SEMsgNotFound\"" =>
                {
                    let id = acked_id(&corr);
                    self.pending.remove(&id);
                    self.acked.insert(id);
                }
                // The manager's connections to the server coming and going.
                AgentEvent::Ok
                | AgentEvent::Connect { .. }
                | AgentEvent::Disconnect { .. }
                | AgentEvent::Up { .. }
                | AgentEvent::Down { .. } => {}
                other => panic!("{at}: unexpected {other:?} ({corr:?})"),
            }
        }
    }

    fn send_ack(&mut self, world: &mut World, conn: &ConnectionId, id: i64, tag: &str) {
        self.acks_sent += 1;
        self.pending.insert(id);
        let corr = format!("{tag} {id} {}", self.acks_sent).into_bytes();
        world.command_on(
            0,
            &corr,
            Some(conn.clone()),
            AgentCommand::Ack { msg_id: id },
        );
    }

    /// After a restart, once what the server redelivers has come: an `ACK` whose answer was
    /// lost is sent again (the user cannot know whether it went through).
    fn repeat_unanswered(&mut self, world: &mut World, conn: &ConnectionId) {
        let pending: Vec<i64> = self.pending.iter().copied().collect();
        for id in pending {
            self.send_ack(world, conn, id, "reack");
        }
    }

    /// Delivers at most `steps` things, reacting after each; whether the world settled.
    fn run(&mut self, world: &mut World, conn: &ConnectionId, steps: usize, at: &str) -> bool {
        for _ in 0..steps {
            self.react(world, conn, at);
            if !world.step() {
                self.react(world, conn, at);
                if world.settled() {
                    return true;
                }
            }
        }
        self.react(world, conn, at);
        world.settled()
    }
}

/// The internal id an `ACK`'s corrId names.
fn acked_id(corr: &CorrId) -> i64 {
    let text = String::from_utf8(corr.0.clone()).unwrap();
    text.split(' ').nth(1).unwrap().parse().unwrap()
}

/// Bob sends two messages; Alice's agent crashes after every number of deliveries while it
/// takes them in and its user acknowledges them, restarts from its store and subscribes
/// again (and repeats an `ACK` whose answer it lost). A message whose `ACK` was answered is
/// never shown again; one shown but not acknowledged is shown again after the restart with
/// the same ids; both end up shown and acknowledged in order, and nothing is left in the
/// store or on the server.
#[test]
fn a_receiver_crash_at_any_step_never_shows_an_acknowledged_message_again() {
    let mut points = 0;
    let mut shown_again = 0;
    for steps in 0.. {
        let (mut world, alice, _, mut from_bob, _) = connected();
        world.raw_request(from_bob.message(b"first"));
        world.raw_request(from_bob.message(b"second"));
        let at = format!("crash after {steps} steps");
        let mut user = User::default();
        let settled = user.run(&mut world, &alice, steps, &at);
        world.crash_and_restart(0);
        user.seen = 0;
        world.subscribe_all(0);
        assert!(
            user.run(&mut world, &alice, 100_000, &at),
            "{at}: did not settle"
        );
        user.repeat_unanswered(&mut world, &alice);
        assert!(
            user.run(&mut world, &alice, 100_000, &at),
            "{at}: did not settle"
        );
        assert_eq!(
            user.order,
            [Bytes::from_static(b"first"), Bytes::from_static(b"second")],
            "{at}"
        );
        assert_eq!(user.acked, BTreeSet::from([4, 5]), "{at}");
        for (id, snd) in [(4, 3), (5, 4)] {
            let (meta, _, _) = &user.shown[&id];
            assert_eq!(meta.snd_id, snd, "{at}");
            assert_eq!(meta.integrity, MsgIntegrity::Ok, "{at}");
        }
        shown_again += user.shown.values().filter(|(_, _, n)| *n > 1).count();
        let node = &world.nodes[0];
        assert_eq!(node.agent.state(), node.store.state(), "{at}");
        assert!(node.store.state().connections[&alice]
            .rcv_messages
            .is_empty());
        assert_eq!(world.server.server().message_count(), 0, "{at}");
        points += 1;
        if settled {
            break;
        }
    }
    assert!(points > 20, "only {points} crash points");
    assert!(
        shown_again > 0,
        "no run showed an unacknowledged message again"
    );
}

/// Without a crash, every message is shown exactly once; a `SUB` while a message waits for
/// its `ACK` (the server delivers it again) shows it again with the same ids, and after the
/// `ACK` a further `SUB` shows nothing.
#[test]
fn a_resubscription_shows_only_what_is_not_acknowledged() {
    let (mut world, alice, _, mut from_bob, _) = connected();
    world.raw_request(from_bob.message(b"one"));
    world.run();
    assert_eq!(shown(&world, 0).len(), 1);
    world.crash_and_restart(0);
    world.subscribe_all(0);
    world.run();
    let again = shown(&world, 0);
    assert_eq!(again.len(), 1, "shown again after the restart");
    assert_eq!(again[0].0.rcv_id, 4);
    assert_eq!(&again[0].1[..], b"one");
    ack(&mut world, 0, &alice, b"a", 4);
    assert_eq!(answer(&world, 0, b"a"), AgentEvent::Ok);
    world.crash_and_restart(0);
    world.subscribe_all(0);
    world.run();
    assert!(shown(&world, 0).is_empty());
    let answers: Vec<_> = world.nodes[0]
        .events
        .iter()
        .filter(|(_, conn, _)| conn.is_some())
        .cloned()
        .collect();
    assert_eq!(
        answers,
        vec![(CorrId(b"sub".to_vec()), Some(alice), AgentEvent::Ok)]
    );
}
