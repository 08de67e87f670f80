//! The server driver (server machine + one SMP connection machine per socket) against real
//! client connection machines, in memory: TLS with the reference's Ed448 test identity, the
//! SMP hello, and commands through to delivered messages; and several drivers as the workers
//! of one server, their mail carried between them here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use bytes::Bytes;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Decode, Reader, UnixTime};
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, MsgFlags,
};
use simplex_core::time::Clock;
use simplex_core::time::Instant;
use simplex_core::transport::{Framing, Input};
use simplex_server::driver::{DriverConfig, DriverInput, DriverOutput};
use simplex_server::Shard;
use world::*;

#[test]
fn queue_lifecycle_through_tls() {
    let mut w = World::new(1);
    let recipient = w.connect(10);
    let sender = w.connect(11);
    let rkey = ed25519(1);
    let dh = x25519::PrivateKey::from_bytes(&[5; 32]);
    let (recipient_id, sender_id, server_dh_key) = w.create_queue(recipient, &rkey, &dh);
    assert_eq!(w.persisted, 1, "the new queue is logged");
    w.send(
        sender,
        "2",
        sender_id.as_bytes(),
        Command::Send {
            flags: MsgFlags {
                notification: false,
            },
            body: Bytes::from_static(b"hello"),
        },
        None,
    );
    assert_eq!(w.received[sender], vec![BrokerMsg::Ok]);
    // The creating connection is subscribed: the message arrives, encrypted for the recipient.
    let BrokerMsg::Msg(msg) = w.received[recipient][1].clone() else {
        panic!("{:?}", w.received[recipient])
    };
    let key = CbKey::new(&dh.diffie_hellman(&server_dh_key).unwrap());
    let padded = key
        .decrypt(
            &CbNonce::from_slice_padded(msg.msg_id.as_bytes()),
            &msg.encrypted_body,
        )
        .unwrap();
    let mut r = Reader::from_slice(&padded);
    let ts = UnixTime::decode(&mut r).unwrap();
    assert_eq!(ts.seconds, WALL);
    let flags = MsgFlags::decode(&mut r).unwrap();
    assert!(!flags.notification);
    r.expect_byte(b' ', "space").unwrap();
    assert_eq!(r.peek_rest(), b"hello");
    w.send(
        recipient,
        "3",
        recipient_id.as_bytes(),
        Command::Ack(msg.msg_id.clone()),
        Some(&rkey),
    );
    assert_eq!(w.received[recipient][2], BrokerMsg::Ok);
    w.send(
        recipient,
        "4",
        recipient_id.as_bytes(),
        Command::Del,
        Some(&rkey),
    );
    assert_eq!(w.received[recipient][3], BrokerMsg::Ok);
}

#[test]
fn closing_a_client_frees_its_connection() {
    let mut w = World::new(2);
    let a = w.connect(20);
    assert_eq!(w.driver().connection_count(), 1);
    let conn = w.clients[a].0;
    w.driver()
        .handle_input(clock(0), DriverInput::PeerClosed { conn })
        .unwrap();
    w.pump();
    assert_eq!(w.driver().connection_count(), 0);
    assert_eq!(w.closed, vec![conn]);
}

#[test]
fn a_stalled_handshake_is_closed_at_its_deadline() {
    let mut w = World::new(3);
    w.driver()
        .handle_input(
            clock(0),
            DriverInput::Accepted {
                conn: 9,
                framing: Framing::Raw,
            },
        )
        .unwrap();
    let deadline = loop {
        if let DriverOutput::Timeout(t) = w.driver().poll_output() {
            break t.unwrap();
        }
    };
    assert_eq!(
        deadline,
        Instant::ZERO + DriverConfig::default().handshake_timeout
    );
    w.driver()
        .handle_input(
            Clock {
                now: deadline,
                wall_clock: UnixTime::from_seconds(WALL + 120),
            },
            DriverInput::Tick,
        )
        .unwrap();
    let mut closed = false;
    loop {
        match w.driver().poll_output() {
            DriverOutput::CloseSocket { conn: 9 } => closed = true,
            DriverOutput::Timeout(_) => break,
            _ => {}
        }
    }
    assert!(closed);
    assert_eq!(w.driver().connection_count(), 0);
}

#[test]
fn shutdown_saves_undelivered_messages_and_closes_everyone() {
    let mut w = World::new(4);
    let recipient = w.connect(30);
    let sender = w.connect(31);
    let rkey = ed25519(2);
    let dh = x25519::PrivateKey::from_bytes(&[6; 32]);
    let (_, sender_id, _) = w.create_queue(recipient, &rkey, &dh);
    for i in 0..3 {
        w.send(
            sender,
            &format!("s{i}"),
            sender_id.as_bytes(),
            Command::Send {
                flags: MsgFlags::default(),
                body: Bytes::from(vec![i; 10]),
            },
            None,
        );
    }
    w.driver()
        .handle_input(clock(1_000_000), DriverInput::Shutdown)
        .unwrap();
    let (mut saved, mut closed) = (0, 0);
    loop {
        match w.driver().poll_output() {
            DriverOutput::SaveMessage { .. } => saved += 1,
            DriverOutput::CloseSocket { .. } => closed += 1,
            DriverOutput::Timeout(_) => break,
            _ => {}
        }
    }
    // One message was delivered (unacknowledged messages are still saved), three in all.
    assert_eq!(saved, 3);
    assert_eq!(closed, 2);
    assert!(w
        .driver()
        .handle_input(clock(2_000_000), DriverInput::Tick)
        .is_err());
}

