//! Contact addresses end to end through the server machine: `JOIN` of a contact link sends
//! an invitation, the owner sees `REQ`, `ACPT` joins it as a connection of its own (then the
//! usual `CONF`, `LET`, `CON`), `RJCT` forgets it; several requesters through one address;
//! crashes of either side at every step.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use bytes::Bytes;
use simplex_agent::machine::connection::{ConnectionType, QueueStatus};
use simplex_agent::machine::{AgentCommand, AgentEvent, CorrId};
use simplex_agent::protocol::{ConnectionMode, ConnectionRequest};
use simplex_agent::store::{ConnectionId, InvitationId};
use world::{join_command, last_event, make_link, World};

/// The contact requests agent `i` showed: id, servers' count and info.
fn requests(world: &World, i: usize) -> Vec<(InvitationId, usize, Bytes)> {
    world.nodes[i]
        .events
        .iter()
        .filter_map(|(_, _, e)| match e {
            AgentEvent::Req { id, servers, info } => {
                Some((id.clone(), servers.len(), info.clone()))
            }
            _ => None,
        })
        .collect()
}

/// The connection named by the `OK` answering `corr` on agent `i`.
fn ok_conn(world: &World, i: usize, corr: &[u8]) -> ConnectionId {
    world.nodes[i]
        .events
        .iter()
        .find_map(|(c, conn, e)| (c.0 == corr && *e == AgentEvent::Ok).then(|| conn.clone()))
        .flatten()
        .unwrap_or_else(|| panic!("no OK to {corr:?}: {:?}", world.nodes[i].events))
}

fn error_text(world: &World, i: usize, corr: &[u8]) -> String {
    match world.nodes[i]
        .events
        .iter()
        .rev()
        .find(|(c, _, _)| c.0 == corr)
    {
        Some((_, _, AgentEvent::Err(e))) => e.agent_error().to_string(),
        other => panic!("{other:?}"),
    }
}

fn both_active(world: &World, i: usize, conn: &ConnectionId) -> bool {
    let stored = &world.nodes[i].store.state().connections[conn];
    ConnectionType::of(stored) == Some(ConnectionType::Duplex)
        && stored.rcv_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
        && stored.snd_queue.as_ref().map(|q| q.status) == Some(QueueStatus::Active)
}

/// The requester `i` accepts the owner's confirmation on its invitation connection.
fn let_confirmation(world: &mut World, i: usize) {
    let (conn, conf_id) = last_event(world, i, |e| match e {
        AgentEvent::Conf { id, .. } => Some(id.clone()),
        _ => None,
    })
    .unwrap_or_else(|| panic!("agent {i}: no CONF: {:?}", world.nodes[i].events));
    world.command_on(
        i,
        b"let",
        Some(conn),
        AgentCommand::Let {
            conf_id,
            info: Bytes::from(format!("requester {i} again")),
        },
    );
    world.run();
}

