//! End-to-end tests over real loopback TCP + TLS against both shells (mio and smol): the
//! server runs the reference's test identity (`spec/fixtures/`) on 127.0.0.1, clients
//! are real `ClientConnection`s over blocking sockets. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use bytes::Bytes;
use simplex_core::crypto::cbox::CbKey;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::driver::ShellLimits;
use simplex_core::protocol::{BrokerMsg, Command, ErrorType, MsgFlags};
use simplex_core::transport::CloseReason;
use simplex_server::files::{DataFiles, FileOptions};
use simplex_server::ServerConfig;
use simplex_tests::harness::{Options, Runtime, TestServer};
use simplex_tests::net::NetClient;

const T: Duration = Duration::from_secs(10);

/// A shell and a number of server shards.
#[derive(Debug, Clone, Copy)]
struct Setup {
    rt: Runtime,
    shards: u16,
}

fn start(setup: Setup, options: Options) -> TestServer {
    TestServer::start(
        setup.rt,
        Options {
            shards: setup.shards,
            ..options
        },
    )
}

fn ed25519(seed: u8) -> SignKey {
    SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed25519, &[seed; 32]).unwrap()).unwrap()
}

fn ed448(seed: u8) -> SignKey {
    SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed448, &[seed; 57]).unwrap()).unwrap()
}

fn send_cmd(body: &[u8], notification: bool) -> Command {
    Command::Send {
        flags: MsgFlags { notification },
        body: Bytes::copy_from_slice(body),
    }
}

/// A queue made by `NEW` on `c`, with the keys to use it.
struct Queue {
    rid: Vec<u8>,
    sid: Vec<u8>,
    rkey: SignKey,
    skey: SignKey,
    body_key: CbKey,
}

fn new_queue(c: &mut NetClient, seed: u8) -> Queue {
    let rkey = ed448(seed);
    let skey = ed25519(seed.wrapping_add(100));
    let dh = x25519::PrivateKey::from_bytes(&[seed; 32]);
    let q = c.secured_queue(&rkey, &skey, &dh, T).unwrap();
    Queue {
        rid: q.rid,
        sid: q.sid,
        rkey,
        skey,
        body_key: q.body_key,
    }
}

/// The body of a delivered message.
fn open(q: &Queue, msg: &BrokerMsg) -> (Vec<u8>, simplex_core::protocol::MsgId) {
    let BrokerMsg::Msg(m) = msg else {
        panic!("not a MSG: {msg:?}")
    };
    (
        simplex_tests::net::open_message(&q.body_key, m).unwrap(),
        m.msg_id.clone(),
    )
}

fn next_msg(c: &mut NetClient) -> BrokerMsg {
    loop {
        let t = c.receive(T).unwrap();
        if t.corr_id.as_bytes().is_empty() {
            return t.message.unwrap();
        }
    }
}

