//! Interop of the data files: a store log (`smp-server-store.log`) and saved messages
//! (`smp-server-messages.log`) written by the reference smp-server v3.2.0 are read by our
//! server, and ours are read by the reference.
//!
//! One server is populated through our client: queues with known keys (Ed448 and Ed25519;
//! secured or not; one with a notifier; one deleted) and undelivered messages (flagged for
//! notification where the test needs to learn their ids and timestamps: the `NMSG` metadata
//! names them without consuming the message). It is stopped gracefully, its two files are
//! copied into the other server's log directory, and the other server is started. Our client
//! then checks every queue: `SUB` with the same keys delivers every message with its id,
//! timestamp, flags and body, in order; a secured queue refuses an unsigned `SEND` and takes
//! the sender's signed one; an unsecured one still takes `KEY`; the notifier's `NSUB` works
//! and a new flagged message notifies it; the deleted queue is gone.
//!
//! Both servers use the fixture identity, so one address fingerprint serves both. Gated by
//! `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{
    ClientRuntime, Runtime as ClientShell, RuntimeConfig, RuntimeError,
};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    decrypt_notification, generate_sign_key, ManagerEvent, RecipientKeys, Reply, Request,
    RequestError, SignAlgorithm,
};
use simplex_core::crypto::keys::SignKey;
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{Command, ErrorType, MsgFlags, MsgId};
use simplex_server::files::{DataFiles, FileOptions};
use simplex_tests::client_queue::Queue;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};
use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};
use simplex_tests::runtime_client::{create_queue, enable_notifications, message_within, Notifier};

const T: Duration = Duration::from_secs(10);
const STORE_LOG: &str = "smp-server-store.log";
const MESSAGES_LOG: &str = "smp-server-messages.log";

fn client(seed: u8) -> ClientRuntime {
    let mut config = RuntimeConfig::new(ClientShell::Mio);
    config.seed = Some([seed; 32]);
    ClientRuntime::start(config).unwrap()
}

fn address(text: &str) -> ServerAddress {
    ServerAddress::str_decode(text.as_bytes()).unwrap()
}

/// One undelivered message as the source server took it.
#[derive(Debug, Clone)]
struct Sent {
    body: Bytes,
    notify: bool,
    /// Id and timestamp, known for flagged messages (from the `NMSG` metadata).
    id: Option<(MsgId, UnixTime)>,
}

/// A queue made on the source server, with everything the check on the target needs.
struct Planned {
    name: &'static str,
    q: Queue,
    sender_key: Option<SignKey>,
    notifier: Option<Notifier>,
    messages: Vec<Sent>,
    deleted: bool,
}

/// Makes the queues and leaves their messages undelivered on the server at `server`.
/// `empty_body`: also leave a message with an empty body (the reference cannot restore one,
/// see spec/server.md, "Saved messages"; so not when the reference is the target).
fn populate(server: &ServerAddress, empty_body: bool) -> Vec<Planned> {
    let mut rng = ChaCha20Rng::seed_from_u64(7);
    let owner = client(1);
    let mut watcher = client(2);
    let make = |name, alg, rng: &mut ChaCha20Rng| Planned {
        name,
        q: create_queue(&owner, server, RecipientKeys::generate(alg, rng), T),
        sender_key: None,
        notifier: None,
        messages: Vec::new(),
        deleted: false,
    };
    let mut a = make("secured, notifier", SignAlgorithm::Ed448, &mut rng);
    let mut b = make("unsecured", SignAlgorithm::Ed25519, &mut rng);
    let mut c = make("secured, empty", SignAlgorithm::Ed25519, &mut rng);
    let mut d = make("deleted", SignAlgorithm::Ed448, &mut rng);

    for (p, alg) in [
        (&mut a, SignAlgorithm::Ed448),
        (&mut c, SignAlgorithm::Ed25519),
    ] {
        let sender_key = generate_sign_key(alg, &mut rng);
        let key = Request::signed(
            p.q.recipient_id.clone(),
            &p.q.keys.sign_key,
            Command::Key(sender_key.verify_key()),
        );
        assert_eq!(owner.request(server, key, T), Ok(Reply::Ok), "{}", p.name);
        p.sender_key = Some(sender_key);
    }

    let notifier = enable_notifications(&owner, server, &a.q, SignAlgorithm::Ed448, &mut rng, T);
    watcher
        .subscribe_wait(server, notifier.subscription.clone(), T)
        .unwrap();

    let mut bodies: Vec<(Bytes, bool)> = vec![
        (Bytes::from_static(b"first, flagged"), true),
        (Bytes::from_static(b"second, not flagged"), false),
        (Bytes::from(vec![0x5A; 16_000]), true),
    ];
    if empty_body {
        bodies.push((Bytes::new(), true));
    }
    bodies.push((Bytes::from_static(b"last"), true));
    for (body, notify) in bodies {
        let send = Request::send(
            a.q.sender_id.clone(),
            a.sender_key.as_ref(),
            MsgFlags {
                notification: notify,
            },
            body.clone(),
        );
        assert_eq!(owner.request(server, send, T), Ok(Reply::Ok));
        let id = notify.then(|| next_notification(&mut watcher, &notifier));
        a.messages.push(Sent { body, notify, id });
    }
    a.notifier = Some(notifier);

    for body in ["b one", "b two"] {
        let send = Request::send(
            b.q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from(body),
        );
        assert_eq!(owner.request(server, send, T), Ok(Reply::Ok));
        b.messages.push(Sent {
            body: Bytes::from(body),
            notify: false,
            id: None,
        });
    }

    let del = Request::signed(d.q.recipient_id.clone(), &d.q.keys.sign_key, Command::Del);
    assert_eq!(owner.request(server, del, T), Ok(Reply::Ok));
    d.deleted = true;

    owner.stop().unwrap();
    watcher.stop().unwrap();
    vec![a, b, c, d]
}

