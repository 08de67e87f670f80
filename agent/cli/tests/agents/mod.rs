//! Two of our agents on real sockets (either shell), each on its own thread with an in-memory
//! store: the duplex handshake between them through a server, and restarting one on its
//! store.

// Helpers outside #[test] functions fail loudly, as tests should.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use simplex_agent::machine::{AgentCommand, AgentConfig, AgentEvent};
use simplex_agent::protocol::ConnectionMode;
use simplex_agent::service::PortEvent;
use simplex_agent::store::{ConnectionId, MemoryStore};
use simplex_agent_cli::agent_runtime::{AgentRuntime, AgentRuntimeConfig};
use simplex_agent_cli::client_runtime::Runtime;
use simplex_core::address::ServerAddress;
use simplex_core::client::{ManagerConfig, SignAlgorithm};
use simplex_core::encoding::string::StrDecode;

/// How long any one step may take on loopback.
pub const STEP: Duration = Duration::from_secs(20);

pub type TestAgent = AgentRuntime<MemoryStore>;

/// An agent creating its queues on `server`, on `store`.
pub fn start_agent(runtime: Runtime, server: &str, seed: u8, store: MemoryStore) -> TestAgent {
    let server = ServerAddress::str_decode(server.as_bytes()).unwrap();
    let config = AgentRuntimeConfig {
        runtime,
        agent: AgentConfig {
            smp_servers: vec![server],
            sign_algorithm: SignAlgorithm::Ed448,
            delivery: Default::default(),
        },
        manager: ManagerConfig::default(),
        seed: Some([seed; 32]),
    };
    AgentRuntime::start(config, store).unwrap()
}

/// The first event answering `corr_id`, or failing the test with what came instead.
pub fn answer(agent: &mut TestAgent, corr_id: &[u8]) -> PortEvent {
    agent
        .wait_for(STEP, |e| e.corr_id.0 == corr_id)
        .unwrap_or_else(|| panic!("no answer to {:?}", String::from_utf8_lossy(corr_id)))
}

/// Waits for an event that `wanted` picks.
pub fn event(
    agent: &mut TestAgent,
    what: &str,
    wanted: impl FnMut(&PortEvent) -> bool,
) -> PortEvent {
    if let Some(found) = agent.wait_for(STEP, wanted) {
        return found;
    }
    let mut seen = Vec::new();
    while let Some(e) = agent.next_event(Duration::ZERO) {
        seen.push(e);
    }
    panic!("no {what} event; events not taken: {seen:?}")
}

/// The v2 duplex handshake between two agents (alice invites, bob joins); returns the
/// connection's id on each side once both saw `CON`.
pub fn connect(alice: &mut TestAgent, bob: &mut TestAgent) -> (ConnectionId, ConnectionId) {
    alice
        .command(
            b"new",
            None,
            AgentCommand::New {
                mode: ConnectionMode::Invitation,
            },
        )
        .unwrap();
    let inv = answer(alice, b"new");
    let AgentEvent::Inv(link) = inv.event else {
        panic!("NEW answered {:?}", inv.event)
    };
    let alice_conn = inv.conn.unwrap();

    bob.command(
        b"join",
        None,
        AgentCommand::Join {
            conn_req: Box::new(link),
            info: Bytes::from_static(b"bob's info"),
        },
    )
    .unwrap();
    let joined = answer(bob, b"join");
    assert_eq!(joined.event, AgentEvent::Ok, "JOIN");
    let bob_conn = joined.conn.unwrap();

    let conf = event(alice, "CONF", |e| {
        matches!(e.event, AgentEvent::Conf { .. })
    });
    let AgentEvent::Conf { id, info, .. } = conf.event else {
        unreachable!()
    };
    assert_eq!(&info[..], b"bob's info");
    alice
        .command(
            b"let",
            Some(&alice_conn),
            AgentCommand::Let {
                conf_id: id,
                info: Bytes::from_static(b"alice's info"),
            },
        )
        .unwrap();
    assert_eq!(answer(alice, b"let").event, AgentEvent::Ok, "LET");

    let info = event(bob, "INFO", |e| matches!(e.event, AgentEvent::Info(_)));
    assert_eq!(
        info.event,
        AgentEvent::Info(Bytes::from_static(b"alice's info"))
    );
    let con = event(bob, "CON (bob)", |e| e.event == AgentEvent::Con);
    assert_eq!(con.conn.as_ref(), Some(&bob_conn));
    let con = event(alice, "CON (alice)", |e| e.event == AgentEvent::Con);
    assert_eq!(con.conn.as_ref(), Some(&alice_conn));
    (alice_conn, bob_conn)
}

