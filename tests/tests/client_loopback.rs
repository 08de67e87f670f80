//! The SMP client on each shell (`simplex_agent_cli::client_runtime`) against our server on each
//! shell, over loopback TLS: the queue commands, and a server restart in the middle of a
//! stream of messages, after which the client reconnects and resubscribes by itself. Every
//! message reaches the caller once (after de-duplication by message id) and in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell};
use simplex_core::address::ServerAddress;
use simplex_core::client::{ClientConfig, RecipientKeys, Reply, Request, SignAlgorithm};
use simplex_core::encoding::string::StrDecode;
use simplex_core::protocol::MsgFlags;
use simplex_server::files::{DataFiles, FileOptions};
use simplex_tests::client_queue::Queue;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};
use simplex_tests::runtime_client::{
    assert_no_more_messages, create_queue, quick_reconnecting_client, Seen,
};

const T: Duration = Duration::from_secs(10);

fn client(shell: ClientShell, seed: u8) -> ClientRuntime {
    quick_reconnecting_client(shell, ClientConfig::default().version_range, seed)
}

fn create(c: &ClientRuntime, server: &ServerAddress, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(seed));
    create_queue(c, server, keys, T)
}

fn send(c: &ClientRuntime, server: &ServerAddress, q: &Queue, body: String) {
    let request = Request::send(
        q.sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from(body),
    );
    assert_eq!(c.request(server, request, T), Ok(Reply::Ok));
}

/// Takes events until `count` distinct messages arrived (see [`Seen::on_event`]).
fn take(
    seen: &mut Seen,
    c: &mut ClientRuntime,
    server: &ServerAddress,
    q: &Queue,
    count: usize,
    keep_unacked: Option<usize>,
) {
    seen.take_until(c, server, q, keep_unacked, 3 * T, "take", |s| {
        s.bodies.len() >= count
    });
}

/// Takes events until the resubscription after a restart: only redeliveries come before it.
fn wait_up(seen: &mut Seen, c: &mut ClientRuntime, server: &ServerAddress, q: &Queue) {
    let before = seen.bodies.len();
    seen.take_until(c, server, q, None, 3 * T, "no UP", |s| s.ups > 0);
    assert_eq!(
        seen.bodies.len(),
        before,
        "only redeliveries before new messages"
    );
}

fn restart_mid_stream(client_shell: ClientShell, server_shell: ServerShell) {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        files: DataFiles::in_dir(dir.path(), FileOptions::RESTORABLE),
        ..Options::default()
    };
    let server = TestServer::start(server_shell, options());
    let addr = server.addr;
    let address = ServerAddress::str_decode(server.address().as_bytes()).unwrap();
    let mut recipient = client(client_shell, 1);
    let sender = client(client_shell, 2);
    let q = create(&recipient, &address, 1);
    recipient
        .subscribe_wait(&address, q.subscription(), T)
        .unwrap();

    let mut seen = Seen::default();
    for i in 0..6 {
        send(&sender, &address, &q, format!("message {i}"));
    }
    // Three taken; the third left unacknowledged, so the server still holds it and 4, 5.
    take(&mut seen, &mut recipient, &address, &q, 3, Some(3));

    // The server stops gracefully (messages saved) and starts again on the same port.
    assert_eq!(server.stop(), 0);
    let server = TestServer::start_at(server_shell, options(), addr);
    wait_up(&mut seen, &mut recipient, &address, &q);
    for i in 6..10 {
        send(&sender, &address, &q, format!("message {i}"));
    }
    take(&mut seen, &mut recipient, &address, &q, 10, None);

    let expected: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("message {i}")))
        .collect();
    assert_eq!(seen.bodies, expected, "each once, in order");
    assert_eq!((seen.downs, seen.ups), (1, 1), "one DOWN and one UP");
    // Nothing more comes: no message twice.
    assert_no_more_messages(&mut recipient, Duration::from_millis(300));
    recipient.stop().unwrap();
    sender.stop().unwrap();
    assert_eq!(server.stop(), 0);
}

#[test]
fn restart_mid_stream_mio_client_mio_server() {
    restart_mid_stream(ClientShell::Mio, ServerShell::Mio)
}

#[test]
fn restart_mid_stream_mio_client_smol_server() {
    restart_mid_stream(ClientShell::Mio, ServerShell::Smol)
}

#[test]
fn restart_mid_stream_smol_client_mio_server() {
    restart_mid_stream(ClientShell::Smol, ServerShell::Mio)
}

#[test]
fn restart_mid_stream_smol_client_smol_server() {
    restart_mid_stream(ClientShell::Smol, ServerShell::Smol)
}

/// A server that is not there: the request fails (no hang), on both shells.
#[test]
fn unreachable_server_fails_the_request() {
    for shell in [ClientShell::Mio, ClientShell::Smol] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let address = ServerAddress::str_decode(
            format!("smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@127.0.0.1:{port}")
                .as_bytes(),
        )
        .unwrap();
        let c = client(shell, 3);
        let keys =
            RecipientKeys::generate(SignAlgorithm::Ed25519, &mut ChaCha20Rng::seed_from_u64(3));
        let answer = c.request(&address, Request::create(&keys), T);
        assert_eq!(
            answer,
            Err(simplex_agent_cli::client_runtime::RuntimeError::Request(
                simplex_core::client::RequestError::Network
            ))
        );
        c.stop().unwrap();
    }
}