/// The next `NMSG` for `notifier`, opened: the message's id and timestamp.
fn next_notification(c: &mut ClientRuntime, notifier: &Notifier) -> (MsgId, UnixTime) {
    let until = Instant::now() + T;
    while Instant::now() < until {
        if let Some(ManagerEvent::Notification {
            notifier_id,
            nonce,
            encrypted_meta,
            ..
        }) = c.next_event(Duration::from_millis(200))
        {
            assert_eq!(notifier_id, notifier.id);
            let meta = decrypt_notification(&notifier.meta_key, &nonce, &encrypted_meta).unwrap();
            return (meta.msg_id, meta.timestamp);
        }
    }
    panic!("no notification");
}

/// Checks every planned queue on the target server. See the module docs.
fn verify(server: &ServerAddress, planned: &[Planned]) {
    let mut recipient = client(3);
    let sender = client(4);
    let mut watcher = client(5);
    for p in planned {
        let name = p.name;
        let q = &p.q;
        if p.deleted {
            let sub = recipient.subscribe_wait(server, q.subscription(), T);
            assert!(
                matches!(
                    sub,
                    Err(RuntimeError::Subscription(RequestError::Protocol(
                        ErrorType::Auth
                    )))
                ),
                "{name}: SUB of the deleted queue answered {sub:?}"
            );
            let send = Request::send(
                q.sender_id.clone(),
                None,
                MsgFlags::default(),
                Bytes::from_static(b"x"),
            );
            assert_eq!(
                sender.request(server, send, T),
                Err(RequestError::Protocol(ErrorType::Auth).into()),
                "{name}"
            );
            continue;
        }
        recipient
            .subscribe_wait(server, q.subscription(), T)
            .unwrap_or_else(|e| panic!("{name}: SUB with the same keys: {e}"));
        for (i, sent) in p.messages.iter().enumerate() {
            let m = message_within(&mut recipient, &q.recipient_id, T)
                .unwrap_or_else(|| panic!("{name}: message {i} did not come"));
            assert_eq!(m.body, sent.body, "{name}: message {i}");
            assert_eq!(m.flags.notification, sent.notify, "{name}: message {i}");
            if let Some((id, ts)) = &sent.id {
                assert_eq!(&m.msg_id, id, "{name}: message {i} id");
                assert_eq!(m.timestamp.seconds, ts.seconds, "{name}: message {i} time");
            }
            let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
            assert_eq!(recipient.request(server, ack, T), Ok(Reply::Ok), "{name}");
        }
        if let Some(m) = message_within(&mut recipient, &q.recipient_id, Duration::from_millis(300))
        {
            panic!("{name}: an extra message {:?}", m.body);
        }

        let unsigned = Request::send(
            q.sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from_static(b"unsigned"),
        );
        match &p.sender_key {
            Some(sender_key) => {
                assert_eq!(
                    sender.request(server, unsigned, T),
                    Err(RequestError::Protocol(ErrorType::Auth).into()),
                    "{name}: still secured"
                );
                // A second KEY is refused too: the queue keeps its sender key.
                let other =
                    generate_sign_key(SignAlgorithm::Ed25519, &mut ChaCha20Rng::seed_from_u64(9));
                let key = Request::signed(
                    q.recipient_id.clone(),
                    &q.keys.sign_key,
                    Command::Key(other.verify_key()),
                );
                assert_eq!(
                    recipient.request(server, key, T),
                    Err(RequestError::Protocol(ErrorType::Auth).into()),
                    "{name}: KEY again"
                );
                let notify = p.notifier.is_some();
                if let Some(n) = &p.notifier {
                    watcher
                        .subscribe_wait(server, n.subscription.clone(), T)
                        .unwrap_or_else(|e| panic!("{name}: NSUB: {e}"));
                }
                let signed = Request::send(
                    q.sender_id.clone(),
                    Some(sender_key),
                    MsgFlags {
                        notification: notify,
                    },
                    Bytes::from_static(b"after the move"),
                );
                assert_eq!(sender.request(server, signed, T), Ok(Reply::Ok), "{name}");
                let m = message_within(&mut recipient, &q.recipient_id, T)
                    .unwrap_or_else(|| panic!("{name}: the new message did not come"));
                assert_eq!(m.body, Bytes::from_static(b"after the move"));
                if let Some(n) = &p.notifier {
                    let (id, _) = next_notification(&mut watcher, n);
                    assert_eq!(id, m.msg_id, "{name}: the notification names it");
                }
                let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
                assert_eq!(recipient.request(server, ack, T), Ok(Reply::Ok), "{name}");
            }
            None => {
                assert_eq!(sender.request(server, unsigned, T), Ok(Reply::Ok), "{name}");
                let m = message_within(&mut recipient, &q.recipient_id, T)
                    .unwrap_or_else(|| panic!("{name}: the new message did not come"));
                assert_eq!(m.body, Bytes::from_static(b"unsigned"));
                let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
                assert_eq!(recipient.request(server, ack, T), Ok(Reply::Ok), "{name}");
                let key =
                    generate_sign_key(SignAlgorithm::Ed25519, &mut ChaCha20Rng::seed_from_u64(8));
                let secure = Request::signed(
                    q.recipient_id.clone(),
                    &q.keys.sign_key,
                    Command::Key(key.verify_key()),
                );
                assert_eq!(
                    recipient.request(server, secure, T),
                    Ok(Reply::Ok),
                    "{name}: KEY"
                );
            }
        }
    }
    recipient.stop().unwrap();
    sender.stop().unwrap();
    watcher.stop().unwrap();
}

