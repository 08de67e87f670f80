//! The scenarios of the reference's `tests/ServerTests.hs`, as pure tests against the machine.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use simplex_core::crypto::keys::Signature;
use simplex_core::protocol::{
    BrokerMsg, Command, CommandError, ErrorType, MsgId, MAX_MESSAGE_LENGTH,
};
use simplex_server::ServerConfig;

fn err(e: ErrorType) -> BrokerMsg {
    BrokerMsg::Err(e)
}

#[test]
fn create_and_secure_queue_v2_ed448() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(2);
    let q = h.create_queue(&c, true);
    // unsigned SEND accepted before KEY; the creating connection is subscribed
    let got = h.cmd(&c, None, "bcda", &q.sid, send_cmd(b"hello"));
    assert_eq!(got[0].msg, BrokerMsg::Ok, "OK comes first");
    assert_eq!(got[0].entity.as_bytes(), &q.sid[..]);
    assert!(got[1].corr.is_empty());
    let (m1, body) = open(&q, 2, &got[1].msg);
    assert_eq!(body, b"hello");
    assert_eq!(
        h.ask(&c, Some(&q.rkey), "cdab", &q.rid, ack(&m1)),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&c, Some(&q.rkey), "dabc", &q.rid, ack(&m1)),
        err(ErrorType::NoMsg)
    );

    let skey = sign_key(&mut h.rng, true);
    assert_eq!(
        h.ask(&c, Some(&skey), "abcd", &q.sid, send_cmd(b"hello")),
        err(ErrorType::Auth),
        "signed SEND before KEY"
    );
    // KEY with a wrong signature, and with the sender's id
    assert_eq!(
        h.ask(
            &c,
            Some(&skey),
            "bcda",
            &q.rid,
            Command::Key(skey.verify_key())
        ),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(
            &c,
            Some(&q.rkey),
            "cdab",
            &q.sid,
            Command::Key(skey.verify_key())
        ),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(
            &c,
            Some(&q.rkey),
            "dabc",
            &q.rid,
            Command::Key(skey.verify_key())
        ),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(
            &c,
            Some(&q.rkey),
            "abcd",
            &q.rid,
            Command::Key(skey.verify_key())
        ),
        err(ErrorType::Auth),
        "already secured"
    );

    let got = h.cmd(&c, Some(&skey), "bcda", &q.sid, send_cmd(b"hello again"));
    assert_eq!(got[0].msg, BrokerMsg::Ok);
    let (m2, body) = open(&q, 2, &got[1].msg);
    assert_eq!(body, b"hello again");
    assert_eq!(
        h.ask(&c, Some(&q.rkey), "cdab", &q.rid, ack(&m2)),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&c, None, "dabc", &q.sid, send_cmd(b"hello")),
        err(ErrorType::Auth),
        "unsigned SEND after KEY"
    );

    let max = vec![b'-'; MAX_MESSAGE_LENGTH];
    let got = h.cmd(&c, Some(&skey), "bcda", &q.sid, send_cmd(&max));
    assert_eq!(got[0].msg, BrokerMsg::Ok);
    assert_eq!(open(&q, 2, &got[1].msg).1, max);
    let bigger = vec![b'-'; MAX_MESSAGE_LENGTH + 1];
    assert_eq!(
        h.ask(&c, Some(&skey), "bcda", &q.sid, send_cmd(&bigger)),
        err(ErrorType::LargeMsg)
    );
}

#[test]
fn create_and_secure_queue_v3_two_connections() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r, false);
    let skey = h.secure(&r, &q, false);
    let got = h.cmd(&s, Some(&skey), "cdab", &q.sid, send_cmd(b"hello"));
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].to, &got[0].msg), (s.id, &BrokerMsg::Ok));
    assert_eq!(got[1].to, r.id);
    assert_eq!(got[1].entity.as_bytes(), &q.rid[..]);
    let (m1, body) = open(&q, 4, &got[1].msg);
    assert_eq!(body, b"hello");
    // second message waits for the ACK
    let got = h.cmd(&s, Some(&skey), "dabc", &q.sid, send_cmd(b"hello 2"));
    assert_eq!(got.len(), 1);
    let (m2, body) = open(&q, 4, &h.ask(&r, Some(&q.rkey), "ack", &q.rid, ack(&m1)));
    assert_eq!(body, b"hello 2");
    assert_ne!(m1, m2);
}

