//! Interop: our SMP client (the connection manager on each shell) across restarts of the
//! reference smp-server v3.2.0, live on loopback: a graceful SIGINT restart in the middle of a
//! stream of messages (the client reconnects and resubscribes by itself; every message arrives
//! once and in order), a notifier's subscription coming back after a restart, and a SIGTERM
//! stop (queues kept, messages not).
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`); the other client tests
//! against the reference are in `interop_client_reference_server.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell};
use simplex_core::address::ServerAddress;
use simplex_core::client::{ManagerEvent, RecipientKeys, Reply, Request, SignAlgorithm};
use simplex_core::encoding::VersionRange;
use simplex_core::protocol::MsgFlags;
use simplex_tests::client_queue::Queue;
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::smp_server::{Identity, ReferenceSmpServer};
use simplex_tests::runtime_client::{
    assert_no_more_messages, create_queue, enable_notifications, next_message,
    quick_reconnecting_client, Seen,
};

const T: Duration = Duration::from_secs(10);

fn client(shell: ClientShell, max_version: u16, seed: u8) -> ClientRuntime {
    quick_reconnecting_client(shell, VersionRange::between(1, max_version), seed)
}

fn create(c: &ClientRuntime, server: &ServerAddress, alg: SignAlgorithm, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(alg, &mut ChaCha20Rng::seed_from_u64(seed));
    create_queue(c, server, keys, T)
}

/// Six messages sent, three received (the third not acknowledged, so four stay); the reference server is
/// stopped with SIGINT (it saves the undelivered messages) and started again on the same
/// directories and port; the client reconnects, resubscribes, gets the third again and the
/// rest, then four more: ten distinct messages in order, one DOWN and one UP, nothing twice.
fn restart_mid_stream(shell: ClientShell, test: &str) {
    let Some((mut server, address)) = ReferenceSmpServer::started(test, Identity::Fixture) else {
        return;
    };
    let mut recipient = client(shell, 4, 1);
    let sender = client(shell, 4, 2);
    let q = create(&recipient, &address, SignAlgorithm::Ed448, 1);
    recipient
        .subscribe_wait(&address, q.subscription(), T)
        .unwrap();
    let send = |i: usize| {
        let request = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from(format!("message {i}")),
        );
        assert_eq!(sender.request(&address, request, T), Ok(Reply::Ok));
    };
    for i in 0..6 {
        send(i);
    }
    let mut seen = Seen::default();
    seen.take_until(
        &mut recipient,
        &address,
        &q,
        Some(3),
        3 * T,
        "before",
        |s| s.bodies.len() >= 3,
    );

    server.stop(StopSignal::Interrupt);
    let saved = std::fs::read_to_string(server.messages_log()).unwrap();
    assert_eq!(saved.lines().count(), 4, "four undelivered saved:\n{saved}");
    server.start();
    seen.take_until(
        &mut recipient,
        &address,
        &q,
        None,
        3 * T,
        "resubscribe",
        |s| s.ups >= 1,
    );
    for i in 6..10 {
        send(i);
    }
    seen.take_until(&mut recipient, &address, &q, None, 3 * T, "after", |s| {
        s.bodies.len() >= 10
    });
    let expected: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("message {i}")))
        .collect();
    assert_eq!(seen.bodies, expected, "each once, in order");
    assert_eq!((seen.downs, seen.ups), (1, 1), "one DOWN and one UP");
    assert_no_more_messages(&mut recipient, Duration::from_millis(300));
    recipient.stop().unwrap();
    sender.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}

#[test]
fn restart_mid_stream_mio() {
    restart_mid_stream(ClientShell::Mio, "restart_mid_stream_mio");
}

#[test]
fn restart_mid_stream_smol() {
    restart_mid_stream(ClientShell::Smol, "restart_mid_stream_smol");
}

