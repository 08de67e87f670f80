//! The TLS server machine fed arbitrary records.

use core::time::Duration;

use rand_chacha::rand_core::SeedableRng;

/// A fresh TLS server fed arbitrary bytes, in chunks whose sizes the input chooses: it must end in
/// an error or keep waiting, never panic, and never hold more than its documented limits.
pub fn tls_server(data: &[u8]) {
    use simplex_core::time::Instant;
    use simplex_core::tls::{ServerIdentity, TlsSession, MAX_UNREAD_PLAINTEXT};

    // An Ed25519 PKCS#8 key (fixed seed); the certificates are opaque to the server itself.
    let mut key = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    key.extend_from_slice(&[7u8; 32]);
    let identity =
        ServerIdentity::from_der_unchecked(vec![vec![0x30, 0x00], vec![0x30, 0x00]], &key)
            .expect("fixed key parses");
    let rng = Box::new(rand_chacha::ChaCha20Rng::seed_from_u64(0));
    let mut server = TlsSession::server(&identity, rng, Instant::ZERO, Duration::from_secs(10))
        .expect("server starts");
    let mut rest = data;
    let mut now = 0u64;
    while let Some((&size, tail)) = rest.split_first() {
        let n = usize::from(size).max(1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        now += 1000;
        let mut input = chunk;
        while !input.is_empty() {
            let used = server.handle_input(Instant::from_micros(now), input);
            input = &input[used..];
            let mut unread = 0;
            while let Some(event) = server.poll_event() {
                if let simplex_core::tls::TlsEvent::Plaintext(p) = event {
                    unread += p.len();
                }
            }
            assert!(unread <= MAX_UNREAD_PLAINTEXT + (1 << 14) + 256);
        }
        while server.poll_transmit().is_some() {}
        rest = after;
    }
    server.handle_timeout(Instant::from_micros(now + 20_000_000));
    assert!(server.is_closed() || server.is_established());
}

#[cfg(test)]
mod tests {
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
