//! Interop: our SMP client (the connection manager on each shell, through
//! `simplex_agent_cli::client_runtime`) against the reference smp-server v3.2.0, live on
//! loopback. Protocol v1 to v4 (the client's offered range), Ed25519 and Ed448 queue keys,
//! `GET`, notifiers (`NKEY`, `NSUB`, `NMSG`, `NDEL`), a server identity the reference generated,
//! the INI's quota; and on our transport (`simplex_tests::net`) the negotiated version and the
//! reference's WebSockets port.
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`). Restarts of the reference
//! server are in `interop_client_reference_restarts.rs`; the `smp-client` program against it in
//! `agent/cli/tests/interop_reference_server.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    decrypt_message, decrypt_notification, generate_sign_key, ManagerEvent, RecipientKeys, Reply,
    Request, RequestError, SignAlgorithm, SubParty,
};
use simplex_core::crypto::x25519;
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::VersionRange;
use simplex_core::protocol::{Command, CommandError, EntityId, ErrorType, MsgFlags};
use simplex_tests::client_queue::Queue;
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{Identity, ReferenceSmpServer, ServerSetup};
use simplex_tests::runtime_client::{
    create_queue, enable_notifications, next_message, quick_reconnecting_client,
};

const T: Duration = Duration::from_secs(10);

fn client(shell: ClientShell, max_version: u16, seed: u8) -> ClientRuntime {
    quick_reconnecting_client(shell, VersionRange::between(1, max_version), seed)
}

fn create(c: &ClientRuntime, server: &ServerAddress, alg: SignAlgorithm, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(alg, &mut ChaCha20Rng::seed_from_u64(seed));
    create_queue(c, server, keys, T)
}

/// The queue commands with keys of `alg` at protocol `1..=max_version`: create, secure (an
/// unsigned send refused after), subscribe, send, receive and acknowledge in order, `GET` on
/// another connection (refused on the subscribed one), delete (a late send refused).
fn queue_commands(
    shell: ClientShell,
    server: &ServerAddress,
    max_version: u16,
    alg: SignAlgorithm,
    seed: u8,
) {
    let context = format!("{shell:?} v{max_version} {alg:?}");
    let mut rng = ChaCha20Rng::seed_from_u64(u64::from(seed));
    let mut recipient = client(shell, max_version, seed);
    let sender = client(shell, max_version, seed.wrapping_add(100));
    let q = create(&recipient, server, alg, u64::from(seed));

    let sender_key = generate_sign_key(alg, &mut rng);
    let key = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::Key(sender_key.verify_key()),
    );
    assert_eq!(
        recipient.request(server, key, T),
        Ok(Reply::Ok),
        "{context}"
    );
    let unsigned = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from_static(b"unsigned"),
    );
    assert_eq!(
        sender.request(server, unsigned, T),
        Err(RequestError::Protocol(ErrorType::Auth).into()),
        "{context}"
    );

    // NEW subscribed the creating connection, so GET there is refused.
    let get = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Get);
    assert_eq!(
        recipient.request(server, get.clone(), T),
        Err(RequestError::Protocol(ErrorType::Cmd(CommandError::Prohibited)).into()),
        "{context}"
    );
    recipient
        .subscribe_wait(server, q.subscription(), T)
        .unwrap();
    let bodies: Vec<Bytes> = vec![
        Bytes::from(format!("hello from {context}")),
        Bytes::new(),
        Bytes::from(vec![0xA5; 16_000]),
    ];
    for body in &bodies {
        let send = Request::send(
            q.sender_id.clone(),
            Some(&sender_key),
            MsgFlags::default(),
            body.clone(),
        );
        assert_eq!(sender.request(server, send, T), Ok(Reply::Ok), "{context}");
    }
    let mut last_ts = None;
    for body in &bodies {
        let m = next_message(&mut recipient, &q.recipient_id, T, &context);
        assert_eq!(&m.body, body, "{context}");
        assert!(
            m.timestamp.seconds > 1_600_000_000,
            "{context}: {:?}",
            m.timestamp
        );
        assert!(
            last_ts <= Some(m.timestamp.seconds),
            "{context}: timestamps in order"
        );
        last_ts = Some(m.timestamp.seconds);
        let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
        assert_eq!(
            recipient.request(server, ack, T),
            Ok(Reply::Ok),
            "{context}"
        );
    }

    // GET on a connection that is not subscribed: nothing (OK), then a message it opens.
    let reader = client(shell, max_version, seed.wrapping_add(200));
    assert_eq!(
        reader.request(server, get.clone(), T),
        Ok(Reply::Ok),
        "{context}"
    );
    // The subscriber gets it pushed; the reader reads it with GET (both see the same message).
    let send = Request::send(
        q.sender_id.clone(),
        Some(&sender_key),
        MsgFlags::default(),
        Bytes::from_static(b"fetched"),
    );
    assert_eq!(sender.request(server, send, T), Ok(Reply::Ok), "{context}");
    let pushed = next_message(&mut recipient, &q.recipient_id, T, &context);
    let version = VersionRange::between(1, max_version).max();
    match reader.request(server, get, T).unwrap() {
        Reply::Message(m) => {
            let body_key = q.keys.body_key(&q.server_dh).unwrap();
            let opened = decrypt_message(version, &body_key, &m).unwrap();
            assert_eq!(opened.body, Bytes::from_static(b"fetched"), "{context}");
            assert_eq!(opened.msg_id, pushed.msg_id, "{context}");
        }
        other => panic!("{context}: GET answered {other:?}"),
    }
    reader.stop().unwrap();

    let del = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Del);
    assert_eq!(
        recipient.request(server, del, T),
        Ok(Reply::Ok),
        "{context}"
    );
    let late = Request::send(
        q.sender_id.clone(),
        Some(&sender_key),
        MsgFlags::default(),
        Bytes::from_static(b"late"),
    );
    assert_eq!(
        sender.request(server, late, T),
        Err(RequestError::Protocol(ErrorType::Auth).into()),
        "{context}"
    );
    recipient.stop().unwrap();
    sender.stop().unwrap();
}