#[test]
fn three_requesters_through_one_address_each_become_a_connection() {
    let mut world = World::new(4);
    let (address, link) = make_link(&mut world, 0, ConnectionMode::Contact);
    assert!(matches!(link, ConnectionRequest::Contact { .. }));
    let mut invitation_conns = Vec::new();
    for i in 1..4 {
        world.command(
            i,
            b"j",
            join_command(link.clone(), format!("profile {i}").as_bytes()),
        );
        world.run();
        // JOIN answers with the requester's new invitation connection, stored before the
        // invitation went out.
        let conn = ok_conn(&world, i, b"j");
        let stored = &world.nodes[i].store.state().connections[&conn];
        assert_eq!(ConnectionType::of(stored), Some(ConnectionType::Rcv));
        assert!(stored.ratchet_keys.is_some());
        invitation_conns.push(conn);
    }
    let reqs = requests(&world, 0);
    assert_eq!(reqs.len(), 3, "{:?}", world.nodes[0].events);
    assert!(world.nodes[0]
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, AgentEvent::Req { .. }))
        .all(|(c, conn, _)| *c == CorrId::default() && conn.as_ref() == Some(&address)));
    for (k, (id, servers, info)) in reqs.iter().enumerate() {
        assert_eq!(*servers, 1);
        assert_eq!(&info[..], format!("profile {}", k + 1).as_bytes());
        let stored = &world.nodes[0].store.state().invitations[id];
        assert_eq!(stored.contact_conn, address);
        assert!(stored.own_conn_info.is_none());
    }
    // Every invitation was acknowledged to the address's server once stored.
    assert_eq!(world.server.server().message_count(), 0);

    // The owner accepts each: a connection of its own, joined as any invitation.
    let mut owner_conns = Vec::new();
    for (k, (id, _, _)) in reqs.iter().enumerate() {
        let corr = format!("acpt {k}").into_bytes();
        world.command(
            0,
            &corr,
            AgentCommand::Acpt {
                inv_id: id.clone(),
                info: Bytes::from_static(b"owner's profile"),
            },
        );
        world.run();
        let conn = ok_conn(&world, 0, &corr);
        assert_ne!(conn, address);
        assert!(world.nodes[0].store.state().invitations[id]
            .own_conn_info
            .is_some());
        owner_conns.push(conn);
    }
    for i in 1..4 {
        let_confirmation(&mut world, i);
    }
    for (k, i) in (1..4).enumerate() {
        assert!(
            both_active(&world, 0, &owner_conns[k]),
            "owner's connection {k}"
        );
        assert!(
            both_active(&world, i, &invitation_conns[k]),
            "requester {i}"
        );
        let info_shown = world.nodes[0].events.iter().any(|(_, conn, e)| {
            conn.as_ref() == Some(&owner_conns[k])
                && *e == AgentEvent::Info(Bytes::from(format!("requester {i} again")))
        });
        assert!(info_shown, "the owner sees requester {i}'s info");
        assert!(world.nodes[i].events.iter().any(|(_, conn, e)| {
            conn.as_ref() == Some(&invitation_conns[k]) && *e == AgentEvent::Con
        }));
    }
    let cons = world.nodes[0]
        .events
        .iter()
        .filter(|(_, _, e)| *e == AgentEvent::Con)
        .count();
    assert_eq!(cons, 3);
    // The address stays; it and the three connections are the owner's four.
    assert_eq!(world.nodes[0].store.state().connections.len(), 4);
    for node in &world.nodes {
        assert_eq!(node.agent.state(), node.store.state());
    }
}

#[test]
fn rjct_forgets_the_request_and_acpt_then_is_prohibited() {
    let mut world = World::new(2);
    let (address, link) = make_link(&mut world, 0, ConnectionMode::Contact);
    world.command(1, b"j", join_command(link, b"bob"));
    world.run();
    let [(id, _, _)] = requests(&world, 0).try_into().unwrap();
    // RJCT on something other than the address: the reference's `CONN NOT_FOUND`.
    let (invitation, _) = make_link(&mut world, 0, ConnectionMode::Invitation);
    world.command_on(
        0,
        b"wrong",
        Some(invitation),
        AgentCommand::Rjct { inv_id: id.clone() },
    );
    world.run();
    assert_eq!(error_text(&world, 0, b"wrong"), "CONN NOT_FOUND");
    assert!(world.nodes[0].store.state().invitations.contains_key(&id));

    world.command_on(
        0,
        b"r",
        Some(address.clone()),
        AgentCommand::Rjct { inv_id: id.clone() },
    );
    world.run();
    assert_eq!(
        world.nodes[0].events.last(),
        Some(&(CorrId(b"r".to_vec()), Some(address.clone()), AgentEvent::Ok))
    );
    assert!(world.nodes[0].store.state().invitations.is_empty());
    // Rejecting again deletes nothing and is still OK, as in the reference.
    world.command_on(
        0,
        b"r2",
        Some(address.clone()),
        AgentCommand::Rjct { inv_id: id.clone() },
    );
    world.run();
    assert_eq!(
        world.nodes[0].events.last(),
        Some(&(CorrId(b"r2".to_vec()), Some(address), AgentEvent::Ok))
    );
    world.command(
        0,
        b"a",
        AgentCommand::Acpt {
            inv_id: id,
            info: Bytes::from_static(b"x"),
        },
    );
    world.run();
    assert_eq!(error_text(&world, 0, b"a"), "CMD PROHIBITED");
    // The requester's invitation connection waits; nobody joined it.
    let conn = ok_conn(&world, 1, b"j");
    let stored = &world.nodes[1].store.state().connections[&conn];
    assert_eq!(stored.rcv_queue.as_ref().unwrap().status, QueueStatus::New);
    assert!(world.nodes[1].store.state().confirmations.is_empty());
}

