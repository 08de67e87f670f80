//! Shell equivalence: the same scripted scenario, run against the server on the mio shell and
//! on the smol shell, yields the same sequence of protocol events. The server's randomness is
//! seeded (queue ids, message ids, DH keys and TLS all come from it) and the clients are
//! deterministic, so everything the clients see must match, except what depends on the clock:
//! delivered bodies are compared after decryption (the ciphertext covers the timestamp).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Decode, Reader, UnixTime};
use simplex_core::protocol::{BrokerMsg, Command, MsgFlags};
use simplex_tests::harness::{Options, Runtime, TestServer};
use simplex_tests::net::NetClient;

const T: Duration = Duration::from_secs(10);

fn key(alg: Algorithm, seed: u8) -> SignKey {
    let len = if alg == Algorithm::Ed448 { 57 } else { 32 };
    SignKey::try_from(PrivateKey::from_raw(alg, &vec![seed; len]).unwrap()).unwrap()
}

/// One event as the client saw it, without what depends on time.
fn event(
    who: &str,
    corr: &[u8],
    entity: &[u8],
    msg: &BrokerMsg,
    body_key: Option<&CbKey>,
) -> String {
    let detail = match msg {
        BrokerMsg::Msg(m) => {
            let plain = body_key
                .and_then(|k| {
                    k.decrypt(
                        &CbNonce::from_slice_padded(m.msg_id.as_bytes()),
                        &m.encrypted_body,
                    )
                    .ok()
                })
                .map(|padded| {
                    let mut r = Reader::from_slice(&padded);
                    let _timestamp = UnixTime::decode(&mut r).unwrap();
                    let flags = MsgFlags::decode(&mut r).unwrap();
                    r.expect_byte(b' ', "space").unwrap();
                    format!(
                        "flags={} body={}",
                        flags.notification,
                        String::from_utf8_lossy(r.peek_rest())
                    )
                })
                .unwrap_or_else(|| "undecryptable".into());
            format!("MSG id={} {plain}", hex::encode(m.msg_id.as_bytes()))
        }
        other => format!("{other:?}"),
    };
    format!(
        "{who} corr={} entity={} {detail}",
        String::from_utf8_lossy(corr),
        hex::encode(entity)
    )
}

/// Who is asking, as the log names them, and the key their messages are opened with.
type Viewer<'a> = (&'a str, Option<&'a CbKey>);

/// Waits for the answer to `corr`, recording it and every message pushed before it.
fn request(
    log: &mut Vec<String>,
    (who, body_key): Viewer<'_>,
    c: &mut NetClient,
    corr: &str,
    entity: &[u8],
    cmd: &Command,
    k: Option<&SignKey>,
) -> BrokerMsg {
    c.send(corr, entity, cmd, k).unwrap();
    loop {
        let t = c.receive(T).unwrap();
        let msg = t.message.unwrap();
        log.push(event(
            who,
            t.corr_id.as_bytes(),
            t.entity_id.as_bytes(),
            &msg,
            body_key,
        ));
        if t.corr_id.as_bytes() == corr.as_bytes() {
            return msg;
        }
    }
}

fn scenario(runtime: Runtime) -> Vec<String> {
    let server = TestServer::start(runtime, Options::default());
    let mut log = Vec::new();
    let (mut alice, mut bob) = (server.client(1), server.client(2));
    let (rkey, skey) = (key(Algorithm::Ed448, 5), key(Algorithm::Ed25519, 6));
    let dh = x25519::PrivateKey::from_bytes(&[5; 32]);
    let new = Command::New {
        recipient_key: rkey.verify_key(),
        dh_key: dh.public_key(),
    };
    let BrokerMsg::Ids {
        recipient_id,
        sender_id,
        server_dh_key,
    } = request(
        &mut log,
        ("alice", None),
        &mut alice,
        "1",
        &[],
        &new,
        Some(&rkey),
    )
    else {
        panic!("no IDS")
    };
    let body_key = CbKey::new(&dh.diffie_hellman(&server_dh_key).unwrap());
    let (rid, sid) = (
        recipient_id.as_bytes().to_vec(),
        sender_id.as_bytes().to_vec(),
    );
    request(
        &mut log,
        ("alice", None),
        &mut alice,
        "2",
        &rid,
        &Command::Key(skey.verify_key()),
        Some(&rkey),
    );
    for i in 0..3 {
        let send = Command::Send {
            flags: MsgFlags {
                notification: i == 1,
            },
            body: Bytes::from(format!("message {i}")),
        };
        request(
            &mut log,
            ("bob", None),
            &mut bob,
            &format!("s{i}"),
            &sid,
            &send,
            Some(&skey),
        );
    }
    // Alice is subscribed (she created the queue): the first message was pushed to her, and
    // the answer to each ACK is the next message (or OK when there is none).
    let mut current = loop {
        let t = alice.receive(T).unwrap();
        let msg = t.message.unwrap();
        log.push(event(
            "alice",
            t.corr_id.as_bytes(),
            t.entity_id.as_bytes(),
            &msg,
            Some(&body_key),
        ));
        if let BrokerMsg::Msg(m) = msg {
            break m;
        }
    };
    for i in 0.. {
        let answer = request(
            &mut log,
            ("alice", Some(&body_key)),
            &mut alice,
            &format!("a{i}"),
            &rid,
            &Command::Ack(current.msg_id.clone()),
            Some(&rkey),
        );
        match answer {
            BrokerMsg::Msg(m) => current = m,
            _ => break,
        }
    }
    request(
        &mut log,
        ("alice", Some(&body_key)),
        &mut alice,
        "3",
        &rid,
        &Command::Get,
        Some(&rkey),
    );
    request(
        &mut log,
        ("alice", None),
        &mut alice,
        "4",
        &rid,
        &Command::Del,
        Some(&rkey),
    );
    let late = Command::Send {
        flags: MsgFlags::default(),
        body: Bytes::from_static(b"too late"),
    };
    request(
        &mut log,
        ("bob", None),
        &mut bob,
        "s9",
        &sid,
        &late,
        Some(&skey),
    );
    request(
        &mut log,
        ("bob", None),
        &mut bob,
        "p",
        &[],
        &Command::Ping,
        None,
    );
    server.stop();
    log
}

#[test]
fn mio_and_smol_shells_yield_the_same_protocol_events() {
    let mio = scenario(Runtime::Mio);
    let smol = scenario(Runtime::Smol);
    assert_eq!(mio.len(), 13, "{mio:#?}");
    assert!(mio.iter().any(|e| e.contains("body=message 2")), "{mio:#?}");
    assert_eq!(mio, smol);
}
