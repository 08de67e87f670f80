//! The TLS server machine fed arbitrary records.

use core::time::Duration;

use rand_chacha::rand_core::SeedableRng;

/// The server's identity and randomness are fixed (a seeded generator, as rustls' fuzzers use
/// fixed randomness), so a recorded client flight is valid input: a corpus entry holding a
/// whole handshake (see [`handshake_transcript`]) lets the fuzzer mutate the traffic that
/// follows, deep past the handshake.
fn fuzz_server() -> simplex_core::tls::TlsSession {
    use simplex_core::time::Instant;
    use simplex_core::tls::{ServerIdentity, TlsSession};
    let (online, ca, key) = super::support::ed25519_identity(3);
    let identity = ServerIdentity::from_der(online, ca, &key).expect("test identity");
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(0));
    TlsSession::server(&identity, rng, Instant::ZERO, Duration::from_secs(10))
        .expect("server starts")
}

/// A fresh TLS server fed arbitrary bytes, in chunks whose sizes the input chooses (each
/// chunk is a length byte and the bytes): it must end in an error or keep waiting, never
/// panic, and never hold more than its documented limits. Returns whether it got through the
/// handshake.
pub fn tls_server(data: &[u8]) {
    let _ = run_tls_server(data);
}

fn run_tls_server(data: &[u8]) -> bool {
    use simplex_core::time::Instant;
    use simplex_core::tls::MAX_UNREAD_PLAINTEXT;

    let mut server = fuzz_server();
    let mut rest = data;
    let mut now = 0u64;
    let mut established = false;
    while let Some((&size, tail)) = rest.split_first() {
        let n = usize::from(size).max(1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        now += 1000;
        let mut input = chunk;
        while !input.is_empty() {
            let used = server
                .handle_input(Instant::from_micros(now), input)
                .expect("outputs were drained");
            input = &input[used..];
            let mut unread = 0;
            for event in drain_tls(&mut server).1 {
                match event {
                    simplex_core::tls::TlsEvent::Plaintext(p) => unread += p.len(),
                    simplex_core::tls::TlsEvent::HandshakeComplete { .. } => established = true,
                    _ => {}
                }
            }
            assert!(unread <= MAX_UNREAD_PLAINTEXT + (1 << 14) + 256);
        }
        drain_tls(&mut server);
        rest = after;
    }
    server
        .handle_timeout(Instant::from_micros(now + 20_000_000))
        .expect("outputs were drained");
    assert!(server.is_closed() || server.is_established());
    established
}

/// A whole client side of a handshake with the server [`tls_server`] drives, followed by
/// application data, in the fuzz body's chunk framing: the seed that takes the fuzzer past the
/// handshake.
pub fn handshake_transcript() -> Vec<u8> {
    use simplex_core::time::Instant;
    use simplex_core::tls::TlsSession;
    let (online, ca, key) = super::support::ed25519_identity(3);
    let identity =
        simplex_core::tls::ServerIdentity::from_der(online, ca, &key).expect("test identity");
    let mut server = fuzz_server();
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(1));
    let mut client = TlsSession::client(
        "localhost",
        identity.key_hash(),
        rng,
        Instant::ZERO,
        Duration::from_secs(10),
    )
    .expect("client starts");
    let mut client_bytes = Vec::new();
    let mut now = 0u64;
    for round in 0..6 {
        now += 1000;
        if round == 4 {
            let _ = client.send(b"application data after the handshake");
        }
        let mut to_client = Vec::new();
        for b in drain_tls(&mut client).0 {
            let mut rest = &b[..];
            while !rest.is_empty() {
                let used = server
                    .handle_input(Instant::from_micros(now), rest)
                    .expect("outputs were drained");
                rest = &rest[used..];
                to_client.extend(drain_tls(&mut server).0);
            }
            client_bytes.extend_from_slice(&b);
        }
        to_client.extend(drain_tls(&mut server).0);
        let to_client = to_client.concat();
        if !to_client.is_empty() {
            client
                .handle_input(Instant::from_micros(now), &to_client)
                .expect("outputs were drained");
        }
    }
    client_bytes
        .chunks(255)
        .flat_map(|c| std::iter::once(c.len() as u8).chain(c.iter().copied()))
        .collect()
}

/// Drains a TLS session to `Timeout`: its bytes for the socket and its events, in order.
fn drain_tls(
    session: &mut simplex_core::tls::TlsSession,
) -> (Vec<Vec<u8>>, Vec<simplex_core::tls::TlsEvent>) {
    use simplex_core::tls::TlsOutput;
    let (mut wire, mut events) = (Vec::new(), Vec::new());
    loop {
        match session.poll_output() {
            TlsOutput::Transmit(bytes) => wire.push(bytes),
            TlsOutput::Event(event) => events.push(event),
            TlsOutput::Timeout(_) => return (wire, events),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_transcript_seed_gets_through_the_handshake() {
        let transcript = super::handshake_transcript();
        assert!(super::run_tls_server(&transcript));
        let saved = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus/tls_server/seed-full-handshake");
        if std::env::var("RECORD_FUZZ_SEEDS").is_ok() {
            std::fs::write(&saved, &transcript).expect("corpus writable");
        }
        assert_eq!(
            std::fs::read(&saved).ok(),
            Some(transcript),
            "re-record with RECORD_FUZZ_SEEDS=1"
        );
    }

    #[test]
    fn tls_server_survives_samples() {
        super::tls_server(&[]);
        super::tls_server(&[5, 0x16, 0x03, 0x01, 0xff, 0xff, 200]);
        let noise: Vec<u8> = (0..5000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        super::tls_server(&noise);
        // A plausible ClientHello header followed by junk, in one chunk.
        let mut hello = vec![
            255, 0x16, 0x03, 0x01, 0x00, 0xf0, 0x01, 0x00, 0x00, 0xec, 0x03, 0x03,
        ];
        hello.extend(std::iter::repeat_n(0xab, 250));
        super::tls_server(&hello);
    }
}