/// Connects two agents through `server`, stops both, restarts alice on her store and
/// subscribes the connection again.
pub fn handshake_and_restart(runtime: Runtime, server: &str) {
    let mut alice = start_agent(runtime, server, 1, MemoryStore::new());
    let mut bob = start_agent(runtime, server, 2, MemoryStore::new());
    let (alice_conn, bob_conn) = connect(&mut alice, &mut bob);

    let alice_store = alice.stop().unwrap();
    let bob_store = bob.stop().unwrap();
    for (store, conn) in [(&alice_store, &alice_conn), (&bob_store, &bob_conn)] {
        let stored = &store.state().connections[conn];
        assert!(stored.rcv_queue.is_some() && stored.snd_queue.is_some());
    }

    let mut twin = start_agent(runtime, server, 6, alice_store.clone());
    let mut alice = start_agent(runtime, server, 3, alice_store);
    alice
        .command(b"sub", Some(&alice_conn), AgentCommand::Sub)
        .unwrap();
    assert_eq!(
        answer(&mut alice, b"sub").event,
        AgentEvent::Ok,
        "SUB after restart"
    );

    // A second agent on a copy of the store takes the subscription over: the first is told
    // `END` on that connection.
    twin.command(b"sub", Some(&alice_conn), AgentCommand::Sub)
        .unwrap();
    assert_eq!(
        answer(&mut twin, b"sub").event,
        AgentEvent::Ok,
        "SUB on the twin"
    );
    let end = event(&mut alice, "END", |e| e.event == AgentEvent::End);
    assert_eq!(end.conn.as_ref(), Some(&alice_conn));
    twin.stop().unwrap();
    alice.stop().unwrap();
}

/// Connects two agents, then has the server go away and come back (`restart`): each agent
/// says `DISCONNECT` and `DOWN` with its connection, then `CONNECT` and `UP` once the manager
/// reconnected and resubscribed.
pub fn server_restart_down_up(runtime: Runtime, server: &str, restart: impl FnOnce()) {
    let mut alice = start_agent(runtime, server, 4, MemoryStore::new());
    let mut bob = start_agent(runtime, server, 5, MemoryStore::new());
    let (alice_conn, bob_conn) = connect(&mut alice, &mut bob);
    restart();
    for (agent, conn) in [(&mut alice, &alice_conn), (&mut bob, &bob_conn)] {
        event(agent, "DISCONNECT", |e| {
            matches!(e.event, AgentEvent::Disconnect { .. })
        });
        let down = event(agent, "DOWN", |e| {
            matches!(e.event, AgentEvent::Down { .. })
        });
        let AgentEvent::Down { conns, .. } = down.event else {
            unreachable!()
        };
        assert_eq!(conns, vec![conn.clone()]);
        event(agent, "CONNECT", |e| {
            matches!(e.event, AgentEvent::Connect { .. })
        });
        let up = event(agent, "UP", |e| matches!(e.event, AgentEvent::Up { .. }));
        let AgentEvent::Up { conns, .. } = up.event else {
            unreachable!()
        };
        assert_eq!(conns, vec![conn.clone()]);
    }
    alice.stop().unwrap();
    bob.stop().unwrap();
}

/// Suspends an agent (nothing in progress: `SUSPENDED` at once), gives it `NEW` while
/// suspended and a second server, then activates it: the held `NEW` runs on the new server.
pub fn suspend_activate_and_new_servers(runtime: Runtime, server: &str, second: &str) {
    let mut alice = start_agent(runtime, server, 7, MemoryStore::new());
    alice.suspend(Duration::from_secs(1)).unwrap();
    event(&mut alice, "SUSPENDED", |e| {
        e.event == AgentEvent::Suspended
    });
    let second_server = ServerAddress::str_decode(second.as_bytes()).unwrap();
    alice.set_servers(vec![second_server.clone()]).unwrap();
    alice
        .command(
            b"new",
            None,
            AgentCommand::New {
                mode: ConnectionMode::Invitation,
            },
        )
        .unwrap();
    alice.activate().unwrap();
    let inv = answer(&mut alice, b"new");
    let AgentEvent::Inv(link) = inv.event else {
        panic!("NEW answered {:?}", inv.event)
    };
    assert_eq!(link.data().queues.first().address.server, second_server);
    alice.stop().unwrap();
}

/// The body of message `i` of a run, `len` bytes long (at least its label).
fn body(i: usize, len: usize) -> Bytes {
    let mut b = format!("message {i} ").into_bytes();
    b.resize(len.max(b.len()), b'.');
    Bytes::from(b)
}

