//! The client machine for one connection against the scripted server, in memory and
//! deterministic from a seed; message decryption against the reference's vectors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod scripted;

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use scripted::{support, ScriptedServer, HANDSHAKE};
use simplex_core::client::{
    body_key, decrypt_message, decrypt_notification, parse_notification_meta, ClientCloseReason,
    ClientConfig, ClientError, ClientInput, ClientOutput, Expect, RecipientKeys, Reply, ReplyKind,
    Request, RequestError, RequestId, SignAlgorithm, SmpClient, Unexpected,
};
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::x25519;
use simplex_core::encoding::{UnixTime, VersionRange};
use simplex_core::protocol::{
    CommandError, EntityId, ErrorType, MsgFlags, MsgId, RcvMessage, SMP_VERSION_RANGE,
};
use simplex_core::time::Instant;
use simplex_core::tls::TlsSession;
use simplex_core::transport::{ClientConnection, CloseReason, MAX_PENDING_BLOCKS};

struct Pair {
    client: SmpClient,
    server: ScriptedServer,
    now: Instant,
    events: Vec<ClientOutput>,
    wire_to_server: Vec<Vec<u8>>,
}

fn client_for(
    server: &ScriptedServer,
    seed: u64,
    range: VersionRange,
    config: ClientConfig,
) -> SmpClient {
    let tls = TlsSession::client(
        "localhost",
        server.key_hash(),
        support::rng(seed),
        Instant::ZERO,
        HANDSHAKE,
    )
    .unwrap();
    let conn = ClientConnection::client(tls, server.key_hash(), range, Instant::ZERO, HANDSHAKE);
    SmpClient::new(
        conn,
        ClientConfig {
            version_range: range,
            ..config
        },
        Instant::ZERO,
    )
}

impl Pair {
    fn new(seed: u64, range: VersionRange, config: ClientConfig) -> Self {
        let mut server = ScriptedServer::new(seed);
        server.accept(0, Instant::ZERO);
        let client = client_for(&server, seed, range, config);
        let mut pair = Self {
            client,
            server,
            now: Instant::ZERO,
            events: Vec::new(),
            wire_to_server: Vec::new(),
        };
        pair.pump();
        assert!(pair.client.is_connected(), "{:?}", pair.events);
        pair
    }

    /// Drains the client to `Timeout` (it takes no input before); whether it sent anything.
    fn drain(&mut self) -> bool {
        let mut moved = false;
        loop {
            match self.client.poll_output() {
                ClientOutput::Transmit(bytes) => {
                    moved = true;
                    self.server.receive(0, self.now, &bytes);
                    self.wire_to_server.push(bytes);
                }
                ClientOutput::Timeout(_) => return moved,
                other => self.events.push(other),
            }
        }
    }

    fn pump(&mut self) {
        loop {
            let mut moved = self.drain();
            for bytes in self.server.transmit(0, self.now) {
                moved = true;
                let handled = self
                    .client
                    .handle_input(self.now, ClientInput::Received(&bytes))
                    .unwrap();
                assert_eq!(handled.consumed, bytes.len());
                self.drain();
            }
            if !moved {
                break;
            }
        }
    }

    fn advance(&mut self, d: Duration) {
        self.now = self.now + d;
        self.client
            .handle_input(self.now, ClientInput::Tick)
            .unwrap();
        self.pump();
    }

    fn submit(&mut self, requests: Vec<Request>) -> Vec<RequestId> {
        let ids = self
            .client
            .handle_input(self.now, ClientInput::Submit(requests))
            .unwrap()
            .submitted;
        self.pump();
        ids
    }

    fn take_events(&mut self) -> Vec<ClientOutput> {
        std::mem::take(&mut self.events)
    }

