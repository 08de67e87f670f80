//! The TLS machines against each other, in memory.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use proptest::prelude::*;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::time::Instant;
use simplex_core::tls::{
    IdentityError, ServerIdentity, TlsApiError, TlsError, TlsEvent, TlsOutput, TlsSession,
};
use support::{certificate, drain, ed25519_identity, events, pump, rng, transmit, Key, TIMEOUT};

/// Drains a session; the length of the plaintext it gave.
fn plaintext_len(session: &mut TlsSession) -> usize {
    events(session)
        .iter()
        .map(|e| match e {
            TlsEvent::Plaintext(p) => p.len(),
            _ => 0,
        })
        .sum()
}

fn identity(seed: u8) -> ServerIdentity {
    let (online, ca, key) = ed25519_identity(seed);
    ServerIdentity::from_der(online, ca, &key).unwrap()
}

fn pair(identity: &ServerIdentity, key_hash: KeyHash, seed: u64) -> (TlsSession, TlsSession) {
    let client =
        TlsSession::client("localhost", key_hash, rng(seed), Instant::ZERO, TIMEOUT).unwrap();
    let server = TlsSession::server(identity, rng(seed + 1), Instant::ZERO, TIMEOUT).unwrap();
    (client, server)
}

fn session_id(events: &[TlsEvent]) -> [u8; 32] {
    match events.first() {
        Some(TlsEvent::HandshakeComplete { session_id }) => *session_id,
        other => panic!("expected HandshakeComplete, got {other:?}"),
    }
}

fn client_error(events: &[TlsEvent]) -> TlsError {
    match events {
        [TlsEvent::Error(e), TlsEvent::Closed] => e.clone(),
        other => panic!("expected an error then Closed, got {other:?}"),
    }
}

