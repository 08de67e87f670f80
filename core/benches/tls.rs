//! Throughput of 16384-byte blocks through the TLS machines (client encrypts, server decrypts),
//! beside ring's raw ChaCha20-Poly1305 seal + open of the same size.
//!
//! `cargo bench -p simplex-core --bench tls -- --warm-up-time 1 --measurement-time 3`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/support/mod.rs"]
mod support;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305};
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsEvent, TlsSession};
use support::{ed25519_identity, pump, rng, TIMEOUT};

const BLOCK: usize = 16384;

fn tls_blocks(c: &mut Criterion) {
    let (online, ca, key) = ed25519_identity(1);
    let identity = ServerIdentity::from_der(online, ca, &key).unwrap();
    let mut client = TlsSession::client(
        "localhost",
        identity.key_hash(),
        rng(1),
        Instant::ZERO,
        TIMEOUT,
    )
    .unwrap();
    let mut server = TlsSession::server(&identity, rng(2), Instant::ZERO, TIMEOUT).unwrap();
    pump(&mut client, &mut server, Instant::ZERO);
    assert!(client.is_established() && server.is_established());

    let block = vec![0x42u8; BLOCK];
    let mut group = c.benchmark_group("tls");
    group.throughput(Throughput::Elements(1));
    group.bench_function("block_16384_client_to_server", |b| {
        b.iter(|| {
            client.send(&block).unwrap();
            let wire = support::transmit(&mut client);
            assert_eq!(server.handle_input(Instant::ZERO, &wire), Ok(wire.len()));
            let mut got = 0;
            for event in support::events(&mut server) {
                if let TlsEvent::Plaintext(p) = event {
                    got += p.len();
                }
            }
            assert_eq!(got, BLOCK);
        })
    });

    let key = LessSafeKey::new(UnboundKey::new(&CHACHA20_POLY1305, &[7u8; 32]).unwrap());
    let mut buf = vec![0x42u8; BLOCK];
    group.bench_function("raw_ring_chacha20poly1305_seal_open_16384", |b| {
        b.iter(|| {
            let tag = key
                .seal_in_place_separate_tag(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from([0u8; 5]),
                    &mut buf,
                )
                .unwrap();
            buf.extend_from_slice(tag.as_ref());
            let plain_len = key
                .open_in_place(
                    Nonce::assume_unique_for_key([1; 12]),
                    Aad::from([0u8; 5]),
                    &mut buf,
                )
                .unwrap()
                .len();
            buf.truncate(plain_len);
        })
    });
    group.finish();
}

criterion_group!(benches, tls_blocks);
criterion_main!(benches);