/// Sends messages `0..count` on `conn`, each `SEND` answered `MID`; returns the ids.
pub fn send_all(from: &mut TestAgent, conn: &ConnectionId, count: usize, len: usize) -> Vec<u64> {
    (0..count)
        .map(|i| {
            let corr = format!("send{i}").into_bytes();
            let send = AgentCommand::Send {
                flags: simplex_core::protocol::MsgFlags {
                    notification: false,
                },
                body: body(i, len),
            };
            from.command(&corr, Some(conn), send).unwrap();
            let AgentEvent::Mid(id) = answer(from, &corr).event else {
                panic!("SEND {i} not answered MID")
            };
            id
        })
        .collect()
}

/// The recipient sees messages `0..count` in order with integrity `OK` and acknowledges
/// each; every `ACK` is answered `OK`.
pub fn receive_all(to: &mut TestAgent, conn: &ConnectionId, count: usize, len: usize) {
    for i in 0..count {
        let msg = event(to, "MSG", |e| matches!(e.event, AgentEvent::Msg { .. }));
        assert_eq!(msg.conn.as_ref(), Some(conn));
        let AgentEvent::Msg {
            meta, body: got, ..
        } = msg.event
        else {
            unreachable!()
        };
        assert_eq!(got, body(i, len), "message {i} in order");
        assert_eq!(
            meta.integrity,
            simplex_agent::meta::MsgIntegrity::Ok,
            "message {i}"
        );
        let corr = format!("ack{i}").into_bytes();
        to.command(
            &corr,
            Some(conn),
            AgentCommand::Ack {
                msg_id: meta.rcv_id,
            },
        )
        .unwrap();
        assert_eq!(answer(to, &corr).event, AgentEvent::Ok, "ACK {i}");
    }
}

/// `SENT` for each of `ids` on `conn`.
pub fn all_sent(from: &mut TestAgent, conn: &ConnectionId, ids: &[u64]) {
    for id in ids {
        let sent = event(from, "SENT", |e| e.event == AgentEvent::Sent(*id));
        assert_eq!(sent.conn.as_ref(), Some(conn));
    }
}

/// `count` messages from `from` to `to` on their connection, sent all at once, received in
/// order and acknowledged, each `SENT`.
pub fn send_messages(
    from: &mut TestAgent,
    from_conn: &ConnectionId,
    to: &mut TestAgent,
    to_conn: &ConnectionId,
    count: usize,
    len: usize,
) {
    let ids = send_all(from, from_conn, count, len);
    receive_all(to, to_conn, count, len);
    all_sent(from, from_conn, &ids);
}

/// Connects two agents through `server` and exchanges messages both ways (small and the
/// largest body), then restarts both on their stores and exchanges more.
pub fn messages_both_ways(runtime: Runtime, server: &str) {
    let mut alice = start_agent(runtime, server, 8, MemoryStore::new());
    let mut bob = start_agent(runtime, server, 9, MemoryStore::new());
    let (a, b) = connect(&mut alice, &mut bob);
    send_messages(&mut alice, &a, &mut bob, &b, 20, 100);
    send_messages(&mut bob, &b, &mut alice, &a, 20, 100);
    send_messages(&mut alice, &a, &mut bob, &b, 3, MAX_BODY);

    let (alice_store, bob_store) = (alice.stop().unwrap(), bob.stop().unwrap());
    let mut alice = start_agent(runtime, server, 10, alice_store);
    let mut bob = start_agent(runtime, server, 11, bob_store);
    for (agent, conn) in [(&mut alice, &a), (&mut bob, &b)] {
        agent
            .command(b"sub", Some(conn), AgentCommand::Sub)
            .unwrap();
        assert_eq!(
            answer(agent, b"sub").event,
            AgentEvent::Ok,
            "SUB after restart"
        );
    }
    send_messages(&mut bob, &b, &mut alice, &a, 5, MAX_BODY);
    send_messages(&mut alice, &a, &mut bob, &b, 5, 10);
    alice.stop().unwrap();
    bob.stop().unwrap();
}

/// The largest user message the agent takes (the reference's limit).
pub const MAX_BODY: usize = 15_811;

