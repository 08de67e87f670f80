//! Server memory per idle queue: restores N secured queues (random ids, a recipient key, a
//! sender key, a DH secret — what the store log holds) into one server machine and reports the
//! growth of the process's resident memory per queue: with Ed25519 keys, with Ed448 keys, and
//! with Ed25519 keys plus notifier credentials. Each configuration runs in its own child
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
use simplex_core::time::{Clock, Instant};
use simplex_server::queue::{NtfCreds, QueueRec, QueueStatus};
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

/// What the restored queues carry.
#[derive(Clone, Copy)]
struct Variant {
    ed448_keys: bool,
    notifier: bool,
}

impl Variant {
    const ALL: [(&'static str, Variant); 3] = [
        (
            "ed25519",
            Variant {
                ed448_keys: false,
                notifier: false,
            },
        ),
        (
            "ed448",
            Variant {
                ed448_keys: true,
                notifier: false,
            },
        ),
        (
            "ed25519_notifier",
            Variant {
                ed448_keys: false,
                notifier: true,
            },
        ),
    ];
}

fn secret(rng: &mut ChaCha20Rng) -> x25519::SharedSecret {
    let mut secret = [0u8; 32];
    rng.fill_bytes(&mut secret);
    x25519::SharedSecret::from_bytes(&secret)
}

fn record(v: Variant, rng: &mut ChaCha20Rng) -> QueueRec {
    QueueRec {
        recipient_id: id(rng),
        recipient_key: key(v.ed448_keys, rng),
        rcv_dh_secret: secret(rng),
        sender_id: id(rng),
        sender_key: Some(key(v.ed448_keys, rng)),
        notifier: v.notifier.then(|| NtfCreds {
            notifier_id: id(rng),
            notifier_key: key(v.ed448_keys, rng),
            ntf_dh_secret: secret(rng),
        }),
        status: QueueStatus::Active,
    }
}

fn child(queues: usize, name: &str, v: Variant) {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    let mut server = Server::new(
        ServerConfig::default(),
        ChaCha20Rng::seed_from_u64(2),
        Clock {
            now: Instant::ZERO,
            wall_clock: UnixTime::from_seconds(1_700_000_000),
        },
    );
    // Records are made one at a time as the server takes them, so that whatever a record
    // allocates and the server does not keep is freed and reused by the next one: what the
    // process grows by is what the server holds.
    let start = rss();
    server
        .restore_queues((0..queues).map(|_| record(v, &mut rng)))
        .unwrap();
    let after = rss();
    println!(
        "{name}: {queues} queues: RSS {:.1} MB at start, {:.1} MB with them in the server: \
         {:.0} bytes per queue (size_of QueueRec {} B, VerifyKey {} B)",
        start as f64 / 1e6,
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
        let (name, v) = Variant::ALL
            .into_iter()
            .find(|(name, _)| *name == which)
            .unwrap();
        return child(queues, name, v);
    }
    let exe = std::env::current_exe().unwrap();
    for (name, _) in Variant::ALL {
        let status = std::process::Command::new(&exe)
            .arg(queues.to_string())
            .env(CHILD, name)
            .status()
            .unwrap();
        assert!(status.success());
    }
}
