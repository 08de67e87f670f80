//! Interop: our SMP client (the connection manager on each shell) across restarts of the
//! reference smp-server v3.2.0, live on loopback: a graceful SIGINT restart in the middle of a
//! stream of messages (the client reconnects and resubscribes by itself; every message arrives
//! once and in order), a notifier's subscription coming back after a restart, and a SIGTERM
//! stop (queues kept, messages not).
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`); the other client tests
//! against the reference are in `interop_client_reference_server.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell, RuntimeConfig};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    ClientConfig, ManagerConfig, ManagerEvent, RecipientKeys, Reply, Request, RetryInterval,
    SignAlgorithm,
};
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::VersionRange;
use simplex_core::protocol::{EntityId, MsgFlags, MsgId};
use simplex_tests::client_queue::Queue;
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{Identity, ReferenceSmpServer, ServerSetup};

const T: Duration = Duration::from_secs(10);

/// The reference server (initialised and started), or `None` when the group does not run.
fn reference_server(test: &str, identity: Identity) -> Option<(ReferenceSmpServer, ServerAddress)> {
    let programs = programs(test)?;
    let setup = ServerSetup {
        identity,
        ..ServerSetup::default()
    };
    let mut server = ReferenceSmpServer::init(&programs, &setup);
    server.start();
    let address = ServerAddress::str_decode(server.address().as_bytes()).unwrap();
    Some((server, address))
}

/// A client on `shell` offering protocol versions `1..=max_version`, reconnecting quickly.
fn client(shell: ClientShell, max_version: u16, seed: u8) -> ClientRuntime {
    let mut config = RuntimeConfig::new(shell);
    config.seed = Some([seed; 32]);
    config.manager = ManagerConfig {
        client: ClientConfig {
            version_range: VersionRange::between(1, max_version),
            ..ClientConfig::default()
        },
        reconnect: RetryInterval {
            initial: Duration::from_millis(200),
            increase_after: Duration::from_secs(5),
            max: Duration::from_secs(1),
        },
        ..ManagerConfig::default()
    };
    ClientRuntime::start(config).unwrap()
}

fn create(c: &ClientRuntime, server: &ServerAddress, alg: SignAlgorithm, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(alg, &mut ChaCha20Rng::seed_from_u64(seed));
    let reply = c.request(server, Request::create(&keys), T).unwrap();
    Queue::from_ids(keys, reply)
}

fn next_message(
    c: &mut ClientRuntime,
    queue: &EntityId,
    context: &str,
) -> simplex_core::client::ReceivedMessage {
    let until = Instant::now() + T;
    while Instant::now() < until {
        if let Some(ManagerEvent::Message {
            queue_id, message, ..
        }) = c.next_event(Duration::from_millis(200))
        {
            if &queue_id == queue {
                return message.unwrap_or_else(|e| panic!("{context}: {e:?}"));
            }
        }
    }
    panic!("{context}: no message");
}

/// What the subscriber saw: distinct messages in arrival order, and DOWN/UP counts.
#[derive(Default)]
struct Seen {
    ids: BTreeSet<MsgId>,
    acked: BTreeSet<MsgId>,
    bodies: Vec<Bytes>,
    downs: usize,
    ups: usize,
}

impl Seen {
    /// Counts one event; acknowledges each message once, except the `keep_unacked`-th, which
    /// the server must then deliver again after the restart.
    fn on_event(
        &mut self,
        c: &ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        event: ManagerEvent,
        keep_unacked: Option<usize>,
    ) {
        match event {
            ManagerEvent::Message { message, .. } => {
                let m = message.unwrap();
                if self.ids.insert(m.msg_id.clone()) {
                    self.bodies.push(m.body.clone());
                    if keep_unacked == Some(self.bodies.len()) {
                        return;
                    }
                }
                if self.acked.insert(m.msg_id.clone()) {
                    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
                    assert_eq!(c.request(server, ack, T), Ok(Reply::Ok));
                }
            }
            ManagerEvent::Down { .. } => self.downs += 1,
            ManagerEvent::Up { .. } => self.ups += 1,
            _ => {}
        }
    }