#[test]
fn create_suspend_delete_queue() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(3);
    let s = h.connect(3);
    let q = h.create_queue(&r, false);
    let skey = h.secure(&r, &q, false);
    h.cmd(&s, Some(&skey), "cdab", &q.sid, send_cmd(b"hello"));
    h.cmd(&s, Some(&skey), "dabc", &q.sid, send_cmd(b"hello 2"));
    let bad = sign_key(&mut h.rng, false);
    assert_eq!(
        h.ask(&r, Some(&bad), "abcd", &q.rid, Command::Off),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "bcda", &q.sid, Command::Off),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "cdab", &q.rid, Command::Off),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&s, Some(&skey), "dabc", &q.sid, send_cmd(b"x")),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&s, None, "abcd", &q.sid, send_cmd(b"x")),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "bcda", &q.rid, Command::Off),
        BrokerMsg::Ok,
        "OFF when suspended"
    );
    let (_, body) = open(
        &q,
        3,
        &h.ask(&r, Some(&q.rkey), "cdab", &q.rid, Command::Sub),
    );
    assert_eq!(body, b"hello", "SUB redelivers the unacknowledged message");
    assert_eq!(
        h.ask(&r, Some(&bad), "dabc", &q.rid, Command::Del),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "abcd", &q.sid, Command::Del),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "bcda", &q.rid, Command::Del),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.server.message_count(),
        0,
        "messages deleted with the queue"
    );
    assert_eq!(
        h.ask(&s, Some(&skey), "cdab", &q.sid, send_cmd(b"x")),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&s, None, "dabc", &q.sid, send_cmd(b"x")),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "abcd", &q.rid, ack(&MsgId::empty())),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "bcda", &q.rid, Command::Off),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "cdab", &q.rid, Command::Sub),
        err(ErrorType::Auth)
    );
}

#[test]
fn many_queues_disconnect_and_reconnect() {
    let mut h = Harness::new(ServerConfig::default());
    let c1 = h.connect(4);
    let c2 = h.connect(4);
    let c3 = h.connect(4);
    let qs: Vec<_> = (0..50).map(|_| h.create_queue(&c1, false)).collect();
    h.close(&c1);
    for c in [&c2, &c3] {
        for q in &qs {
            let got = h.cmd(c, Some(&q.rkey), "", &q.rid, Command::Sub);
            assert_eq!(
                got.len(),
                1,
                "no END to a closed or same connection: {got:?}"
            );
            assert_eq!(got[0].msg, BrokerMsg::Ok);
            assert_eq!(got[0].entity.as_bytes(), &q.rid[..]);
        }
        if c.id == c2.id {
            h.close(&c2);
        }
    }
}

#[test]
fn new_queues_refused_when_disallowed() {
    let mut h = Harness::new(ServerConfig {
        allow_new_queues: false,
        ..ServerConfig::default()
    });
    let c = h.connect(4);
    let rkey = sign_key(&mut h.rng, true);
    let dh = simplex_core::crypto::x25519::PrivateKey::generate(&mut h.rng);
    let answer = h.ask(
        &c,
        Some(&rkey),
        "abcd",
        b"",
        Command::New {
            recipient_key: rkey.verify_key(),
            dh_key: dh.public_key(),
        },
    );
    assert_eq!(answer, err(ErrorType::Auth));
    assert_eq!(h.server.queue_count(), 0);
}