    fn response(&mut self, id: RequestId) -> Result<Reply, RequestError> {
        let pos = self
            .events
            .iter()
            .position(|e| matches!(e, ClientOutput::Response { id: i, .. } if *i == id))
            .unwrap_or_else(|| panic!("no response for {id:?} in {:?}", self.events));
        match self.events.remove(pos) {
            ClientOutput::Response { result, .. } => result,
            _ => unreachable!(),
        }
    }
}

fn test_rng(seed: u64) -> rand_chacha::ChaCha20Rng {
    rand_chacha::ChaCha20Rng::seed_from_u64(seed)
}

/// Creates a queue; returns keys, recipient id, sender id and body key.
fn create_queue(pair: &mut Pair, seed: u64) -> (RecipientKeys, EntityId, EntityId, CbKey) {
    let keys = RecipientKeys::generate(SignAlgorithm::Ed25519, &mut test_rng(seed));
    let ids = pair.submit(vec![Request::create(&keys)]);
    match pair.response(ids[0]).unwrap() {
        Reply::Ids {
            recipient_id,
            sender_id,
            server_dh_key,
        } => {
            let key = keys.body_key(&server_dh_key).unwrap();
            (keys, recipient_id, sender_id, key)
        }
        other => panic!("expected IDS, got {other:?}"),
    }
}

#[test]
fn create_subscribe_send_receive_ack() {
    let mut pair = Pair::new(1, SMP_VERSION_RANGE, ClientConfig::default());
    assert!(matches!(
        pair.take_events()[0],
        ClientOutput::Connected { version: 4, .. }
    ));
    let (keys, rid, sid, key) = create_queue(&mut pair, 7);
    let sub = pair.submit(vec![Request::subscribe(rid.clone(), &keys.sign_key)]);
    assert_eq!(pair.response(sub[0]), Ok(Reply::Ok));
    let send = pair.submit(vec![Request::send(
        sid,
        None,
        MsgFlags { notification: true },
        Bytes::from_static(b"hello"),
    )]);
    assert_eq!(pair.response(send[0]), Ok(Reply::Ok));
    let msg = pair
        .take_events()
        .into_iter()
        .find_map(|e| match e {
            ClientOutput::Message { entity_id, message } => Some((entity_id, message)),
            _ => None,
        })
        .expect("MSG event");
    assert_eq!(msg.0, rid);
    let opened = decrypt_message(4, &key, &msg.1).unwrap();
    assert_eq!(opened.body.as_ref(), b"hello");
    assert!(opened.flags.notification);
    assert_eq!(opened.timestamp, UnixTime::from_seconds(1_660_000_000));
    let ack = pair.submit(vec![Request::ack(rid, &keys.sign_key, opened.msg_id)]);
    assert_eq!(pair.response(ack[0]), Ok(Reply::Ok));
}

#[test]
fn corr_ids_count_from_zero_in_decimal() {
    assert_eq!(RequestId(0).corr_id().as_bytes(), b"0");
    assert_eq!(RequestId(1234).corr_id().as_bytes(), b"1234");
    let mut pair = Pair::new(2, SMP_VERSION_RANGE, ClientConfig::default());
    let ids = pair.submit(vec![Request::ping(), Request::ping(), Request::ping()]);
    assert_eq!(ids, vec![RequestId(0), RequestId(1), RequestId(2)]);
    for id in ids {
        assert_eq!(pair.response(id), Ok(Reply::Pong));
    }
}

#[test]
fn many_commands_share_blocks_under_v4_but_not_v3() {
    for (range, max_blocks, min_blocks) in [
        (SMP_VERSION_RANGE, 1, 1),
        (VersionRange::between(1, 3), 60, 60),
    ] {
        let mut pair = Pair::new(3, range, ClientConfig::default());
        let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut test_rng(3));
        let requests: Vec<Request> = (0..60u8)
            .map(|i| Request::subscribe(EntityId::from_slice(&[i; 24]).unwrap(), &keys.sign_key))
            .collect();
        let before = pair.server.blocks_received;
        let ids = pair.submit(requests);
        let blocks = pair.server.blocks_received - before;
        assert!(
            (min_blocks..=max_blocks).contains(&blocks),
            "{blocks} blocks for {range:?}"
        );
        // Unknown queues: every one answered ERR AUTH, matched to its own request.
        for id in ids {
            assert_eq!(
                pair.response(id),
                Err(RequestError::Protocol(ErrorType::Auth))
            );
        }
    }
}

