//! Interoperability with OpenSSL (through Python's `ssl` module, `python3` must be installed):
//! the session id we compute equals OpenSSL's tls-unique on both ends, and OpenSSL accepts and
//! presents the identities we use.
//!
//! The tests drive our machines over loopback sockets with a small blocking loop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsEvent, TlsOutput, TlsSession};
use support::{ed25519_identity, rng, TIMEOUT};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/support/tls_peer.py");

fn fixture(name: &str) -> PathBuf {
    common::fixtures_dir().join(name)
}

fn python(args: &[&str]) -> Child {
    Command::new("python3")
        .arg(SCRIPT)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("these interop tests need `python3` (with its ssl module) on PATH: {e}")
        })
}

fn json_line(line: &str) -> serde_json::Value {
    serde_json::from_str(line.trim())
        .unwrap_or_else(|e| panic!("bad line from python {line:?}: {e}"))
}

fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
        lines.join("\n")
    )
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("simplex-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Drives `session` over `stream` until `done` says so (or the connection closes); returns every
/// event.
fn drive(
    session: &mut TlsSession,
    stream: &mut TcpStream,
    mut on_event: impl FnMut(&mut TlsSession, &TlsEvent),
    done: impl Fn(&[TlsEvent]) -> bool,
) -> Vec<TlsEvent> {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let start = std::time::Instant::now();
    let mut events = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    // Drains the session: bytes to the socket, events to `on_event` (which may send more).
    let mut pump =
        |session: &mut TlsSession, stream: &mut TcpStream, events: &mut Vec<TlsEvent>| loop {
            match session.poll_output() {
                TlsOutput::Transmit(bytes) => stream.write_all(&bytes).unwrap(),
                TlsOutput::Event(event) => {
                    on_event(session, &event);
                    events.push(event);
                }
                TlsOutput::Timeout(_) => break,
            }
        };
    loop {
        pump(session, stream, &mut events);
        if done(&events) || session.is_closed() {
            return events;
        }
        let n = stream.read(&mut buf).unwrap();
        let now = Instant::from_micros(start.elapsed().as_micros() as u64);
        if n == 0 {
            session.handle_peer_eof().unwrap();
        } else {
            let mut rest = &buf[..n];
            while !rest.is_empty() {
                let used = session.handle_input(now, rest).unwrap();
                rest = &rest[used..];
                pump(session, stream, &mut events);
            }
        }
    }
}

fn handshake_id(events: &[TlsEvent]) -> String {
    match events.first() {
        Some(TlsEvent::HandshakeComplete { session_id }) => hex::encode(session_id),
        other => panic!("expected HandshakeComplete, got {other:?} in {events:?}"),
    }
}

fn received(events: &[TlsEvent]) -> String {
    events
        .iter()
        .filter_map(|e| match e {
            TlsEvent::Plaintext(b) => Some(String::from_utf8_lossy(b).into_owned()),
            _ => None,
        })
        .collect()
}

/// Our server, OpenSSL's client: returns (our session id, OpenSSL's report).
fn our_server_openssl_client(
    identity: &ServerIdentity,
    seed: u64,
    group: Option<&str>,
) -> (String, serde_json::Value, Option<rustls::NamedGroup>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port().to_string();
    let mut args = vec!["client", port.as_str()];
    args.extend(group);
    let mut child = python(&args);
    let (mut stream, _) = listener.accept().unwrap();
    let mut server = TlsSession::server(identity, rng(seed), Instant::ZERO, TIMEOUT).unwrap();
    let events = drive(
        &mut server,
        &mut stream,
        |s, e| {
            if let TlsEvent::Plaintext(b) = e {
                if b.ends_with(b"\n") {
                    s.send(b"hello from rust server\n").unwrap();
                }
            }
        },
        |events| received(events).ends_with('\n'),
    );
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(child.wait().unwrap().success());
    let group_used = server.key_exchange_group();
    server.close();
    assert_eq!(received(&events), "hello from openssl client\n");
    (handshake_id(&events), json_line(&line), group_used)
}

/// OpenSSL's server with `chain_pem`/`key_pem`, our client pinning `key_hash`.
fn openssl_server_our_client(
    chain_pem: &Path,
    key_pem: &Path,
    key_hash: KeyHash,
    seed: u64,
    group: Option<&str>,
) -> (String, serde_json::Value, Option<rustls::NamedGroup>) {
    let mut args = vec![
        "server",
        chain_pem.to_str().unwrap(),
        key_pem.to_str().unwrap(),
    ];
    args.extend(group);
    let mut child = python(&args);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = json_line(&line)["port"].as_u64().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    let mut client =
        TlsSession::client("localhost", key_hash, rng(seed), Instant::ZERO, TIMEOUT).unwrap();
    let events = drive(
        &mut client,
        &mut stream,
        |s, e| {
            if let TlsEvent::HandshakeComplete { .. } = e {
                s.send(b"hello from rust client\n").unwrap();
            }
        },
        |events| received(events).ends_with('\n'),
    );
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(child.wait().unwrap().success());
    let group_used = client.key_exchange_group();
    client.close();
    assert_eq!(received(&events), "hello from openssl server\n");
    let report = json_line(&line);
    assert_eq!(report["received"], "hello from rust client\n");
    (handshake_id(&events), report, group_used)
}

fn write_identity(dir: &Path, online: &[u8], ca: &[u8], key: &[u8]) -> (PathBuf, PathBuf) {
    let chain = dir.join("chain.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&chain, pem("CERTIFICATE", online) + &pem("CERTIFICATE", ca)).unwrap();
    std::fs::write(&key_path, pem("PRIVATE KEY", key)).unwrap();
    (chain, key_path)
}

fn assert_tls13_chacha(report: &serde_json::Value) {
    assert_eq!(report["version"], "TLSv1.3");
    assert_eq!(report["cipher"], "TLS_CHACHA20_POLY1305_SHA256");
}

#[test]
fn ed25519_server_tls_unique_equals_openssl_client() {
    let (online, ca, key) = ed25519_identity(60);
    let identity = ServerIdentity::from_der(online, ca, &key).unwrap();
    let (ours, report, _) = our_server_openssl_client(&identity, 1, None);
    assert_tls13_chacha(&report);
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    assert_eq!(report["received"], "hello from rust server\n");
}

#[test]
fn ed25519_client_tls_unique_equals_openssl_server() {
    let (online, ca, key) = ed25519_identity(61);
    let dir = temp_dir("ed25519-client");
    let (chain, key_path) = write_identity(&dir, &online, &ca, &key);
    let hash = KeyHash::of_certificate_der(&ca);
    let (ours, report, _) = openssl_server_our_client(&chain, &key_path, hash, 2, None);
    assert_tls13_chacha(&report);
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    let _ = std::fs::remove_dir_all(dir);
}

fn read_fixture(name: &str) -> Vec<u8> {
    common::fixture(name)
}

fn fixture_identity() -> ServerIdentity {
    ServerIdentity::from_pem(
        &read_fixture("server.crt"),
        &read_fixture("ca.crt"),
        &read_fixture("server.key"),
    )
    .unwrap()
}

const FIXTURE_FINGERPRINT: &str = "LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=";

#[test]
fn fixture_identity_has_the_reference_fingerprint() {
    assert_eq!(
        fixture_identity().key_hash().to_base64url(),
        FIXTURE_FINGERPRINT
    );
}

#[test]
fn ed448_fixture_in_memory_handshake_uses_x448() {
    let identity = fixture_identity();
    let hash = KeyHash::from_base64url(FIXTURE_FINGERPRINT).unwrap();
    let mut client = TlsSession::client("localhost", hash, rng(5), Instant::ZERO, TIMEOUT).unwrap();
    let mut server = TlsSession::server(&identity, rng(6), Instant::ZERO, TIMEOUT).unwrap();
    let (_, client_events, server_events) = support::pump(&mut client, &mut server, Instant::ZERO);
    assert_eq!(handshake_id(&client_events), handshake_id(&server_events));
    assert_eq!(client.key_exchange_group(), Some(rustls::NamedGroup::X448));
    assert_eq!(server.key_exchange_group(), Some(rustls::NamedGroup::X448));
}

#[test]
fn ed448_fixture_server_tls_unique_equals_openssl_client() {
    // OpenSSL's default client lists X25519 first (with a key share); we follow its order.
    let (ours, report, group) = our_server_openssl_client(&fixture_identity(), 3, None);
    assert_tls13_chacha(&report);
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    assert_eq!(group, Some(rustls::NamedGroup::X25519));
}

#[test]
fn ed448_fixture_server_with_x448_openssl_client() {
    let (ours, report, group) = our_server_openssl_client(&fixture_identity(), 7, Some("X448"));
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    assert_eq!(group, Some(rustls::NamedGroup::X448));
}

fn fixture_chain_file(dir: &Path) -> PathBuf {
    let chain = dir.join("chain.pem");
    let mut pem_chain = read_fixture("server.crt");
    pem_chain.extend_from_slice(&read_fixture("ca.crt"));
    std::fs::write(&chain, pem_chain).unwrap();
    chain
}

#[test]
fn ed448_fixture_client_after_hello_retry_request_matches_openssl() {
    // An OpenSSL server with X25519 only refuses our X448 key share: HelloRetryRequest, a second
    // ClientHello, and the tls-unique must still match.
    let dir = temp_dir("ed448-hrr");
    let chain = fixture_chain_file(&dir);
    let hash = KeyHash::from_base64url(FIXTURE_FINGERPRINT).unwrap();
    let (ours, report, group) =
        openssl_server_our_client(&chain, &fixture("server.key"), hash, 9, Some("X25519"));
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    assert_eq!(group, Some(rustls::NamedGroup::X25519));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ed448_fixture_client_accepts_openssl_server_and_tls_unique_matches() {
    let dir = temp_dir("ed448-client");
    let chain = fixture_chain_file(&dir);
    let hash = KeyHash::from_base64url(FIXTURE_FINGERPRINT).unwrap();
    let (ours, report, group) =
        openssl_server_our_client(&chain, &fixture("server.key"), hash, 4, None);
    assert_tls13_chacha(&report);
    assert_eq!(report["tls_unique"].as_str().unwrap(), ours);
    // OpenSSL accepts the key share for the first group we offer.
    assert_eq!(group, Some(rustls::NamedGroup::X448));
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn ed448_fixture_client_refuses_openssl_server_with_another_fingerprint() {
    let dir = temp_dir("ed448-wrong-hash");
    let chain = fixture_chain_file(&dir);
    let mut child = python(&[
        "server",
        chain.to_str().unwrap(),
        fixture("server.key").to_str().unwrap(),
    ]);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = json_line(&line)["port"].as_u64().unwrap();
    let mut stream = TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    // The server sees our alert and fails.
    let wrong = KeyHash::from_bytes([7; 32]);
    let mut client =
        TlsSession::client("localhost", wrong, rng(8), Instant::ZERO, TIMEOUT).unwrap();
    let events = drive(&mut client, &mut stream, |_, _| {}, |_| false);
    assert_eq!(
        events,
        vec![
            TlsEvent::Error(simplex_core::tls::TlsError::Identity(
                simplex_core::tls::IdentityError::UnknownCa
            )),
            TlsEvent::Closed
        ]
    );
    drop(stream);
    assert!(!child.wait().unwrap().success());
    line.clear();
    out.read_line(&mut line).unwrap();
    assert!(json_line(&line)["error"].is_string());
    let _ = std::fs::remove_dir_all(dir);
}