#[test]
fn duplex_over_two_connections() {
    let mut h = Harness::new(ServerConfig::default());
    let alice = h.connect(4);
    let bob = h.connect(4);
    let qa = h.create_queue(&alice, false);
    let qb = h.create_queue(&bob, true);
    let ka = h.secure(&alice, &qa, false);
    let kb = h.secure(&bob, &qb, true);
    for i in 0..3 {
        let text = format!("hi bob {i}");
        let got = h.cmd(&alice, Some(&kb), "s", &qb.sid, send_cmd(text.as_bytes()));
        let (id, body) = open(&qb, 4, &got[1].msg);
        assert_eq!((got[1].to, body), (bob.id, text.into_bytes()));
        assert_eq!(
            h.ask(&bob, Some(&qb.rkey), "a", &qb.rid, ack(&id)),
            BrokerMsg::Ok
        );
        let text = format!("hi alice {i}");
        let got = h.cmd(&bob, Some(&ka), "s", &qa.sid, send_cmd(text.as_bytes()));
        let (id, body) = open(&qa, 4, &got[1].msg);
        assert_eq!((got[1].to, body), (alice.id, text.into_bytes()));
        assert_eq!(
            h.ask(&alice, Some(&qa.rkey), "a", &qa.rid, ack(&id)),
            BrokerMsg::Ok
        );
    }
}

#[test]
fn subscription_switches_to_another_connection() {
    let mut h = Harness::new(ServerConfig::default());
    let r1 = h.connect(4);
    let r2 = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r1, true);
    let got = h.cmd(&s, None, "bcda", &q.sid, send_cmd(b"test1"));
    let (m1, _) = open(&q, 4, &got[1].msg);
    h.cmd(&s, None, "cdab", &q.sid, send_cmd(b"test2, no ACK"));
    let (m2, body) = open(&q, 4, &h.ask(&r1, Some(&q.rkey), "abcd", &q.rid, ack(&m1)));
    assert_eq!(body, b"test2, no ACK");
    let got = h.cmd(&r2, Some(&q.rkey), "bcda", &q.rid, Command::Sub);
    let (m2b, body) = open(&q, 4, &got[0].msg);
    assert_eq!((m2b.clone(), body), (m2, b"test2, no ACK".to_vec()));
    assert_eq!(
        (got[1].to, &got[1].msg),
        (r1.id, &BrokerMsg::End),
        "END to the old connection"
    );
    assert_eq!(got[1].entity.as_bytes(), &q.rid[..]);
    assert_eq!(
        h.ask(&r2, Some(&q.rkey), "cdab", &q.rid, ack(&m2b)),
        BrokerMsg::Ok
    );
    let got = h.cmd(&s, None, "dabc", &q.sid, send_cmd(b"test3"));
    assert_eq!(got[1].to, r2.id);
    let (m3, body) = open(&q, 4, &got[1].msg);
    assert_eq!(body, b"test3");
    assert_eq!(
        h.ask(&r1, Some(&q.rkey), "abcd", &q.rid, ack(&m3)),
        err(ErrorType::NoMsg)
    );
    let got = h.cmd(&r2, Some(&q.rkey), "bcda", &q.rid, ack(&m3));
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].msg, BrokerMsg::Ok);
}

#[test]
fn get_command() {
    let mut h = Harness::new(ServerConfig::default());
    let r0 = h.connect(4);
    let q = h.create_queue(&r0, false);
    let skey = h.secure(&r0, &q, false);
    h.close(&r0);
    let r = h.connect(4);
    let s = h.connect(4);
    assert_eq!(
        h.cmd(&s, Some(&skey), "1", &q.sid, send_cmd(b"hello"))
            .len(),
        1
    );
    let (m1, body) = open(&q, 4, &h.ask(&r, Some(&q.rkey), "2", &q.rid, Command::Get));
    assert_eq!(body, b"hello");
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "3", &q.rid, ack(&m1)),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "4", &q.rid, Command::Get),
        BrokerMsg::Ok
    );
}

