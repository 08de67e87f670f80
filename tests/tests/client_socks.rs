//! The client through a real SOCKS5 proxy on loopback (`simplex_tests::socks_proxy`, the
//! `fast-socks5` crate's server run in process): the server is named by a host name the proxy
//! resolves, and the connection really goes through the proxy (with the proxy gone, the same
//! client can no longer reach the server, which is up). A proxy that wants a password lets the
//! client through with the right one and refuses it with a wrong one; a target the proxy cannot
//! reach is a network error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent_cli::client_runtime::{ClientRuntime, Runtime as ClientShell, RuntimeConfig};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::client::{
    ManagerConfig, NetworkConfig, RecipientKeys, Reply, Request, RequestError, SignAlgorithm,
    SocksProxy,
};
use simplex_core::encoding::string::StrDecode;
use simplex_core::protocol::MsgFlags;
use simplex_core::socks5::Socks5Credentials;
use simplex_tests::harness::{Options, Runtime as ServerShell, TestServer};
use simplex_tests::socks_proxy::Proxy;

const T: Duration = Duration::from_secs(10);

fn client(shell: ClientShell, proxy_port: u16) -> ClientRuntime {
    client_with(shell, proxy_port, None)
}

fn client_with(
    shell: ClientShell,
    proxy_port: u16,
    credentials: Option<Socks5Credentials>,
) -> ClientRuntime {
    let network = NetworkConfig {
        socks_proxy: Some(SocksProxy {
            host: TransportHost::Ipv4([127, 0, 0, 1]),
            port: proxy_port,
            credentials,
        }),
        ..NetworkConfig::default()
    };
    let mut config = RuntimeConfig::new(shell);
    config.seed = Some([9; 32]);
    config.manager = ManagerConfig::from_network(network);
    ClientRuntime::start(config).unwrap()
}

fn through_proxy(client_shell: ClientShell, server_shell: ServerShell) {
    let server = TestServer::start(server_shell, Options::default());
    // A host name: the proxy resolves it (SOCKS5 domain address), not the client.
    let address =
        ServerAddress::str_decode(server.address_with_host("localhost").as_bytes()).unwrap();
    let mut proxy = Proxy::start();
    let c = client(client_shell, proxy.port);
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(5));
    let sender_id = match c.request(&address, Request::create(&keys), T).unwrap() {
        Reply::Ids { sender_id, .. } => sender_id,
        other => panic!("{other:?}"),
    };
    let send = Request::send(
        sender_id.clone(),
        None,
        MsgFlags::default(),
        Bytes::from_static(b"via socks"),
    );
    assert_eq!(c.request(&address, send, T), Ok(Reply::Ok));
    // The proxy saw the client ask for the server by name.
    let wanted = format!("localhost:{}", server.addr.port());
    let mut log = Vec::new();
    while let Ok(line) = proxy.log.recv_timeout(Duration::from_millis(500)) {
        log.push(line);
    }
    assert!(
        log.iter().any(|l| l.contains(&wanted)),
        "proxy log: {log:?}"
    );

    // Without the proxy the server, still up, cannot be reached by this client.
    proxy.stop();
    let until = std::time::Instant::now() + T;
    loop {
        let send = Request::send(
            sender_id.clone(),
            None,
            MsgFlags::default(),
            Bytes::from_static(b"direct?"),
        );
        match c.request(&address, send, T) {
            Err(e) => {
                assert_eq!(
                    e,
                    simplex_agent_cli::client_runtime::RuntimeError::Request(RequestError::Network)
                );
                break;
            }
            // The tunnel's close may not have reached the client yet.
            Ok(_) => assert!(
                std::time::Instant::now() < until,
                "still reachable without the proxy"
            ),
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    c.stop().unwrap();
    assert_eq!(server.stop(), 0);
}

#[test]
fn through_a_socks5_proxy_mio() {
    through_proxy(ClientShell::Mio, ServerShell::Mio)
}

#[test]
fn through_a_socks5_proxy_smol() {
    through_proxy(ClientShell::Smol, ServerShell::Smol)
}

/// RFC 1929: the right username and password pass; a wrong password is refused by the proxy
/// before any tunnel opens, so the client sees a network error.
#[test]
fn a_proxy_that_wants_a_password() {
    let server = TestServer::start(ServerShell::Mio, Options::default());
    let address =
        ServerAddress::str_decode(server.address_with_host("localhost").as_bytes()).unwrap();
    let proxy = Proxy::start_with_password("alice", "s3cret");
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(6));

    let wrong = Socks5Credentials::new(b"alice", b"guess").unwrap();
    let c = client_with(ClientShell::Mio, proxy.port, Some(wrong));
    assert_eq!(
        c.request(&address, Request::create(&keys), T),
        Err(simplex_agent_cli::client_runtime::RuntimeError::Request(
            RequestError::Network
        ))
    );
    c.stop().unwrap();
    // Refused at authentication: the proxy was never asked to connect anywhere.
    assert!(proxy.log.try_recv().is_err());

    let right = Socks5Credentials::new(b"alice", b"s3cret").unwrap();
    let c = client_with(ClientShell::Mio, proxy.port, Some(right));
    assert!(matches!(
        c.request(&address, Request::create(&keys), T),
        Ok(Reply::Ids { .. })
    ));
    let wanted = format!("connect localhost:{}", server.addr.port());
    assert_eq!(proxy.log.recv_timeout(T).unwrap(), wanted);
    c.stop().unwrap();
    assert_eq!(server.stop(), 0);
}

/// A target the proxy cannot connect to (nothing listens there): the proxy answers with a
/// failure reply, and the client reports a network error.
#[test]
fn a_target_the_proxy_cannot_reach() {
    let free_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = ServerAddress::str_decode(
        format!("smp://LcJUMfVhwD8yxjAiSaDzzGF3-kLG4Uh0Fl_ZIjrRwjI=@localhost:{free_port}")
            .as_bytes(),
    )
    .unwrap();
    let proxy = Proxy::start();
    let c = client(ClientShell::Smol, proxy.port);
    let keys = RecipientKeys::generate(SignAlgorithm::Ed448, &mut ChaCha20Rng::seed_from_u64(7));
    assert_eq!(
        c.request(&address, Request::create(&keys), T),
        Err(simplex_agent_cli::client_runtime::RuntimeError::Request(
            RequestError::Network
        ))
    );
    // The proxy was asked, by name, and refused.
    assert_eq!(
        proxy.log.recv_timeout(T).unwrap(),
        format!("connect localhost:{free_port}")
    );
    c.stop().unwrap();
}