fn our_files(dir: &Path) -> DataFiles {
    DataFiles::in_dir(dir, FileOptions::RESTORABLE)
}

fn copy_logs(from: &Path, to: &Path) {
    for name in [STORE_LOG, MESSAGES_LOG] {
        std::fs::copy(from.join(name), to.join(name))
            .unwrap_or_else(|e| panic!("copying {name} from {}: {e}", from.display()));
    }
}

/// The reference's files, read by our server (both shells).
fn reference_to_ours(shell: ServerShell, test: &str) {
    let Some(programs) = programs(test) else {
        return;
    };
    let mut reference = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    reference.start();
    let planned = populate(&address(&reference.address()), true);
    reference.stop(StopSignal::Interrupt);

    let dir = tempfile::tempdir().unwrap();
    copy_logs(&reference.log_dir(), dir.path());
    let ours = TestServer::start(
        shell,
        Options {
            files: our_files(dir.path()),
            ..Options::default()
        },
    );
    verify(&address(&ours.address()), &planned);
    assert_eq!(ours.stop(), 0);
}

#[test]
fn reference_logs_read_by_our_server_mio() {
    reference_to_ours(ServerShell::Mio, "reference_logs_read_by_our_server_mio");
}

#[test]
fn reference_logs_read_by_our_server_smol() {
    reference_to_ours(ServerShell::Smol, "reference_logs_read_by_our_server_smol");
}

/// Our server's files, read by the reference.
#[test]
fn our_logs_read_by_the_reference_server() {
    let Some(programs) = programs("our_logs_read_by_the_reference_server") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ours = TestServer::start(
        ServerShell::Mio,
        Options {
            files: our_files(dir.path()),
            ..Options::default()
        },
    );
    let planned = populate(&address(&ours.address()), false);
    assert_eq!(ours.stop(), 0);

    let mut reference = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    copy_logs(dir.path(), &reference.log_dir());
    reference.start();
    verify(&address(&reference.address()), &planned);
    assert!(reference.is_running(), "{}", reference.output());
    reference.stop(StopSignal::Interrupt);
}

/// The reference's files through our server and back: ours starts on them (compacting the
/// store log, taking the saved messages) and stops gracefully without any client, and a second
/// reference server reads what ours wrote. Ids and timestamps survive both moves.
#[test]
fn reference_logs_through_our_server_back_to_the_reference() {
    let Some(programs) = programs("reference_logs_through_our_server_back_to_the_reference") else {
        return;
    };
    let mut first = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    first.start();
    let planned = populate(&address(&first.address()), false);
    first.stop(StopSignal::Interrupt);

    let dir = tempfile::tempdir().unwrap();
    copy_logs(&first.log_dir(), dir.path());
    let ours = TestServer::start(
        ServerShell::Smol,
        Options {
            files: our_files(dir.path()),
            ..Options::default()
        },
    );
    assert_eq!(ours.stop(), 0);

    let mut second = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    copy_logs(dir.path(), &second.log_dir());
    second.start();
    verify(&address(&second.address()), &planned);
    assert!(second.is_running(), "{}", second.output());
    second.stop(StopSignal::Interrupt);
}