#[test]
fn get_and_sub_commands() {
    let mut h = Harness::new(ServerConfig::default());
    let r1 = h.connect(4);
    let r2 = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r1, false);
    let skey = h.secure(&r1, &q, false);
    let got = h.cmd(&s, Some(&skey), "1", &q.sid, send_cmd(b"hello 1"));
    let (m1, _) = open(&q, 4, &got[1].msg);
    for (i, text) in ["hello 2", "hello 3", "hello 4"].iter().enumerate() {
        assert_eq!(
            h.cmd(
                &s,
                Some(&skey),
                &format!("1{i}"),
                &q.sid,
                send_cmd(text.as_bytes())
            )
            .len(),
            1
        );
    }
    let got_msg = h.ask(&r2, Some(&q.rkey), "2", &q.rid, Command::Get);
    let (m1g, body) = open(&q, 4, &got_msg);
    assert_eq!((m1g.clone(), body), (m1.clone(), b"hello 1".to_vec()));
    let prohibited = err(ErrorType::Cmd(CommandError::Prohibited));
    assert_eq!(
        h.ask(&r1, Some(&q.rkey), "3", &q.rid, Command::Get),
        prohibited
    );
    assert_eq!(
        h.ask(&r2, Some(&q.rkey), "3a", &q.rid, Command::Sub),
        prohibited
    );
    let (m2, body) = open(&q, 4, &h.ask(&r1, Some(&q.rkey), "4", &q.rid, ack(&m1)));
    assert_eq!(body, b"hello 2");
    assert_eq!(
        h.ask(
            &r2,
            Some(&q.rkey),
            "5",
            &q.rid,
            ack(&MsgId::from_slice(b"1234").unwrap())
        ),
        err(ErrorType::NoMsg)
    );
    assert_eq!(
        h.ask(&r2, Some(&q.rkey), "5a", &q.rid, ack(&m1)),
        BrokerMsg::Ok
    );
    let (m2g, body) = open(&q, 4, &h.ask(&r2, Some(&q.rkey), "6", &q.rid, Command::Get));
    assert_eq!((m2g.clone(), body), (m2.clone(), b"hello 2".to_vec()));
    assert_eq!(
        h.ask(&r2, Some(&q.rkey), "7", &q.rid, ack(&m2g)),
        BrokerMsg::Ok
    );
    let (m3, body) = open(&q, 4, &h.ask(&r2, Some(&q.rkey), "8", &q.rid, Command::Get));
    assert_eq!(body, b"hello 3");
    let (m3s, body) = open(&q, 4, &h.ask(&r1, Some(&q.rkey), "9", &q.rid, ack(&m2)));
    assert_eq!(
        (m3s, body),
        (m3.clone(), b"hello 3".to_vec()),
        "subscriber ACK loses nothing"
    );
    let (m4, body) = open(&q, 4, &h.ask(&r1, Some(&q.rkey), "10", &q.rid, ack(&m3)));
    assert_eq!(body, b"hello 4");
    assert_eq!(
        h.ask(&r1, Some(&q.rkey), "11", &q.rid, ack(&m4)),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&r2, Some(&q.rkey), "12", &q.rid, Command::Get),
        BrokerMsg::Ok
    );
}