/// The recipient is offline while more messages are sent than its server's queue holds
/// (quota 128 on both servers by default): the first ones are `SENT`, the rest wait on
/// `QUOTA` and go out as the recipient, back on its store, takes and acknowledges them. All
/// arrive once, in order.
pub fn offline_recipient_and_quota(runtime: Runtime, server: &str) {
    const COUNT: usize = 140;
    let mut alice = start_agent(runtime, server, 12, MemoryStore::new());
    let mut bob = start_agent(runtime, server, 13, MemoryStore::new());
    let (a, b) = connect(&mut alice, &mut bob);
    let bob_store = bob.stop().unwrap();
    let ids = send_all(&mut alice, &a, COUNT, 20);
    // What fits in the queue is accepted while bob is away.
    all_sent(&mut alice, &a, &ids[..128]);
    let mut bob = start_agent(runtime, server, 14, bob_store);
    bob.command(b"sub", Some(&b), AgentCommand::Sub).unwrap();
    assert_eq!(
        answer(&mut bob, b"sub").event,
        AgentEvent::Ok,
        "SUB after restart"
    );
    receive_all(&mut bob, &b, COUNT, 20);
    all_sent(&mut alice, &a, &ids[128..]);
    alice.stop().unwrap();
    bob.stop().unwrap();
}

/// A contact address: alice makes one (`NEW CON`), bob and carol join it; alice accepts
/// bob (`ACPT`), rejects carol (`RJCT`); bob accepts alice's confirmation (`LET`); both
/// see `CON` and exchange messages.
pub fn contact_address(runtime: Runtime, server: &str) {
    let mut alice = start_agent(runtime, server, 15, MemoryStore::new());
    let mut bob = start_agent(runtime, server, 16, MemoryStore::new());
    let mut carol = start_agent(runtime, server, 17, MemoryStore::new());
    let new = AgentCommand::New {
        mode: ConnectionMode::Contact,
    };
    alice.command(b"new", None, new).unwrap();
    let inv = answer(&mut alice, b"new");
    let AgentEvent::Inv(address) = inv.event else {
        panic!("NEW CON answered {:?}", inv.event)
    };
    let address_conn = inv.conn.unwrap();

    let mut requests = Vec::new();
    let mut joined = Vec::new();
    for (joiner, info) in [(&mut bob, &b"bob"[..]), (&mut carol, b"carol")] {
        let join = AgentCommand::Join {
            conn_req: Box::new(address.clone()),
            info: Bytes::copy_from_slice(info),
        };
        joiner.command(b"join", None, join).unwrap();
        let ok = answer(joiner, b"join");
        assert_eq!(ok.event, AgentEvent::Ok, "JOIN of the address");
        joined.push(ok.conn.unwrap());
        let req = event(&mut alice, "REQ", |e| {
            matches!(e.event, AgentEvent::Req { .. })
        });
        assert_eq!(req.conn.as_ref(), Some(&address_conn));
        let AgentEvent::Req { id, info: got, .. } = req.event else {
            unreachable!()
        };
        assert_eq!(&got[..], info);
        requests.push(id);
    }
    let bob_conn = joined[0].clone();

    let rjct = AgentCommand::Rjct {
        inv_id: requests[1].clone(),
    };
    alice.command(b"rjct", Some(&address_conn), rjct).unwrap();
    assert_eq!(answer(&mut alice, b"rjct").event, AgentEvent::Ok, "RJCT");
    let acpt = AgentCommand::Acpt {
        inv_id: requests[0].clone(),
        info: Bytes::from_static(b"alice"),
    };
    alice.command(b"acpt", None, acpt).unwrap();
    let accepted = answer(&mut alice, b"acpt");
    assert_eq!(accepted.event, AgentEvent::Ok, "ACPT");
    let alice_conn = accepted.conn.unwrap();

    let conf = event(&mut bob, "CONF", |e| {
        matches!(e.event, AgentEvent::Conf { .. })
    });
    assert_eq!(conf.conn.as_ref(), Some(&bob_conn));
    let AgentEvent::Conf { id, info, .. } = conf.event else {
        unreachable!()
    };
    assert_eq!(&info[..], b"alice");
    let allow = AgentCommand::Let {
        conf_id: id,
        info: Bytes::from_static(b"bob again"),
    };
    bob.command(b"let", Some(&bob_conn), allow).unwrap();
    assert_eq!(answer(&mut bob, b"let").event, AgentEvent::Ok, "LET");
    let info = event(&mut alice, "INFO", |e| {
        matches!(e.event, AgentEvent::Info(_))
    });
    assert_eq!(
        info.event,
        AgentEvent::Info(Bytes::from_static(b"bob again"))
    );
    for (agent, conn) in [(&mut alice, &alice_conn), (&mut bob, &bob_conn)] {
        let con = event(agent, "CON", |e| e.event == AgentEvent::Con);
        assert_eq!(con.conn.as_ref(), Some(conn));
    }
    send_messages(&mut alice, &alice_conn, &mut bob, &bob_conn, 3, 50);
    send_messages(&mut bob, &bob_conn, &mut alice, &alice_conn, 3, 50);
    for agent in [alice, bob, carol] {
        agent.stop().unwrap();
    }
}
