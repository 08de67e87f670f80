//! Machine-level rules: the interface contract, batches, versions, inactive clients,
//! determinism, the delivered-body format (reference vectors), sharding.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod reference_data;

use bytes::Bytes;
use common::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::x25519::SharedSecret;
use simplex_core::encoding::{UnixTime, Version};
use simplex_core::protocol::{BrokerMsg, Command, EntityId, ErrorType, MsgFlags, MsgId};
use simplex_core::time::{Clock, Instant};
use simplex_server::msg_log::StoredMessage;
use simplex_server::testkit::{drain, TestClient};
use simplex_server::{
    encrypt_message, ClientId, ExpirationConfig, Server, ServerConfig, ServerError, ServerInput,
    ServerOutput, Shard, ShardRouter,
};

/// The clock `secs` seconds after the start of a test.
fn at(secs: u64) -> Clock {
    Clock {
        now: Instant::from_micros(secs * 1_000_000),
        wall_clock: UnixTime::from_seconds(T0 + secs as i64),
    }
}

#[test]
fn api_misuse_is_a_typed_error() {
    let mut s = Server::new(
        ServerConfig::default(),
        ChaCha20Rng::seed_from_u64(1),
        at(0),
    );
    let c = TestClient::new(1, 4);
    let connect = ServerInput::ClientConnected {
        client: c.id,
        session_id: c.session_id.clone(),
        version: 4,
    };
    s.handle_input(at(0), connect.clone()).unwrap();
    drain(&mut s);
    let ping = ServerInput::Transmissions {
        client: c.id,
        transmissions: vec![c.transmission(None, b"1", b"", &Command::Ping)],
    };
    s.handle_input(at(0), ping.clone()).unwrap();
    assert_eq!(
        s.handle_input(at(0), ping.clone()),
        Err(ServerError::OutputPending)
    );
    drain(&mut s);
    assert_eq!(
        s.handle_input(at(0), connect),
        Err(ServerError::DuplicateClient)
    );
    drain(&mut s);
    let unknown = ServerInput::ClientClosed {
        client: ClientId(99),
    };
    assert_eq!(
        s.handle_input(at(0), unknown),
        Err(ServerError::UnknownClient)
    );
    assert_eq!(
        s.restore_queues(Vec::new()),
        Err(ServerError::AlreadyStarted)
    );
}

#[test]
fn batch_refusals_first_then_answers_with_msg_first() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let q = h.create_queue(&c, false);
    let other = TestClient::new(77, 4);
    // one SEND (delivers to c itself), a transmission from another session, a bad signature, a PING, a SUB
    let bad = sign_key(&mut h.rng, false);
    let batch = vec![
        c.encode(None, b"1", &q.sid, &send_cmd(b"hi")),
        other.encode(None, b"2", b"", &Command::Ping),
        c.encode(Some(&bad), b"3", &q.rid, &Command::Sub),
        c.encode(None, b"4", b"", &Command::Ping),
        c.encode(Some(&q.rkey), b"5", &q.rid, &Command::Sub),
    ];
    let out = h.raw(&c, batch);
    let transmits: Vec<_> = out
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Transmit { transmissions, .. } => Some(transmissions.len()),
            _ => None,
        })
        .collect();
    // refusals; answers; then the push to the subscription that was waiting when SEND ran
    // (SUB in the same batch redelivers the unacknowledged message, as the reference does)
    assert_eq!(transmits, vec![2, 3, 1]);
    let got = h.decode(out);
    let corr: Vec<_> = got
        .iter()
        .map(|g| String::from_utf8(g.corr.as_bytes().to_vec()).unwrap())
        .collect();
    assert_eq!(corr, vec!["2", "3", "5", "1", "4", ""]);
    assert_eq!(got[0].msg, BrokerMsg::Err(ErrorType::Session));
    assert_eq!(got[1].msg, BrokerMsg::Err(ErrorType::Auth));
    assert!(matches!(got[2].msg, BrokerMsg::Msg(_)));
}

#[test]
fn v1_ack_without_id_and_v1_msg_format() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(1);
    let q = h.create_queue(&r, false);
    let got = h.cmd(&r, None, "s", &q.sid, send_cmd(b"v1 body"));
    let BrokerMsg::Msg(m) = &got[1].msg else {
        panic!()
    };
    assert_eq!(
        m.timestamp,
        UnixTime::from_seconds(T0),
        "v1 carries the timestamp in clear"
    );
    assert_eq!(m.encrypted_body.len(), 16_106);
    assert_eq!(open(&q, 1, &got[1].msg).1, b"v1 body");
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "a", &q.rid, Command::Ack(MsgId::empty())),
        BrokerMsg::Ok
    );
    assert_eq!(h.server.message_count(), 0);
}