#[test]
fn message_notifications() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(4);
    let s = h.connect(4);
    let n1 = h.connect(4);
    let n2 = h.connect(4);
    let q = h.create_queue(&r, false);
    let skey = h.secure(&r, &q, false);
    let nkey = sign_key(&mut h.rng, false);
    let ndh = simplex_core::crypto::x25519::PrivateKey::generate(&mut h.rng);
    let BrokerMsg::Nid {
        notifier_id,
        server_dh_key,
    } = h.ask(
        &r,
        Some(&q.rkey),
        "1",
        &q.rid,
        Command::NKey {
            notifier_key: nkey.verify_key(),
            dh_key: ndh.public_key(),
        },
    )
    else {
        panic!()
    };
    let ntf_key =
        simplex_core::crypto::cbox::CbKey::new(&ndh.diffie_hellman(&server_dh_key).unwrap());
    let nid = notifier_id.as_bytes().to_vec();
    // wrong key and wrong id
    assert_eq!(
        h.ask(&n1, Some(&q.rkey), "2", &nid, Command::NSub),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&n1, Some(&nkey), "2", &q.rid, Command::NSub),
        err(ErrorType::Auth)
    );
    assert_eq!(
        h.ask(&n1, Some(&nkey), "2", &nid, Command::NSub),
        BrokerMsg::Ok
    );
    let got = h.cmd(&s, Some(&skey), "3", &q.sid, send_ntf(b"hello"));
    assert_eq!(got.len(), 3);
    let nmsg = got.iter().find(|g| g.to == n1.id).unwrap();
    assert!(nmsg.corr.is_empty());
    assert_eq!(nmsg.entity.as_bytes(), &nid[..]);
    let BrokerMsg::NMsg {
        nonce,
        encrypted_meta,
    } = &nmsg.msg
    else {
        panic!()
    };
    let meta = ntf_key.decrypt(nonce, encrypted_meta.as_bytes()).unwrap();
    let msg = got.iter().find(|g| g.to == r.id).unwrap();
    let (m1, _) = open(&q, 4, &msg.msg);
    assert_eq!(&meta[1..25], m1.as_bytes());
    assert_eq!(meta.len(), 33);
    // no notification without the flag
    h.ask(&r, Some(&q.rkey), "4", &q.rid, ack(&m1));
    assert_eq!(
        h.cmd(&s, Some(&skey), "5", &q.sid, send_cmd(b"quiet"))
            .len(),
        2
    );
    // another notifier takes over: END to the first
    let got = h.cmd(&n2, Some(&nkey), "6", &nid, Command::NSub);
    assert_eq!(got.len(), 2);
    assert_eq!((got[1].to, &got[1].msg), (n1.id, &BrokerMsg::End));
    assert_eq!(got[1].entity.as_bytes(), &nid[..]);
    let got = h.cmd(&s, Some(&skey), "7", &q.sid, send_ntf(b"loud"));
    assert!(got.iter().any(|g| g.to == n2.id));
    assert!(!got.iter().any(|g| g.to == n1.id));
    // NDEL: no more notifications, NSUB refused
    assert_eq!(
        h.ask(&r, Some(&q.rkey), "8", &q.rid, Command::NDel),
        BrokerMsg::Ok
    );
    assert_eq!(
        h.ask(&n2, Some(&nkey), "9", &nid, Command::NSub),
        err(ErrorType::Auth)
    );
    let got = h.cmd(&s, Some(&skey), "10", &q.sid, send_ntf(b"after ndel"));
    assert!(!got.iter().any(|g| g.to == n2.id));
}

#[test]
fn nsub_does_not_notify_queued_messages() {
    let mut h = Harness::new(ServerConfig::default());
    let r = h.connect(4);
    let n = h.connect(4);
    let q = h.create_queue(&r, false);
    h.cmd(&r, None, "1", &q.sid, send_ntf(b"before"));
    let nkey = sign_key(&mut h.rng, true);
    let ndh = simplex_core::crypto::x25519::PrivateKey::generate(&mut h.rng);
    let BrokerMsg::Nid { notifier_id, .. } = h.ask(
        &r,
        Some(&q.rkey),
        "2",
        &q.rid,
        Command::NKey {
            notifier_key: nkey.verify_key(),
            dh_key: ndh.public_key(),
        },
    ) else {
        panic!()
    };
    let got = h.cmd(&n, Some(&nkey), "3", notifier_id.as_bytes(), Command::NSub);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].msg, BrokerMsg::Ok);
}

#[test]
fn messages_expire_on_send_and_on_timer() {
    let cfg = ServerConfig {
        message_expiration: Some(simplex_server::ExpirationConfig {
            ttl_secs: 1,
            check_interval_secs: 1,
        }),
        ..ServerConfig::default()
    };
    // on SEND
    let mut h = Harness::new(cfg.clone());
    let r = h.connect(4);
    let s = h.connect(4);
    let q = h.create_queue(&r, false);
    h.close(&r);
    h.cmd(&s, None, "1", &q.sid, send_cmd(b"hello 1"));
    h.wall = simplex_core::encoding::UnixTime::from_seconds(h.wall.seconds + 2);
    h.cmd(&s, None, "2", &q.sid, send_cmd(b"hello 2"));
    assert_eq!(h.server.message_count(), 1);
    let r = h.connect(4);
    let (_, body) = open(&q, 4, &h.ask(&r, Some(&q.rkey), "3", &q.rid, Command::Sub));
    assert_eq!(body, b"hello 2");
    // on the timer
    let mut h = Harness::new(cfg);
    let r = h.connect(4);
    let q = h.create_queue(&r, false);
    h.close(&r);
    let s = r_sender(&mut h);
    h.cmd(&s, None, "1", &q.sid, send_cmd(b"old"));
    h.advance(3);
    assert_eq!(h.server.message_count(), 0);
}