fn lifecycle(rt: Setup) {
    let server = start(rt, Options::default());
    let mut recipient = server.client(1);
    let mut sender = server.client(2);
    let q = new_queue(&mut recipient, 1);
    let sent = sender
        .request("s1", &q.sid, &send_cmd(b"hello", false), Some(&q.skey), T)
        .unwrap();
    assert_eq!(sent, BrokerMsg::Ok);
    // The creating connection is subscribed: the message is pushed.
    let (body, id) = open(&q, &next_msg(&mut recipient));
    assert_eq!(body, b"hello");
    let ack = Command::Ack(id);
    assert_eq!(
        recipient
            .request("a1", &q.rid, &ack, Some(&q.rkey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    // An unsigned SEND to a secured queue is refused.
    assert_eq!(
        sender
            .request("s2", &q.sid, &send_cmd(b"x", false), None, T)
            .unwrap(),
        BrokerMsg::Err(ErrorType::Auth)
    );
    // GET from another connection.
    assert_eq!(
        sender
            .request("s3", &q.sid, &send_cmd(b"second", false), Some(&q.skey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    let mut getter = server.client(3);
    let got = getter
        .request("g1", &q.rid, &Command::Get, Some(&q.rkey), T)
        .unwrap();
    assert_eq!(open(&q, &got).0, b"second");
    // The first connection lost the subscription to GET's connection? No: GET does not
    // subscribe; the subscribed connection still got the message pushed too.
    assert_eq!(
        getter
            .request("d1", &q.rid, &Command::Del, Some(&q.rkey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    getter.close().unwrap();
    assert_eq!(server.stop(), 0, "every connection closed at stop");
    assert!(recipient.wait_closed(T) && sender.wait_closed(T));
    // With a TLS close_notify, not a bare end of stream.
    assert_eq!(recipient.close_reason(), Some(&CloseReason::Closed));
    assert_eq!(sender.close_reason(), Some(&CloseReason::Closed));
}

/// Queues spread over the shards (a queue lives with the worker of the connection that made
/// it, and connections are dealt to the workers in turn); one connection talks to all of
/// them, in v4 batches too.
fn many_queues(rt: Setup) {
    let server = start(rt, Options::default());
    if rt.shards > 1 {
        // A thread names itself once it runs: look for a while.
        let until = std::time::Instant::now() + T;
        loop {
            let names: Vec<String> = std::fs::read_dir("/proc/self/task")
                .unwrap()
                .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
                .collect();
            if names.iter().any(|n| n.trim() == "smp-worker-1") {
                break;
            }
            assert!(std::time::Instant::now() < until, "{names:?}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let mut recipients = [server.client(71), server.client(73)];
    let mut sender = server.client(72);
    let queues: Vec<Queue> = (0..8)
        .map(|i| new_queue(&mut recipients[i % 2], 80 + i as u8))
        .collect();
    let shards: std::collections::BTreeSet<u16> = queues
        .iter()
        .map(|q| simplex_server::Shard::of(&q.rid, rt.shards))
        .collect();
    assert_eq!(
        shards.len(),
        usize::from(rt.shards),
        "queues on every shard"
    );
    // One block carrying a SEND to every queue.
    let batch: Vec<Vec<u8>> = queues
        .iter()
        .enumerate()
        .map(|(i, q)| {
            let body = format!("to queue {i}");
            let corr = format!("b{i}");
            sender
                .encode(
                    corr.as_bytes(),
                    &q.sid,
                    &send_cmd(body.as_bytes(), false),
                    Some(&q.skey),
                )
                .unwrap()
        })
        .collect();
    sender.send_raw(batch).unwrap();
    for i in 0..8 {
        assert_eq!(
            sender.receive_for(&format!("b{i}"), T).unwrap(),
            BrokerMsg::Ok
        );
    }
    let mut got = Vec::new();
    for i in 0..8 {
        let t = recipients[i % 2].receive(T).unwrap();
        let q = queues
            .iter()
            .find(|q| q.rid == t.entity_id.as_bytes())
            .expect("a MSG for one of the queues");
        got.push(String::from_utf8(open(q, &t.message.unwrap()).0).unwrap());
    }
    got.sort();
    let want: Vec<String> = (0..8).map(|i| format!("to queue {i}")).collect();
    assert_eq!(got, want);
    assert_eq!(server.stop(), 0);
}

fn notifications(rt: Setup) {
    let server = start(rt, Options::default());
    let mut recipient = server.client(11);
    let mut sender = server.client(12);
    let mut notifier = server.client(13);
    let q = new_queue(&mut recipient, 11);
    let nkey = ed25519(55);
    let ndh = x25519::PrivateKey::from_bytes(&[56; 32]);
    let nkey_cmd = Command::NKey {
        notifier_key: nkey.verify_key(),
        dh_key: ndh.public_key(),
    };
    let BrokerMsg::Nid { notifier_id, .. } = recipient
        .request("n1", &q.rid, &nkey_cmd, Some(&q.rkey), T)
        .unwrap()
    else {
        panic!("no NID")
    };
    assert_eq!(
        notifier
            .request("n2", notifier_id.as_bytes(), &Command::NSub, Some(&nkey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    assert_eq!(
        sender
            .request("s1", &q.sid, &send_cmd(b"ping me", true), Some(&q.skey), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    assert!(matches!(next_msg(&mut notifier), BrokerMsg::NMsg { .. }));
    assert_eq!(open(&q, &next_msg(&mut recipient)).0, b"ping me");
    assert_eq!(server.stop(), 0);
}

fn quota(rt: Setup) {
    let server = start(
        rt,
        Options {
            server: ServerConfig {
                msg_queue_quota: 3,
                ..ServerConfig::default()
            },
            ..Options::default()
        },
    );
    let mut recipient = server.client(21);
    let mut sender = server.client(22);
    let q = new_queue(&mut recipient, 21);
    for i in 0..3 {
        let corr = format!("s{i}");
        let answer = sender
            .request(&corr, &q.sid, &send_cmd(b"m", false), Some(&q.skey), T)
            .unwrap();
        assert_eq!(answer, BrokerMsg::Ok);
    }
    let answer = sender
        .request("s9", &q.sid, &send_cmd(b"m", false), Some(&q.skey), T)
        .unwrap();
    assert_eq!(answer, BrokerMsg::Err(ErrorType::Quota));
    assert_eq!(server.stop(), 0);
}

fn restart_with_store_log(rt: Setup) {
    let dir = tempfile::tempdir().unwrap();
    let files = DataFiles::in_dir(
        dir.path(),
        FileOptions {
            log_stats: true,
            ..FileOptions::RESTORABLE
        },
    );
    let options = || Options {
        files: files.clone(),
        ..Options::default()
    };
    let server = start(rt, options());
    let mut recipient = server.client(31);
    let mut sender = server.client(32);
    let q = new_queue(&mut recipient, 31);
    for body in [&b"one"[..], b"two"] {
        let answer = sender
            .request("s", &q.sid, &send_cmd(body, false), Some(&q.skey), T)
            .unwrap();
        assert_eq!(answer, BrokerMsg::Ok);
    }
    assert_eq!(server.stop(), 0);
    let store_log = std::fs::read_to_string(dir.path().join("smp-server-store.log")).unwrap();
    assert!(store_log.starts_with("CREATE ") && store_log.contains("SECURE "));
    let saved = std::fs::read_to_string(dir.path().join("smp-server-messages.log")).unwrap();
    assert_eq!(saved.lines().count(), 2);
    let backup = std::fs::read_to_string(dir.path().join("smp-server-stats.log")).unwrap();
    assert!(
        backup.contains("qCreated=1\n") && backup.contains("msgSent=2\n"),
        "{backup}"
    );

    let server = start(rt, options());
    assert!(dir.path().join("smp-server-messages.log.bak").exists());
    let mut recipient = server.client(33);
    let first = recipient
        .request("sub", &q.rid, &Command::Sub, Some(&q.rkey), T)
        .unwrap();
    let (body, id) = open(&q, &first);
    assert_eq!(body, b"one");
    let second = recipient
        .request("ack", &q.rid, &Command::Ack(id), Some(&q.rkey), T)
        .unwrap();
    assert_eq!(open(&q, &second).0, b"two");
    assert_eq!(server.stop(), 0);
    // The stats went through a restart once, not once per shard.
    let backup = std::fs::read_to_string(dir.path().join("smp-server-stats.log")).unwrap();
    assert!(
        backup.contains("qCreated=1\n") && backup.contains("msgSent=2\n"),
        "{backup}"
    );
    let day = backup.lines().find(|l| l.starts_with("day=")).unwrap();
    assert!(
        day.len() > "day=".len() && !day.contains(','),
        "one active queue: {day}"
    );
}

fn durable_restart(rt: Setup) {
    let dir = tempfile::tempdir().unwrap();
    let files = DataFiles::in_dir(
        dir.path(),
        FileOptions {
            store_log: true,
            restore_messages: false,
            log_stats: false,
            durable: true,
        },
    );
    let options = || Options {
        server: ServerConfig {
            durable_messages: true,
            ..ServerConfig::default()
        },
        files: files.clone(),
        ..Options::default()
    };
    let server = start(rt, options());
    let mut recipient = server.client(61);
    let mut sender = server.client(62);
    let q = new_queue(&mut recipient, 61);
    for body in [&b"kept?"[..], b"kept!"] {
        let answer = sender
            .request("s", &q.sid, &send_cmd(body, false), Some(&q.skey), T)
            .unwrap();
        assert_eq!(answer, BrokerMsg::Ok);
    }
    // The first is acknowledged: only the second survives.
    let (_, id) = open(&q, &next_msg(&mut recipient));
    let next = recipient
        .request("a", &q.rid, &Command::Ack(id), Some(&q.rkey), T)
        .unwrap();
    assert_eq!(open(&q, &next).0, b"kept!");
    // Every answered message is in the journal already, before any stop.
    let journal = std::fs::read_to_string(dir.path().join("smp-server-journal.log")).unwrap();
    assert_eq!(journal.lines().count(), 3, "two messages and one ACK");
    assert_eq!(server.stop(), 0);
    assert!(!dir.path().join("smp-server-messages.log").exists());

    let server = start(rt, options());
    let mut recipient = server.client(63);
    let first = recipient
        .request("sub", &q.rid, &Command::Sub, Some(&q.rkey), T)
        .unwrap();
    assert_eq!(open(&q, &first).0, b"kept!");
    assert_eq!(server.stop(), 0);
}

fn malicious_clients(rt: Setup) {
    let server = start(
        rt,
        Options {
            handshake_timeout: Duration::from_secs(2),
            limits: ShellLimits {
                max_unsent_bytes: 256 << 10,
                ..ShellLimits::default()
            },
            ..Options::default()
        },
    );
    // Connections that never start or never finish the handshake.
    let mut stalled: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // Half a ClientHello.
    stalled[0]
        .write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .unwrap();
    // Garbage instead of TLS.
    let mut garbage: Vec<TcpStream> = (0..5)
        .map(|i| {
            let mut s = TcpStream::connect(server.addr).unwrap();
            s.write_all(&vec![0x42 + i as u8; 20_000]).unwrap();
            s
        })
        .collect();
    // Meanwhile a good client is served.
    let mut recipient = server.client(41);
    let mut sender = server.client(42);
    let q = new_queue(&mut recipient, 41);
    // A command flood on its own connection, never reading the answers: thousands of blocks of
    // PINGs and bad commands. The answers (16 KB blocks) fill the socket buffers, then pile up
    // in the shell until the server drops the connection.
    let mut flooder = server.client(43);
    for i in 0..3000 {
        let ping = flooder
            .encode(format!("p{i}").as_bytes(), &[], &Command::Ping, None)
            .unwrap();
        let bad = flooder.encode(b"b", &q.rid, &Command::Sub, None).unwrap();
        if flooder.send_raw(vec![ping, bad]).is_err() {
            break;
        }
    }
    assert_eq!(
        sender
            .request(
                "s1",
                &q.sid,
                &send_cmd(b"still here", false),
                Some(&q.skey),
                T
            )
            .unwrap(),
        BrokerMsg::Ok
    );
    assert_eq!(open(&q, &next_msg(&mut recipient)).0, b"still here");
    assert!(flooder.wait_closed(T), "the flooder was dropped");
    // Garbage connections are closed by the server.
    for s in &mut garbage {
        s.set_read_timeout(Some(T)).unwrap();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break true,
                Ok(_) => continue, // a TLS alert first
            }
        };
        assert!(closed);
    }
    // Stalled handshakes are closed at the handshake timeout.
    for s in &mut stalled {
        s.set_read_timeout(Some(T)).unwrap();
        let mut buf = [0u8; 4096];
        let closed = loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break true,
                Ok(_) => continue,
            }
        };
        assert!(closed);
    }
    // And the good client is still served.
    assert_eq!(
        recipient
            .request("ping", &[], &Command::Ping, None, T)
            .unwrap(),
        BrokerMsg::Pong
    );
    assert_eq!(server.stop(), 0);
}

/// A client that floods and reads its answers (so is never dropped) does not starve others.
fn busy_neighbour(rt: Setup) {
    let server = start(rt, Options::default());
    let mut flooder = server.client(91);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flooding = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut rounds = 0u32;
        while !flooding.load(std::sync::atomic::Ordering::Relaxed) {
            let batch: Vec<Vec<u8>> = (0..20)
                .map(|i| {
                    let corr = format!("f{i}");
                    flooder
                        .encode(corr.as_bytes(), &[], &Command::Ping, None)
                        .unwrap()
                })
                .collect();
            flooder.send_raw(batch).unwrap();
            for i in 0..20 {
                let answer = flooder.receive_for(&format!("f{i}"), T).unwrap();
                assert_eq!(answer, BrokerMsg::Pong);
            }
            rounds += 1;
        }
        rounds
    });
    std::thread::sleep(Duration::from_millis(200));
    let mut good = server.client(92);
    for i in 0..20 {
        let t0 = std::time::Instant::now();
        let corr = format!("g{i}");
        assert_eq!(
            good.request(&corr, &[], &Command::Ping, None, T).unwrap(),
            BrokerMsg::Pong
        );
        assert!(t0.elapsed() < Duration::from_secs(2), "{:?}", t0.elapsed());
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(thread.join().unwrap() > 0);
    assert_eq!(server.stop(), 0);
}

fn connection_limit(rt: Setup) {
    let server = start(
        rt,
        Options {
            limits: ShellLimits {
                max_connections: 2,
                ..ShellLimits::default()
            },
            ..Options::default()
        },
    );
    let _a = server.client(51);
    let _b = server.client(52);
    assert!(NetClient::connect(server.addr, server.key_hash, 53, Duration::from_secs(2)).is_err());
    assert_eq!(server.stop(), 0);
}

/// A store log written with one shard, restarted with four: queues keep their ids, so most
/// sender ids hash to another shard than their queue, and the router's table must send them
/// home.
fn reshard_restart(rt: Runtime) {
    let dir = tempfile::tempdir().unwrap();
    let files = DataFiles::in_dir(dir.path(), FileOptions::RESTORABLE);
    let options = |shards| Options {
        files: files.clone(),
        shards,
        ..Options::default()
    };
    let server = TestServer::start(rt, options(1));
    let mut recipient = server.client(101);
    let queues: Vec<Queue> = (0..6).map(|i| new_queue(&mut recipient, 110 + i)).collect();
    assert_eq!(server.stop(), 0);

    let server = TestServer::start(rt, options(4));
    let mut sender = server.client(102);
    let mut recipient = server.client(103);
    for (i, q) in queues.iter().enumerate() {
        let body = format!("resharded {i}");
        let corr = format!("s{i}");
        let answer = sender
            .request(
                &corr,
                &q.sid,
                &send_cmd(body.as_bytes(), false),
                Some(&q.skey),
                T,
            )
            .unwrap();
        assert_eq!(answer, BrokerMsg::Ok);
        let got = recipient
            .request(&format!("g{i}"), &q.rid, &Command::Get, Some(&q.rkey), T)
            .unwrap();
        assert_eq!(open(q, &got).0, body.as_bytes());
    }
    assert_eq!(server.stop(), 0);
}

#[test]
fn reshard_restart_mio() {
    reshard_restart(Runtime::Mio)
}

#[test]
fn reshard_restart_smol() {
    reshard_restart(Runtime::Smol)
}

macro_rules! both_runtimes {
    ($($name:ident),* $(,)?) => {
        mod mio {
            use super::{Runtime, Setup};
            $(#[test] fn $name() { super::$name(Setup { rt: Runtime::Mio, shards: 1 }) })*
        }
        mod smol {
            use super::{Runtime, Setup};
            $(#[test] fn $name() { super::$name(Setup { rt: Runtime::Smol, shards: 1 }) })*
        }
        /// The same with the queue space split over two server threads.
        mod mio_2_shards {
            use super::{Runtime, Setup};
            $(#[test] fn $name() { super::$name(Setup { rt: Runtime::Mio, shards: 2 }) })*
        }
        mod smol_2_shards {
            use super::{Runtime, Setup};
            $(#[test] fn $name() { super::$name(Setup { rt: Runtime::Smol, shards: 2 }) })*
        }
    };
}

both_runtimes!(
    lifecycle,
    many_queues,
    notifications,
    quota,
    restart_with_store_log,
    durable_restart,
    malicious_clients,
    busy_neighbour,
    connection_limit,
);
