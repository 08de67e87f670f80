//! The `smp-load` binary against real servers over loopback: its pair mode relays every
//! message it was asked for (several pairs per polling thread, a window above one, both
//! framings, both shells) and reports what it measured. Small runs: a check that the tool
//! works, not a benchmark.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use simplex_tests::harness::{Options, Runtime, TestServer};

fn run_load(address: &str, extra: &[&str]) -> String {
    let mut args = vec![
        "--server",
        address,
        "--pairs",
        "5",
        "--messages",
        "30",
        "--threads",
        "2",
        "--window",
        "3",
        "--keys",
        "ed25519",
    ];
    args.extend_from_slice(extra);
    let out = Command::new(env!("CARGO_BIN_EXE_smp-load"))
        .args(&args)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "smp-load failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// The value of `key=` in the report line.
fn field<'a>(report: &'a str, key: &str) -> &'a str {
    let start = report
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {report}"))
        + key.len()
        + 1;
    report[start..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
}

fn relays_every_message(rt: Runtime, websockets: bool) {
    let server = TestServer::start(
        rt,
        Options {
            websockets,
            shards: 2,
            handshake_timeout: Duration::from_secs(5),
            ..Options::default()
        },
    );
    let (address, extra): (String, &[&str]) = match server.ws_addr {
        Some(ws) if websockets => (
            format!(
                "smp://{}@127.0.0.1:{}",
                server.key_hash.to_base64url(),
                ws.port()
            ),
            &["--websockets"],
        ),
        _ => (server.address(), &[]),
    };
    let pid = std::process::id().to_string();
    let mut extra = extra.to_vec();
    extra.extend_from_slice(&["--pid", &pid]);
    let report = run_load(&address, &extra);
    assert_eq!(field(&report, "pairs"), "5");
    assert_eq!(field(&report, "window"), "3");
    // Every message of every pair arrived, was opened and timed.
    assert_eq!(field(&report, "messages"), "150");
    assert!(field(&report, "rate").parse::<f64>().unwrap() > 0.0);
    assert!(report.contains("p99="));
    // Given a pid (this test process holds the server), it reads its RSS and CPU.
    assert!(report.contains("server pid="), "{report}");
    server.stop();
}

#[test]
fn relays_every_message_mio() {
    relays_every_message(Runtime::Mio, false);
}

#[test]
fn relays_every_message_smol() {
    relays_every_message(Runtime::Smol, false);
}

#[test]
fn relays_every_message_over_websockets() {
    relays_every_message(Runtime::Mio, true);
}