fn r_sender(h: &mut Harness) -> simplex_server::testkit::TestClient {
    h.connect(4)
}

#[test]
fn messages_do_not_expire_before_the_check_interval() {
    let cfg = ServerConfig {
        message_expiration: Some(simplex_server::ExpirationConfig {
            ttl_secs: 1,
            check_interval_secs: 10_000,
        }),
        ..ServerConfig::default()
    };
    let mut h = Harness::new(cfg);
    let r = h.connect(4);
    let q = h.create_queue(&r, false);
    h.close(&r);
    let s = h.connect(4);
    h.cmd(&s, None, "1", &q.sid, send_cmd(b"hello"));
    h.advance(3);
    assert_eq!(h.server.message_count(), 1);
}

#[test]
fn syntax_errors() {
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let key = sign_key(&mut h.rng, false);
    let dh = simplex_core::crypto::x25519::PrivateKey::generate(&mut h.rng);
    let raw = |h: &mut Harness,
               key: Option<&simplex_core::crypto::keys::SignKey>,
               corr: &str,
               entity: &[u8],
               cmd: &[u8]| {
        let corr_id = simplex_core::protocol::CorrId::from_slice(corr.as_bytes()).unwrap();
        let entity_id = simplex_core::protocol::EntityId::from_slice(entity).unwrap();
        let signed =
            simplex_core::protocol::signed_part(&c.session_id, &corr_id, &entity_id, cmd).unwrap();
        let sig: Option<Signature> = key.map(|k| k.sign(&signed));
        let bytes = simplex_core::protocol::encode_transmission(sig.as_ref(), &signed);
        let out = h.raw(&c, vec![bytes]);
        let got = h.decode(out);
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].corr.as_bytes(), corr.as_bytes());
        assert_eq!(got[0].entity.as_bytes(), entity);
        got[0].msg.clone()
    };
    let cmd_err = |e| err(ErrorType::Cmd(e));
    assert_eq!(
        raw(&mut h, None, "abcd", b"1234", b"HELLO"),
        cmd_err(CommandError::Unknown)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "bcda", b"", b"NEW"),
        cmd_err(CommandError::Syntax)
    );
    let new = Command::New {
        recipient_key: key.verify_key(),
        dh_key: dh.public_key(),
    }
    .to_bytes(4);
    assert_eq!(
        raw(&mut h, None, "dabc", b"", &new),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "abcd", b"12345678", &new),
        cmd_err(CommandError::HasAuth)
    );
    let key_cmd = Command::Key(key.verify_key()).to_bytes(4);
    assert_eq!(
        raw(&mut h, Some(&key), "bcda", b"12345678", &key_cmd),
        err(ErrorType::Auth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "cdab", b"12345678", b"KEY"),
        cmd_err(CommandError::Syntax)
    );
    assert_eq!(
        raw(&mut h, None, "abcd", b"12345678", &key_cmd),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "bcda", b"", &key_cmd),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "cdab", b"12345678", b"SEND F hello"),
        err(ErrorType::Auth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "abcd", b"12345678", b"SEND"),
        cmd_err(CommandError::Syntax)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "bcda", b"", b"SEND F hello"),
        cmd_err(CommandError::NoEntity)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "cdab", b"12345678", b"ACK \x041234"),
        err(ErrorType::Auth)
    );
    assert_eq!(
        raw(&mut h, Some(&key), "abcd", b"12345678", b"ACK"),
        cmd_err(CommandError::Syntax)
    );
    assert_eq!(
        raw(&mut h, None, "cdab", b"12345678", b"ACK \x041234"),
        cmd_err(CommandError::NoAuth)
    );
    assert_eq!(raw(&mut h, None, "abcd", b"", b"PING"), BrokerMsg::Pong);
    assert_eq!(
        raw(&mut h, Some(&key), "bcda", b"12345678", b"OK"),
        cmd_err(CommandError::Unknown)
    );
    for cmd in [&b"SUB"[..], b"OFF", b"DEL", b"GET", b"NDEL"] {
        assert_eq!(
            raw(&mut h, Some(&key), "abcd", b"12345678", cmd),
            err(ErrorType::Auth)
        );
        let mut wrong = cmd.to_vec();
        wrong.push(b'=');
        assert_eq!(
            raw(&mut h, Some(&key), "bcda", b"12345678", &wrong),
            cmd_err(CommandError::Unknown)
        );
        assert_eq!(
            raw(&mut h, None, "cdab", b"12345678", cmd),
            cmd_err(CommandError::NoAuth)
        );
        assert_eq!(
            raw(&mut h, Some(&key), "dabc", b"", cmd),
            cmd_err(CommandError::NoAuth)
        );
    }
}

