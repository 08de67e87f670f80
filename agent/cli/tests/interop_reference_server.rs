//! Interop: the `smp-client` program (both shells) against the reference smp-server v3.2.0,
//! live on loopback: create, send before and after securing, receive with and without `--ack`,
//! notifications, delete; and a queue kept in the state directory across a graceful restart of
//! the reference server (the undelivered messages come back from its saved messages).
//!
//! Gated by `SIMPLEX_REFERENCE_DIR` (see `simplex_tests::reference`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_tests::reference::process::StopSignal;
use simplex_tests::reference::programs;
use simplex_tests::reference::smp_server::{ReferenceSmpServer, ServerSetup};

mod common;
use common::{ok, run};

fn reference_server(test: &str) -> Option<ReferenceSmpServer> {
    let programs = programs(test)?;
    let mut server = ReferenceSmpServer::init(&programs, &ServerSetup::default());
    server.start();
    Some(server)
}

fn queue_commands(runtime: &str, test: &str) {
    let Some(mut server) = reference_server(test) else {
        return;
    };
    let address = server.address();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let created = ok(d, runtime, &["create", "inbox", "--server", &address]);
    assert_eq!(created["server"], address);
    assert_eq!(created["secured"], "no");
    let to = created["sender_address"].clone();
    assert_eq!(to, format!("{address}#{}", created["sender_id"]));

    let empty = run(d, runtime, &["receive", "inbox"]);
    assert_eq!(empty.status.code(), Some(3), "{empty:?}");

    ok(d, runtime, &["send", "--to", &to, "-m", "first"]);
    assert_eq!(ok(d, runtime, &["secure", "inbox"])["secured"], "yes");
    let refused = run(d, runtime, &["send", "--to", &to, "-m", "x"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr)
        .to_lowercase()
        .contains("auth"));
    ok(d, runtime, &["send", "inbox", "-m", "second line"]);
    let secret = ok(d, runtime, &["show", "inbox", "--secret"]);
    ok(
        d,
        runtime,
        &[
            "send",
            "--to",
            &to,
            "--sender-key",
            &secret["sender_key"],
            "-m",
            "third",
        ],
    );

    let r1 = ok(d, runtime, &["receive", "inbox"]);
    assert_eq!(r1["body"], "first");
    let r2 = ok(d, runtime, &["receive", "inbox", "--ack"]);
    assert_eq!(
        (r2["body"].as_str(), r2["msg_id"].as_str()),
        ("first", r1["msg_id"].as_str())
    );
    assert!(r2["timestamp"].parse::<i64>().unwrap() > 1_600_000_000);

    let ntf = ok(d, runtime, &["notifications", "inbox"]);
    assert!(!ntf["notifier_id"].is_empty());
    ok(d, runtime, &["send", "inbox", "--notify", "-m", "ping"]);

    // The reference server stops gracefully and starts again: the three waiting messages are
    // restored from its saved messages, in order, with their flags.
    server.stop(StopSignal::Interrupt);
    server.start();
    assert_eq!(
        ok(d, runtime, &["receive", "inbox", "--ack"])["body"],
        "second line"
    );
    assert_eq!(
        ok(d, runtime, &["receive", "inbox", "--ack"])["body"],
        "third"
    );
    let last = ok(d, runtime, &["receive", "inbox", "--ack"]);
    assert_eq!(
        (last["body"].as_str(), last["notification"].as_str()),
        ("ping", "yes")
    );
    assert_eq!(
        run(d, runtime, &["receive", "inbox"]).status.code(),
        Some(3)
    );

    assert_eq!(ok(d, runtime, &["delete", "inbox"])["deleted"], "inbox");
    let late = run(d, runtime, &["send", "--to", &to, "-m", "late"]);
    assert!(!late.status.success());
    server.stop(StopSignal::Interrupt);
}

#[test]
fn smp_client_mio_against_reference_server() {
    queue_commands("mio", "smp_client_mio_against_reference_server");
}

#[test]
fn smp_client_smol_against_reference_server() {
    queue_commands("smol", "smp_client_smol_against_reference_server");
}
