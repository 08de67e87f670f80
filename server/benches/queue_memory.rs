//! Server memory per idle queue: restores N secured queues (random ids, a recipient key, a
//! sender key, a DH secret — what the store log holds) into one server machine and reports the
//! growth of the process's resident memory per queue. Each configuration runs in its own child
//! process so that freed memory of one cannot hide the growth of the next.
//!
//! `cargo bench -p simplex-server --bench queue_memory [-- QUEUES]`
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::{ed25519, ed448, x25519};
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::EntityId;
use simplex_core::time::Instant;
use simplex_server::queue::{QueueRec, QueueStatus};
use simplex_server::{Server, ServerConfig};

const CHILD: &str = "QUEUE_MEMORY_CHILD";

/// Resident bytes of this process (`/proc/self/statm`, pages of 4 KiB).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

fn id(rng: &mut ChaCha20Rng) -> EntityId {
    let mut bytes = [0u8; 24];
    rng.fill_bytes(&mut bytes);
    EntityId::new(bytes.to_vec()).unwrap()
}

fn key(ed448_key: bool, rng: &mut ChaCha20Rng) -> VerifyKey {
    if ed448_key {
        VerifyKey::Ed448(ed448::SigningKey::generate(rng).verifying_key())
    } else {
        VerifyKey::Ed25519(ed25519::SigningKey::generate(rng).verifying_key())
    }
}

fn child(queues: usize, ed448_keys: bool) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let start = rss();
    // Keys are made first (they are the slow part) and kept in a list the size of which is
    // known; the server's growth is measured around the restore alone.
    let mut records: Vec<QueueRec> = (0..queues)
        .map(|_| {
            let mut secret = [0u8; 32];
            rng.fill_bytes(&mut secret);
            QueueRec {
                recipient_id: id(&mut rng),
                recipient_key: key(ed448_keys, &mut rng),
                rcv_dh_secret: x25519::SharedSecret::from_bytes(&secret),
                sender_id: id(&mut rng),
                sender_key: Some(key(ed448_keys, &mut rng)),
                notifier: None,
                status: QueueStatus::Active,
            }
        })
        .collect();
    let mut server = Server::new(
        ServerConfig::default(),
        ChaCha20Rng::seed_from_u64(2),
        Instant::ZERO,
        UnixTime::from_seconds(1_700_000_000),
    );
    let before = rss();
    server.restore_queues(records.drain(..)).unwrap();
    // The records moved into the server; their list (one large allocation, returned to the
    // OS when freed) goes, so what remains above the start is the server's.
    drop(records);
    let after = rss();
    println!(
        "{} keys, {queues} queues: RSS {:.1} MB at start, {:.1} MB with the records made, \
         {:.1} MB with them in the server: {:.0} bytes per queue \
         (size_of QueueRec {} B, VerifyKey {} B)",
        if ed448_keys { "Ed448" } else { "Ed25519" },
        start as f64 / 1e6,
        before as f64 / 1e6,
        after as f64 / 1e6,
        (after as f64 - start as f64) / queues as f64,
        std::mem::size_of::<QueueRec>(),
        std::mem::size_of::<VerifyKey>(),
    );
    std::hint::black_box(&server);
}

fn main() {
    let queues: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(100_000);
    if let Ok(which) = std::env::var(CHILD) {
        return child(queues, which == "ed448");
    }
    let exe = std::env::current_exe().unwrap();
    for which in ["ed25519", "ed448"] {
        let status = std::process::Command::new(&exe)
            .arg(queues.to_string())
            .env(CHILD, which)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