fn queue_commands_all(shell: ClientShell, test: &str, identity: Identity) {
    let Some((mut server, address)) = ReferenceSmpServer::started(test, identity) else {
        return;
    };
    let mut seed = 1;
    for max_version in [1, 2, 3, 4] {
        for alg in [SignAlgorithm::Ed25519, SignAlgorithm::Ed448] {
            queue_commands(shell, &address, max_version, alg, seed);
            seed += 1;
        }
    }
    assert!(server.is_running(), "{}", server.output());
    server.stop(StopSignal::Interrupt);
}

#[test]
fn queue_commands_mio() {
    queue_commands_all(ClientShell::Mio, "queue_commands_mio", Identity::Fixture);
}

#[test]
fn queue_commands_smol() {
    queue_commands_all(ClientShell::Smol, "queue_commands_smol", Identity::Fixture);
}

/// A server identity generated by the reference's own `init` (Ed25519 certificates), read
/// from its `fingerprint` file.
#[test]
fn queue_commands_generated_ed25519_identity() {
    queue_commands_all(
        ClientShell::Mio,
        "queue_commands_generated_ed25519_identity",
        Identity::GeneratedEd25519,
    );
}

/// `NKEY`, `NSUB` by the notifier, and the `NMSG` a flagged message causes (an unflagged one
/// causes none), opened with the recipient's notification key; its message id is the one
/// `GET` then reads. `NDEL` ends the notifications.
fn notifications(shell: ClientShell, test: &str) {
    let Some((mut server, address)) = ReferenceSmpServer::started(test, Identity::Fixture) else {
        return;
    };
    let server_addr = &address;
    for (i, alg) in [SignAlgorithm::Ed25519, SignAlgorithm::Ed448]
        .into_iter()
        .enumerate()
    {
        let seed = 10 + i as u8;
        let context = format!("{shell:?} {alg:?}");
        let mut rng = ChaCha20Rng::seed_from_u64(u64::from(seed));
        let recipient = client(shell, 4, seed);
        let mut notifier = client(shell, 4, seed + 50);
        let q = create(&recipient, server_addr, alg, u64::from(seed));
        let ntf = enable_notifications(&recipient, server_addr, &q, alg, &mut rng, T);
        let notifier_id = ntf.id.clone();
        notifier
            .subscribe_wait(server_addr, ntf.subscription, T)
            .unwrap();
        for (body, notify) in [("quiet", false), ("ring", true)] {
            let send = Request::send(
                q.sender_id.clone(),
                None,
                MsgFlags {
                    notification: notify,
                },
                Bytes::from(body),
            );
            assert_eq!(recipient.request(server_addr, send, T), Ok(Reply::Ok));
        }
        let key = ntf.meta_key;
        let mut metas = Vec::new();
        // Until the flagged one notified, and a while longer for a wrong extra one.
        let until = Instant::now() + T;
        let mut quiet_until = None;
        while Instant::now() < until && quiet_until.is_none_or(|q| Instant::now() < q) {
            if let Some(ManagerEvent::Notification {
                notifier_id: n,
                nonce,
                encrypted_meta,
                ..
            }) = notifier.next_event(Duration::from_millis(200))
            {
                assert_eq!(n, notifier_id, "{context}");
                metas.push(decrypt_notification(&key, &nonce, &encrypted_meta).unwrap());
                quiet_until = Some(Instant::now() + Duration::from_millis(500));
            }
        }
        assert_eq!(
            metas.len(),
            1,
            "{context}: only the flagged message notifies"
        );
        // Read both with GET on the notifier's connection (not subscribed to the queue): the
        // second is the one the notification names.
        let body_key = q.keys.body_key(&q.server_dh).unwrap();
        let mut read = Vec::new();
        for _ in 0..2 {
            let get = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Get);
            let m = match notifier.request(server_addr, get, T).unwrap() {
                Reply::Message(m) => decrypt_message(4, &body_key, &m).unwrap(),
                other => panic!("{context}: GET answered {other:?}"),
            };
            let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id.clone());
            assert_eq!(notifier.request(server_addr, ack, T), Ok(Reply::Ok));
            read.push(m);
        }
        assert_eq!(read[0].body, Bytes::from_static(b"quiet"), "{context}");
        assert!(!read[0].flags.notification, "{context}");
        assert_eq!(read[1].body, Bytes::from_static(b"ring"), "{context}");
        assert!(read[1].flags.notification, "{context}");
        assert_eq!(read[1].msg_id, metas[0].msg_id, "{context}");
        assert_eq!(read[1].timestamp, metas[0].timestamp, "{context}");

        // After NDEL a flagged message notifies nobody.
        let ndel = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::NDel);
        assert_eq!(recipient.request(server_addr, ndel, T), Ok(Reply::Ok));
        let send = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags { notification: true },
            Bytes::from_static(b"silent"),
        );
        assert_eq!(recipient.request(server_addr, send, T), Ok(Reply::Ok));
        let until = Instant::now() + Duration::from_millis(500);
        while Instant::now() < until {
            if let Some(ManagerEvent::Notification { .. }) =
                notifier.next_event(Duration::from_millis(200))
            {
                panic!("{context}: a notification after NDEL");
            }
        }
        recipient.stop().unwrap();
        notifier.stop().unwrap();
    }
    server.stop(StopSignal::Interrupt);
}

