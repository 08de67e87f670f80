//! `ClientService`, the connection manager behind the shells' interface, driven through
//! `ShellInput`s against the scripted server in memory: what it asks the shell to dial (the
//! server, or the SOCKS5 proxy), how shell reports reach the manager, and the stop.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod scripted;

use rand_chacha::rand_core::SeedableRng;
use scripted::{address, ScriptedServer};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::client::{
    conn_of, socket_of, ClientCommand, ClientService, ConnId, ConnectionManager, KeepAlive,
    ManagerConfig, ManagerEvent, NetworkConfig, RecipientKeys, Reply, Request, RequestError,
    SignAlgorithm, SocksProxy,
};
use simplex_core::driver::{Service, ShellInput, SocketAction, SocketId, FIRST_OUTGOING_SOCKET};
use simplex_core::encoding::UnixTime;
use simplex_core::time::Clock;
use simplex_core::time::Instant;

fn clock() -> Clock {
    Clock {
        now: Instant::ZERO,
        wall_clock: UnixTime::from_seconds(1_700_000_000),
    }
}

fn service(network: NetworkConfig) -> ClientService {
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1));
    ClientService::new(ConnectionManager::new(
        ManagerConfig::from_network(network),
        rng,
        Instant::ZERO,
    ))
}

fn feed(s: &mut ClientService, input: ShellInput<'_>) -> Vec<SocketAction> {
    let mut actions = Vec::new();
    s.handle(clock(), input, &mut actions);
    actions
}

/// Queues a request in the service's mailbox; the next turn (a tick) takes it.
fn request(s: &mut ClientService, server: &ServerAddress, request: Request) -> Vec<SocketAction> {
    s.port_mut().push(ClientCommand::Request {
        server: server.clone(),
        request: Box::new(request),
    });
    feed(s, ShellInput::Tick)
}

fn keys() -> RecipientKeys {
    RecipientKeys::generate(
        SignAlgorithm::Ed25519,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(2),
    )
}

#[test]
fn socket_ids_are_the_outgoing_range() {
    assert_eq!(socket_of(ConnId(0)), FIRST_OUTGOING_SOCKET);
    assert_eq!(conn_of(FIRST_OUTGOING_SOCKET + 7), Some(ConnId(7)));
    assert_eq!(
        conn_of(1),
        None,
        "an accepted socket is not a manager stream"
    );
}

#[test]
fn a_request_is_dialled_carried_and_answered() {
    let mut server = ScriptedServer::new(3);
    let addr = address(
        server.key_hash(),
        vec![TransportHost::Domain("localhost".into())],
        "5001",
    );
    let mut s = service(NetworkConfig::default());
    let actions = request(&mut s, &addr, Request::create(&keys()));
    let id = s.port_mut().take_accepted().next().unwrap();
    let socket: SocketId = match actions.as_slice() {
        [SocketAction::Connect {
            socket,
            host,
            port,
            keep_alive,
        }] => {
            assert_eq!(
                *keep_alive,
                Some(KeepAlive::default()),
                "the reference's default"
            );
            assert_eq!((host.as_str(), *port), ("localhost", 5001));
            *socket
        }
        other => panic!("{other:?}"),
    };
    server.accept(socket, Instant::ZERO);
    let mut pending = feed(&mut s, ShellInput::Connected(socket));
    // Move bytes until the answer comes.
    for _ in 0..50 {
        for action in std::mem::take(&mut pending) {
            match action {
                SocketAction::Write(id, bytes) => server.receive(id, Instant::ZERO, &bytes),
                other => panic!("{other:?}"),
            }
        }
        for bytes in server.transmit(socket, Instant::ZERO) {
            pending.extend(feed(&mut s, ShellInput::Received(socket, &bytes)));
        }
        if pending.is_empty() {
            break;
        }
    }
    let events: Vec<ManagerEvent> = s.port_mut().take_events().collect();
    assert!(events.iter().any(|e| matches!(
        e,
        ManagerEvent::Response { id: r, result: Ok(Reply::Ids { .. }), .. } if *r == id
    )));
    // The stop closes the socket; the service wants nothing more.
    let actions = feed(&mut s, ShellInput::Shutdown);
    assert!(
        actions.contains(&SocketAction::Close(socket)),
        "{actions:?}"
    );
    assert!(s.is_stopped());
}

#[test]
fn with_a_proxy_the_shell_dials_the_proxy() {
    let server = ScriptedServer::new(4);
    let addr = address(
        server.key_hash(),
        vec![TransportHost::Domain("smp.example".into())],
        "",
    );
    let network = NetworkConfig {
        socks_proxy: Some(SocksProxy {
            host: TransportHost::Ipv4([127, 0, 0, 1]),
            port: 9050,
            ..SocksProxy::default()
        }),
        ..NetworkConfig::default()
    };
    let mut s = service(network);
    let actions = request(&mut s, &addr, Request::create(&keys()));
    let socket = match actions.as_slice() {
        [SocketAction::Connect {
            socket,
            host,
            port,
            keep_alive,
        }] => {
            assert_eq!(
                *keep_alive,
                Some(KeepAlive::default()),
                "the reference's default"
            );
            assert_eq!((host.as_str(), *port), ("127.0.0.1", 9050));
            *socket
        }
        other => panic!("{other:?}"),
    };
    // Once open, the first bytes are the SOCKS5 greeting, not TLS.
    match feed(&mut s, ShellInput::Connected(socket)).as_slice() {
        [SocketAction::Write(w, bytes)] => {
            assert_eq!(*w, socket);
            assert_eq!(bytes.as_slice(), [5, 1, 0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_failed_dial_fails_the_request_and_strays_are_harmless() {
    let server = ScriptedServer::new(5);
    let addr = address(
        server.key_hash(),
        vec![TransportHost::Ipv4([127, 0, 0, 1])],
        "",
    );
    let mut s = service(NetworkConfig::default());
    let actions = request(&mut s, &addr, Request::create(&keys()));
    let id = s.port_mut().take_accepted().next().unwrap();
    let socket = match actions.as_slice() {
        [SocketAction::Connect {
            socket,
            host,
            port,
            keep_alive,
        }] => {
            assert_eq!(
                *keep_alive,
                Some(KeepAlive::default()),
                "the reference's default"
            );
            assert_eq!((host.as_str(), *port), ("127.0.0.1", 5223));
            *socket
        }
        other => panic!("{other:?}"),
    };
    // At most a close of the socket the shell already forgot (which it ignores).
    let after = feed(&mut s, ShellInput::ConnectFailed(socket));
    assert!(
        after.iter().all(|a| *a == SocketAction::Close(socket)),
        "{after:?}"
    );
    let events: Vec<ManagerEvent> = s.port_mut().take_events().collect();
    assert!(events.iter().any(|e| matches!(
        e,
        ManagerEvent::Response { id: r, result: Err(RequestError::Network), .. } if *r == id
    )));
    // Reports about sockets the manager no longer knows change nothing.
    assert!(feed(&mut s, ShellInput::Received(socket, b"late")).is_empty());
    assert!(feed(&mut s, ShellInput::PeerClosed(socket + 1)).is_empty());
    assert_eq!(s.port_mut().take_events().count(), 0);
    // A client has no listener: an accepted socket is closed at once.
    assert_eq!(
        feed(&mut s, ShellInput::Accepted(3, 0)),
        vec![SocketAction::Close(3)]
    );
}
