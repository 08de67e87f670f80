//! Client-side targets: the SOCKS5 machine and an established SMP client machine.

use core::time::Duration;

use rand_chacha::rand_core::SeedableRng;

/// The SOCKS5 client machine fed arbitrary proxy bytes in chunks (the first byte of each
/// chunk is its length): it never takes more than it is given, never holds more than one
/// reply, and once finished takes nothing more.
pub fn socks5(data: &[u8]) {
    use simplex_core::socks5::{
        Socks5Client, Socks5Credentials, Socks5Output, Socks5Status, Socks5Target,
    };
    let credentials = data
        .first()
        .is_some_and(|b| b & 1 == 1)
        .then(|| Socks5Credentials::new(b"user", b"pass"))
        .flatten();
    let target = if data.get(1).is_some_and(|b| b & 1 == 1) {
        Socks5Target::Ipv4([10, 0, 0, 1])
    } else {
        Socks5Target::Domain("abcdefghij.onion".into())
    };
    let Ok(mut client) = Socks5Client::new(target, 5223, credentials) else {
        return;
    };
    assert!(
        matches!(client.poll_output(), Socks5Output::Transmit(_)),
        "the greeting"
    );
    let mut rest = data.get(2..).unwrap_or_default();
    while let Some((&size, tail)) = rest.split_first() {
        let n = usize::from(size).max(1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        let done_before = *client.status() != Socks5Status::InProgress;
        let used = client
            .handle_input(chunk)
            .expect("outputs were drained after the previous input");
        assert!(used <= chunk.len());
        if done_before {
            assert_eq!(used, 0, "a finished handshake takes nothing");
        }
        let mut outcomes = 0;
        loop {
            match client.poll_output() {
                Socks5Output::Transmit(out) => assert!(out.len() <= 3 + 255 + 255 + 7),
                Socks5Output::Connected(_) | Socks5Output::Failed(_) => outcomes += 1,
                Socks5Output::Wait => break,
            }
        }
        assert!(outcomes <= 1, "the outcome is given once");
        rest = after;
    }
    client.handle_peer_closed();
    assert_ne!(*client.status(), Socks5Status::InProgress);
}

/// An established client machine receiving arbitrary transmissions from the server: the
/// input is split into transmissions (first byte of each: its length) that a real server
/// connection packs into blocks, after the client sent three requests. Whatever arrives,
/// the client never answers a request twice and never panics.
pub fn client_machine(data: &[u8]) {
    use simplex_core::client::{ClientConfig, ClientInput, ClientOutput, Request, SmpClient};
    use simplex_core::protocol::{EntityId, SMP_VERSION_RANGE};
    use simplex_core::time::Instant;
    use simplex_core::tls::{ServerIdentity, TlsSession};
    use simplex_core::transport::{ClientConnection, Input, Output, ServerConnection};

    let timeout = Duration::from_secs(10);
    let (online, ca, key) = super::support::ed25519_identity(3);
    let identity = ServerIdentity::from_der(online, ca, &key).expect("test identity");
    let rng = |seed| Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(seed));
    let tls_server =
        TlsSession::server(&identity, rng(1), Instant::ZERO, timeout).expect("server starts");
    let mut server = ServerConnection::server(
        tls_server,
        identity.key_hash(),
        SMP_VERSION_RANGE,
        Instant::ZERO,
        timeout,
    );
    let tls_client = TlsSession::client(
        "localhost",
        identity.key_hash(),
        rng(2),
        Instant::ZERO,
        timeout,
    )
    .expect("client starts");
    let conn = ClientConnection::client(
        tls_client,
        identity.key_hash(),
        SMP_VERSION_RANGE,
        Instant::ZERO,
        timeout,
    );
    let mut client = SmpClient::new(conn, ClientConfig::default(), Instant::ZERO);
    let key = simplex_core::client::generate_sign_key(
        simplex_core::client::SignAlgorithm::Ed25519,
        &mut rand_chacha::ChaCha20Rng::seed_from_u64(3),
    );
    let requests = vec![
        Request::ping(),
        Request::subscribe(EntityId::from_slice(&[1; 24]).expect("id"), &key),
        Request::ping(),
    ];
    client
        .handle_input(Instant::ZERO, ClientInput::Submit(requests))
        .expect("open client");
    let mut answered = std::collections::HashSet::new();
    let now = Instant::ZERO;
    // Bytes from the client go into the server (as far as it takes them), its answers are
    // kept for the client.
    let feed_server =
        |server: &mut ServerConnection, bytes: &[u8], to_client: &mut Vec<Vec<u8>>| {
            let mut rest = bytes;
            while !rest.is_empty() {
                let n = server
                    .handle_input(now, Input::Received(rest))
                    .unwrap_or(rest.len());
                rest = &rest[n..];
                loop {
                    match server.poll_output() {
                        Output::Transmit(b) => to_client.push(b),
                        Output::Timeout(_) => break,
                        _ => {}
                    }
                }
                if n == 0 {
                    break;
                }
            }
        };
    // The client takes no input before its outputs are drained: drain after each one.
    let mut pump = |client: &mut SmpClient, server: &mut ServerConnection| {
        let mut to_client = Vec::new();
        loop {
            loop {
                match client.poll_output() {
                    ClientOutput::Transmit(b) => feed_server(server, &b, &mut to_client),
                    ClientOutput::Response { id, .. } => {
                        assert!(answered.insert(id), "request answered twice");
                    }
                    ClientOutput::Timeout(_) => break,
                    _ => {}
                }
            }
            loop {
                match server.poll_output() {
                    Output::Transmit(b) => to_client.push(b),
                    Output::Timeout(_) => break,
                    _ => {}
                }
            }
            if to_client.is_empty() {
                break;
            }
            let b = to_client.remove(0);
            let _ = client.handle_input(now, ClientInput::Received(&b));
        }
    };
    pump(&mut client, &mut server);
    assert!(
        client.is_connected(),
        "the fuzzed part starts on a live connection"
    );
    let mut transmissions = Vec::new();
    let mut rest = data;
    while let Some((&size, tail)) = rest.split_first() {
        let n = usize::from(size).min(tail.len());
        let (t, after) = tail.split_at(n);
        transmissions.push(t.to_vec());
        rest = after;
    }
    if server.is_established() {
        let _ = server.handle_input(now, Input::Send(transmissions));
    }
    pump(&mut client, &mut server);
    assert!(answered.len() <= 3);
}

/// The `smp-client` queue file parser: arbitrary text never panics, and a file that parses
/// writes back to text that parses to the same file.
pub fn queue_file(data: &[u8]) {
    use simplex_agent::queue_file::QueueState;
    let Ok(state) = QueueState::parse(data) else {
        return;
    };
    let text = state.to_text();
    let again = QueueState::parse(text.as_bytes()).expect("written text parses");
    assert_eq!(again.to_text(), text, "the written form is stable");
}
