//! The deterministic simulation: the production server driver and real client connections
//! over a faulty simulated network. See `spec/testing.md`.
//!
//! `SIM_SEEDS=N` runs N seeds (default 300); `SIM_SEED=S` runs only seed S (to replay a
//! failure: a failing seed is printed with the command that replays it).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_server::Mutations;
use simplex_tests::sim::{simulate, SimConfig};

fn seeds() -> Vec<u64> {
    if let Ok(seed) = std::env::var("SIM_SEED") {
        return vec![seed.parse().expect("SIM_SEED is a number")];
    }
    let count = std::env::var("SIM_SEEDS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(300);
    (0..count).collect()
}

#[test]
fn every_seed_keeps_the_delivery_invariants() {
    let mut failures = Vec::new();
    let (mut accepted, mut crashes, mut resets) = (0, 0, 0);
    for seed in seeds() {
        let report = simulate(SimConfig::new(seed));
        accepted += report.accepted;
        crashes += report.crashes;
        resets += report.resets;
        if !report.violations.is_empty() {
            failures.push(format!(
                "seed {seed}: {:?}\n  replay: SIM_SEED={seed} cargo nextest run -p simplex-tests --test simulation every_seed",
                report.violations
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(
        accepted > 0 && crashes > 0 && resets > 0,
        "the faults and the traffic happened: {accepted} {crashes} {resets}"
    );
}

/// The same worlds with every client on WebSocket framing: the same invariants hold under the
/// same faults (resets, crashes, delays), and a run replays exactly.
#[test]
fn websocket_clients_keep_the_delivery_invariants() {
    let mut accepted = 0;
    for seed in seeds().into_iter().take(25) {
        let report = simulate(SimConfig {
            websockets: true,
            ..SimConfig::new(seed)
        });
        assert!(
            report.violations.is_empty(),
            "seed {seed} (websockets): {:?}",
            report.violations
        );
        accepted += report.accepted;
    }
    assert!(accepted > 0);
    let ws = |seed| SimConfig {
        websockets: true,
        ..SimConfig::new(seed)
    };
    assert_eq!(simulate(ws(42)), simulate(ws(42)));
}

#[test]
fn a_seed_replays_exactly() {
    let a = simulate(SimConfig::new(42));
    let b = simulate(SimConfig::new(42));
    assert_eq!(a, b);
    assert_ne!(a, simulate(SimConfig::new(43)));
}

#[test]
fn the_oracle_catches_an_injected_ack_bug() {
    // A mutant server whose ACK also drops the next, undelivered message.
    let mutant = |seed| SimConfig {
        mutations: Mutations {
            ack_drops_next: true,
        },
        ..SimConfig::new(seed)
    };
    let failing = (0..20).find(|&seed| !simulate(mutant(seed)).violations.is_empty());
    let seed = failing.expect("some seed exposes the mutant");
    let first = simulate(mutant(seed));
    // Dropped messages are either lost for good or, when the journal brings them back after a
    // crash, delivered out of order: both are violations.
    assert!(
        first
            .violations
            .iter()
            .any(|v| v.contains("never delivered") || v.contains("delivered after")),
        "{:?}",
        first.violations
    );
    assert_eq!(
        first,
        simulate(mutant(seed)),
        "the failing seed replays exactly"
    );
}

#[test]
#[ignore]
fn print_a_report() {
    let seed = std::env::var("SIM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    println!("{:#?}", simulate(SimConfig::new(seed)));
}
