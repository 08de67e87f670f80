//! Fuzz target bodies: each takes arbitrary bytes and must never panic.
//!
//! A target may assert properties of what it decodes (re-encoding gives the input back, and
//! so on); a failed assertion is a finding just like a panic inside the code under test.

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
    ("server_machine", server_machine),
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

/// A fresh TLS server fed arbitrary bytes, in chunks whose sizes the input chooses: it must end in
/// an error or keep waiting, never panic, and never hold more than its documented limits.
#[allow(clippy::expect_used)]
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

/// The SMP server machine fed transmission sequences from three clients (versions 4, 3 and 1).
///
/// The input is a list of operations: raw transmission bytes, well-signed commands built from
/// fixed keys and the ids the server handed out (so the fuzzer reaches secured queues,
/// deliveries and notifications), reconnects and clock jumps. The machine must never panic,
/// and everything it transmits must decode as a server transmission for its client.
#[allow(clippy::expect_used)]
pub fn server_machine(data: &[u8]) {
    use bytes::Bytes;
    use simplex_core::crypto::keys::SignKey;
    use simplex_core::crypto::{ed25519, x25519};
    use simplex_core::protocol::{BrokerMsg, Command, EntityId, MsgFlags, MsgId};
    use simplex_core::time::Instant;
    use simplex_server::testkit::TestClient;
    use simplex_server::{Server, ServerConfig, ServerInput, ServerOutput};

    let config = ServerConfig {
        msg_queue_quota: 4,
        ..ServerConfig::default()
    };
    let wall0 = 1_660_000_000;
    let mut server = Server::new(
        config,
        rand_chacha::ChaCha20Rng::seed_from_u64(7),
        Instant::ZERO,
        UnixTime::from_seconds(wall0),
    );
    let keys: Vec<SignKey> = (1..=3u8)
        .map(|i| SignKey::Ed25519(ed25519::SigningKey::from_bytes(&[i; 32])))
        .collect();
    let dh = x25519::PrivateKey::from_bytes(&[9; 32]).public_key();
    let mut clients: Vec<TestClient> = [4u16, 3, 1]
        .iter()
        .enumerate()
        .map(|(i, v)| TestClient::new(i as u64, *v))
        .collect();
    let mut next_id = 3u64;
    let mut ids: Vec<EntityId> = Vec::new();
    let mut msg_ids: Vec<MsgId> = Vec::new();
    let mut now = 0u64;
    let run = |server: &mut Server<rand_chacha::ChaCha20Rng>,
               clients: &[TestClient],
               input: ServerInput,
               ids: &mut Vec<EntityId>,
               msg_ids: &mut Vec<MsgId>| {
        server
            .handle_input(input)
            .expect("inputs follow the contract");
        loop {
            match server.poll_output() {
                ServerOutput::Timeout(_) => break,
                ServerOutput::Transmit {
                    client,
                    transmissions,
                } => {
                    let c = clients
                        .iter()
                        .find(|c| c.id == client)
                        .expect("transmits only to connected clients");
                    for t in transmissions {
                        let (_, _, msg) = c.read(&t).expect("server transmissions decode");
                        match msg {
                            BrokerMsg::Ids {
                                recipient_id,
                                sender_id,
                                ..
                            } => ids.extend([recipient_id, sender_id]),
                            BrokerMsg::Nid { notifier_id, .. } => ids.push(notifier_id),
                            BrokerMsg::Msg(m) => msg_ids.push(m.msg_id),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
    };
    for c in &clients {
        run(
            &mut server,
            &clients,
            ServerInput::ClientConnected {
                client: c.id,
                session_id: c.session_id.clone(),
                version: c.version,
                now: Instant::ZERO,
            },
            &mut ids,
            &mut msg_ids,
        );
    }
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let arg = |i: usize| tail.get(i).copied().unwrap_or(0);
        let ci = usize::from(arg(0)) % clients.len();
        let wall = UnixTime::from_seconds(wall0 + (now / 1_000_000) as i64);
        match op % 4 {
            0 => {
                let len = usize::from(arg(1)).min(tail.len().saturating_sub(2));
                let bytes = tail.get(2..2 + len).unwrap_or_default().to_vec();
                rest = tail.get(2 + len..).unwrap_or_default();
                let t = clients[ci].check(bytes);
                let input = ServerInput::Transmissions {
                    client: clients[ci].id,
                    now: Instant::from_micros(now),
                    wall_clock: wall,
                    transmissions: vec![t],
                };
                run(&mut server, &clients, input, &mut ids, &mut msg_ids);
                continue;
            }
            1 => {
                let entity = ids
                    .get(usize::from(arg(2)) % ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let key = &keys[usize::from(arg(3)) % keys.len()];
                let msg_id = msg_ids
                    .get(usize::from(arg(4)) % msg_ids.len().max(1))
                    .cloned()
                    .unwrap_or_default();
                let body = Bytes::from(vec![b'x'; usize::from(arg(4)) * 64]);
                let cmd = match arg(1) % 12 {
                    0 => Command::New {
                        recipient_key: key.verify_key(),
                        dh_key: dh,
                    },
                    1 => Command::Sub,
                    2 => Command::Key(keys[1].verify_key()),
                    3 => Command::NKey {
                        notifier_key: keys[2].verify_key(),
                        dh_key: dh,
                    },
                    4 => Command::NDel,
                    5 => Command::Get,
                    6 => Command::Ack(msg_id),
                    7 => Command::Off,
                    8 => Command::Del,
                    9 => Command::Send {
                        flags: MsgFlags {
                            notification: arg(3) % 2 == 0,
                        },
                        body,
                    },
                    10 => Command::Ping,
                    _ => Command::NSub,
                };
                let (entity, signed) = match cmd {
                    Command::New { .. } => (EntityId::empty(), true),
                    Command::Ping => (EntityId::empty(), false),
                    Command::Send { .. } => (entity, arg(3) % 3 != 0),
                    _ => (entity, true),
                };
                let c = &clients[ci];
                let t = c.transmission(signed.then_some(key), &[op], entity.as_bytes(), &cmd);
                let input = ServerInput::Transmissions {
                    client: c.id,
                    now: Instant::from_micros(now),
                    wall_clock: wall,
                    transmissions: vec![t],
                };
                run(&mut server, &clients, input, &mut ids, &mut msg_ids);
            }
            2 => {
                let old = clients[ci].id;
                run(
                    &mut server,
                    &clients,
                    ServerInput::ClientClosed {
                        client: old,
                        now: Instant::from_micros(now),
                    },
                    &mut ids,
                    &mut msg_ids,
                );
                let v = clients[ci].version;
                clients[ci] = TestClient::new(next_id, v);
                next_id += 1;
                let c = &clients[ci];
                let input = ServerInput::ClientConnected {
                    client: c.id,
                    session_id: c.session_id.clone(),
                    version: v,
                    now: Instant::from_micros(now),
                };
                run(&mut server, &clients, input, &mut ids, &mut msg_ids);
            }
            _ => {
                now += u64::from(arg(0)) * 3_600_000_000 * 24;
                let input = ServerInput::Timeout {
                    now: Instant::from_micros(now),
                    wall_clock: UnixTime::from_seconds(wall0 + (now / 1_000_000) as i64),
                };
                run(&mut server, &clients, input, &mut ids, &mut msg_ids);
            }
        }
        rest = tail.get(5..).unwrap_or_default();
    }
    let _ = server.handle_input(ServerInput::Shutdown {
        now: Instant::from_micros(now),
    });
    while !matches!(server.poll_output(), ServerOutput::Timeout(_)) {}
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

    /// NEW, NKEY, NSUB, unsigned SENDs with notifications, SUB, ACKs, GET, OFF, a clock
    /// jump and DEL, addressed with the ids the server handed out.
    pub(crate) const SCRIPTED_SESSION: [u8; 66] = [
        1, 0, 0, 0, 0, 1, // client 0: NEW (key 0) -> ids[0] rid, ids[1] sid
        1, 0, 3, 0, 0, 1, // NKEY on rid -> ids[2] nid
        1, 2, 11, 2, 2, 1, // client 2: NSUB nid (key 2)
        1, 1, 9, 1, 0, 1, // client 1: SEND to sid, unsigned, notify
        1, 1, 9, 1, 0, 2, // another
        1, 0, 6, 0, 0, 0, // client 0: ACK msg 0
        1, 0, 1, 0, 0, 0, // SUB
        1, 0, 6, 0, 0, 1, // ACK msg 1
        1, 1, 5, 0, 0, 0, // client 1: GET rid (key 0)
        3, 40, 0, 0, 0, 0, // 40 days later
        1, 0, 8, 0, 0, 0, // DEL
    ];

    #[test]
    fn server_machine_survives_samples() {
        super::server_machine(&[]);
        // NEW, SEND, SUB, ACK, GET, NKEY, NSUB, OFF, DEL from different clients
        let mut script = Vec::new();
        for (i, cmd) in [0u8, 9, 1, 6, 5, 3, 11, 2, 9, 7, 8, 0, 9, 9, 9]
            .iter()
            .enumerate()
        {
            script.extend([1, i as u8, *cmd, i as u8, (i % 3) as u8, 1]);
        }
        script.extend([2, 1, 0, 0, 0, 0, 3, 40, 0, 0, 0, 0]);
        super::server_machine(&script);
        super::server_machine(&SCRIPTED_SESSION);
        let noise: Vec<u8> = (0..3000u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 11) as u8)
            .collect();
        super::server_machine(&noise);
    }
}