/// Two workers: the recipient's connection is held by worker 1, so its queue lives in shard 1;
/// the sender's connection is held by worker 0. `SEND` travels to shard 1 as mail and its `OK`
/// comes back as mail, the `MSG` is delivered on worker 1, and a queue made from worker 0 lives
/// in shard 0 — and the same sender reaches both in one v4 batch.
#[test]
fn workers_carry_commands_to_the_shard_owning_the_queue() {
    let mut w = World::workers(6, 2);
    let sender = w.connect(40); // socket 2: worker 0
    let recipient = w.connect(41); // socket 3: worker 1
    let other = w.connect(42); // socket 4: worker 0
    assert_eq!(w.drivers[0].connection_count(), 2);
    assert_eq!(w.drivers[1].connection_count(), 1);
    let mut queues = Vec::new();
    for (who, seed) in [(recipient, 7u8), (other, 8)] {
        let rkey = ed25519(seed);
        let dh = x25519::PrivateKey::from_bytes(&[seed; 32]);
        let (recipient_id, sender_id, _) = w.create_queue(who, &rkey, &dh);
        queues.push((who, rkey, recipient_id, sender_id));
    }
    // Each queue lives where its maker's connection is, its ids hashing there.
    assert_eq!(w.drivers[1].server().queue_count(), 1);
    assert_eq!(w.drivers[0].server().queue_count(), 1);
    assert_eq!(Shard::of(queues[0].2.as_bytes(), 2), 1);
    assert_eq!(Shard::of(queues[0].3.as_bytes(), 2), 1);
    assert_eq!(Shard::of(queues[1].3.as_bytes(), 2), 0);

    // One block from the sender: a SEND to each queue (one crosses to worker 1, one does not).
    let client = &mut w.clients[sender].1;
    let batch: Vec<Vec<u8>> = queues
        .iter()
        .enumerate()
        .map(|(i, (_, _, _, sid))| {
            let cmd = Command::Send {
                flags: MsgFlags::default(),
                body: Bytes::from(format!("to {i}")),
            };
            let signed = signed_part(
                client.session_id().unwrap(),
                &CorrId::from_slice(format!("s{i}").as_bytes()).unwrap(),
                sid,
                &cmd.to_bytes(client.version().unwrap()),
            )
            .unwrap();
            encode_transmission(None, &signed)
        })
        .collect();
    client
        .handle_input(Instant::from_micros(w.micros), Input::Send(batch))
        .unwrap();
    w.pump();
    assert_eq!(w.received[sender], vec![BrokerMsg::Ok, BrokerMsg::Ok]);
    for (who, rkey, rid, _) in &queues {
        let Some(BrokerMsg::Msg(msg)) = w.received[*who].last().cloned() else {
            panic!("no MSG for client {who}: {:?}", w.received[*who])
        };
        w.send(
            *who,
            "a",
            rid.as_bytes(),
            Command::Ack(msg.msg_id.clone()),
            Some(rkey),
        );
        assert_eq!(w.received[*who].last(), Some(&BrokerMsg::Ok));
    }
    assert_eq!(w.drivers[0].server().message_count(), 0);
    assert_eq!(w.drivers[1].server().message_count(), 0);

    // The recipient goes: both shards hear of it, and its queue keeps a message for later.
    let conn = w.clients[recipient].0;
    let now = clock(w.micros);
    w.holder(conn)
        .handle_input(now, DriverInput::PeerClosed { conn })
        .unwrap();
    w.pump();
    let sid = queues[0].3.clone();
    w.send(
        sender,
        "later",
        sid.as_bytes(),
        Command::Send {
            flags: MsgFlags::default(),
            body: Bytes::from_static(b"kept"),
        },
        None,
    );
    assert_eq!(w.received[sender].last(), Some(&BrokerMsg::Ok));
    assert_eq!(w.drivers[1].server().message_count(), 1);
}

