//! Helpers shared by the TLS tests: Ed25519 test identities built in DER, and a pump that moves
//! bytes between two in-memory sessions.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use core::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use simplex_core::time::Instant;
use simplex_core::tls::{SessionRng, TlsEvent, TlsOutput, TlsSession};

pub fn rng(seed: u64) -> SessionRng {
    Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed))
}

fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(content);
    out
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

const OID_ED25519: &[u8] = &[0x2b, 0x65, 0x70];

fn ed25519_alg() -> Vec<u8> {
    seq(&[tlv(0x06, OID_ED25519)])
}

fn name(cn: &str) -> Vec<u8> {
    let atv = seq(&[tlv(0x06, &[0x55, 0x04, 0x03]), tlv(0x0c, cn.as_bytes())]);
    seq(&[tlv(0x31, &atv)])
}

fn bits(bytes: &[u8]) -> Vec<u8> {
    let mut content = vec![0];
    content.extend_from_slice(bytes);
    tlv(0x03, &content)
}

/// An Ed25519 key pair (seed 32 bytes).
pub struct Key(pub ed25519_dalek::SigningKey);

impl Key {
    pub fn from_seed(seed: u8) -> Self {
        Key(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]))
    }

    pub fn pkcs8(&self) -> Vec<u8> {
        seq(&[
            tlv(0x02, &[0]),
            ed25519_alg(),
            tlv(0x04, &tlv(0x04, self.0.as_bytes())),
        ])
    }
}

/// A certificate for `subject_key` named `subject`, issued by `issuer` and signed by `signer`.
pub fn certificate(subject: &str, subject_key: &Key, issuer: &str, signer: &Key) -> Vec<u8> {
    use ed25519_dalek::Signer as _;
    let validity = seq(&[tlv(0x17, b"220101000000Z"), tlv(0x18, b"47590101000000Z")]);
    let spki = seq(&[
        ed25519_alg(),
        bits(subject_key.0.verifying_key().as_bytes()),
    ]);
    let tbs = seq(&[
        tlv(0xa0, &tlv(0x02, &[2])),
        tlv(0x02, &[1]),
        ed25519_alg(),
        name(issuer),
        validity,
        name(subject),
        spki,
    ]);
    let signature = signer.0.sign(&tbs).to_bytes();
    seq(&[tbs, ed25519_alg(), bits(&signature)])
}

/// A well-formed Ed25519 identity: (online cert, CA cert, online key PKCS#8).
pub fn ed25519_identity(seed: u8) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let ca = Key::from_seed(seed);
    let online = Key::from_seed(seed.wrapping_add(1));
    let ca_cert = certificate("CA", &ca, "CA", &ca);
    let online_cert = certificate("localhost", &online, "CA", &ca);
    (online_cert, ca_cert, online.pkcs8())
}

pub const TIMEOUT: Duration = Duration::from_secs(10);

/// A transcript (client-to-server?, bytes) and the events of the client and of the server.
pub type Pumped = (Vec<(bool, Vec<u8>)>, Vec<TlsEvent>, Vec<TlsEvent>);

/// Moves bytes both ways until neither side has anything to send; returns the transcript
/// (direction, bytes) and the events of each side.
pub fn pump(client: &mut TlsSession, server: &mut TlsSession, now: Instant) -> Pumped {
    let mut transcript = Vec::new();
    let (mut client_events, mut server_events) = (Vec::new(), Vec::new());
    loop {
        let mut moved = false;
        // A stream: what each side wrote since the last round reaches the other as one input.
        // Both are drained first (each may have written on its own, e.g. after `send`), so no
        // input meets undrained outputs, as the contract wants.
        let (wire, events) = drain(client);
        client_events.extend(events);
        let to_server = wire.concat();
        let (wire, events) = drain(server);
        server_events.extend(events);
        let to_client = wire.concat();
        if !to_server.is_empty() {
            let n = server
                .handle_input(now, &to_server)
                .expect("server outputs drained");
            assert_eq!(n, to_server.len());
            transcript.push((true, to_server));
            moved = true;
        }
        if !to_client.is_empty() {
            let n = client
                .handle_input(now, &to_client)
                .expect("client outputs drained");
            assert_eq!(n, to_client.len());
            transcript.push((false, to_client));
            moved = true;
        }
        if !moved {
            return (transcript, client_events, server_events);
        }
    }
}

/// Drains a session to `Timeout`: the bytes it had for the socket and its events, in order.
#[allow(dead_code)]
pub fn drain(session: &mut TlsSession) -> (Vec<Vec<u8>>, Vec<TlsEvent>) {
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    loop {
        match session.poll_output() {
            TlsOutput::Transmit(bytes) => wire.push(bytes),
            TlsOutput::Event(event) => events.push(event),
            TlsOutput::Timeout(_) => return (wire, events),
        }
    }
}

/// The bytes a session has for the socket, all in one (its events are dropped).
#[allow(dead_code)]
pub fn transmit(session: &mut TlsSession) -> Vec<u8> {
    drain(session).0.concat()
}

/// The events a session has (its bytes are dropped).
#[allow(dead_code)]
pub fn events(session: &mut TlsSession) -> Vec<TlsEvent> {
    drain(session).1
}
