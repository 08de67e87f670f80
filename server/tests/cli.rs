//! The `smp-server` program end to end: `init` in a temporary directory, `start` on both
//! runtimes (loopback only), a real client creating a queue, SIGTERM for a graceful stop, the
//! store log surviving a restart, and `delete`. Every wait is bounded.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../tests/src/net.rs"]
#[allow(dead_code)]
mod net;
mod reference_data;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::protocol::{BrokerMsg, Command as Smp};

const T: Duration = Duration::from_secs(15);
const BIN: &str = env!("CARGO_BIN_EXE_smp-server");

fn smp_server(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.arg("--config-dir")
        .arg(dir.join("etc"))
        .env("SMP_SERVER_LOG_DIR", dir.join("var"))
        .env_remove("SMP_SERVER_CONFIG_DIR");
    c
}

struct Running {
    child: Child,
    address: String,
    lines: mpsc::Receiver<String>,
}

fn start(dir: &Path, runtime: &str) -> Running {
    start_with(dir, runtime, &[])
}

fn start_with(dir: &Path, runtime: &str, extra: &[&str]) -> Running {
    start_command(smp_server(dir), dir, runtime, extra)
}

/// `smp-server` run by bash with every file it writes limited to `kib` KiB (`ulimit -f`), and
/// SIGXFSZ ignored (kept across `exec`): a write past the limit fails with EFBIG, as one on a
/// full disk fails with ENOSPC.
fn smp_server_with_file_limit(dir: &Path, kib: u32) -> Command {
    let mut c = Command::new("bash");
    c.arg("-c")
        .arg(format!(
            "ulimit -f {kib} && trap '' XFSZ && exec \"$0\" \"$@\""
        ))
        .arg(BIN)
        .arg("--config-dir")
        .arg(dir.join("etc"))
        .env("SMP_SERVER_LOG_DIR", dir.join("var"))
        .env_remove("SMP_SERVER_CONFIG_DIR");
    c
}

fn start_command(mut command: Command, dir: &Path, runtime: &str, extra: &[&str]) -> Running {
    let mut child = command
        .args(["start", "--runtime", runtime])
        .args(extra)
        .env("SMP_SERVER_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(dir.join("stderr.log"))
                .unwrap(),
        )
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // From here on a failed wait still kills the child (`Drop`).
    let mut running = Running {
        child,
        address: String::new(),
        lines,
    };
    loop {
        let line = running
            .lines
            .recv_timeout(T)
            .expect("the server printed its settings");
        if let Some(a) = line.strip_prefix("Server address: ") {
            running.address = a.to_string();
        }
        if line.starts_with("Listening on 127.0.0.1:") {
            assert!(line.contains(runtime), "{line}");
            break;
        }
    }
    assert!(!running.address.is_empty());
    running
}

impl Running {
    /// `(key hash, port)` from `smp://FINGERPRINT@HOST:PORT`.
    fn target(&self) -> (KeyHash, std::net::SocketAddr) {
        let rest = self.address.strip_prefix("smp://").unwrap();
        let (fp, host_port) = rest.split_once('@').unwrap();
        let port: u16 = host_port.rsplit_once(':').unwrap().1.parse().unwrap();
        (
            KeyHash::from_base64url(fp).unwrap(),
            std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        )
    }

    fn terminate(self) {
        self.signal("TERM")
    }