#[test]
fn requests_made_before_the_handshake_wait_for_it() {
    let mut server = ScriptedServer::new(4);
    server.accept(0, Instant::ZERO);
    let mut client = client_for(&server, 4, SMP_VERSION_RANGE, ClientConfig::default());
    let ids = client
        .handle_input(Instant::ZERO, ClientInput::Submit(vec![Request::ping()]))
        .unwrap()
        .submitted;
    assert_eq!(client.pending_requests(), 1);
    // Its outputs (the TLS hello) are not drained yet: no other input is taken.
    assert_eq!(
        client
            .handle_input(Instant::ZERO, ClientInput::Submit(vec![Request::ping()]))
            .unwrap_err(),
        ClientError::OutputPending
    );
    assert_eq!(client.pending_requests(), 1);
    let mut pair = Pair {
        client,
        server,
        now: Instant::ZERO,
        events: vec![],
        wire_to_server: vec![],
    };
    pair.pump();
    assert_eq!(pair.response(ids[0]), Ok(Reply::Pong));
}

#[test]
fn server_errors_are_typed() {
    let mut pair = Pair::new(5, SMP_VERSION_RANGE, ClientConfig::default());
    let (keys, rid, _, _) = create_queue(&mut pair, 9);
    let ack = pair.submit(vec![Request::ack(
        rid.clone(),
        &keys.sign_key,
        MsgId::from_slice(&[1; 24]).unwrap(),
    )]);
    assert_eq!(
        pair.response(ack[0]),
        Err(RequestError::Protocol(ErrorType::NoMsg))
    );
    let other = RecipientKeys::generate(SignAlgorithm::Ed25519, &mut test_rng(10));
    let sub = pair.submit(vec![Request::subscribe(rid, &other.sign_key)]);
    assert_eq!(
        pair.response(sub[0]),
        Err(RequestError::Protocol(ErrorType::Auth))
    );
    // An unsigned SUB is refused by the server's credential check.
    let unsigned = pair.submit(vec![Request {
        entity_id: EntityId::from_slice(&[1; 24]).unwrap(),
        sign_key: None,
        command: simplex_core::protocol::Command::Sub,
    }]);
    assert_eq!(
        pair.response(unsigned[0]),
        Err(RequestError::Protocol(ErrorType::Cmd(CommandError::NoAuth)))
    );
}

#[test]
fn subscription_takeover_gives_end() {
    let mut pair = Pair::new(6, SMP_VERSION_RANGE, ClientConfig::default());
    let (keys, rid, _, _) = create_queue(&mut pair, 11);
    let sub = pair.submit(vec![Request::subscribe(rid.clone(), &keys.sign_key)]);
    assert_eq!(pair.response(sub[0]), Ok(Reply::Ok));
    pair.server.send_end(rid.as_bytes(), pair.now);
    pair.pump();
    assert!(pair
        .take_events()
        .iter()
        .any(|e| matches!(e, ClientOutput::End { entity_id } if *entity_id == rid)));
}

#[test]
fn sub_answered_with_a_waiting_message() {
    let mut pair = Pair::new(7, VersionRange::between(1, 2), ClientConfig::default());
    let (keys, rid, sid, key) = create_queue(&mut pair, 12);
    let send = pair.submit(vec![Request::send(
        sid,
        None,
        MsgFlags::default(),
        Bytes::from_static(b"v2 body"),
    )]);
    assert_eq!(pair.response(send[0]), Ok(Reply::Ok));
    let sub = pair.submit(vec![Request::subscribe(rid, &keys.sign_key)]);
    match pair.response(sub[0]) {
        Ok(Reply::Message(m)) => {
            let opened = decrypt_message(2, &key, &m).unwrap();
            assert_eq!(opened.body.as_ref(), b"v2 body");
            assert_eq!(opened.timestamp, UnixTime::from_seconds(1_660_000_000));
        }
        other => panic!("expected MSG, got {other:?}"),
    }
}