#[test]
fn inactive_clients_are_closed() {
    let cfg = ServerConfig {
        inactive_client_expiration: Some(ExpirationConfig {
            ttl_secs: 100,
            check_interval_secs: 60,
        }),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let idle = h.connect(4);
    let busy = h.connect(4);
    let q = h.create_queue(&idle, false);
    for _ in 0..4 {
        h.advance(60);
        h.ask(&busy, None, "p", b"", Command::Ping);
    }
    let closed: Vec<_> = h
        .other
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Close { client } => Some(*client),
            _ => None,
        })
        .collect();
    assert_eq!(closed, vec![idle.id]);
    // transmissions from a closing client are ignored; its subscription ends on close
    assert!(h
        .raw(&idle, vec![idle.encode(None, b"p", b"", &Command::Ping)])
        .is_empty());
    h.close(&idle);
    assert_eq!(h.cmd(&busy, None, "s", &q.sid, send_cmd(b"x")).len(), 1);
}

#[test]
fn timeouts_follow_the_configured_intervals() {
    let cfg = ServerConfig {
        message_expiration: Some(ExpirationConfig {
            ttl_secs: 10,
            check_interval_secs: 5,
        }),
        ..ServerConfig::default()
    };
    let mut s = Server::new(cfg, ChaCha20Rng::seed_from_u64(1), at(0));
    assert_eq!(
        s.poll_output(),
        ServerOutput::Timeout(Some(Instant::from_micros(5_000_000)))
    );
    s.handle_input(at(5), ServerInput::Timeout).unwrap();
    assert_eq!(
        s.poll_output(),
        ServerOutput::Timeout(Some(Instant::from_micros(10_000_000)))
    );
    let quiet = ServerConfig {
        message_expiration: None,
        ..ServerConfig::default()
    };
    let mut s = Server::new(quiet, ChaCha20Rng::seed_from_u64(1), at(0));
    assert_eq!(s.poll_output(), ServerOutput::Timeout(None));
}

fn run_script(seed: u64) -> Vec<ServerOutput> {
    let mut h = Harness::with_seed(ServerConfig::default(), seed);
    let r = h.connect(4);
    let s = h.connect(3);
    let q = h.create_queue(&r, true);
    let mut all = Vec::new();
    for i in 0..5u8 {
        all.extend(h.raw(&s, vec![s.encode(None, &[i], &q.sid, &send_cmd(&[i; 10]))]));
    }
    all.extend(h.raw(
        &r,
        vec![r.encode(Some(&q.rkey), b"g", &q.rid, &Command::Sub)],
    ));
    all
}

#[test]
fn same_inputs_same_outputs() {
    assert_eq!(run_script(3), run_script(3));
    assert_ne!(run_script(3), run_script(4));
}

fn vector_cases() -> Vec<Value> {
    reference_data::cases("smp_messages.json")
}

fn hx(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().unwrap()).unwrap()
}

#[test]
fn delivered_body_matches_reference_vectors() {
    for c in vector_cases()
        .iter()
        .filter(|c| c["name"].as_str().unwrap().starts_with("rcv_msg_body"))
    {
        let i = &c["inputs"];
        let o = &c["outputs"];
        let secret: [u8; 32] = hx(&i["dh_secret_hex"]).try_into().unwrap();
        let key = CbKey::new(&SharedSecret::from_bytes(&secret));
        let m = StoredMessage {
            msg_id: MsgId::from_slice(&hx(&i["msg_id_hex"])).unwrap(),
            timestamp: UnixTime::from_seconds(i["msg_ts_seconds"].as_i64().unwrap()),
            flags: MsgFlags {
                notification: i["notification_flag"].as_bool().unwrap(),
            },
            body: Bytes::from(hx(&i["body_hex"])),
        };
        let versions: Vec<Version> = if c["name"] == "rcv_msg_body_v1_v2_hello" {
            vec![1, 2]
        } else {
            vec![3, 4]
        };
        for v in versions {
            let msg = encrypt_message(&key, v, &m);
            let BrokerMsg::Msg(rm) = &msg else { panic!() };
            assert_eq!(
                &rm.encrypted_body[..],
                &hx(&o["ciphertext_hex"])[..],
                "{}",
                c["name"]
            );
            let prefix_key = match v {
                1 => "msg_command_prefix_v1_hex",
                2 => "msg_command_prefix_v2_hex",
                _ => "msg_command_prefix_hex",
            };
            let bytes = msg.to_bytes(v);
            let prefix = hx(&o[prefix_key]);
            assert_eq!(&bytes[..prefix.len()], &prefix[..]);
        }
    }
}

