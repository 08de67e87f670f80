//! Fuzz target bodies: each takes arbitrary bytes and must never panic.
//!
//! A target may assert properties of what it decodes (re-encoding gives the input back, and
//! so on); a failed assertion is a finding just like a panic inside the code under test.

// Fuzz bodies state their expectations as assertions: a failing one is a finding.
#![allow(clippy::expect_used, clippy::panic)]

use core::time::Duration;

use rand_chacha::rand_core::SeedableRng;
use simplex_core::encoding::query::QueryParams;
use simplex_core::encoding::string::{StrDecode, StrEncode, Word};
use simplex_core::encoding::{
    pad, unpad, Decode, Encode, Large, NonEmpty, ShortBytes, Tail, UnixTime, UtcTime, VersionRange,
};

/// A fuzz target: its name (a folder under `fuzz/corpus/`) and its body.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target. `fuzz/fuzz_targets/<name>.rs` calls the body of the same name.
pub const TARGETS: &[Target] = &[
    ("encoding", encoding),
    ("padding", padding),
    ("string", string),
    ("tls_server", tls_server),
    ("block", block),
    ("transmission", transmission),
    ("handshake", handshake),
    ("keys", keys),
    ("address", address),
    ("socks5", socks5),
    ("client_machine", client_machine),
];

/// The binary codec: decoding arbitrary bytes as several shapes; what decodes re-encodes to the
/// same bytes (the binary encoding is canonical).
pub fn encoding(data: &[u8]) {
    type Shape = (
        Option<ShortBytes>,
        NonEmpty<Large>,
        VersionRange,
        bool,
        Tail,
    );
    if let Ok(value) = Shape::decode_slice(data) {
        assert_eq!(
            value.to_bytes(),
            data,
            "re-encoding must reproduce the input"
        );
    }
    let _ = <(UnixTime, NonEmpty<(u16, ShortBytes)>, Tail)>::decode_slice(data);
}

/// Unpadding arbitrary bytes; what unpads pads back to a buffer of the same size.
pub fn padding(data: &[u8]) {
    if let Ok(content) = unpad(data) {
        let again = pad(content, data.len()).expect("content fits where it came from");
        assert_eq!(unpad(&again).ok(), Some(content));
    }
}

/// The text parsers: whatever parses, prints to a text that parses to the same value.
pub fn string(data: &[u8]) {
    type Line = (NonEmpty<Vec<u8>>, VersionRange, UnixTime, Option<bool>);
    if let Ok(value) = Line::str_decode(data) {
        assert_eq!(Line::str_decode(&value.to_str_bytes()).ok(), Some(value));
    }
    if let Ok(time) = UtcTime::str_decode(data) {
        assert_eq!(UtcTime::str_decode(&time.to_str_bytes()).ok(), Some(time));
    }
    if let Ok(query) = QueryParams::str_decode(data) {
        assert_eq!(
            QueryParams::str_decode(&query.to_str_bytes())
                .ok()
                .map(|q| q.params),
            Some(query.params)
        );
    }
    let _ = <(Word, Vec<u8>)>::str_decode(data);
}

/// A received block, as both batched and single-transmission blocks, through the transport's
/// checks for both directions. The input is the block's content (padded here), so the fuzzer
/// explores batch structure instead of padding.
pub fn block(data: &[u8]) {
    use simplex_core::protocol::{BrokerMsg, Command, VerifiedTransmission};
    use simplex_core::transport::{unpack_block, BLOCK_SIZE};
    let Ok(padded) = pad(data, BLOCK_SIZE) else {
        return;
    };
    let block = bytes::Bytes::from(padded);
    for batch in [false, true] {
        if let Ok(transmissions) = unpack_block(batch, &block) {
            for raw in transmissions {
                let session = raw
                    .as_ref()
                    .map(|r| r.session_id.clone())
                    .unwrap_or_default();
                let _ = VerifiedTransmission::<Command>::check(raw.clone(), &session, 4);
                let _ = VerifiedTransmission::<BrokerMsg>::check(raw, &session, 3);
            }
        }
    }
}

/// A transmission's command parsed as a client command and as a broker message for every
/// version; whatever parses re-encodes to something that parses to the same value.
pub fn transmission(data: &[u8]) {
    use simplex_core::protocol::{parse_transmission, BrokerMsg, Command};
    let command = match parse_transmission(bytes::Bytes::copy_from_slice(data)) {
        Ok(raw) => raw.command,
        Err(_) => bytes::Bytes::copy_from_slice(data),
    };
    for version in 1..=4 {
        if let Ok(c) = Command::parse(version, &command) {
            let again = bytes::Bytes::from(c.to_bytes(version));
            assert_eq!(Command::parse(version, &again).as_ref(), Ok(&c));
        }
        if let Ok(m) = BrokerMsg::parse(version, &command) {
            let again = bytes::Bytes::from(m.to_bytes(version));
            assert_eq!(BrokerMsg::parse(version, &again).as_ref(), Ok(&m));
        }
    }
}