#[test]
fn a_request_is_accepted_once() {
    let mut world = World::new(2);
    let (_, link) = make_link(&mut world, 0, ConnectionMode::Contact);
    world.command(1, b"j", join_command(link, b"bob"));
    world.run();
    let [(id, _, _)] = requests(&world, 0).try_into().unwrap();
    let acpt = |inv_id: InvitationId| AgentCommand::Acpt {
        inv_id,
        info: Bytes::from_static(b"alice"),
    };
    world.command(0, b"a1", acpt(id.clone()));
    world.command(0, b"a2", acpt(id));
    world.run();
    ok_conn(&world, 0, b"a1");
    assert_eq!(error_text(&world, 0, b"a2"), "CMD PROHIBITED");
    // Only one confirmation reached the requester.
    let confs = world.nodes[1]
        .events
        .iter()
        .filter(|(_, _, e)| matches!(e, AgentEvent::Conf { .. }))
        .count();
    assert_eq!(confs, 1);
}

#[test]
fn join_of_a_contact_link_without_a_common_version_is_refused() {
    let mut world = World::new(2);
    let (_, mut link) = make_link(&mut world, 0, ConnectionMode::Contact);
    let ConnectionRequest::Contact { data } = &mut link else {
        panic!()
    };
    data.agent_versions = simplex_core::encoding::VersionRange::new(3, 4).unwrap();
    world.command(1, b"j", join_command(link, b"bob"));
    world.run();
    assert_eq!(error_text(&world, 1, b"j"), "AGENT A_VERSION");
    assert!(world.nodes[1].store.state().connections.is_empty());
    assert_eq!(world.server.server().queue_count(), 1, "no queue made");
}

/// What agent `i` showed is durable in its store: a `REQ`'s request (or, accepted, the
/// connection it became is on its way), `JOIN`'s and `ACPT`'s `OK` name stored connections,
/// and `ACPT`'s request is marked accepted.
fn check_contact_shown(
    world: &World,
    i: usize,
    shown: &[(CorrId, Option<ConnectionId>, AgentEvent)],
    at: &str,
) {
    let state = world.nodes[i].store.state();
    for (corr, conn, event) in shown {
        match event {
            AgentEvent::Req { id, .. } => assert!(
                state.invitations.contains_key(id),
                "{at}: agent {i} showed REQ of a request its store lacks"
            ),
            AgentEvent::Ok if corr.0 == b"j" || corr.0 == b"acpt" => {
                let conn = conn.as_ref().unwrap();
                assert!(
                    state.connections.contains_key(conn),
                    "{at}: agent {i} answered {:?} for a connection its store lacks",
                    String::from_utf8_lossy(&corr.0)
                );
                if corr.0 == b"acpt" {
                    assert!(state
                        .invitations
                        .values()
                        .all(|r| r.own_conn_info.is_some()));
                }
            }
            _ => {}
        }
    }
}

/// Crashes the address owner (agent 0) or the requester (agent 1) after every number of
/// deliveries of the `JOIN` phase (invitation connection, invitation, `REQ`) and, separately,
/// of the `ACPT` phase (the owner's join and the handshake after it); the restarted agent
/// subscribes its connections again and the world runs to rest. What was shown is durable,
/// a request is shown at most once over the whole run, and each agent holds its store's state.
#[test]
fn a_crash_at_any_step_of_a_contact_request_never_shows_what_the_store_lacks() {
    let mut points = 0;
    for acpt_phase in [false, true] {
        for crashed in [0, 1] {
            for steps in 0.. {
                let mut world = World::new(2);
                let (_, link) = make_link(&mut world, 0, ConnectionMode::Contact);
                world.command(1, b"j", join_command(link, b"bob"));
                if acpt_phase {
                    world.run();
                    let [(id, _, _)] = requests(&world, 0).try_into().unwrap();
                    world.command(
                        0,
                        b"acpt",
                        AgentCommand::Acpt {
                            inv_id: id,
                            info: Bytes::from_static(b"alice"),
                        },
                    );
                }
                let settled = world.run_steps(steps);
                let at = format!("acpt phase {acpt_phase}, agent {crashed}, {steps} steps");
                let before = world.nodes[crashed].events.clone();
                let reqs_before = requests(&world, 0).len();
                world.crash_and_restart(crashed);
                check_contact_shown(&world, crashed, &before, &at);
                world.subscribe_all(crashed);
                world.run();
                let reqs_after = requests(&world, 0).len();
                let total = if crashed == 0 {
                    reqs_before + reqs_after
                } else {
                    reqs_after
                };
                assert!(total <= 1, "{at}: REQ shown {total} times");
                for i in 0..2 {
                    let node = &world.nodes[i];
                    assert_eq!(node.agent.state(), node.store.state(), "{at}: agent {i}");
                    let shown = node.events.clone();
                    check_contact_shown(&world, i, &shown, &at);
                }
                points += 1;
                if settled {
                    break;
                }
            }
        }
    }
    assert!(points > 40, "only {points} crash points");
}