/// A store-log record that cannot be committed (a full disk) is not followed by the answer it
/// guards: the client gets no `IDS` for a queue the log does not hold, and its socket is
/// closed at once; a later client on a healthy disk is answered as usual.
#[test]
fn an_uncommitted_record_withholds_its_answer_and_closes_the_client() {
    let mut w = World::new(3);
    let client = w.connect(30);
    let conn = w.clients[client].0;
    let rkey = ed25519(3);
    let dh = x25519::PrivateKey::from_bytes(&[6; 32]);
    let new = || Command::New {
        recipient_key: rkey.verify_key(),
        dh_key: dh.public_key(),
    };
    w.records_fail = true;
    w.send(client, "1", &[], new(), Some(&rkey));
    assert_eq!(w.failed_records, 1);
    assert!(w.received[client].is_empty(), "{:?}", w.received[client]);
    assert_eq!(w.closed, vec![conn]);
    assert_eq!(w.driver().connection_count(), 0);

    w.records_fail = false;
    let again = w.connect(31);
    w.send(again, "2", &[], new(), Some(&rkey));
    assert!(
        matches!(w.received[again].as_slice(), [BrokerMsg::Ids { .. }]),
        "{:?}",
        w.received[again]
    );
    assert_eq!(w.driver().connection_count(), 1);
}

/// Two blocks arriving in one read are answered block by block, as the reference does: the
/// first block's command before the second block's refusal, and within a block the refusal
/// before the commands.
#[test]
fn each_block_of_one_read_is_answered_on_its_own() {
    use simplex_core::protocol::EntityId;
    use simplex_core::transport::Output;

    let mut w = World::new(3);
    let c = w.connect(30);
    let encode = |w: &World, corr: &str, command: &[u8]| {
        let client = &w.clients[c].1;
        let signed = signed_part(
            client.session_id().unwrap(),
            &CorrId::from_slice(corr.as_bytes()).unwrap(),
            &EntityId::empty(),
            command,
        )
        .unwrap();
        encode_transmission(None, &signed)
    };
    let first = vec![encode(&w, "1", b"PING")];
    let second = vec![encode(&w, "2", b"NOPE"), encode(&w, "3", b"PING")];
    // Two sends: two blocks (a v4 client packs each send's transmissions into one).
    let mut bytes = Vec::new();
    for block in [first, second] {
        let client = &mut w.clients[c].1;
        client
            .handle_input(Instant::from_micros(w.micros), Input::Send(block))
            .unwrap();
        while let Output::Transmit(b) = client.poll_output() {
            bytes.extend_from_slice(&b);
        }
    }
    let conn = w.clients[c].0;
    let now = clock(w.micros);
    w.driver()
        .handle_input(
            now,
            DriverInput::Received {
                conn,
                bytes: &bytes,
            },
        )
        .unwrap();
    // Its answers wait to be drained: another input first is a misuse, and takes nothing.
    assert!(matches!(
        w.driver().handle_input(now, DriverInput::Tick),
        Err(simplex_server::driver::DriverError::OutputPending)
    ));
    let mut answers = Vec::new();
    loop {
        match w.driver().poll_output() {
            DriverOutput::Write { bytes, .. } => {
                let client = &mut w.clients[c].1;
                let mut rest = &bytes[..];
                while !rest.is_empty() {
                    let n = client
                        .handle_input(Instant::from_micros(w.micros), Input::Received(rest))
                        .unwrap();
                    rest = &rest[n..];
                }
                loop {
                    match client.poll_output() {
                        Output::Received(t) => answers.push((
                            String::from_utf8(t.corr_id.as_bytes().to_vec()).unwrap(),
                            t.message.unwrap(),
                        )),
                        Output::Timeout(_) => break,
                        _ => {}
                    }
                }
            }
            DriverOutput::Timeout(_) => break,
            _ => {}
        }
    }
    let unknown = BrokerMsg::Err(simplex_core::protocol::ErrorType::Cmd(
        simplex_core::protocol::CommandError::Unknown,
    ));
    assert_eq!(
        answers,
        vec![
            ("1".to_string(), BrokerMsg::Pong),
            ("2".to_string(), unknown),
            ("3".to_string(), BrokerMsg::Pong),
        ]
    );
}

/// Across workers: a record the queue's shard cannot commit turns its answer to a client held
/// by another worker into a close of that client there, not an `OK`.
#[test]
fn an_uncommitted_record_closes_a_client_held_by_another_worker() {
    let mut w = World::workers(7, 2);
    let maker = w.connect(50); // socket 2: worker 0
    let other = w.connect(51); // socket 3: worker 1
    let rkey = ed25519(9);
    let dh = x25519::PrivateKey::from_bytes(&[9; 32]);
    let (recipient_id, _, _) = w.create_queue(maker, &rkey, &dh);
    assert_eq!(w.drivers[0].server().queue_count(), 1);

    // KEY from the other worker's connection: worker 0 logs it and answers by mail.
    w.records_fail = true;
    let skey = ed25519(10);
    w.send(
        other,
        "k",
        recipient_id.as_bytes(),
        Command::Key(skey.verify_key()),
        Some(&rkey),
    );
    assert_eq!(w.failed_records, 1);
    assert!(w.received[other].is_empty(), "{:?}", w.received[other]);
    assert_eq!(w.closed, vec![w.clients[other].0]);
    assert_eq!(w.drivers[1].connection_count(), 0);
    // The maker's connection, on the failing worker but not answered after the record, stays.
    assert_eq!(w.drivers[0].connection_count(), 1);
}