#[test]
fn handshake_agrees_on_session_id_and_carries_data() {
    let id = identity(7);
    let (mut client, mut server) = pair(&id, id.key_hash(), 1);
    let (_, client_events, server_events) = pump(&mut client, &mut server, Instant::ZERO);
    let sid = session_id(&client_events);
    assert_eq!(sid, session_id(&server_events));
    assert_eq!(client.session_id(), Some(sid));
    assert_eq!(server.session_id(), Some(sid));
    assert_eq!(client.poll_timeout(), None);

    let block = vec![0x5a; 16384];
    client.send(&block).unwrap();
    server.send(b"hello").unwrap();
    let (_, client_events, server_events) = pump(&mut client, &mut server, Instant::ZERO);
    let received: Vec<u8> = server_events
        .iter()
        .flat_map(|e| match e {
            TlsEvent::Plaintext(b) => b.to_vec(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(received, block);
    assert_eq!(client_events, vec![TlsEvent::Plaintext("hello".into())]);

    client.close();
    assert_eq!(client.send(b"x"), Err(TlsApiError::Closed));
    let (_, client_events, server_events) = pump(&mut client, &mut server, Instant::ZERO);
    assert_eq!(client_events, vec![TlsEvent::Closed]);
    assert_eq!(server_events, vec![TlsEvent::Closed]);
    assert!(client.is_closed() && server.is_closed());
}

#[test]
fn same_seed_same_transcript() {
    let id = identity(9);
    let run = |seed| {
        let (mut client, mut server) = pair(&id, id.key_hash(), seed);
        let (transcript, client_events, _) = pump(&mut client, &mut server, Instant::ZERO);
        (transcript, session_id(&client_events))
    };
    let (a, sid_a) = run(42);
    let (b, sid_b) = run(42);
    assert_eq!(a, b);
    assert_eq!(sid_a, sid_b);
    let (c, sid_c) = run(43);
    assert_ne!(a, c);
    assert_ne!(sid_a, sid_c);
}

#[test]
fn send_before_handshake_is_refused() {
    let id = identity(3);
    let (mut client, _) = pair(&id, id.key_hash(), 5);
    assert_eq!(client.send(b"early"), Err(TlsApiError::NotEstablished));
}

#[test]
fn wrong_key_hash_is_refused() {
    let id = identity(11);
    let (mut client, mut server) = pair(&id, KeyHash::from_bytes([0x11; 32]), 2);
    let (_, client_events, server_events) = pump(&mut client, &mut server, Instant::ZERO);
    assert_eq!(
        client_error(&client_events),
        TlsError::Identity(IdentityError::UnknownCa)
    );
    // The client's alert reaches the server, which fails too.
    assert!(matches!(
        server_events.as_slice(),
        [TlsEvent::Error(_), TlsEvent::Closed]
    ));
}

fn client_against_chain(chain: Vec<Vec<u8>>, key: &Key, key_hash: KeyHash) -> TlsError {
    let server_identity = ServerIdentity::from_der_unchecked(chain, &key.pkcs8()).unwrap();
    let (mut client, mut server) = pair(&server_identity, key_hash, 4);
    let (_, client_events, _) = pump(&mut client, &mut server, Instant::ZERO);
    client_error(&client_events)
}

#[test]
fn chain_of_one_or_three_is_refused() {
    let (online, ca, _) = ed25519_identity(20);
    let online_key = Key::from_seed(21);
    let hash = KeyHash::of_certificate_der(&ca);
    assert_eq!(
        client_against_chain(vec![online.clone()], &online_key, hash),
        TlsError::Identity(IdentityError::ChainLength { count: 1 })
    );
    assert_eq!(
        client_against_chain(vec![online, ca.clone(), ca], &online_key, hash),
        TlsError::Identity(IdentityError::ChainLength { count: 3 })
    );
}

#[test]
fn online_certificate_not_signed_by_ca_is_refused() {
    let ca = Key::from_seed(30);
    let other = Key::from_seed(31);
    let online_key = Key::from_seed(32);
    let ca_cert = certificate("CA", &ca, "CA", &ca);
    // Names the CA as issuer, but signed by another key.
    let online = certificate("localhost", &online_key, "CA", &other);
    assert_eq!(
        client_against_chain(
            vec![online, ca_cert.clone()],
            &online_key,
            KeyHash::of_certificate_der(&ca_cert)
        ),
        TlsError::Identity(IdentityError::NotSignedByCa)
    );
    // Signed by the CA key, but naming another issuer.
    let online = certificate("localhost", &online_key, "Other CA", &ca);
    assert_eq!(
        client_against_chain(
            vec![online, ca_cert.clone()],
            &online_key,
            KeyHash::of_certificate_der(&ca_cert)
        ),
        TlsError::Identity(IdentityError::NotSignedByCa)
    );
}

#[test]
fn identity_loading_checks_the_chain_and_key() {
    let (online, ca, key) = ed25519_identity(40);
    let (_, other_ca, other_key) = ed25519_identity(50);
    assert!(ServerIdentity::from_der(online.clone(), ca.clone(), &key).is_ok());
    assert_eq!(
        ServerIdentity::from_der(online.clone(), other_ca, &key).unwrap_err(),
        IdentityError::NotSignedByCa
    );
    assert_eq!(
        ServerIdentity::from_der(online, ca, &other_key).unwrap_err(),
        IdentityError::Malformed
    );
}

#[test]
fn stalled_handshake_times_out() {
    let id = identity(12);
    let (mut client, mut server) = pair(&id, id.key_hash(), 6);
    let hello = transmit(&mut client);
    // The server answers but the client never hears back.
    server.handle_input(Instant::ZERO, &hello).unwrap();
    // Its answer waits to be sent: network input and time are refused until it is drained,
    // and take nothing.
    assert_eq!(
        server.handle_input(Instant::ZERO, b"x"),
        Err(TlsApiError::OutputPending)
    );
    assert_eq!(
        server.handle_timeout(Instant::ZERO),
        Err(TlsApiError::OutputPending)
    );
    assert_eq!(server.handle_peer_eof(), Err(TlsApiError::OutputPending));
    assert!(matches!(server.poll_output(), TlsOutput::Transmit(_)));
    // Drained, it names its deadline.
    let deadline = match server.poll_output() {
        TlsOutput::Timeout(Some(t)) => t,
        other => panic!("{other:?}"),
    };
    assert_eq!(deadline, Instant::ZERO + TIMEOUT);
    assert_eq!(server.poll_timeout(), Some(deadline));
    server
        .handle_timeout(Instant::from_micros(deadline.as_micros() - 1))
        .unwrap();
    assert_eq!(server.poll_output(), TlsOutput::Timeout(Some(deadline)));
    server.handle_timeout(deadline).unwrap();
    assert_eq!(
        events(&mut server),
        vec![
            TlsEvent::Error(TlsError::HandshakeTimeout),
            TlsEvent::Closed
        ]
    );
    assert_eq!(server.poll_output(), TlsOutput::Timeout(None));
    client.handle_timeout(deadline).unwrap();
    assert_eq!(
        events(&mut client)[0],
        TlsEvent::Error(TlsError::HandshakeTimeout)
    );
}

#[test]
fn garbage_closes_with_a_protocol_error() {
    let id = identity(13);
    let mut server = TlsSession::server(&id, rng(1), Instant::ZERO, TIMEOUT).unwrap();
    let consumed = server
        .handle_input(Instant::ZERO, b"GET / HTTP/1.1\r\n\r\n")
        .unwrap();
    assert_eq!(consumed, 18);
    // An alert may go out first; then the error, then the close.
    let events = events(&mut server);
    assert!(matches!(
        events.as_slice(),
        [TlsEvent::Error(TlsError::Protocol(_)), TlsEvent::Closed]
    ));
    assert!(server.is_closed());
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..600), 0..8)) {
        let id = identity(14);
        let mut server = TlsSession::server(&id, rng(2), Instant::ZERO, TIMEOUT).unwrap();
        for chunk in &chunks {
            server.handle_input(Instant::ZERO, chunk).unwrap();
            drain(&mut server);
        }
    }

    #[test]
    fn arbitrary_bytes_after_a_valid_hello_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let id = identity(15);
        let mut client = TlsSession::client("localhost", id.key_hash(), rng(3), Instant::ZERO, TIMEOUT).unwrap();
        let mut server = TlsSession::server(&id, rng(4), Instant::ZERO, TIMEOUT).unwrap();
        let hello = transmit(&mut client);
        server.handle_input(Instant::ZERO, &hello).unwrap();
        drain(&mut server);
        server.handle_input(Instant::ZERO, &tail).unwrap();
        drain(&mut server);
        prop_assert!(server.session_id().is_none());
    }
}

