//! Shard scaling, measured so that it means something on a shared machine: N threads, each
//! running its own shard's SEND+delivery+ACK cycles, report wall time and each thread's
//! on-CPU and run-queue wait time (`/proc/thread-self/schedstat`). If the shards share
//! nothing, the on-CPU time per cycle stays flat from 1 to N threads, and throughput grows
//! with the cores actually free.
//!
//! `cargo bench -p simplex-server --bench scaling [-- CYCLES]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod support;

use simplex_server::Shard;
use support::{fixture, run};

/// (on-CPU ns, run-queue wait ns) of the calling thread; zeros where not available.
fn schedstat() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let mut f = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    (f.next().unwrap_or(0), f.next().unwrap_or(0))
}

fn main() {
    let cycles: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(3000);
    println!("cycles per thread: {cycles}");
    for threads in [1u16, 2] {
        let work: Vec<_> = (0..threads)
            .map(|i| {
                fixture(
                    u64::from(i) + 1,
                    false,
                    Shard {
                        index: i,
                        count: threads,
                    },
                    cycles,
                    false,
                )
            })
            .collect();
        let start = std::time::Instant::now();
        let per_thread: Vec<(u64, u64)> = std::thread::scope(|s| {
            let handles: Vec<_> = work
                .into_iter()
                .map(|(mut server, inputs)| {
                    s.spawn(move || {
                        let (cpu0, wait0) = schedstat();
                        run(&mut server, inputs);
                        let (cpu1, wait1) = schedstat();
                        (cpu1 - cpu0, wait1 - wait0)
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let wall = start.elapsed().as_secs_f64();
        let total = cycles as f64 * f64::from(threads);
        let cpu_us: f64 = per_thread.iter().map(|p| p.0 as f64).sum::<f64>() / 1e3 / total;
        let wait_ms: f64 = per_thread.iter().map(|p| p.1 as f64).sum::<f64>() / 1e6;
        println!(
            "threads {threads}: {:.0} cycles/s wall, {:.1} µs on-CPU per cycle, {:.0} ms waiting for a CPU",
            total / wall,
            cpu_us,
            wait_ms
        );
    }
}
