//! NTF client and server connections against each other in memory: the hello and every block
//! are 512 bytes, the version is 1, and transmissions carry NTF commands and responses.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;
mod support;

use simplex_core::crypto::ed25519;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::SignKey;
use simplex_core::ntf::{
    ntf_client_connection, ntf_server_connection, NtfClientConnection, NtfCommand, NtfResponse,
    NtfServerConnection, NtfTknStatus, NTF_BLOCK_SIZE,
};
use simplex_core::protocol::{encode_transmission, signed_part, CorrId, EntityId, ErrorType};
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsSession};
use simplex_core::transport::{CloseReason, HandshakeError, Input, Output, SmpConnection};
use support::{rng, TIMEOUT};

use common::fixture;

fn identity() -> ServerIdentity {
    ServerIdentity::from_pem(
        &fixture("server.crt"),
        &fixture("ca.crt"),
        &fixture("server.key"),
    )
    .unwrap()
}

fn pair(client_hash: Option<KeyHash>) -> (NtfClientConnection, NtfServerConnection) {
    let id = identity();
    let hash = client_hash.unwrap_or(id.key_hash());
    let tls_client =
        TlsSession::client("localhost", id.key_hash(), rng(1), Instant::ZERO, TIMEOUT).unwrap();
    let tls_server = TlsSession::server(&id, rng(2), Instant::ZERO, TIMEOUT).unwrap();
    (
        ntf_client_connection(tls_client, hash, Instant::ZERO, TIMEOUT),
        ntf_server_connection(tls_server, id.key_hash(), Instant::ZERO, TIMEOUT),
    )
}

/// What one end produced besides bytes.
struct Seen<M> {
    received: Vec<(CorrId, Result<M, ErrorType>)>,
    other: Vec<String>,
}

impl<M> Seen<M> {
    fn new() -> Self {
        Self {
            received: Vec::new(),
            other: Vec::new(),
        }
    }
}

fn drain<M: simplex_core::protocol::ProtocolMessage + std::fmt::Debug>(
    conn: &mut SmpConnection<M>,
    seen: &mut Seen<M>,
    wire: &mut Vec<Vec<u8>>,
) {
    loop {
        match conn.poll_output() {
            Output::Transmit(bytes) => wire.push(bytes),
            Output::Received(r) => seen.received.push((r.corr_id, r.message)),
            Output::Timeout(_) => return,
            other => seen.other.push(format!("{other:?}")),
        }
    }
}

fn feed<M: simplex_core::protocol::ProtocolMessage + std::fmt::Debug>(
    conn: &mut SmpConnection<M>,
    bytes: &[u8],
    seen: &mut Seen<M>,
    wire: &mut Vec<Vec<u8>>,
) {
    let mut rest = bytes;
    while !rest.is_empty() {
        let n = conn
            .handle_input(Instant::ZERO, Input::Received(rest))
            .unwrap();
        rest = &rest[n..];
        drain(conn, seen, wire);
    }
}

fn pump(
    client: &mut NtfClientConnection,
    server: &mut NtfServerConnection,
    cs: &mut Seen<NtfResponse>,
    ss: &mut Seen<NtfCommand>,
) {
    let (mut to_server, mut to_client) = (vec![], vec![]);
    loop {
        drain(client, cs, &mut to_server);
        drain(server, ss, &mut to_client);
        if to_server.is_empty() && to_client.is_empty() {
            return;
        }
        for bytes in std::mem::take(&mut to_server) {
            feed(server, &bytes, ss, &mut to_client);
        }
        for bytes in std::mem::take(&mut to_client) {
            feed(client, &bytes, cs, &mut to_server);
        }
    }
}

#[test]
fn commands_and_responses_cross_in_512_byte_blocks() {
    let (mut client, mut server) = pair(None);
    let (mut cs, mut ss) = (Seen::new(), Seen::new());
    pump(&mut client, &mut server, &mut cs, &mut ss);
    assert!(client.is_established() && server.is_established());
    assert_eq!((client.version(), server.version()), (Some(1), Some(1)));
    assert!(cs.other.iter().any(|o| o.contains("batch: false")));

    let key = SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[1; 32]));
    let session = client.session_id().unwrap().to_vec();
    let corr = CorrId::from_slice(b"1").unwrap();
    let entity = EntityId::from_slice(b"token-id").unwrap();
    let signed = signed_part(&session, &corr, &entity, &NtfCommand::TChk.to_bytes()).unwrap();
    let t = encode_transmission(Some(&key.sign(&signed)), &signed);
    client
        .handle_input(Instant::ZERO, Input::Send(vec![t]))
        .unwrap();
    // One 512-byte block (inside TLS) leaves the client.
    let mut wire = vec![];
    drain(&mut client, &mut cs, &mut wire);
    let sent: usize = wire.iter().map(Vec::len).sum();
    // 512 bytes of block plus one TLS record's overhead, far below an SMP block.
    assert!(
        (NTF_BLOCK_SIZE..NTF_BLOCK_SIZE + 64).contains(&sent),
        "{sent}"
    );
    for bytes in wire {
        let mut back = vec![];
        feed(&mut server, &bytes, &mut ss, &mut back);
        assert!(back.is_empty());
    }
    assert_eq!(ss.received, vec![(corr.clone(), Ok(NtfCommand::TChk))]);

    let response = NtfResponse::Tkn(NtfTknStatus::Active).to_bytes();
    let signed = signed_part(&session, &corr, &entity, &response).unwrap();
    server
        .handle_input(
            Instant::ZERO,
            Input::Send(vec![encode_transmission(None, &signed)]),
        )
        .unwrap();
    pump(&mut client, &mut server, &mut cs, &mut ss);
    assert_eq!(
        cs.received,
        vec![(corr, Ok(NtfResponse::Tkn(NtfTknStatus::Active)))]
    );

    // A transmission larger than a 512-byte block is refused whole.
    let big = encode_transmission(None, &vec![b'x'; NTF_BLOCK_SIZE]);
    client
        .handle_input(Instant::ZERO, Input::Send(vec![big]))
        .unwrap();
    let mut wire = vec![];
    drain(&mut client, &mut cs, &mut wire);
    assert!(cs.other.iter().any(|o| o.contains("TooLarge([0])")));
}

#[test]
fn wrong_identity_fails_the_hello() {
    let (mut client, mut server) = pair(Some(KeyHash::from_bytes([9; 32])));
    let (mut cs, mut ss) = (Seen::new(), Seen::new());
    pump(&mut client, &mut server, &mut cs, &mut ss);
    let expected = format!(
        "{:?}",
        Output::<NtfCommand>::Closed(CloseReason::Handshake(HandshakeError::Identity))
    );
    assert!(ss.other.contains(&expected), "{:?}", ss.other);
}
