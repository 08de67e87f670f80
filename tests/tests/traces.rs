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

/// A real server run on a shell, restored from files and recorded with `HostConfig::trace`
/// (what `smp-server start --trace FILE` sets), replays exactly: the restored queue and saved
/// messages come back from the trace's header, every TLS byte from its records.
fn real_shell_run_replays(rt: simplex_tests::harness::Runtime) {
    use bytes::Bytes;
    use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
    use simplex_core::crypto::x25519;
    use simplex_core::protocol::{BrokerMsg, Command, MsgFlags};
    use simplex_server::files::{DataFiles, FileOptions};
    use simplex_tests::harness::{Options, TestServer};

    const T: Duration = Duration::from_secs(10);
    let key = |alg, seed: u8, len| {
        SignKey::try_from(PrivateKey::from_raw(alg, &vec![seed; len]).unwrap()).unwrap()
    };
    let send = |body: &[u8]| Command::Send {
        flags: MsgFlags::default(),
        body: Bytes::copy_from_slice(body),
    };
    let dir = tempfile::tempdir().unwrap();
    let files = DataFiles::in_dir(
        dir.path(),
        FileOptions {
            log_stats: true,
            ..FileOptions::RESTORABLE
        },
    );
    // First run, untraced: a secured queue holding two messages when the server stops.
    let server = TestServer::start(
        rt,
        Options {
            files: files.clone(),
            ..Options::default()
        },
    );
    let (rkey, skey) = (key(Algorithm::Ed448, 7, 57), key(Algorithm::Ed25519, 8, 32));
    let dh = x25519::PrivateKey::from_bytes(&[9; 32]);
    let mut recipient = server.client(1);
    let queue = recipient.secured_queue(&rkey, &skey, &dh, T).unwrap();
    let (rid, sid) = (queue.rid.as_slice(), queue.sid.as_slice());
    let mut sender = server.client(2);
    for body in [&b"one"[..], b"two"] {
        let answer = sender.request("s", sid, &send(body), Some(&skey), T);
        assert_eq!(answer.unwrap(), BrokerMsg::Ok);
    }
    assert_eq!(server.stop(), 0);

    // Second run, traced: both saved messages delivered and acknowledged, one more sent.
    let trace_path = dir.path().join("run.trace");
    let server = TestServer::start(
        rt,
        Options {
            files,
            trace: Some(trace_path.clone()),
            ..Options::default()
        },
    );
    let mut recipient = server.client(3);
    let mut sender = server.client(4);
    let mut delivered = recipient.request("sub", rid, &Command::Sub, Some(&rkey), T);
    for _ in 0..2 {
        let BrokerMsg::Msg(m) = delivered.unwrap() else {
            panic!("no MSG")
        };
        delivered = recipient.request("ack", rid, &Command::Ack(m.msg_id), Some(&rkey), T);
    }
    assert_eq!(delivered.unwrap(), BrokerMsg::Ok);
    let answer = sender.request("s", sid, &send(b"three"), Some(&skey), T);
    assert_eq!(answer.unwrap(), BrokerMsg::Ok);
    assert_eq!(server.stop(), 0);

    let trace = std::fs::read(&trace_path).unwrap();
    let (header, _) = read_trace(&trace).unwrap();
    assert!(header.store_log.contains("CREATE "));
    assert_eq!(header.saved_messages.lines().count(), 2);
    assert!(header.stats_backup.contains("msgSent=2"));
    let report = replay(&trace, fixture_identity()).unwrap();
    // Two TLS handshakes, six commands, the stop: many inputs, all matching.
    assert!(report.inputs > 10, "{report:?}");
    // The same trace with one received byte changed diverges.
    assert!(replay(&corrupt_last_received_byte(&trace), fixture_identity()).is_err());
}

/// Flips a bit in the last byte of the trace's last `Received` record payload, found by
/// re-reading the trace (the format is ours, so the test leans on `read_trace` to find it).
fn corrupt_last_received_byte(trace: &[u8]) -> Vec<u8> {
    use simplex_server::trace::{TraceRecord, TracedInput};
    let (_, records) = read_trace(trace).unwrap();
    let last = records
        .iter()
        .rev()
        .find_map(|r| match r {
            TraceRecord::Input(_, TracedInput::Received(_, bytes)) => Some(bytes.clone()),
            _ => None,
        })
        .unwrap();
    let at = trace
        .windows(last.len())
        .rposition(|w| w == last.as_slice())
        .unwrap();
    let mut changed = trace.to_vec();
    changed[at + last.len() - 1] ^= 1;
    changed
}

#[test]
fn real_mio_run_replays() {
    real_shell_run_replays(simplex_tests::harness::Runtime::Mio)
}

#[test]
fn real_smol_run_replays() {
    real_shell_run_replays(simplex_tests::harness::Runtime::Smol)
}