#[test]
fn handshake_fed_one_byte_at_a_time() {
    let id = identity(16);
    let (mut client, mut server) = pair(&id, id.key_hash(), 10);
    let (mut client_events, mut server_events) = (Vec::new(), Vec::new());
    // Each byte is one input; the receiver's outputs are drained after each, as the contract
    // wants, and what it wrote goes to the other side in the next round.
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    for _ in 0..100 {
        let (wire, events) = drain(&mut client);
        client_events.extend(events);
        to_server.extend(wire.concat());
        for b in std::mem::take(&mut to_server).chunks(1) {
            assert_eq!(server.handle_input(Instant::ZERO, b), Ok(1));
            let (wire, events) = drain(&mut server);
            server_events.extend(events);
            to_client.extend(wire.concat());
        }
        for b in std::mem::take(&mut to_client).chunks(1) {
            assert_eq!(client.handle_input(Instant::ZERO, b), Ok(1));
            let (wire, events) = drain(&mut client);
            client_events.extend(events);
            to_server.extend(wire.concat());
        }
    }
    // Same seeds as a whole-buffer run give the same session id.
    let (mut c2, mut s2) = pair(&id, id.key_hash(), 10);
    let (_, whole, _) = pump(&mut c2, &mut s2, Instant::ZERO);
    assert_eq!(session_id(&client_events), session_id(&server_events));
    assert_eq!(session_id(&client_events), session_id(&whole));
}

#[test]
fn unread_plaintext_is_bounded() {
    let id = identity(17);
    let (mut client, mut server) = pair(&id, id.key_hash(), 11);
    pump(&mut client, &mut server, Instant::ZERO);
    let block = vec![1u8; 16384];
    let mut wire = Vec::new();
    for _ in 0..16 {
        client.send(&block).unwrap();
        let bytes = transmit(&mut client);
        assert!(!bytes.is_empty());
        wire.extend(bytes);
    }
    assert_eq!(
        client.send(&vec![0; simplex_core::tls::MAX_UNSENT + 1]),
        Err(TlsApiError::SendBufferFull)
    );
    // The server stops consuming once the limit of unread data is reached...
    let used = server.handle_input(Instant::ZERO, &wire).unwrap();
    assert!(used < wire.len());
    // More input before the events are drained is refused.
    assert_eq!(
        server.handle_input(Instant::ZERO, &wire[used..]),
        Err(TlsApiError::OutputPending)
    );
    let mut total = plaintext_len(&mut server);
    assert!(total >= simplex_core::tls::MAX_UNREAD_PLAINTEXT);
    assert!(total <= simplex_core::tls::MAX_UNREAD_PLAINTEXT + 16384);
    // ...and takes the rest once the events are drained.
    let mut rest = &wire[used..];
    while !rest.is_empty() {
        let n = server.handle_input(Instant::ZERO, rest).unwrap();
        rest = &rest[n..];
        total += plaintext_len(&mut server);
    }
    assert_eq!(total, 16 * 16384);
}

proptest! {
    #[test]
    fn certificate_parser_never_panics(der in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = simplex_core::tls::Certificate::parse(&der);
        let _ = simplex_core::tls::check_server_chain(&[&der, &der], &KeyHash::from_bytes([0; 32]));
    }

    #[test]
    fn truncated_certificates_are_rejected(cut in 0usize..200) {
        let (online, _, _) = ed25519_identity(70);
        let cut = cut.min(online.len() - 1);
        prop_assert!(simplex_core::tls::Certificate::parse(&online[..cut]).is_err());
    }
}
