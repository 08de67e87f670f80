//! Commands per second through the server machine alone (no TLS, no sockets): SEND with
//! delivery to a subscribed recipient (signature check + crypto_box of the 16 KB body) and
//! its ACK, with Ed25519 and Ed448 keys; and the same load on 1 vs 2 shards, one thread each.
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

criterion_group!(benches, cycles);
criterion_main!(benches);
