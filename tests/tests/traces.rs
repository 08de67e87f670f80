//! Trace record → replay: simulated server runs are recorded as the driver's inputs and
//! replayed into a fresh driver, output digests checked after every input. The traces saved
//! in `tests/traces/` replay as regression tests; re-record them (after an intended change of
//! behaviour) with
//!
//!     RECORD_TRACES=1 cargo nextest run -p simplex-tests --test traces

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Duration;

use simplex_core::transport::Framing;
use simplex_server::trace::{read_trace, replay, ReplayError, TraceRecord, TracedInput};
use simplex_tests::harness::identity as fixture_identity;
use simplex_tests::sim::net::NetConfig;
use simplex_tests::sim::{SimConfig, World};

fn traces_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("traces")
}

/// The small worlds the saved traces come from: one queue, a few messages.
fn saved_world(seed: u64, faults: bool) -> SimConfig {
    SimConfig {
        queues: 1,
        messages: 3,
        fault_window: if faults {
            Duration::from_secs(20)
        } else {
            Duration::ZERO
        },
        net: NetConfig {
            reset_per_million: 0,
            ..NetConfig::default()
        },
        ..SimConfig::new(seed)
    }
}

#[test]
fn simulated_runs_replay_exactly() {
    for seed in 0..4 {
        let (report, traces) = World::new(SimConfig::new(seed)).run_recording();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        assert_eq!(
            traces.len(),
            report.crashes + 1,
            "one trace per server lifetime"
        );
        for trace in traces {
            let replayed =
                replay(&trace, fixture_identity()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(replayed.inputs > 0);
        }
    }
}

#[test]
fn websocket_runs_replay_exactly() {
    for seed in 0..3 {
        let (report, traces) = World::new(SimConfig {
            websockets: true,
            ..SimConfig::new(seed)
        })
        .run_recording();
        assert!(report.violations.is_empty(), "{:?}", report.violations);
        for trace in traces {
            let (_, records) = read_trace(&trace).unwrap();
            // The accepts are recorded with their framing.
            assert!(records.iter().any(|r| matches!(
                r,
                TraceRecord::Input(_, TracedInput::Accepted(_, Framing::WebSocket))
            )));
            let replayed =
                replay(&trace, fixture_identity()).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(replayed.inputs > 0);
        }
    }
}

#[test]
fn a_changed_trace_is_caught() {
    let (_, traces) = World::new(saved_world(1, false)).run_recording();
    let mut trace = traces.into_iter().next().unwrap();
    let last = trace.len() - 1;
    trace[last] ^= 1; // inside the final output digest
    assert!(matches!(
        replay(&trace, fixture_identity()),
        Err(ReplayError::Diverged { .. })
    ));
    let (header, _) = read_trace(&trace).unwrap();
    assert_eq!(header.key_hash, fixture_identity().key_hash());
}

#[test]
fn saved_traces_replay() {
    let dir = traces_dir();
    if std::env::var("RECORD_TRACES").is_ok() {
        std::fs::create_dir_all(&dir).unwrap();
        for (name, seed, faults) in [("clean-seed1", 1, false), ("faults-seed7", 7, true)] {
            let (report, traces) = World::new(saved_world(seed, faults)).run_recording();
            assert!(report.violations.is_empty(), "{:?}", report.violations);
            for (i, trace) in traces.iter().enumerate() {
                std::fs::write(dir.join(format!("{name}-{i}.trace")), trace).unwrap();
            }
        }
    }
    let mut replayed = 0;
    for entry in
        std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{} missing: {e}", dir.display()))
    {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "trace") {
            let trace = std::fs::read(&path).unwrap();
            replay(&trace, fixture_identity())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            replayed += 1;
        }
    }
    assert!(replayed >= 2, "the saved traces are in {}", dir.display());
}