    fn take_until(
        &mut self,
        c: &mut ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        keep_unacked: Option<usize>,
        what: &str,
        done: impl Fn(&Self) -> bool,
    ) {
        let until = Instant::now() + 3 * T;
        while !done(self) {
            assert!(Instant::now() < until, "{what}: only {:?}", self.bodies);
            if let Some(event) = c.next_event(Duration::from_millis(200)) {
                self.on_event(c, server, q, event, keep_unacked);
            }
        }
    }
}

/// Six messages sent, three received (the third not acknowledged, so four stay); the reference server is
/// stopped with SIGINT (it saves the undelivered messages) and started again on the same
/// directories and port; the client reconnects, resubscribes, gets the third again and the
/// rest, then four more: ten distinct messages in order, one DOWN and one UP, nothing twice.
fn restart_mid_stream(shell: ClientShell, test: &str) {
    let Some((mut server, address)) = reference_server(test, Identity::Fixture) else {
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
    seen.take_until(&mut recipient, &address, &q, Some(3), "before", |s| {
        s.bodies.len() >= 3
    });

    server.stop(StopSignal::Interrupt);
    let saved = std::fs::read_to_string(server.messages_log()).unwrap();
    assert_eq!(saved.lines().count(), 4, "four undelivered saved:\n{saved}");
    server.start();
    seen.take_until(&mut recipient, &address, &q, None, "resubscribe", |s| {
        s.ups >= 1
    });
    for i in 6..10 {
        send(i);
    }
    seen.take_until(&mut recipient, &address, &q, None, "after", |s| {
        s.bodies.len() >= 10
    });
    let expected: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("message {i}")))
        .collect();
    assert_eq!(seen.bodies, expected, "each once, in order");
    assert_eq!((seen.downs, seen.ups), (1, 1), "one DOWN and one UP");
    while let Some(event) = recipient.next_event(Duration::from_millis(300)) {
        if let ManagerEvent::Message { message: Ok(m), .. } = event {
            panic!("a message after the last one: {:?}", m.body);
        }
    }
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
        reference_server("sigterm_keeps_queues_but_not_messages", Identity::Fixture)
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
    let m = next_message(&mut recipient, &q.recipient_id, "after SIGTERM");
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
    use simplex_core::client::{
        body_key, decrypt_notification, generate_sign_key, QueueSubscription, SubParty,
    };
    use simplex_core::crypto::x25519;
    use simplex_core::protocol::Command;

    let Some((mut server, address)) =
        reference_server("notifier_resubscribes_after_restart", Identity::Fixture)
    else {
        return;
    };
    let mut c = client(ClientShell::Smol, 4, 50);
    let q = create(&c, &address, SignAlgorithm::Ed448, 50);
    c.subscribe_wait(&address, q.subscription(), T).unwrap();
    let mut rng = ChaCha20Rng::seed_from_u64(51);
    let notifier_key = generate_sign_key(SignAlgorithm::Ed25519, &mut rng);
    let ntf_dh = x25519::PrivateKey::generate(&mut rng);
    let nkey = Request::signed(
        q.recipient_id.clone(),
        &q.keys.sign_key,
        Command::NKey {
            notifier_key: notifier_key.verify_key(),
            dh_key: ntf_dh.public_key(),
        },
    );
    let Reply::Nid {
        notifier_id,
        server_dh_key,
    } = c.request(&address, nkey, T).unwrap()
    else {
        panic!("NKEY did not answer NID");
    };
    let nsub = QueueSubscription {
        party: SubParty::Notifier,
        queue_id: notifier_id.clone(),
        sign_key: notifier_key,
        body_key: None,
    };
    c.subscribe_wait(&address, nsub, T).unwrap();

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
    let meta_key = body_key(&ntf_dh, &server_dh_key).unwrap();
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
