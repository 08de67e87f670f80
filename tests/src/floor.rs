//! The primitive floor of relaying one message: what a server cannot avoid doing per message,
//! measured in this process so that a load run can be compared with it on the same machine at
//! the same time (issue #6: relay throughput at least 60% of this floor).
//!
//! Per message relayed (as `smp-load` runs it at window 1: `SEND` in, `OK` out, `MSG` out,
//! `ACK` in, `OK` out), the server verifies two signatures (the sender's on `SEND`, the
//! recipient's on `ACK`), encrypts the body once with crypto_box (padded to
//! `RCV_MSG_PADDED_LEN`, ~16 KiB), and decrypts two 16 KiB TLS records and encrypts three (every
//! block is padded to 16 KiB). The TLS cost is measured as one record through both ends (one
//! end encrypting, the other decrypting), so the five records cost 2.5 of those.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Instant as Clock;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::time::Instant;
use simplex_core::tls::{TlsEvent, TlsSession};

const BLOCK: usize = 16_384;

/// Per-operation costs in microseconds (the fastest of many short rounds of each).
#[derive(Debug, Clone, Copy)]
pub struct Floor {
    /// One verification with the sender's key algorithm.
    pub verify_sender_us: f64,
    /// One verification with the recipient's key algorithm.
    pub verify_recipient_us: f64,
    /// One crypto_box of a 16 KiB body.
    pub cbox_us: f64,
    /// One 16 KiB TLS record encrypted by one end and decrypted by the other.
    pub tls_record_us: f64,
}

impl Floor {
    /// The floor per relayed message: two verifications, one crypto_box, five records.
    pub fn per_message_us(&self) -> f64 {
        self.verify_sender_us + self.verify_recipient_us + self.cbox_us + 2.5 * self.tls_record_us
    }
}

/// The fastest of many short rounds of calls of `f`, in microseconds per call: on a machine
/// shared with other work, the fastest short round is the one least disturbed. A round is
/// about 2 ms (`per_round` calls) and there are 60 of them.
fn fastest(per_round: usize, mut f: impl FnMut()) -> f64 {
    (0..60)
        .map(|_| {
            let t = Clock::now();
            for _ in 0..per_round {
                f();
            }
            t.elapsed().as_secs_f64() * 1e6 / per_round as f64
        })
        .fold(f64::MAX, f64::min)
}

fn verify_cost(alg: Algorithm) -> f64 {
    let len = if alg == Algorithm::Ed448 { 57 } else { 32 };
    let key = SignKey::try_from(PrivateKey::from_raw(alg, &vec![3u8; len]).unwrap()).unwrap();
    let verify_key = key.verify_key();
    let msg = vec![0x5au8; 200];
    let sig = key.sign(&msg);
    let per_round = if alg == Algorithm::Ed448 { 8 } else { 40 };
    fastest(per_round, || assert!(verify_key.verify(&msg, &sig)))
}

fn cbox_cost() -> f64 {
    let a = x25519::PrivateKey::from_bytes(&[1; 32]);
    let b = x25519::PrivateKey::from_bytes(&[2; 32]).public_key();
    let key = CbKey::new(&a.diffie_hellman(&b).unwrap());
    let nonce = CbNonce::from_slice_padded(&[7; 24]);
    let body = vec![0x42u8; 256];
    fastest(60, || {
        let padded = simplex_server::RCV_MSG_PADDED_LEN;
        std::hint::black_box(key.encrypt(&nonce, &body, padded).unwrap());
    })
}

fn tls_record_cost() -> f64 {
    let identity = crate::harness::identity();
    let timeout = std::time::Duration::from_secs(10);
    let rng =
        |seed| -> simplex_core::tls::SessionRng { Box::new(ChaCha20Rng::seed_from_u64(seed)) };
    let mut client = TlsSession::client(
        "localhost",
        identity.key_hash(),
        rng(1),
        Instant::ZERO,
        timeout,
    )
    .unwrap();
    let mut server = TlsSession::server(&identity, rng(2), Instant::ZERO, timeout).unwrap();
    loop {
        let mut moved = false;
        // What one side wrote reaches the other as one input, its outputs drained between.
        let to_server = drain_tls(&mut client).0.concat();
        if !to_server.is_empty() {
            server.handle_input(Instant::ZERO, &to_server).unwrap();
            moved = true;
        }
        let to_client = drain_tls(&mut server).0.concat();
        if !to_client.is_empty() {
            client.handle_input(Instant::ZERO, &to_client).unwrap();
            moved = true;
        }
        if !moved {
            break;
        }
    }
    assert!(client.is_established() && server.is_established());
    let block = vec![0x42u8; BLOCK];
    fastest(100, || {
        client.send(&block).unwrap();
        let wire = drain_tls(&mut client).0.concat();
        server.handle_input(Instant::ZERO, &wire).unwrap();
        let mut got = 0;
        for event in drain_tls(&mut server).1 {
            if let TlsEvent::Plaintext(p) = event {
                got += p.len();
            }
        }
        assert_eq!(got, BLOCK);
    })
}

/// Measures the floor for these key algorithms.
pub fn measure(sender: Algorithm, recipient: Algorithm) -> Floor {
    Floor {
        verify_sender_us: verify_cost(sender),
        verify_recipient_us: verify_cost(recipient),
        cbox_us: cbox_cost(),
        tls_record_us: tls_record_cost(),
    }
}

/// Drains a TLS session to `Timeout`: its bytes for the socket and its events, in order.
fn drain_tls(
    session: &mut simplex_core::tls::TlsSession,
) -> (Vec<Vec<u8>>, Vec<simplex_core::tls::TlsEvent>) {
    use simplex_core::tls::TlsOutput;
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    loop {
        match session.poll_output() {
            TlsOutput::Transmit(bytes) => wire.push(bytes),
            TlsOutput::Event(event) => events.push(event),
            TlsOutput::Timeout(_) => return (wire, events),
        }
    }
}
