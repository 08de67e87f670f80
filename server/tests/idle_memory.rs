//! The heap an idle connection holds on the server, counted by allocation (dhat) rather than
//! read from the process's RSS: 300 clients connect (TLS with the reference's identity and the
//! SMP hello, a 16 KiB block each way) and then say nothing. Its own test binary, because the
//! counting allocator sees every thread of the process.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod world;

use world::World;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// The bound: the TLS session and its 4 KiB record buffer, the SMP connection machine and the
/// server's client entry (~13 KiB measured). Before a finished block stopped pinning its
/// buffer and rustls was made to shrink its record buffer after each input, an idle
/// connection held ~60 KB.
const MAX_IDLE_BYTES: u64 = 20 * 1024;

#[test]
fn an_idle_connection_holds_little_memory() {
    let _profiler = dhat::Profiler::builder().testing().build();
    let mut w = World::new(1);
    // The first connections also allocate the driver's lasting structures.
    for seed in 0..3 {
        w.connect(1000 + seed);
    }
    let clients = w.clients.len();
    let before = dhat::HeapStats::get().curr_bytes;
    let n = 300;
    for seed in 0..n {
        w.connect(seed);
    }
    // Only the server's side is counted: the client machines (and the test's lists of them)
    // go, the server's connections stay.
    w.clients.truncate(clients);
    w.clients.shrink_to_fit();
    w.received.truncate(clients);
    w.received.shrink_to_fit();
    let after = dhat::HeapStats::get().curr_bytes;
    let per_connection = (after.saturating_sub(before) / n as usize) as u64;
    assert_eq!(w.drivers[0].connection_count(), clients + n as usize);
    assert!(
        per_connection <= MAX_IDLE_BYTES,
        "an idle connection holds {per_connection} bytes on the server"
    );
}