#[test]
fn debug_output_reveals_no_ids_or_keys() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let q = h.create_queue(&c, false);
    let b64 = simplex_core::encoding::string::base64url_encode(&q.rid);
    assert!(!format!("{:?}", h.server).contains(&b64));
    let rec = simplex_server::store_log::read_store_log(format!("{}\n", h.persisted[0]).as_bytes());
    let dbg = format!("{:?}", rec);
    assert!(
        !dbg.contains(&b64) && !dbg.contains(&hex::encode(&q.rid)),
        "{dbg}"
    );
    // inputs and outputs print kinds and counts, never the bytes that carry ids
    let bytes = c.encode(Some(&q.rkey), b"1", &q.rid, &Command::Sub);
    let input = ServerInput::Transmissions {
        client: c.id,
        transmissions: vec![c.check(bytes)],
    };
    let dbg = format!("{input:?}");
    assert!(
        dbg.contains("count: 1") && !dbg.contains(&format!("{:?}", q.rid)),
        "{dbg}"
    );
    let out = h.input(input);
    let dbg = format!("{out:?} {:?}", h.persisted.len());
    assert!(
        dbg.contains("Transmit") && !dbg.contains(&format!("{:?}", &q.rid[..4])),
        "{dbg}"
    );
    let rec =
        simplex_server::store_log::StoreLogRecord::parse_line(h.persisted[0].as_bytes()).unwrap();
    assert_eq!(format!("{rec:?}"), "CreateQueue");
}

#[test]
fn shards_own_their_ids_and_the_router_finds_them() {
    let count = 2;
    let mut servers: Vec<_> = (0..count)
        .map(|i| {
            Server::new(
                ServerConfig {
                    shard: Shard { index: i, count },
                    ..ServerConfig::default()
                },
                ChaCha20Rng::seed_from_u64(u64::from(i)),
                at(0),
            )
        })
        .collect();
    let router = ShardRouter::new(count);
    let mut rng = ChaCha20Rng::seed_from_u64(50);
    for client in 0..6u64 {
        let c = TestClient::new(client, 4);
        let key = sign_key(&mut rng, false);
        let dh = simplex_core::crypto::x25519::PrivateKey::generate(&mut rng);
        let new = Command::New {
            recipient_key: key.verify_key(),
            dh_key: dh.public_key(),
        };
        let shard = router.route(c.id, &EntityId::empty(), Some(&new));
        let s = &mut servers[usize::from(shard)];
        s.handle_input(
            at(0),
            ServerInput::ClientConnected {
                client: c.id,
                session_id: c.session_id.clone(),
                version: 4,
            },
        )
        .unwrap();
        drain(s);
        s.handle_input(
            at(0),
            ServerInput::Transmissions {
                client: c.id,
                transmissions: vec![c.transmission(Some(&key), b"n", b"", &new)],
            },
        )
        .unwrap();
        let out = drain(s);
        let ServerOutput::Transmit { transmissions, .. } = &out
            .iter()
            .find(|o| matches!(o, ServerOutput::Transmit { .. }))
            .unwrap()
        else {
            panic!()
        };
        let (
            _,
            _,
            BrokerMsg::Ids {
                recipient_id,
                sender_id,
                ..
            },
        ) = c.read(&transmissions[0]).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            router.route(c.id, &recipient_id, Some(&Command::Sub)),
            shard
        );
        assert_eq!(router.route(c.id, &sender_id, None), shard);
    }
    assert!(servers.iter().all(|s| s.queue_count() > 0));
    // imported queues keep their ids: the router's table sends them to their recipient's shard
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    for _ in 0..8 {
        h.create_queue(&c, false);
    }
    let log: String = h.persisted.iter().map(|l| format!("{l}\n")).collect();
    let queues = simplex_server::store_log::read_store_log(log.as_bytes()).queues;
    let mut router = ShardRouter::new(count);
    let placed = router.place(queues.values().cloned());
    for (shard, qs) in placed.iter().enumerate() {
        for q in qs {
            assert_eq!(
                usize::from(router.route(ClientId(0), &q.sender_id, None)),
                shard
            );
            assert_eq!(
                usize::from(router.route(ClientId(0), &q.recipient_id, None)),
                shard
            );
        }
    }
}

#[test]
fn ids_of_another_length_name_no_queue() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let q = h.create_queue(&c, false);
    let skey = h.secure(&c, &q, false);
    // A prefix of a live id and a live id with a byte more: both are unknown ids (ERR AUTH),
    // while the real ids still work.
    let mut longer = q.rid.clone();
    longer.push(0);
    for rid in [&q.rid[..16], &longer[..]] {
        let answer = h.ask(&c, Some(&q.rkey), "1", rid, Command::Sub);
        assert_eq!(answer, BrokerMsg::Err(ErrorType::Auth));
    }
    let answer = h.ask(&c, Some(&skey), "2", &q.sid[..23], send_cmd(b"hi"));
    assert_eq!(answer, BrokerMsg::Err(ErrorType::Auth));
    assert_eq!(
        h.ask(&c, Some(&skey), "3", &q.sid, send_cmd(b"hi")),
        BrokerMsg::Ok
    );
}
