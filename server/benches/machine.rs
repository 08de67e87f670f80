//! Commands per second through the server machine alone (no TLS, no sockets): SEND with
//! delivery to a subscribed recipient (signature check + crypto_box of the 16 KB body) and
//! its ACK, with Ed25519 and Ed448 keys; and the same load on 1 vs 2 shards, one thread each.
//!
//! `per_command_derivation` times what the queue store derives per command (a parsed key, the
//! crypto_box key) against a signature check.
//!
//! Client-side work (signing, encoding, the transport's parse) is prepared before the clock
//! starts: a twin machine with the same seed runs first to learn the message ids the ACKs need.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use simplex_server::Shard;

mod support;
use support::{fixture, run};

fn cycles(c: &mut Criterion) {
    let mut g = c.benchmark_group("send_deliver_ack");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    g.throughput(Throughput::Elements(1));
    for (name, ed448, durable) in [
        ("ed25519", false, false),
        ("ed448", true, false),
        ("ed25519_durable", false, true),
    ] {
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let (mut server, inputs) =
                    fixture(1, ed448, Shard::default(), iters as usize, durable);
                let start = std::time::Instant::now();
                run(&mut server, inputs);
                start.elapsed()
            })
        });
    }
    g.finish();

    let mut g = c.benchmark_group("shards_ed25519");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for threads in [1u16, 2] {
        g.throughput(Throughput::Elements(u64::from(threads)));
        g.bench_function(format!("threads_{threads}"), |b| {
            b.iter_custom(|iters| {
                let work: Vec<_> = (0..threads)
                    .map(|i| {
                        fixture(
                            u64::from(i) + 1,
                            false,
                            Shard {
                                index: i,
                                count: threads,
                            },
                            iters as usize,
                            false,
                        )
                    })
                    .collect();
                let start = std::time::Instant::now();
                std::thread::scope(|s| {
                    for (mut server, inputs) in work {
                        s.spawn(move || run(&mut server, inputs));
                    }
                });
                start.elapsed()
            })
        });
    }
    g.finish();
}

/// What the queue store derives per command instead of keeping it: a parsed key from its raw
/// bytes (before each signature check) and the crypto_box key from the DH secret (before each
/// boxed body); a verification for scale.
fn derivations(c: &mut Criterion) {
    use simplex_core::crypto::cbox::CbKey;
    use simplex_core::crypto::{ed25519, ed448, x25519};
    let mut g = c.benchmark_group("per_command_derivation");
    g.sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let sk25519 = ed25519::SigningKey::from_bytes(&[7; 32]);
    let raw25519 = *sk25519.verifying_key().as_bytes();
    let sig25519 = sk25519.sign(b"a signed transmission");
    let raw448 = *ed448::SigningKey::from_bytes(&[7; 57])
        .verifying_key()
        .as_bytes();
    let secret = [9u8; 32];
    g.bench_function("parse_ed25519_key", |b| {
        b.iter(|| ed25519::VerifyingKey::from_bytes(std::hint::black_box(&raw25519)))
    });
    g.bench_function("parse_ed448_key", |b| {
        b.iter(|| ed448::VerifyingKey::from_bytes(std::hint::black_box(&raw448)))
    });
    g.bench_function("derive_cb_key", |b| {
        b.iter(|| {
            CbKey::new(&x25519::SharedSecret::from_bytes(std::hint::black_box(
                &secret,
            )))
        })
    });
    let parsed = ed25519::VerifyingKey::from_bytes(&raw25519);
    g.bench_function("verify_ed25519", |b| {
        b.iter(|| parsed.verify(std::hint::black_box(b"a signed transmission"), &sig25519))
    });
    g.finish();
}

criterion_group!(benches, cycles, derivations);
criterion_main!(benches);