#[test]
fn response_timeout() {
    let mut pair = Pair::new(8, SMP_VERSION_RANGE, ClientConfig::default());
    pair.take_events();
    pair.server.answering = false;
    let ids = pair.submit(vec![Request::ping()]);
    pair.advance(Duration::from_millis(4_999));
    assert!(pair.take_events().is_empty());
    pair.advance(Duration::from_millis(1));
    assert_eq!(pair.response(ids[0]), Err(RequestError::Timeout));
    assert_eq!(pair.client.pending_requests(), 0);
}

#[test]
fn ping_when_idle_and_close_after_missed_pongs() {
    let config = ClientConfig {
        ping_interval: Duration::from_secs(60),
        max_missed_pongs: Some(2),
        ..ClientConfig::default()
    };
    let mut pair = Pair::new(9, SMP_VERSION_RANGE, config);
    pair.take_events();
    match pair.client.poll_output() {
        ClientOutput::Timeout(Some(t)) => assert_eq!(t, Instant::ZERO + Duration::from_secs(60)),
        other => panic!("{other:?}"),
    }
    pair.advance(Duration::from_secs(60));
    assert_eq!(pair.server.received, vec!["PING"]);
    // Answered: no output for the user.
    assert!(pair.take_events().is_empty());
    pair.server.answering = false;
    pair.advance(Duration::from_secs(60));
    pair.advance(Duration::from_secs(5));
    assert!(!pair.client.is_closed());
    pair.advance(Duration::from_secs(60));
    pair.advance(Duration::from_secs(5));
    assert!(pair.client.is_closed());
    assert!(pair
        .take_events()
        .contains(&ClientOutput::Closed(ClientCloseReason::PongTimeout)));
}

#[test]
fn close_answers_open_requests() {
    let mut pair = Pair::new(10, SMP_VERSION_RANGE, ClientConfig::default());
    pair.server.answering = false;
    let ids = pair.submit(vec![Request::ping()]);
    pair.client
        .handle_input(pair.now, ClientInput::Close)
        .unwrap();
    pair.pump();
    assert_eq!(pair.response(ids[0]), Err(RequestError::Network));
    assert!(pair
        .take_events()
        .contains(&ClientOutput::Closed(ClientCloseReason::Transport(
            CloseReason::Closed
        ))));
    assert_eq!(
        pair.client
            .handle_input(pair.now, ClientInput::Submit(vec![Request::ping()]))
            .unwrap_err(),
        ClientError::Closed
    );
}

#[test]
fn same_seed_same_bytes() {
    let run = |seed| {
        let mut pair = Pair::new(seed, SMP_VERSION_RANGE, ClientConfig::default());
        create_queue(&mut pair, 1);
        pair.wire_to_server
    };
    assert_eq!(run(11), run(11));
}

fn hex(v: &serde_json::Value, key: &str) -> Vec<u8> {
    common::hex_field(v, key)
}