    fn signal(mut self, signal: &str) {
        // The shell's builtin `kill`: no procps needed.
        let status = Command::new("sh")
            .args(["-c", &format!("kill -{signal} {}", self.child.id())])
            .status()
            .unwrap();
        assert!(status.success());
        let until = std::time::Instant::now() + T;
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if std::time::Instant::now() > until {
                let _ = self.child.kill();
                panic!("the server did not stop on SIG{signal}");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{status}");
        // Until the reader thread has seen the end of stdout: the last lines may still be on
        // their way.
        let mut rest = Vec::new();
        while let Ok(line) = self.lines.recv_timeout(T) {
            rest.push(line);
        }
        assert!(rest.iter().any(|l| l == "Server stopped."), "{rest:?}");
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn rkey() -> SignKey {
    SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed448, &[9; 57]).unwrap()).unwrap()
}

#[test]
fn init_start_stop_restart_delete() {
    let dir = tempfile::tempdir().unwrap();
    let out = smp_server(dir.path())
        .args(["init", "--ip", "127.0.0.1", "--port", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let etc = dir.path().join("etc");
    for f in [
        "ca.crt",
        "ca.key",
        "server.crt",
        "server.key",
        "fingerprint",
        "smp-server.ini",
    ] {
        assert!(etc.join(f).exists(), "{f}");
    }
    let fingerprint = std::fs::read_to_string(etc.join("fingerprint")).unwrap();
    assert!(stdout.contains(&format!("Fingerprint: {}", fingerprint.trim())));
    // A second init refuses to overwrite the identity.
    let again = smp_server(dir.path()).arg("init").output().unwrap();
    assert!(!again.status.success());
    // Loopback only.
    let ini = std::fs::read_to_string(etc.join("smp-server.ini")).unwrap();
    std::fs::write(
        etc.join("smp-server.ini"),
        ini.replace("bind: 0.0.0.0", "bind: 127.0.0.1"),
    )
    .unwrap();

    let server = start(dir.path(), "mio");
    let (key_hash, addr) = server.target();
    assert!(server
        .address
        .starts_with(&format!("smp://{}@", fingerprint.trim())));
    let mut client = net::NetClient::connect(addr, key_hash, 1, T).unwrap();
    let dh = x25519::PrivateKey::from_bytes(&[3; 32]);
    let new = Smp::New {
        recipient_key: rkey().verify_key(),
        dh_key: dh.public_key(),
    };
    let BrokerMsg::Ids { recipient_id, .. } =
        client.request("1", &[], &new, Some(&rkey()), T).unwrap()
    else {
        panic!("no IDS")
    };
    server.terminate();
    assert!(client.wait_closed(T));
    let log = std::fs::read_to_string(dir.path().join("var/smp-server-store.log")).unwrap();
    assert!(log.starts_with("CREATE "), "{log}");

    // The queue survives a restart, on the other runtime.
    let server = start(dir.path(), "smol");
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 2, T).unwrap();
    let sub = client
        .request("2", recipient_id.as_bytes(), &Smp::Sub, Some(&rkey()), T)
        .unwrap();
    assert_eq!(sub, BrokerMsg::Ok);
    server.terminate();

    // The logs (debug level) have one line per event and name no queue and no client address.
    let logs = std::fs::read_to_string(dir.path().join("stderr.log")).unwrap();
    assert!(
        logs.lines().any(|l| l.contains("connection accepted")),
        "{logs}"
    );
    assert!(logs.lines().any(|l| l.contains("server stopped")), "{logs}");
    use base64::Engine;
    for engine in [
        base64::engine::general_purpose::URL_SAFE,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
        base64::engine::general_purpose::STANDARD,
    ] {
        let id = engine.encode(recipient_id.as_bytes());
        assert!(
            !logs.contains(id.trim_end_matches('=')),
            "a queue id in the logs"
        );
    }
    assert!(!logs.contains("127.0.0.1:"), "a client address in the logs");

    // delete asks first; anything but "Y" keeps the files.
    let mut child = smp_server(dir.path())
        .arg("delete")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(b"n\n").unwrap();
    assert!(!child.wait().unwrap().success());
    assert!(etc.join("ca.crt").exists());
    let out = smp_server(dir.path())
        .args(["delete", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(!etc.exists() && !dir.path().join("var/smp-server-store.log").exists());
}

/// The reference's test identity and its generated INI (with its comment lines, plus a
/// loopback bind) in `dir/etc`.
fn reference_server_dir(dir: &Path) {
    let etc = dir.join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    for f in ["ca.crt", "ca.key", "server.crt", "server.key"] {
        std::fs::copy(fixtures().join(f), etc.join(f)).unwrap();
    }
    std::fs::write(
        etc.join("fingerprint"),
        "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=\n",
    )
    .unwrap();
    std::fs::write(
        etc.join("smp-server.ini"),
        "[STORE_LOG]\n# Queues live in memory; this log restores them,\nenable: on\n\
         restore_messages: on\nlog_stats: off\n\n[TRANSPORT]\nport: 0\nwebsockets: off\n\
         bind: 127.0.0.1\n\n[INACTIVE_CLIENTS]\n# Silent clients: time to live, check interval\n\
         disconnect: off\n# ttl: 86400\n# check_interval: 43200\n",
    )
    .unwrap();
}

use reference_data::fixtures_dir as fixtures;

#[test]
fn the_reference_identity_and_ini_load() {
    let dir = tempfile::tempdir().unwrap();
    reference_server_dir(dir.path());
    let server = start(dir.path(), "mio");
    assert!(server
        .address
        .starts_with("smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@"));
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 3, T).unwrap();
    assert_eq!(
        client.request("p", &[], &Smp::Ping, None, T).unwrap(),
        BrokerMsg::Pong
    );
    // Ctrl-C stops it as gracefully as SIGTERM.
    server.signal("INT");
}

/// `start --trace FILE` records the run; the file replays exactly with the server's identity.
#[test]
fn a_traced_run_replays() {
    let dir = tempfile::tempdir().unwrap();
    reference_server_dir(dir.path());
    let trace = dir.path().join("run.trace");
    let server = start_with(dir.path(), "smol", &["--trace", trace.to_str().unwrap()]);
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 5, T).unwrap();
    let dh = x25519::PrivateKey::from_bytes(&[5; 32]);
    let new = Smp::New {
        recipient_key: rkey().verify_key(),
        dh_key: dh.public_key(),
    };
    let answer = client.request("n", &[], &new, Some(&rkey()), T).unwrap();
    assert!(matches!(answer, BrokerMsg::Ids { .. }), "{answer:?}");
    server.terminate();
    let identity = simplex_core::tls::ServerIdentity::from_pem(
        &std::fs::read(fixtures().join("server.crt")).unwrap(),
        &std::fs::read(fixtures().join("ca.crt")).unwrap(),
        &std::fs::read(fixtures().join("server.key")).unwrap(),
    )
    .unwrap();
    let bytes = std::fs::read(&trace).unwrap();
    let report = simplex_server::trace::replay(&bytes, identity).unwrap();
    assert!(report.inputs > 3, "{report:?}");
}

/// The WebSockets port as printed by `start` (the line after the TLS one).
fn websockets_port(server: &Running) -> u16 {
    let line = server.lines.recv_timeout(T).unwrap();
    let rest = line
        .strip_prefix("Listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("{line}"));
    assert!(rest.ends_with("(WebSockets over TLS)..."), "{line}");
    rest.split_once(' ').unwrap().0.parse().unwrap()
}

/// Creates a queue over WebSockets and sees it from the TLS port.
fn serve_both_ports(server: &Running, ws_port: u16, seed: u64) {
    let (key_hash, addr) = server.target();
    let ws_addr = std::net::SocketAddr::from(([127, 0, 0, 1], ws_port));
    let mut ws = net::NetClient::connect_framed(
        ws_addr,
        key_hash,
        seed,
        T,
        simplex_core::transport::Framing::WebSocket,
    )
    .unwrap();
    let dh = x25519::PrivateKey::from_bytes(&[5; 32]);
    let new = Smp::New {
        recipient_key: rkey().verify_key(),
        dh_key: dh.public_key(),
    };
    let BrokerMsg::Ids { sender_id, .. } = ws.request("1", &[], &new, Some(&rkey()), T).unwrap()
    else {
        panic!("no IDS")
    };
    let mut tls = net::NetClient::connect(addr, key_hash, seed + 1, T).unwrap();
    let send = Smp::Send {
        flags: Default::default(),
        body: bytes::Bytes::from_static(b"hi"),
    };
    assert_eq!(
        tls.request("2", sender_id.as_bytes(), &send, None, T)
            .unwrap(),
        BrokerMsg::Ok
    );
}

#[test]
fn websockets_from_the_ini_and_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = smp_server(dir.path())
        .args(["init", "--port", "0"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let ini_path = dir.path().join("etc/smp-server.ini");
    let ini = std::fs::read_to_string(&ini_path).unwrap();
    // The reference's key, and ours for the port (0: any free port; 80 needs root).
    std::fs::write(
        &ini_path,
        ini.replace("bind: 0.0.0.0", "bind: 127.0.0.1")
            .replace("websockets: off", "websockets: on")
            .replace("# websockets_port: 80", "websockets_port: 0"),
    )
    .unwrap();
    let server = start(dir.path(), "mio");
    let port = websockets_port(&server);
    serve_both_ports(&server, port, 10);
    server.terminate();

    // Off in the INI, on from the command line.
    std::fs::write(&ini_path, ini.replace("bind: 0.0.0.0", "bind: 127.0.0.1")).unwrap();
    let server = start_with(dir.path(), "smol", &["--websockets-port", "0"]);
    let port = websockets_port(&server);
    serve_both_ports(&server, port, 20);
    server.terminate();
}

#[test]
fn start_initialises_a_fresh_directory() {
    let dir = tempfile::tempdir().unwrap();
    let server = start_with(dir.path(), "smol", &["--bind", "127.0.0.1", "--port", "0"]);
    let fingerprint = std::fs::read_to_string(dir.path().join("etc/fingerprint")).unwrap();
    assert!(server
        .address
        .starts_with(&format!("smp://{}@127.0.0.1:", fingerprint.trim())));
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 4, T).unwrap();
    assert_eq!(
        client.request("p", &[], &Smp::Ping, None, T).unwrap(),
        BrokerMsg::Pong
    );
    server.terminate();
}

#[test]
fn ed25519_identity_and_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let out = smp_server(dir.path())
        .args([
            "init",
            "--ed25519",
            "--fqdn",
            "smp.example.com",
            "--no-store-log",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.contains("@smp.example.com:5223"), "{stdout}");
    let etc = dir.path().join("etc");
    let id = simplex_core::tls::ServerIdentity::from_pem(
        &std::fs::read(etc.join("server.crt")).unwrap(),
        &std::fs::read(etc.join("ca.crt")).unwrap(),
        &std::fs::read(etc.join("server.key")).unwrap(),
    )
    .unwrap();
    let fingerprint = std::fs::read_to_string(etc.join("fingerprint")).unwrap();
    assert_eq!(id.key_hash().to_base64url(), fingerprint.trim());
    let ini = std::fs::read_to_string(etc.join("smp-server.ini")).unwrap();
    assert!(ini.contains("enable: off") && ini.contains("host: smp.example.com"));

    // A bad value is a clear error, not a panic.
    std::fs::write(
        etc.join("smp-server.ini"),
        ini.replace("port: 5223", "port: http"),
    )
    .unwrap();
    let out = smp_server(dir.path())
        .args(["start", "--bind", "127.0.0.1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("[TRANSPORT] port: expected a number"),
        "{stderr}"
    );

    // So is a fingerprint that does not match the CA certificate.
    std::fs::write(etc.join("smp-server.ini"), ini).unwrap();
    std::fs::write(etc.join("fingerprint"), "AAAA\n").unwrap();
    let out = smp_server(dir.path())
        .args(["start", "--bind", "127.0.0.1", "--port", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("Stored fingerprint is invalid."),
        "{stderr}"
    );
}

#[test]
fn help_and_version() {
    for args in [
        &["--version"][..],
        &["--help"],
        &["init", "--help"],
        &["start", "--help"],
        &["delete", "--help"],
    ] {
        let out = Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        assert!(!out.stdout.is_empty());
    }
    let out = Command::new(BIN)
        .args(["start", "--runtime", "tokio"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}

/// Durable mode on a disk that fills up: a message whose journal record cannot be written is
/// not answered `OK` (its connection is closed instead), and after a restart exactly the
/// messages that were answered `OK` are there.
#[test]
fn durable_mode_does_not_acknowledge_what_it_could_not_write() {
    let dir = tempfile::tempdir().unwrap();
    reference_server_dir(dir.path());
    let ini = dir.path().join("etc/smp-server.ini");
    let mut text = std::fs::read_to_string(&ini).unwrap();
    text.push_str("\n[MESSAGES]\ndurable: on\n");
    std::fs::write(&ini, text).unwrap();

    let server = start_command(
        smp_server_with_file_limit(dir.path(), 16),
        dir.path(),
        "mio",
        &[],
    );
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 7, T).unwrap();
    let dh = x25519::PrivateKey::from_bytes(&[7; 32]);
    let new = Smp::New {
        recipient_key: rkey().verify_key(),
        dh_key: dh.public_key(),
    };
    let BrokerMsg::Ids {
        recipient_id,
        sender_id,
        server_dh_key,
    } = client.request("1", &[], &new, Some(&rkey()), T).unwrap()
    else {
        panic!("no IDS")
    };
    let send = |body: Vec<u8>| Smp::Send {
        flags: simplex_core::protocol::MsgFlags {
            notification: false,
        },
        body: body.into(),
    };
    let mut sender = net::NetClient::connect(addr, key_hash, 8, T).unwrap();
    let small = sender.request("2", sender_id.as_bytes(), &send(b"kept".to_vec()), None, T);
    assert_eq!(small.unwrap(), BrokerMsg::Ok);
    // Its journal line (about 20 KB) does not fit under the 16 KiB limit.
    let big = sender.request(
        "3",
        sender_id.as_bytes(),
        &send(vec![b'x'; 15_000]),
        None,
        T,
    );
    assert!(
        big.is_err(),
        "a message that is not on disk was answered {big:?}"
    );
    assert!(sender.wait_closed(T));
    server.terminate();
    // The part of the record that did fit was cut back off: the journal ends on a whole line.
    let journal = std::fs::read(dir.path().join("var/smp-server-journal.log")).unwrap();
    assert!(
        journal.ends_with(b"\n") && journal.len() < 1000,
        "{}",
        journal.len()
    );

    let server = start(dir.path(), "smol");
    let (key_hash, addr) = server.target();
    let mut client = net::NetClient::connect(addr, key_hash, 9, T).unwrap();
    let BrokerMsg::Msg(msg) = client
        .request("4", recipient_id.as_bytes(), &Smp::Sub, Some(&rkey()), T)
        .unwrap()
    else {
        panic!("the acknowledged message is not there")
    };
    let key = simplex_core::crypto::cbox::CbKey::new(&dh.diffie_hellman(&server_dh_key).unwrap());
    assert_eq!(net::open_message(&key, &msg).unwrap(), b"kept");
    // Nothing after it: ACK answers OK, not the next message.
    let ack = Smp::Ack(msg.msg_id.clone());
    assert_eq!(
        client
            .request("5", recipient_id.as_bytes(), &ack, Some(&rkey()), T)
            .unwrap(),
        BrokerMsg::Ok
    );
    server.terminate();
}

/// With messages saved at stop, every graceful stop leaves `smp-server-messages.log`, empty
/// when nothing was undelivered, as the reference does; the one restored at start is kept as
/// `.bak`.
#[test]
fn a_graceful_stop_always_leaves_the_saved_messages_file() {
    let dir = tempfile::tempdir().unwrap();
    reference_server_dir(dir.path());
    let saved = dir.path().join("var/smp-server-messages.log");
    let bak = dir.path().join("var/smp-server-messages.log.bak");
    // A client is served before each stop.
    let serving = |server: &Running, seed| {
        let (key_hash, addr) = server.target();
        let mut client = net::NetClient::connect(addr, key_hash, seed, T).unwrap();
        let pong = client.request("p", &[], &Smp::Ping, None, T).unwrap();
        assert_eq!(pong, BrokerMsg::Pong);
    };
    let server = start(dir.path(), "mio");
    serving(&server, 11);
    server.terminate();
    assert_eq!(std::fs::read(&saved).unwrap(), b"");

    // The next start restores it (renamed `.bak`) and its stop writes a new one.
    let server = start(dir.path(), "smol");
    serving(&server, 12);
    server.terminate();
    assert_eq!(std::fs::read(&bak).unwrap(), b"");
    assert_eq!(std::fs::read(&saved).unwrap(), b"");
}

/// A store log of `n` queues (distinct ids, shared keys): enough that restoring it takes a
/// while.
fn store_log_of(n: u32) -> String {
    use simplex_core::crypto::keys::VerifyKey;
    use simplex_core::protocol::EntityId;
    use simplex_server::queue::{QueueRec, QueueStatus};
    use simplex_server::store_log::StoreLogRecord;
    let id = |tag: u8, n: u32| {
        let mut bytes = [tag; 24];
        bytes[..4].copy_from_slice(&n.to_be_bytes());
        EntityId::from_slice(&bytes).unwrap()
    };
    let key = VerifyKey::Ed25519(
        simplex_core::crypto::ed25519::SigningKey::from_bytes(&[7; 32]).verifying_key(),
    );
    let mut log = String::new();
    for i in 0..n {
        let rec = QueueRec {
            recipient_id: id(1, i),
            recipient_key: key.clone(),
            rcv_dh_secret: x25519::SharedSecret::from_bytes(&[8; 32]),
            sender_id: id(2, i),
            sender_key: None,
            notifier: None,
            status: QueueStatus::Active,
        };
        log.push_str(&StoreLogRecord::CreateQueue(Box::new(rec)).to_line());
        log.push('\n');
    }
    log
}

/// `Listening on` is printed only once the stored state is restored and SIGINT/SIGTERM stop the
/// server gracefully: a signal sent the moment the line appears still saves the messages, keeps
/// every queue in the store log and exits with success, on both runtimes.
#[test]
fn a_signal_right_after_listening_stops_gracefully() {
    const QUEUES: u32 = 20_000;
    let log = store_log_of(QUEUES);
    for (runtime, signal) in [("mio", "INT"), ("smol", "TERM")] {
        let dir = tempfile::tempdir().unwrap();
        reference_server_dir(dir.path());
        let var = dir.path().join("var");
        std::fs::create_dir_all(&var).unwrap();
        std::fs::write(var.join("smp-server-store.log"), &log).unwrap();
        start(dir.path(), runtime).signal(signal);
        let what = format!("{runtime} SIG{signal}");
        assert_eq!(
            std::fs::read(var.join("smp-server-messages.log")).unwrap(),
            b"",
            "{what}"
        );
        let kept = std::fs::read_to_string(var.join("smp-server-store.log")).unwrap();
        assert_eq!(kept.lines().count(), QUEUES as usize, "{what}");
    }
}