#[test]
fn notifications_mio() {
    notifications(ClientShell::Mio, "notifications_mio");
}

#[test]
fn notifications_smol() {
    notifications(ClientShell::Smol, "notifications_smol");
}

/// The `[MESSAGES]` quota of the reference's INI: the message past it is refused with
/// `ERR QUOTA`, and room comes back after an acknowledgement.
#[test]
fn quota_from_the_ini() {
    let Some(programs) = programs("quota_from_the_ini") else {
        return;
    };
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.set_messages_section(&[("quota", "2")]);
    server.start();
    let address = ServerAddress::str_decode(server.address().as_bytes()).unwrap();
    let mut recipient = client(ClientShell::Smol, 4, 40);
    let sender = client(ClientShell::Smol, 4, 41);
    let q = create(&recipient, &address, SignAlgorithm::Ed448, 40);
    let send = |body: &'static str| {
        let request = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from_static(body.as_bytes()),
        );
        sender.request(&address, request, T)
    };
    recipient
        .subscribe_wait(&address, q.subscription(), T)
        .unwrap();
    // The first is delivered but not acknowledged: it still counts.
    assert_eq!(send("one"), Ok(Reply::Ok));
    let m = next_message(&mut recipient, &q.recipient_id, T, "quota");
    assert_eq!(send("two"), Ok(Reply::Ok));
    assert_eq!(
        send("three"),
        Err(RequestError::Protocol(ErrorType::Quota).into())
    );
    assert_eq!(m.body, Bytes::from_static(b"one"));
    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
    assert_eq!(recipient.request(&address, ack, T), Ok(Reply::Ok));
    assert_eq!(send("four"), Ok(Reply::Ok));
    recipient.stop().unwrap();
    sender.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}