#[test]
fn auth_uses_dummy_key_for_missing_queue_and_mismatched_algorithm() {
    // Behavioural half of the timing test: every path answers AUTH; the time parity comes
    // from verifying against a dummy key of the signature's algorithm (see machine.rs).
    let mut h = Harness::new(ServerConfig::default());
    let c = h.connect(4);
    let q25519 = h.create_queue(&c, false);
    let q448 = h.create_queue(&c, true);
    for ed448 in [false, true] {
        let k = sign_key(&mut h.rng, ed448);
        for q in [&q25519, &q448] {
            assert_eq!(
                h.ask(&c, Some(&k), "1", &q.rid, Command::Sub),
                err(ErrorType::Auth)
            );
        }
        assert_eq!(
            h.ask(&c, Some(&k), "2", &[7u8; 24], Command::Sub),
            err(ErrorType::Auth)
        );
        assert_eq!(
            h.ask(&c, Some(&k), "3", &[7u8; 24], send_cmd(b"x")),
            err(ErrorType::Auth)
        );
        assert_eq!(
            h.ask(&c, Some(&k), "4", &[7u8; 24], Command::NSub),
            err(ErrorType::Auth)
        );
    }
}

#[test]
fn quota_per_queue_does_not_block_other_queues() {
    let mut h = Harness::new(ServerConfig {
        msg_queue_quota: 4,
        ..ServerConfig::default()
    });
    let r = h.connect(4);
    let s = h.connect(4);
    let q1 = h.create_queue(&r, false);
    let q2 = h.create_queue(&r, false);
    for i in 0..4 {
        assert_eq!(
            h.ask(&s, None, &format!("{i}"), &q1.sid, send_cmd(b"m")),
            BrokerMsg::Ok
        );
    }
    assert_eq!(
        h.ask(&s, None, "q", &q1.sid, send_cmd(b"m")),
        err(ErrorType::Quota)
    );
    assert_eq!(
        h.ask(&s, None, "o", &q2.sid, send_cmd(b"other")),
        BrokerMsg::Ok
    );
    // ACK frees a slot
    let (m1, _) = open(
        &q1,
        4,
        &h.ask(&r, Some(&q1.rkey), "sub", &q1.rid, Command::Sub),
    );
    h.ask(&r, Some(&q1.rkey), "ack", &q1.rid, ack(&m1));
    assert_eq!(
        h.ask(&s, None, "again", &q1.sid, send_cmd(b"m")),
        BrokerMsg::Ok
    );
}

#[test]
fn default_config_matches_reference() {
    let c = ServerConfig::default();
    assert_eq!(c.msg_queue_quota, 128);
    assert!(c.allow_new_queues);
    let e = c.message_expiration.unwrap();
    assert_eq!((e.ttl_secs, e.check_interval_secs), (30 * 86_400, 43_200));
    assert_eq!(c.inactive_client_expiration, None);
    assert_eq!(c.log_stats, None);
}
