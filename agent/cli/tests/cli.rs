//! The `smp-client` program against our server on loopback (both client shells): every
//! command, state kept between invocations, the output lines, exit codes, and errors.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use simplex_tests::harness::{Options, Runtime, TestServer};

mod common;
use common::{lines, ok, run};

fn queue_commands(runtime: &str) {
    let server = TestServer::start(Runtime::Mio, Options::default());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();

    let created = ok(
        d,
        runtime,
        &["create", "inbox", "--server", &server.address()],
    );
    assert_eq!(created["queue"], "inbox");
    assert_eq!(created["server"], server.address());
    assert_eq!(created["secured"], "no");
    assert_eq!(
        created["sender_address"],
        format!("{}#{}", server.address(), created["sender_id"])
    );
    // Kept between invocations, readable by the owner only.
    let file = d.join("inbox.queue");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "queue file mode {mode:o}");
    }
    let shown = ok(d, runtime, &["show", "inbox"]);
    assert_eq!(shown["recipient_id"], created["recipient_id"]);

    // Empty queue: exit code 3, "message=none".
    let empty = run(d, runtime, &["receive", "inbox"]);
    assert_eq!(empty.status.code(), Some(3));
    assert_eq!(lines(&empty)["message"], "none");

    // Unsigned send before securing, by sender address.
    let sent = ok(
        d,
        runtime,
        &["send", "--to", &created["sender_address"], "-m", "first"],
    );
    assert_eq!(sent["sent"], "yes");
    assert_eq!(ok(d, runtime, &["secure", "inbox"])["secured"], "yes");
    assert_eq!(ok(d, runtime, &["show", "inbox"])["secured"], "yes");
    // Secured: an unsigned send is refused, the local queue's sender key works, and so does
    // the key handed over with --sender-key.
    let refused = run(
        d,
        runtime,
        &["send", "--to", &created["sender_address"], "-m", "x"],
    );
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
            &created["sender_address"],
            "--sender-key",
            &secret["sender_key"],
            "-m",
            "third",
        ],
    );

    // Receive without --ack leaves the message; with --ack it goes.
    let r1 = ok(d, runtime, &["receive", "inbox"]);
    assert_eq!(r1["body"], "first");
    assert!(!r1.contains_key("acked"));
    let r2 = ok(d, runtime, &["receive", "inbox", "--ack"]);
    assert_eq!(
        (r2["body"].as_str(), r2["msg_id"].as_str()),
        ("first", r1["msg_id"].as_str())
    );
    assert_eq!(r2["acked"], "yes");
    assert!(r2["timestamp"].parse::<i64>().unwrap() > 1_600_000_000);
    assert_eq!(
        ok(d, runtime, &["receive", "inbox", "--ack"])["body"],
        "second line"
    );

    let ntf = ok(d, runtime, &["notifications", "inbox"]);
    let shown = ok(d, runtime, &["show", "inbox"]);
    assert_eq!(shown["notifications"], "yes");
    assert_eq!(shown["notifier_id"], ntf["notifier_id"]);
    let flagged = ok(d, runtime, &["send", "inbox", "--notify", "-m", "ping"]);
    assert_eq!(flagged["sent"], "yes");
    assert_eq!(
        ok(d, runtime, &["receive", "inbox", "--ack"])["body"],
        "third"
    );
    let last = ok(d, runtime, &["receive", "inbox", "--ack"]);
    assert_eq!(
        (last["body"].as_str(), last["notification"].as_str()),
        ("ping", "yes")
    );

    assert_eq!(ok(d, runtime, &["delete", "inbox"])["deleted"], "inbox");
    assert!(!file.exists());
    let gone = run(d, runtime, &["show", "inbox"]);
    assert!(!gone.status.success());
    let late = run(
        d,
        runtime,
        &["send", "--to", &created["sender_address"], "-m", "late"],
    );
    assert!(!late.status.success());
    assert_eq!(server.stop(), 0);
}

#[test]
fn queue_commands_mio() {
    queue_commands("mio");
}

#[test]
fn queue_commands_smol() {
    queue_commands("smol");
}