/// The version our transport agrees with the reference server (which offers 1–4) is the
/// highest both have; a secured queue then carries a message sent and delivered at that
/// version (the v3 body format is the same for v3 and v4).
#[test]
fn negotiated_version_is_the_highest_common_one() {
    use simplex_core::crypto::hash::KeyHash;
    use simplex_core::transport::Framing;
    use simplex_tests::net::NetClient;

    let Some((mut server, address)) = ReferenceSmpServer::started(
        "negotiated_version_is_the_highest_common_one",
        Identity::Fixture,
    ) else {
        return;
    };
    let key_hash = KeyHash::from_base64url(server.fingerprint()).unwrap();
    assert_eq!(address.key_hash, key_hash);
    for max in [3, 4] {
        let versions = VersionRange::between(1, max);
        let connect = |seed| {
            NetClient::connect_with(server.addr(), key_hash, seed, T, Framing::Raw, versions)
                .unwrap()
        };
        exchange_at(max, connect(u64::from(max)), connect(u64::from(max) + 10));
    }
    server.stop(StopSignal::Interrupt);
}

/// The reference's WebSockets port (`websockets: on`; TLS, then the HTTP upgrade, then one
/// block per binary message) with our WebSocket transport, at v3 and v4; a WebSocket client
/// and a TLS client share the queue.
#[test]
fn websockets_port() {
    use simplex_core::crypto::hash::KeyHash;
    use simplex_core::transport::Framing;
    use simplex_tests::net::NetClient;

    let Some(programs) = programs("websockets_port") else {
        return;
    };
    let setup = ServerSetup {
        websockets: true,
        ..ServerSetup::default()
    };
    let mut server = ReferenceSmpServer::init(&programs, &setup);
    server.start();
    let key_hash = KeyHash::from_base64url(server.fingerprint()).unwrap();
    let ws = server.ws_addr().unwrap();
    for max in [3, 4] {
        let versions = VersionRange::between(1, max);
        let connect = |addr, seed, framing| {
            NetClient::connect_with(addr, key_hash, seed, T, framing, versions).unwrap()
        };
        let recipient = connect(ws, u64::from(max), Framing::WebSocket);
        let sender = connect(server.addr(), u64::from(max) + 10, Framing::Raw);
        exchange_at(max, recipient, sender);
        let recipient = connect(server.addr(), u64::from(max) + 20, Framing::Raw);
        let sender = connect(ws, u64::from(max) + 30, Framing::WebSocket);
        exchange_at(max, recipient, sender);
    }
    assert!(server.is_running(), "{}", server.output());
    server.stop(StopSignal::Interrupt);
}

/// On connections established at `version`: the recipient makes and secures a queue, the
/// sender sends, the recipient gets the message and opens it.
fn exchange_at(
    version: u16,
    mut recipient: simplex_tests::net::NetClient,
    mut sender: simplex_tests::net::NetClient,
) {
    use simplex_core::protocol::BrokerMsg;
    use simplex_tests::net::open_message;
    assert_eq!(recipient.version(), Some(version));
    assert_eq!(sender.version(), Some(version));
    let mut rng = ChaCha20Rng::from_entropy();
    let rkey = generate_sign_key(SignAlgorithm::Ed25519, &mut rng);
    let skey = generate_sign_key(SignAlgorithm::Ed448, &mut rng);
    let dh = x25519::PrivateKey::generate(&mut rng);
    let q = recipient.secured_queue(&rkey, &skey, &dh, T).unwrap();
    let body = format!("at v{version}");
    let send = Command::Send {
        flags: MsgFlags::default(),
        body: Bytes::from(body.clone()),
    };
    let answer = sender.request("s", &q.sid, &send, Some(&skey), T).unwrap();
    assert_eq!(answer, BrokerMsg::Ok, "v{version}");
    let delivered = recipient.receive(T).unwrap();
    let Ok(BrokerMsg::Msg(m)) = delivered.message else {
        panic!("v{version}: {delivered:?}");
    };
    assert_eq!(open_message(&q.body_key, &m).unwrap(), body.as_bytes());
    recipient.close().unwrap();
    sender.close().unwrap();
}