#[test]
fn decrypts_reference_msg_bodies() {
    let mut seen = 0;
    for case in common::cases("smp_messages.json") {
        let name = case["name"].as_str().unwrap();
        if !name.starts_with("rcv_msg_body_") {
            continue;
        }
        seen += 1;
        let (i, o) = (&case["inputs"], &case["outputs"]);
        let recipient = x25519::PrivateKey::from_bytes(
            &hex(i, "recipient_dh_private_raw_hex").try_into().unwrap(),
        );
        let server_pub =
            x25519::PublicKey::from_bytes(&hex(i, "server_dh_public_raw_hex").try_into().unwrap());
        let key = body_key(&recipient, &server_pub).unwrap();
        let msg_id = MsgId::from_slice(&hex(i, "msg_id_hex")).unwrap();
        let flags = MsgFlags {
            notification: i["notification_flag"].as_bool().unwrap(),
        };
        let ts = UnixTime::from_seconds(i["msg_ts_seconds"].as_i64().unwrap());
        let versions: &[u16] = if name.contains("v1_v2") {
            &[1, 2]
        } else {
            &[3, 4]
        };
        for &v in versions {
            // v1/v2 carry the timestamp (and v2 the flags) in clear in MSG.
            let msg = RcvMessage {
                msg_id: msg_id.clone(),
                timestamp: if v <= 2 { ts } else { UnixTime::default() },
                flags: if v == 2 { flags } else { MsgFlags::default() },
                encrypted_body: Bytes::from(hex(o, "ciphertext_hex")),
            };
            let opened = decrypt_message(v, &key, &msg).unwrap();
            assert_eq!(
                opened.body.as_ref(),
                hex(i, "body_hex").as_slice(),
                "{name}"
            );
            assert_eq!(opened.timestamp, ts, "{name}");
            if v != 1 {
                assert_eq!(opened.flags, flags, "{name}");
            }
        }
        // A wrong key or a damaged body does not open.
        let wrong = body_key(&x25519::PrivateKey::from_bytes(&[3; 32]), &server_pub).unwrap();
        let msg = RcvMessage {
            msg_id: msg_id.clone(),
            timestamp: ts,
            flags,
            encrypted_body: Bytes::from(hex(o, "ciphertext_hex")),
        };
        assert!(decrypt_message(4, &wrong, &msg).is_err());
    }
    assert_eq!(seen, 5);
}

#[test]
fn decrypts_reference_notification_metadata() {
    let mut seen = 0;
    for case in common::cases("smp_messages.json") {
        let name = case["name"].as_str().unwrap();
        let (i, o) = (&case["inputs"], &case["outputs"]);
        if name == "nmsg_meta_parse_with_extension" {
            let meta = parse_notification_meta(&hex(i, "input_hex")).unwrap();
            assert_eq!(meta.msg_id.as_bytes(), hex(o, "msg_id_hex").as_slice());
            assert_eq!(
                meta.timestamp.seconds,
                o["msg_ts_seconds"].as_i64().unwrap()
            );
            seen += 1;
        } else if name.starts_with("nmsg_meta_") {
            let recipient = x25519::PrivateKey::from_bytes(
                &hex(i, "recipient_ntf_dh_private_raw_hex")
                    .try_into()
                    .unwrap(),
            );
            let server = x25519::PrivateKey::from_bytes(
                &hex(i, "server_ntf_dh_private_raw_hex").try_into().unwrap(),
            );
            let key = body_key(&recipient, &server.public_key()).unwrap();
            let nonce = CbNonce(hex(i, "nonce_hex").try_into().unwrap());
            let meta = decrypt_notification(&key, &nonce, &hex(o, "encrypted_meta_hex")).unwrap();
            assert_eq!(meta.msg_id.as_bytes(), hex(i, "msg_id_hex").as_slice());
            assert_eq!(
                meta.timestamp.seconds,
                i["msg_ts_seconds"].as_i64().unwrap()
            );
            seen += 1;
        }
    }
    assert_eq!(seen, 3);
}

