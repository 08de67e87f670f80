//! The SMP client on each shell (`simplex_agent_cli::client_runtime`) against our server on each
//! shell, over loopback TLS: the queue commands, and a server restart in the middle of a
//! stream of messages, after which the client reconnects and resubscribes by itself. Every
//! message reaches the caller once (after de-duplication by message id) and in order.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell, RuntimeConfig};
use simplex_core::address::ServerAddress;
use simplex_core::client::{
    ManagerConfig, ManagerEvent, RecipientKeys, Reply, Request, RetryInterval, SignAlgorithm,
};
use simplex_core::encoding::string::StrDecode;
use simplex_core::protocol::{MsgFlags, MsgId};
use simplex_server::files::{DataFiles, FileOptions};
use simplex_tests::client_queue::Queue;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};

const T: Duration = Duration::from_secs(10);

fn client(shell: ClientShell, seed: u8) -> ClientRuntime {
    let mut config = RuntimeConfig::new(shell);
    config.seed = Some([seed; 32]);
    config.manager = ManagerConfig {
        // Come back quickly after the restart (the schedule itself is tested in memory).
        reconnect: RetryInterval {
            initial: Duration::from_millis(200),
            increase_after: Duration::from_secs(5),
            max: Duration::from_secs(1),
        },
        ..ManagerConfig::default()
    };
    ClientRuntime::start(config).unwrap()
}

fn create(c: &ClientRuntime, server: &ServerAddress, seed: u64) -> Queue {
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(seed));
    let reply = c.request(server, Request::create(&keys), T).unwrap();
    Queue::from_ids(keys, reply)
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

/// What the caller saw: messages after de-duplication by id, and DOWN/UP counts.
#[derive(Default)]
struct Seen {
    ids: BTreeSet<MsgId>,
    acked: BTreeSet<MsgId>,
    bodies: Vec<Bytes>,
    downs: usize,
    ups: usize,
}

impl Seen {
    /// Counts one event; acknowledges a message unless it is the `keep_unacked`-th (left for
    /// the server to deliver again).
    fn on_event(
        &mut self,
        c: &ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        event: ManagerEvent,
        keep_unacked: Option<usize>,
    ) {
        match event {
            ManagerEvent::Message { message: Ok(m), .. } => {
                if self.ids.insert(m.msg_id.clone()) {
                    self.bodies.push(m.body.clone());
                    if keep_unacked == Some(self.bodies.len()) {
                        return;
                    }
                }
                // A redelivery (after the restart) is acknowledged once, not shown again.
                if self.acked.insert(m.msg_id.clone()) {
                    let ack = Request::ack(q.recipient_id.clone(), &q.keys.sign_key, m.msg_id);
                    // The answer may be the next message: it comes as an event too.
                    assert_eq!(c.request(server, ack, T), Ok(Reply::Ok));
                }
            }
            ManagerEvent::Down { .. } => self.downs += 1,
            ManagerEvent::Up { .. } => self.ups += 1,
            _ => {}
        }
    }

    /// Takes events until `count` distinct messages arrived.
    fn take(
        &mut self,
        c: &mut ClientRuntime,
        server: &ServerAddress,
        q: &Queue,
        count: usize,
        keep_unacked: Option<usize>,
    ) {
        let until = std::time::Instant::now() + 3 * T;
        while self.bodies.len() < count {
            assert!(std::time::Instant::now() < until, "only {:?}", self.bodies);
            if let Some(event) = c.next_event(Duration::from_millis(200)) {
                self.on_event(c, server, q, event, keep_unacked);
            }
        }
    }

    /// Takes events until the resubscription after a restart.
    fn wait_up(&mut self, c: &mut ClientRuntime, server: &ServerAddress, q: &Queue) {
        let until = std::time::Instant::now() + 3 * T;
        let before = self.bodies.len();
        while self.ups == 0 {
            assert!(std::time::Instant::now() < until, "no UP");
            if let Some(event) = c.next_event(Duration::from_millis(200)) {
                self.on_event(c, server, q, event, None);
            }
        }
        assert_eq!(
            self.bodies.len(),
            before,
            "only redeliveries before new messages"
        );
    }
}

fn restart_mid_stream(client_shell: ClientShell, server_shell: ServerShell) {
    let dir = tempfile::tempdir().unwrap();
    let options = || Options {
        files: DataFiles::in_dir(
            dir.path(),
            FileOptions {
                store_log: true,
                restore_messages: true,
                log_stats: false,
                durable: false,
            },
        ),
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
    seen.take(&mut recipient, &address, &q, 3, Some(3));

    // The server stops gracefully (messages saved) and starts again on the same port.
    assert_eq!(server.stop(), 0);
    let server = TestServer::start_at(server_shell, options(), addr);
    seen.wait_up(&mut recipient, &address, &q);
    for i in 6..10 {
        send(&sender, &address, &q, format!("message {i}"));
    }
    seen.take(&mut recipient, &address, &q, 10, None);

    let expected: Vec<Bytes> = (0..10)
        .map(|i| Bytes::from(format!("message {i}")))
        .collect();
    assert_eq!(seen.bodies, expected, "each once, in order");
    assert_eq!((seen.downs, seen.ups), (1, 1), "one DOWN and one UP");
    // Nothing more comes: no message twice.
    while let Some(event) = recipient.next_event(Duration::from_millis(300)) {
        if let ManagerEvent::Message { message: Ok(m), .. } = event {
            panic!("a message after the last one: {:?}", m.body);
        }
    }
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