/// A second connection's `SUB` takes the queue over: the reference sends `END` to the first,
/// which our manager reports once and forgets; messages then go to the second only.
fn subscription_taken_over(shell: ClientShell, test: &str) {
    let Some((mut server, address)) = ReferenceSmpServer::started(test, Identity::Fixture) else {
        return;
    };
    let mut first = client(shell, 4, 60);
    let mut second = client(shell, 4, 61);
    let q = create(&first, &address, SignAlgorithm::Ed25519, 60);
    first.subscribe_wait(&address, q.subscription(), T).unwrap();
    second
        .subscribe_wait(&address, q.subscription(), T)
        .unwrap();
    let until = Instant::now() + T;
    loop {
        assert!(Instant::now() < until, "no END");
        if let Some(ManagerEvent::End { sub, .. }) = first.next_event(Duration::from_millis(200)) {
            assert_eq!(sub, (SubParty::Recipient, q.recipient_id.clone()));
            break;
        }
    }
    let send = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from_static(b"to the second"),
    );
    assert_eq!(first.request(&address, send, T), Ok(Reply::Ok));
    let m = next_message(&mut second, &q.recipient_id, T, "taken over");
    assert_eq!(m.body, Bytes::from_static(b"to the second"));
    while let Some(event) = first.next_event(Duration::from_millis(300)) {
        assert!(
            !matches!(
                event,
                ManagerEvent::Message { .. } | ManagerEvent::End { .. }
            ),
            "{event:?}"
        );
    }
    first.stop().unwrap();
    second.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}

#[test]
fn subscription_taken_over_mio() {
    subscription_taken_over(ClientShell::Mio, "subscription_taken_over_mio");
}

#[test]
fn subscription_taken_over_smol() {
    subscription_taken_over(ClientShell::Smol, "subscription_taken_over_smol");
}

/// Many subscriptions at once: the manager packs the `SUB`s into v4 batches (several per
/// block) and the reference answers each; then a message to every queue arrives on the one
/// subscribed connection.
fn many_subscriptions(shell: ClientShell, test: &str) {
    const QUEUES: usize = 300;
    let Some((mut server, address)) = ReferenceSmpServer::started(test, Identity::Fixture) else {
        return;
    };
    let maker = client(shell, 4, 70);
    let queues: Vec<Queue> = (0..QUEUES)
        .map(|i| {
            let alg = if i % 2 == 0 {
                SignAlgorithm::Ed25519
            } else {
                SignAlgorithm::Ed448
            };
            create(&maker, &address, alg, 1000 + i as u64)
        })
        .collect();
    maker.stop().unwrap();
    let mut reader = client(shell, 4, 71);
    reader
        .subscribe(&address, queues.iter().map(Queue::subscription).collect())
        .unwrap();
    let mut subscribed = std::collections::BTreeSet::new();
    let until = Instant::now() + 3 * T;
    while subscribed.len() < QUEUES {
        assert!(Instant::now() < until, "{} subscribed", subscribed.len());
        match reader.next_event(Duration::from_millis(200)) {
            Some(ManagerEvent::Subscribed { sub, .. }) => {
                subscribed.insert(sub.1);
            }
            Some(ManagerEvent::SubscriptionFailed { error, .. }) => panic!("{error:?}"),
            _ => {}
        }
    }
    let sender = client(shell, 4, 72);
    for (i, q) in queues.iter().enumerate() {
        let send = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from(format!("to queue {i}")),
        );
        assert_eq!(sender.request(&address, send, T), Ok(Reply::Ok));
    }
    let by_id: std::collections::HashMap<&EntityId, usize> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| (&q.recipient_id, i))
        .collect();
    let mut got = vec![false; QUEUES];
    let until = Instant::now() + 3 * T;
    while got.iter().any(|g| !g) {
        assert!(
            Instant::now() < until,
            "{} of {QUEUES} messages",
            got.iter().filter(|g| **g).count()
        );
        if let Some(ManagerEvent::Message {
            queue_id, message, ..
        }) = reader.next_event(Duration::from_millis(200))
        {
            let i = by_id[&queue_id];
            assert_eq!(message.unwrap().body, Bytes::from(format!("to queue {i}")));
            assert!(!got[i], "queue {i} twice");
            got[i] = true;
        }
    }
    reader.stop().unwrap();
    sender.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}

#[test]
fn many_subscriptions_mio() {
    many_subscriptions(ClientShell::Mio, "many_subscriptions_mio");
}

#[test]
fn many_subscriptions_smol() {
    many_subscriptions(ClientShell::Smol, "many_subscriptions_smol");
}
