//! Resubscribing 100,000 queues after a reconnection: the connection manager holds 100,000
//! recipient subscriptions (Ed25519 keys), the connection comes up, and the manager signs one
//! `SUB` per queue, packs them into v4 blocks and TLS-encrypts them through the client
//! connection. Measured: the time from the server hello to the last encrypted byte, and the
//! number of blocks (printed once).

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../tests/scripted/mod.rs"]
mod scripted;

use std::time::{Duration, Instant as StdInstant};

use criterion::{criterion_group, criterion_main, Criterion};
use rand_chacha::rand_core::SeedableRng;
use simplex_core::address::TransportHost;
use simplex_core::client::{
    generate_sign_key, ConnectionManager, ManagerConfig, ManagerInput, ManagerOutput,
    QueueSubscription, SignAlgorithm, SubParty,
};
use simplex_core::protocol::EntityId;
use simplex_core::time::Instant;

const QUEUES: usize = 100_000;

/// Subscriptions for `QUEUES` queues (made once; the signing keys are shared per 1,000 queues
/// to keep set-up short — signing cost does not depend on which key signs).
fn subscriptions() -> Vec<QueueSubscription> {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
    let keys: Vec<_> = (0..100)
        .map(|_| generate_sign_key(SignAlgorithm::Ed25519, &mut rng))
        .collect();
    (0..QUEUES)
        .map(|i| {
            let mut id = [0u8; 24];
            id[..8].copy_from_slice(&(i as u64).to_be_bytes());
            QueueSubscription {
                party: SubParty::Recipient,
                queue_id: EntityId::from_slice(&id).unwrap(),
                sign_key: keys[i % keys.len()].clone(),
                body_key: None,
            }
        })
        .collect()
}

/// Runs one resubscription; returns (time from the server hello to the last byte, bytes
/// sent after the hello).
fn resubscribe(subs: &[QueueSubscription]) -> (Duration, usize) {
    let now = Instant::ZERO;
    let mut server = scripted::ScriptedServer::new(1);
    let address = scripted::address(
        server.key_hash(),
        vec![TransportHost::Domain("localhost".into())],
        "",
    );
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(2));
    let mut mgr = ConnectionManager::new(ManagerConfig::default(), rng, now);
    // The manager takes no input before its outputs are drained: each input is followed by
    // a drain into `queue`, which the loop below acts on.
    let mut queue = std::collections::VecDeque::new();
    let feed = |mgr: &mut ConnectionManager,
                input: ManagerInput<'_>,
                queue: &mut std::collections::VecDeque<ManagerOutput>| {
        mgr.handle_input(now, input).unwrap();
        loop {
            match mgr.poll_output() {
                ManagerOutput::Timeout(_) => return,
                out => queue.push_back(out),
            }
        }
    };
    let input = ManagerInput::Subscribe {
        server: address.clone(),
        subs: subs.to_vec(),
    };
    feed(&mut mgr, input, &mut queue);
    let mut conn = None;
    let mut started = None;
    let mut sent_after = 0usize;
    loop {
        let mut moved = false;
        while let Some(out) = queue.pop_front() {
            match out {
                ManagerOutput::Connect { conn: c, .. } => {
                    server.accept(c.0, now);
                    conn = Some(c);
                    feed(&mut mgr, ManagerInput::Connected(c), &mut queue);
                    moved = true;
                }
                ManagerOutput::Transmit { conn: c, bytes } => {
                    if started.is_some() {
                        sent_after += bytes.len();
                    } else {
                        server.receive(c.0, now, &bytes);
                        moved = true;
                    }
                }
                _ => {}
            }
        }
        if started.is_some() {
            break;
        }
        let c = conn.expect("connecting");
        for bytes in server.transmit(c.0, now) {
            // The block that carries the server hello starts the measured part.
            if bytes.len() > 16_000 {
                started = Some(StdInstant::now());
            }
            feed(&mut mgr, ManagerInput::Received(c, &bytes), &mut queue);
            moved = true;
        }
        if !moved {
            break;
        }
    }
    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    (elapsed, sent_after)
}

fn bench(c: &mut Criterion) {
    let subs = subscriptions();
    let (elapsed, bytes) = resubscribe(&subs);
    // Each block is one TLS record: 16384 bytes + 22 bytes of record overhead; the client hello
    // block is the first of them.
    let blocks = bytes / (16_384 + 22);
    println!(
        "resubscribe {QUEUES} queues: {blocks} blocks ({} SUBs per block), {bytes} bytes, one run {elapsed:?}",
        QUEUES / blocks.saturating_sub(1).max(1)
    );
    let mut group = c.benchmark_group("resubscribe");
    group.sample_size(10);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("100k_queues_ed25519", |b| {
        b.iter_custom(|iters| (0..iters).map(|_| resubscribe(&subs).0).sum())
    });
    // For comparison: the 100,000 signatures alone, over transmissions of the same size.
    let parts: Vec<Vec<u8>> = subs
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut part = vec![32u8; 33];
            part.extend_from_slice(i.to_string().as_bytes());
            part.extend_from_slice(s.queue_id.as_bytes());
            part.extend_from_slice(b"SUB");
            part
        })
        .collect();
    group.bench_function("signatures_only_100k_ed25519", |b| {
        b.iter(|| {
            subs.iter()
                .zip(&parts)
                .map(|(s, p)| s.sign_key.sign(p).as_bytes()[0] as usize)
                .sum::<usize>()
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