/// Both hellos parsed from arbitrary block content.
pub fn handshake(data: &[u8]) {
    use simplex_core::crypto::hash::KeyHash;
    use simplex_core::protocol::SMP_VERSION_RANGE;
    use simplex_core::transport::{client_hello_reply, server_accept_hello, BLOCK_SIZE};
    let Ok(padded) = pad(data, BLOCK_SIZE) else {
        return;
    };
    let block = bytes::Bytes::from(padded);
    let key_hash = KeyHash::from_bytes([7; 32]);
    if let Ok(n) = server_accept_hello(&block, SMP_VERSION_RANGE, &key_hash) {
        assert!(SMP_VERSION_RANGE.contains(n.version));
    }
    if let Ok((reply, n)) = client_hello_reply(
        &block,
        data.get(5..37).unwrap_or_default(),
        SMP_VERSION_RANGE,
        &key_hash,
    ) {
        assert_eq!(
            server_accept_hello(&bytes::Bytes::from(reply), SMP_VERSION_RANGE, &key_hash),
            Ok(n)
        );
    }
}

/// Key and signature decoding (DER, the SMP form, the text form): whatever decodes re-encodes
/// to a form that decodes to the same key.
pub fn keys(data: &[u8]) {
    use simplex_core::crypto::keys::{PrivateKey, PublicKey, Signature};
    if let Ok(key) = PublicKey::from_der(data) {
        assert_eq!(PublicKey::from_der(&key.to_der()).ok(), Some(key));
    }
    if let Ok(key) = PrivateKey::from_der(data) {
        assert_eq!(
            PrivateKey::from_der(&key.to_der())
                .map(|k| k.public_key())
                .ok(),
            Some(key.public_key())
        );
    }
    if let Ok(key) = PublicKey::decode_slice(data) {
        assert_eq!(key.to_bytes(), data);
    }
    let _ = Signature::from_bytes(data);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = PublicKey::from_base64url(text);
    }
}

/// Server addresses and service locations in text and binary form.
pub fn address(data: &[u8]) {
    use simplex_core::address::{ServerAddress, ServiceLocation};
    if let Ok(a) = ServerAddress::str_decode(data) {
        assert_eq!(
            ServerAddress::str_decode(&a.to_str_bytes()).ok(),
            Some(a.clone())
        );
        assert_eq!(
            ServerAddress::decode_slice(&a.to_bytes())
                .ok()
                .map(|b| b.hosts),
            Some(a.hosts)
        );
    }
    if let Ok(a) = ServerAddress::decode_slice(data) {
        let _ = a.to_str_bytes();
    }
    let _ = ServiceLocation::str_decode(data);
}

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

/// The SOCKS5 client machine fed arbitrary proxy bytes in chunks (the first byte of each
/// chunk is its length): it never takes more than it is given, never holds more than one
/// reply, and once finished takes nothing more.
pub fn socks5(data: &[u8]) {
    use simplex_core::socks5::{Socks5Client, Socks5Credentials, Socks5Status, Socks5Target};
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
    let mut rest = data.get(2..).unwrap_or_default();
    while let Some((&size, tail)) = rest.split_first() {
        let n = usize::from(size).max(1).min(tail.len());
        let (chunk, after) = tail.split_at(n);
        let done_before = *client.status() != Socks5Status::InProgress;
        let used = client.handle_input(chunk);
        assert!(used <= chunk.len());
        if done_before {
            assert_eq!(used, 0, "a finished handshake takes nothing");
        }
        if let Some(out) = client.poll_transmit() {
            assert!(out.len() <= 3 + 255 + 255 + 7);
        }
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
    let (online, ca, key) = support::ed25519_identity(3);
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
    client.submit(Instant::ZERO, requests).expect("open client");
    let mut answered = std::collections::HashSet::new();
    let now = Instant::ZERO;
    let mut pump = |client: &mut SmpClient, server: &mut ServerConnection| loop {
        let mut to_client = Vec::new();
        let drain_server = |server: &mut ServerConnection, to_client: &mut Vec<Vec<u8>>| loop {
            match server.poll_output() {
                Output::Transmit(b) => to_client.push(b),
                Output::Timeout(_) => break,
                _ => {}
            }
        };
        loop {
            match client.poll_output() {
                ClientOutput::Transmit(b) => {
                    let mut rest = &b[..];
                    while !rest.is_empty() {
                        let n = server
                            .handle_input(now, Input::Received(rest))
                            .unwrap_or(rest.len());
                        rest = &rest[n..];
                        drain_server(server, &mut to_client);
                        if n == 0 {
                            break;
                        }
                    }
                }
                ClientOutput::Response { id, .. } => {
                    assert!(answered.insert(id), "request answered twice");
                }
                ClientOutput::Timeout(_) => break,
                _ => {}
            }
        }
        drain_server(server, &mut to_client);
        if to_client.is_empty() {
            break;
        }
        for b in to_client {
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

#[path = "../../core/tests/support/mod.rs"]
#[allow(missing_docs)]
mod support;
