//! The client's end-to-end tests, against any SMP server: set
//! `SMP_TEST_SERVER=smp://FINGERPRINT@HOST:PORT` to point them at a running one (the
//! reference implementation, for one), or leave it unset and they start our own server on
//! loopback. They use only what a v3.2.0 server does too.
//!
//!     SMP_TEST_SERVER=smp://...@127.0.0.1:5223 cargo test -p simplex-tests --test external_server

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell, RuntimeConfig};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    decrypt_notification, generate_sign_key, ManagerEvent, RecipientKeys, Reply, Request,
    RequestError, SignAlgorithm,
};
use simplex_core::encoding::string::StrDecode;
use simplex_core::protocol::{Command, CommandError, ErrorType, MsgFlags};
use simplex_tests::client_queue::Queue;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};
use simplex_tests::runtime_client::{create_queue, enable_notifications, next_message};

const T: Duration = Duration::from_secs(15);

/// The server under test: the one named by `SMP_TEST_SERVER`, or our own.
struct Target {
    address: ServerAddress,
    _own: Option<TestServer>,
}

fn target() -> Target {
    match std::env::var("SMP_TEST_SERVER") {
        Ok(text) if !text.is_empty() => Target {
            address: ServerAddress::str_decode(text.as_bytes())
                .unwrap_or_else(|e| panic!("SMP_TEST_SERVER {text:?}: {e}")),
            _own: None,
        },
        _ => {
            let server = TestServer::start(ServerShell::Mio, Options::default());
            Target {
                address: ServerAddress::str_decode(server.address().as_bytes()).unwrap(),
                _own: Some(server),
            }
        }
    }
}

/// Seeds that differ between runs, so repeated runs against one server make new queues.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    nanos ^ u64::from(std::process::id()) << 32
}

fn start(shell: ClientShell) -> ClientRuntime {
    ClientRuntime::start(RuntimeConfig::new(shell)).unwrap()
}

fn create(c: &ClientRuntime, server: &ServerAddress, rng: &mut ChaCha20Rng) -> Queue {
    create_queue(
        c,
        server,
        RecipientKeys::generate(SignAlgorithm::Ed448, rng),
        T,
    )
}

/// Create, secure, subscribe, send (signed; unsigned refused), receive and acknowledge,
/// `GET`, delete.
fn queue_lifecycle(shell: ClientShell) {
    let t = target();
    let server = &t.address;
    let mut rng = ChaCha20Rng::seed_from_u64(fresh_seed());
    let mut recipient = start(shell);
    let sender = start(shell);
    let q = create(&recipient, server, &mut rng);

    let sender_key = generate_sign_key(SignAlgorithm::Ed448, &mut rng);
    let key = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::Key(sender_key.verify_key()),
    );
    assert_eq!(recipient.request(server, key, T), Ok(Reply::Ok));
    let unsigned = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from_static(b"no"),
    );
    assert_eq!(
        sender.request(server, unsigned, T),
        Err(RequestError::Protocol(ErrorType::Auth).into())
    );

    // GET on the connection that made the queue is refused: NEW subscribed it.
    let get = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Get);
    assert_eq!(
        recipient.request(server, get.clone(), T),
        Err(RequestError::Protocol(ErrorType::Cmd(CommandError::Prohibited)).into())
    );
    // On another connection, an empty queue answers OK: no message.
    let reader = start(shell);
    assert_eq!(reader.request(server, get, T), Ok(Reply::Ok));
    reader.stop().unwrap();

    recipient
        .subscribe_wait(server, q.subscription(), T)
        .unwrap();
    for body in ["hello", "again"] {
        let send = Request::send(
            q.sender_id.clone(),
            Some(&sender_key),
            MsgFlags::default(),
            Bytes::from(body),
        );
        assert_eq!(sender.request(server, send, T), Ok(Reply::Ok));
    }
    let first = next_message(&mut recipient, &q.recipient_id, T, "delivery");
    assert_eq!(first.body, Bytes::from_static(b"hello"));
    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, first.msg_id);
    assert_eq!(recipient.request(server, ack, T), Ok(Reply::Ok));
    let second = next_message(&mut recipient, &q.recipient_id, T, "delivery");
    assert_eq!(second.body, Bytes::from_static(b"again"));
    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, second.msg_id);
    assert_eq!(recipient.request(server, ack, T), Ok(Reply::Ok));

    let del = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Del);
    assert_eq!(recipient.request(server, del, T), Ok(Reply::Ok));
    let late = Request::send(
        q.sender_id.clone(),
        Some(&sender_key),
        MsgFlags::default(),
        Bytes::from_static(b"late"),
    );
    assert_eq!(
        sender.request(server, late, T),
        Err(RequestError::Protocol(ErrorType::Auth).into())
    );
    recipient.stop().unwrap();
    sender.stop().unwrap();
}

/// `NKEY`, a notifier's `NSUB`, and the `NMSG` a flagged message causes, opened by the
/// recipient's notification key.
fn notifications(shell: ClientShell) {
    let t = target();
    let server = &t.address;
    let mut rng = ChaCha20Rng::seed_from_u64(fresh_seed());
    let recipient = start(shell);
    let mut notifier = start(shell);
    let q = create(&recipient, server, &mut rng);
    let ntf = enable_notifications(&recipient, server, &q, SignAlgorithm::Ed448, &mut rng, T);
    let notifier_id = ntf.id.clone();
    notifier
        .subscribe_wait(server, ntf.subscription, T)
        .unwrap();
    let send = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags { notification: true },
        Bytes::from_static(b"ring"),
    );
    assert_eq!(recipient.request(server, send, T), Ok(Reply::Ok));
    let until = std::time::Instant::now() + T;
    let (nonce, meta) = loop {
        assert!(std::time::Instant::now() < until, "no notification");
        if let Some(ManagerEvent::Notification {
            notifier_id: n,
            nonce,
            encrypted_meta,
            ..
        }) = notifier.next_event(Duration::from_millis(200))
        {
            assert_eq!(n, notifier_id);
            break (nonce, encrypted_meta);
        }
    };
    let meta = decrypt_notification(&ntf.meta_key, &nonce, &meta).unwrap();
    // The message it names is the one waiting in the queue (read on a connection that is
    // not subscribed to the queue).
    let get = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Get);
    match notifier.request(server, get, T).unwrap() {
        Reply::Message(m) => assert_eq!(m.msg_id, meta.msg_id),
        other => panic!("{other:?}"),
    }
    let del = Request::signed(q.recipient_id.clone(), &q.keys.sign_key, Command::Del);
    assert_eq!(recipient.request(server, del, T), Ok(Reply::Ok));
    recipient.stop().unwrap();
    notifier.stop().unwrap();
}

#[test]
fn queue_lifecycle_mio() {
    queue_lifecycle(ClientShell::Mio)
}

#[test]
fn queue_lifecycle_smol() {
    queue_lifecycle(ClientShell::Smol)
}

#[test]
fn notifications_mio() {
    notifications(ClientShell::Mio)
}

#[test]
fn notifications_smol() {
    notifications(ClientShell::Smol)
}