#[test]
fn bad_input_is_an_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    for args in [
        &["create", "q", "--server", "smp://nonsense"][..],
        &[
            "create",
            "../escape",
            "--server",
            "smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@127.0.0.1:1",
        ],
        &["show", "missing"],
        &["send", "--to", "no-hash-here", "-m", "x"],
    ] {
        let out = run(d, "mio", args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
    // A damaged queue file is reported, not trusted.
    std::fs::write(d.join("broken.queue"), "version=1\nserver=smp://x\n").unwrap();
    let out = run(d, "mio", &["show", "broken"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("damaged"));
    // A server that is not there: a network error, in bounded time.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@127.0.0.1:{port}");
    let out = run(d, "smol", &["create", "q", "--server", &addr]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!d.join("q.queue").exists());
}

/// `--socks-proxy`: through a real SOCKS5 proxy (in process, `simplex_tests::socks_proxy`) with
/// the server named `localhost` (the proxy resolves it and logs the connection); through a proxy that is not there, nothing works
/// although the server is up.
#[test]
fn through_a_socks_proxy() {
    let server = TestServer::start(Runtime::Smol, Options::default());
    let address = server.address_with_host("localhost");
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let proxy = simplex_tests::socks_proxy::Proxy::start();
    let via = format!("127.0.0.1:{}", proxy.port);
    for runtime in ["mio", "smol"] {
        let name = format!("q-{runtime}");
        let args = ["--socks-proxy", &via, "create", &name, "--server", &address];
        assert_eq!(ok(d, runtime, &args)["server"], address);
        // Global options may also follow the command.
        let send = ["send", &name, "-m", "proxied", "--socks-proxy", &via];
        ok(d, runtime, &send);
        let receive = ["--socks-proxy", &via, "receive", &name, "--ack"];
        assert_eq!(ok(d, runtime, &receive)["body"], "proxied");
    }
    let wanted = format!("localhost:{}", server.addr.port());
    let mut log = Vec::new();
    while let Ok(line) = proxy
        .log
        .recv_timeout(std::time::Duration::from_millis(300))
    {
        log.push(line);
    }
    assert_eq!(
        log.iter().filter(|l| l.contains(&wanted)).count(),
        6,
        "one tunnel per invocation: {log:?}"
    );
    drop(proxy);
    let nowhere = format!(
        "127.0.0.1:{}",
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    );
    let out = run(
        d,
        "mio",
        &["--socks-proxy", &nowhere, "send", "q-mio", "-m", "x"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.stop(), 0);
}

/// A sender key (Ed448) made from `seed`, as `show --secret` prints it.
fn sender_key(seed: u8) -> simplex_core::crypto::keys::SignKey {
    use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
    SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed448, &[seed; 57]).unwrap()).unwrap()
}

/// `secure` saves the new key (`NAME.securing`) before it sends `KEY`, and a rerun finishes
/// what a crash interrupted with that same key: whether the crash came before `KEY` reached the
/// server (the server answers `OK`) or after (it answers `AUTH`, the queue being secured with
/// that key already). Either way the queue file ends up with the key the server has.
#[test]
fn secure_recovers_after_a_crash_with_the_saved_key() {
    use simplex_agent::queue_file::QueueState;
    use simplex_core::client::{Reply, Request};
    use simplex_core::encoding::string::StrDecode;
    use simplex_core::protocol::Command as Smp;

    let server = TestServer::start(Runtime::Smol, Options::default());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let secret = |name: &str| ok(d, "mio", &["show", name, "--secret"])["sender_key"].clone();

    // A crash after the key was saved, before KEY was sent.
    ok(
        d,
        "mio",
        &["create", "before", "--server", &server.address()],
    );
    let saved = sender_key(21).to_base64url();
    std::fs::write(d.join("before.securing"), format!("sender_key={saved}\n")).unwrap();
    assert_eq!(ok(d, "mio", &["secure", "before"])["secured"], "yes");
    assert_eq!(secret("before"), saved);
    assert!(!d.join("before.securing").exists());

    // A crash after the server took KEY, before the queue file had the key.
    ok(
        d,
        "smol",
        &["create", "after", "--server", &server.address()],
    );
    ok(
        d,
        "smol",
        &["create", "elsewhere", "--server", &server.address()],
    );
    let state = |name: &str| {
        QueueState::parse(&std::fs::read(d.join(format!("{name}.queue"))).unwrap()).unwrap()
    };
    let key = sender_key(22);
    std::fs::write(
        d.join("after.securing"),
        format!("sender_key={}\n", key.to_base64url()),
    )
    .unwrap();
    let config = simplex_agent_cli::client_runtime::RuntimeConfig::new(
        simplex_agent_cli::client_runtime::Runtime::Mio,
    );
    let client = simplex_agent_cli::client_runtime::ClientRuntime::start(config).unwrap();
    let address =
        simplex_core::address::ServerAddress::str_decode(server.address().as_bytes()).unwrap();
    let key_command = |name: &str, key: &simplex_core::crypto::keys::SignKey| {
        let state = state(name);
        Request::signed(
            state.recipient_id.clone(),
            &state.recipient_key,
            Smp::Key(key.verify_key()),
        )
    };
    let t = std::time::Duration::from_secs(10);
    assert_eq!(
        client.request(&address, key_command("after", &key), t),
        Ok(Reply::Ok)
    );
    // And one secured with a key the state directory never had.
    assert_eq!(
        client.request(&address, key_command("elsewhere", &sender_key(23)), t),
        Ok(Reply::Ok)
    );
    client.stop().unwrap();
    assert_eq!(ok(d, "smol", &["secure", "after"])["secured"], "yes");
    assert_eq!(secret("after"), key.to_base64url());
    assert!(!d.join("after.securing").exists());

    // The keys are the ones the server holds: signed sends go through.
    for name in ["before", "after"] {
        ok(d, "mio", &["send", name, "-m", name]);
        assert_eq!(ok(d, "mio", &["receive", name, "--ack"])["body"], name);
    }
    // A fresh secure of a queue secured elsewhere is refused, and forgets its unused key.
    let out = run(d, "mio", &["secure", "elsewhere"]);
    assert!(!out.status.success());
    assert!(!d.join("elsewhere.securing").exists());
    assert_eq!(ok(d, "mio", &["show", "elsewhere"])["secured"], "no");
    assert_eq!(server.stop(), 0);
}