/// A stop with SIGTERM does not save messages: after the restart the queue is there (the store
/// log is written as it goes) and takes new messages, but the undelivered ones are gone.
#[test]
fn sigterm_keeps_queues_but_not_messages() {
    let Some((mut server, address)) =
        ReferenceSmpServer::started("sigterm_keeps_queues_but_not_messages", Identity::Fixture)
    else {
        return;
    };
    // The queue's maker is not the one that reads it later: NEW subscribes its connection.
    let maker = client(ClientShell::Mio, 4, 29);
    let sender = client(ClientShell::Mio, 4, 31);
    let q = create(&maker, &address, SignAlgorithm::Ed25519, 30);
    maker.stop().unwrap();
    let send = |body: &'static str| {
        let request = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from_static(body.as_bytes()),
        );
        assert_eq!(sender.request(&address, request, T), Ok(Reply::Ok));
    };
    send("lost");
    server.stop(StopSignal::Terminate);
    assert!(!server.messages_log().exists(), "{}", server.output());
    server.start();
    send("kept");
    let mut recipient = client(ClientShell::Mio, 4, 30);
    recipient
        .subscribe_wait(&address, q.subscription(), T)
        .unwrap();
    let m = next_message(&mut recipient, &q.recipient_id, T, "after SIGTERM");
    assert_eq!(m.body, Bytes::from_static(b"kept"));
    recipient.stop().unwrap();
    sender.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}

/// A notifier's `NSUB` comes back after a SIGINT restart together with the recipient's `SUB`
/// (one connection, one UP naming both): a flagged message sent after the restart notifies,
/// and its notification names the message the recipient then receives.
#[test]
fn notifier_resubscribes_after_restart() {
    use simplex_core::client::{decrypt_notification, SubParty};

    let Some((mut server, address)) =
        ReferenceSmpServer::started("notifier_resubscribes_after_restart", Identity::Fixture)
    else {
        return;
    };
    let mut c = client(ClientShell::Smol, 4, 50);
    let q = create(&c, &address, SignAlgorithm::Ed448, 50);
    c.subscribe_wait(&address, q.subscription(), T).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(51);
    let notifier = enable_notifications(&c, &address, &q, SignAlgorithm::Ed25519, &mut rng, T);
    let notifier_id = notifier.id.clone();
    c.subscribe_wait(&address, notifier.subscription, T)
        .unwrap();

    server.stop(StopSignal::Interrupt);
    server.start();
    let until = Instant::now() + 3 * T;
    let up = loop {
        assert!(Instant::now() < until, "no UP");
        if let Some(ManagerEvent::Up { subs, .. }) = c.next_event(Duration::from_millis(200)) {
            break subs;
        }
    };
    assert!(
        up.contains(&(SubParty::Recipient, q.recipient_id.clone())),
        "{up:?}"
    );
    assert!(
        up.contains(&(SubParty::Notifier, notifier_id.clone())),
        "{up:?}"
    );

    let send = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags { notification: true },
        Bytes::from_static(b"after the restart"),
    );
    assert_eq!(c.request(&address, send, T), Ok(Reply::Ok));
    let meta_key = notifier.meta_key;
    let (mut meta, mut message) = (None, None);
    let until = Instant::now() + T;
    while meta.is_none() || message.is_none() {
        assert!(Instant::now() < until, "{meta:?} {message:?}");
        match c.next_event(Duration::from_millis(200)) {
            Some(ManagerEvent::Notification {
                notifier_id: n,
                nonce,
                encrypted_meta,
                ..
            }) => {
                assert_eq!(n, notifier_id);
                meta = Some(decrypt_notification(&meta_key, &nonce, &encrypted_meta).unwrap());
            }
            Some(ManagerEvent::Message { message: m, .. }) => message = Some(m.unwrap()),
            _ => {}
        }
    }
    let (meta, message) = (meta.unwrap(), message.unwrap());
    assert_eq!(message.body, Bytes::from_static(b"after the restart"));
    assert_eq!(meta.msg_id, message.msg_id);
    c.stop().unwrap();
    server.stop(StopSignal::Interrupt);
}
