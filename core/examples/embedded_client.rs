//! An embedder driving the SMP client from its own event loop, without either shell: the
//! connection manager talks to an in-memory scripted server through a plain loop that moves
//! bytes (no sockets). It creates a queue, subscribes, sends itself a message, reads the
//! plaintext, then survives a dropped connection (one DOWN, one UP).
//!
//! Run: `cargo run -p simplex-core --example embedded_client`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/scripted/mod.rs"]
mod scripted;

use std::collections::BTreeSet;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use simplex_core::address::TransportHost;
use simplex_core::client::{
    ConnId, ConnectionManager, ManagerConfig, ManagerEvent, ManagerInput, ManagerOutput,
    QueueSubscription, RecipientKeys, Reply, Request, SignAlgorithm, SubParty,
};
use simplex_core::protocol::MsgFlags;
use simplex_core::time::Instant;

/// The embedder's loop: drain the manager, act on its outputs, feed what the "network" says.
fn run(
    mgr: &mut ConnectionManager,
    server: &mut scripted::ScriptedServer,
    open: &mut BTreeSet<ConnId>,
    now: Instant,
) -> Vec<ManagerEvent> {
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        loop {
            match mgr.poll_output() {
                ManagerOutput::Connect {
                    conn, host, port, ..
                } => {
                    println!("connect {conn:?} to {host:?}:{port}");
                    server.accept(conn.0, now);
                    open.insert(conn);
                    mgr.handle_input(now, ManagerInput::Connected(conn))
                        .unwrap();
                    moved = true;
                }
                ManagerOutput::Transmit { conn, bytes } => {
                    server.receive(conn.0, now, &bytes);
                    moved = true;
                }
                ManagerOutput::Disconnect { conn } => {
                    open.remove(&conn);
                    server.drop_conn(conn.0);
                }
                ManagerOutput::Event(e) => events.push(e),
                ManagerOutput::Timeout(_) => break,
            }
        }
        for conn in open.clone() {
            for bytes in server.transmit(conn.0, now) {
                mgr.handle_input(now, ManagerInput::Received(conn, &bytes))
                    .unwrap();
                moved = true;
            }
        }
        if !moved {
            return events;
        }
    }
}

fn main() {
    let now = Instant::ZERO;
    let mut server = scripted::ScriptedServer::new(1);
    let address = scripted::address(
        server.key_hash(),
        vec![TransportHost::Domain("localhost".into())],
        "",
    );
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(42));
    let mut mgr = ConnectionManager::new(ManagerConfig::default(), rng, now);
    let mut open = BTreeSet::new();

    // Create a queue.
    let keys = RecipientKeys::generate(
        SignAlgorithm::Ed448,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(7),
    );
    mgr.request(now, &address, Request::create(&keys));
    let events = run(&mut mgr, &mut server, &mut open, now);
    let (recipient_id, sender_id, server_dh_key) = events
        .into_iter()
        .find_map(|e| match e {
            ManagerEvent::Response {
                result:
                    Ok(Reply::Ids {
                        recipient_id,
                        sender_id,
                        server_dh_key,
                    }),
                ..
            } => Some((recipient_id, sender_id, server_dh_key)),
            _ => None,
        })
        .expect("IDS");
    println!("queue created: recipient {recipient_id:?}, sender {sender_id:?}");

    // Subscribe, with the key that opens delivered bodies.
    mgr.subscribe(
        now,
        &address,
        QueueSubscription {
            party: SubParty::Recipient,
            queue_id: recipient_id.clone(),
            body_key: Some(keys.body_key(&server_dh_key).unwrap()),
            sign_key: keys.sign_key.clone(),
        },
    );
    // Send a message to the queue.
    mgr.request(
        now,
        &address,
        Request::send(
            sender_id,
            None,
            MsgFlags::default(),
            Bytes::from_static(b"hello, queue"),
        ),
    );
    for event in run(&mut mgr, &mut server, &mut open, now) {
        if let ManagerEvent::Message { message: Ok(m), .. } = &event {
            println!("message: {:?}", String::from_utf8_lossy(&m.body));
            mgr.request(
                now,
                &address,
                Request::ack(recipient_id.clone(), &keys.sign_key, m.msg_id.clone()),
            );
        } else {
            println!("event: {event:?}");
        }
    }
    run(&mut mgr, &mut server, &mut open, now);

    // The network drops the connection: one DOWN, reconnection, one UP.
    for conn in std::mem::take(&mut open) {
        server.drop_conn(conn.0);
        mgr.handle_input(now, ManagerInput::Closed(conn)).unwrap();
    }
    for event in run(&mut mgr, &mut server, &mut open, now) {
        println!("event: {event:?}");
    }
    mgr.close(now);
    run(&mut mgr, &mut server, &mut open, now);
    println!("closed; {} connections open", mgr.connection_count());
}