#[test]
fn commands_beyond_the_send_capacity_wait_and_all_go_out() {
    let mut pair = Pair::new(13, SMP_VERSION_RANGE, ClientConfig::default());
    pair.take_events();
    assert_eq!(pair.client.send_capacity(), MAX_PENDING_BLOCKS);
    // Each SEND fills a block of its own: 100 of them are more than the connection takes at
    // once.
    let requests: Vec<Request> = (0..100u8)
        .map(|i| {
            Request::send(
                EntityId::from_slice(&[i; 24]).unwrap(),
                None,
                MsgFlags::default(),
                Bytes::from(vec![i; 9_000]),
            )
        })
        .collect();
    let ids = pair
        .client
        .handle_input(pair.now, ClientInput::Submit(requests))
        .unwrap()
        .submitted;
    assert_eq!(pair.client.send_capacity(), 0);
    let before = pair.server.blocks_received;
    pair.pump();
    assert_eq!(pair.server.blocks_received - before, 100);
    // Unknown queues: every one answered, matched to its own request.
    for id in ids {
        assert_eq!(
            pair.response(id),
            Err(RequestError::Protocol(ErrorType::Auth))
        );
    }
    assert_eq!(pair.client.send_capacity(), MAX_PENDING_BLOCKS);
}

#[test]
fn too_large_commands_are_refused_without_sending() {
    let mut pair = Pair::new(12, SMP_VERSION_RANGE, ClientConfig::default());
    pair.take_events();
    let sent_before = pair.wire_to_server.len();
    let ids = pair.submit(vec![
        Request::send(
            EntityId::from_slice(&[1; 24]).unwrap(),
            None,
            MsgFlags::default(),
            Bytes::from(vec![0u8; 16_400]),
        ),
        Request::ping(),
    ]);
    assert_eq!(pair.response(ids[0]), Err(RequestError::TooLarge));
    assert_eq!(pair.response(ids[1]), Ok(Reply::Pong));
    assert_eq!(pair.wire_to_server.len(), sent_before + 1);
}

#[test]
fn unsolicited_and_mismatched_transmissions() {
    use simplex_core::protocol::BrokerMsg;
    let mut pair = Pair::new(13, SMP_VERSION_RANGE, ClientConfig::default());
    pair.take_events();
    // An error with no correlation id, and an answer to a request never made.
    pair.server
        .send_raw(0, pair.now, b"", b"", &BrokerMsg::Err(ErrorType::Block));
    pair.server
        .send_raw(0, pair.now, b"77", b"", &BrokerMsg::Pong);
    pair.pump();
    let events = pair.take_events();
    assert_eq!(events.len(), 2, "{events:?}");
    assert!(events
        .iter()
        .all(|e| matches!(e, ClientOutput::Unsolicited { .. })));
    // An answer about another queue than the request's.
    pair.server.answering = false;
    let ids = pair.submit(vec![Request::ping()]);
    let corr = ids[0].corr_id();
    pair.server
        .send_raw(0, pair.now, corr.as_bytes(), &[5; 24], &BrokerMsg::Ok);
    pair.pump();
    assert_eq!(
        pair.response(ids[0]),
        Err(RequestError::Unexpected(Unexpected::OtherQueue))
    );
    // OK with no entity fails the transport's check first: an unreadable response.
    let ids = pair.submit(vec![Request::ping()]);
    let corr = ids[0].corr_id();
    pair.server
        .send_raw(0, pair.now, corr.as_bytes(), &[], &BrokerMsg::Ok);
    pair.pump();
    assert_eq!(
        pair.response(ids[0]),
        Err(RequestError::Response(ErrorType::Cmd(
            CommandError::NoEntity
        )))
    );
    // A command answered with a readable but wrong message.
    let ids = pair.submit(vec![Request::ping()]);
    let corr = ids[0].corr_id();
    let ids_msg = BrokerMsg::Ids {
        recipient_id: EntityId::from_slice(&[1; 24]).unwrap(),
        sender_id: EntityId::from_slice(&[2; 24]).unwrap(),
        server_dh_key: x25519::PrivateKey::from_bytes(&[4; 32]).public_key(),
    };
    pair.server
        .send_raw(0, pair.now, corr.as_bytes(), &[], &ids_msg);
    pair.pump();
    assert_eq!(
        pair.response(ids[0]),
        Err(RequestError::Unexpected(Unexpected::Reply {
            expected: Expect::Pong,
            got: ReplyKind::Ids,
        }))
    );
}
