//! An embedder driving the SMP client from its own event loop, without either shell: the
//! connection manager talks to an in-memory scripted server through a plain loop that moves
//! bytes (no sockets). It creates a queue, subscribes, sends itself a message, reads the
//! plaintext, then survives a dropped connection (one DOWN, one UP).
//!
//! Run: `cargo run -p simplex-core --example embedded_client`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/scripted/mod.rs"]
mod scripted;

use std::collections::{BTreeSet, VecDeque};

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use simplex_core::address::TransportHost;
use simplex_core::client::{
    ConnId, ConnectionManager, ManagerConfig, ManagerEvent, ManagerInput, ManagerOutput,
    QueueSubscription, RecipientKeys, Reply, Request, SignAlgorithm, SubParty,
};
use simplex_core::protocol::MsgFlags;
use simplex_core::time::Instant;

/// Feeds one input and drains the manager (it takes no input before its outputs are
/// drained); the outputs wait in `queue` for [`run`].
fn feed(
    mgr: &mut ConnectionManager,
    now: Instant,
    input: ManagerInput<'_>,
    queue: &mut VecDeque<ManagerOutput>,
) {
    mgr.handle_input(now, input).unwrap();
    loop {
        match mgr.poll_output() {
            ManagerOutput::Timeout(_) => return,
            out => queue.push_back(out),
        }
    }
}

/// The embedder's loop: act on the manager's outputs, feed what the "network" says.
fn run(
    mgr: &mut ConnectionManager,
    server: &mut scripted::ScriptedServer,
    open: &mut BTreeSet<ConnId>,
    now: Instant,
    queue: &mut VecDeque<ManagerOutput>,
) -> Vec<ManagerEvent> {
    let mut events = Vec::new();
    loop {
        let mut moved = false;
        while let Some(out) = queue.pop_front() {
            match out {
                ManagerOutput::Connect {
                    conn, host, port, ..
                } => {
                    println!("connect {conn:?} to {host:?}:{port}");
                    server.accept(conn.0, now);
                    open.insert(conn);
                    feed(mgr, now, ManagerInput::Connected(conn), queue);
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
                ManagerOutput::Timeout(_) => {}
            }
        }
        for conn in open.clone() {
            for bytes in server.transmit(conn.0, now) {
                feed(mgr, now, ManagerInput::Received(conn, &bytes), queue);
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
    let mut queue = VecDeque::new();
    let q = &mut queue;

    // Create a queue.
    let keys = RecipientKeys::generate(
        SignAlgorithm::Ed448,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(7),
    );
    let request = Request::create(&keys);
    let server_address = address.clone();
    feed(
        &mut mgr,
        now,
        ManagerInput::Request {
            server: server_address,
            request: Box::new(request),
        },
        q,
    );
    let events = run(&mut mgr, &mut server, &mut open, now, q);
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
    let sub = QueueSubscription {
        party: SubParty::Recipient,
        queue_id: recipient_id.clone(),
        body_key: Some(keys.body_key(&server_dh_key).unwrap()),
        sign_key: keys.sign_key.clone(),
    };
    let input = ManagerInput::Subscribe {
        server: address.clone(),
        subs: vec![sub],
    };
    feed(&mut mgr, now, input, q);
    // Send a message to the queue.
    let send = Request::send(
        sender_id,
        None,
        MsgFlags::default(),
        Bytes::from_static(b"hello, queue"),
    );
    let input = ManagerInput::Request {
        server: address.clone(),
        request: Box::new(send),
    };
    feed(&mut mgr, now, input, q);
    for event in run(&mut mgr, &mut server, &mut open, now, q) {
        if let ManagerEvent::Message { message: Ok(m), .. } = &event {
            println!("message: {:?}", String::from_utf8_lossy(&m.body));
            let ack = Request::ack(recipient_id.clone(), &keys.sign_key, m.msg_id.clone());
            let input = ManagerInput::Request {
                server: address.clone(),
                request: Box::new(ack),
            };
            feed(&mut mgr, now, input, q);
        } else {
            println!("event: {event:?}");
        }
    }
    run(&mut mgr, &mut server, &mut open, now, q);

    // The network drops the connection: one DOWN, reconnection, one UP.
    for conn in std::mem::take(&mut open) {
        server.drop_conn(conn.0);
        feed(&mut mgr, now, ManagerInput::Closed(conn), q);
    }
    for event in run(&mut mgr, &mut server, &mut open, now, q) {
        println!("event: {event:?}");
    }
    feed(&mut mgr, now, ManagerInput::Close, q);
    run(&mut mgr, &mut server, &mut open, now, q);
    println!("closed; {} connections open", mgr.connection_count());
}
