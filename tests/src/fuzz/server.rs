//! The SMP server machine fed transmission sequences from several clients.

use rand_chacha::rand_core::SeedableRng;
use simplex_core::encoding::UnixTime;

/// The SMP server machine fed transmission sequences from three clients (versions 4, 3 and 1).
///
/// The input is a list of operations: raw transmission bytes, well-signed commands built from
/// fixed keys and the ids the server handed out (so the fuzzer reaches secured queues,
/// deliveries and notifications), reconnects and clock jumps. The machine must never panic,
/// and everything it transmits must decode as a server transmission for its client.
pub fn server_machine(data: &[u8]) {
    use bytes::Bytes;
    use simplex_core::crypto::keys::SignKey;
    use simplex_core::crypto::{ed25519, x25519};
    use simplex_core::protocol::{BrokerMsg, Command, EntityId, MsgFlags, MsgId};
    use simplex_core::time::{Clock, Instant};
    use simplex_server::testkit::TestClient;
    use simplex_server::{Server, ServerConfig, ServerInput, ServerOutput};

    let config = ServerConfig {
        msg_queue_quota: 4,
        ..ServerConfig::default()
    };
    let wall0 = 1_660_000_000;
    // Both clocks move together, `micros` after the start.
    let at = |micros: u64| Clock {
        now: Instant::from_micros(micros),
        wall_clock: UnixTime::from_seconds(wall0 + (micros / 1_000_000) as i64),
    };
    let mut server = Server::new(config, rand_chacha::ChaCha20Rng::seed_from_u64(7), at(0));
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
               clock: Clock,
               input: ServerInput,
               ids: &mut Vec<EntityId>,
               msg_ids: &mut Vec<MsgId>| {
        server
            .handle_input(clock, input)
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
            at(0),
            ServerInput::ClientConnected {
                client: c.id,
                session_id: c.session_id.clone(),
                version: c.version,
            },
            &mut ids,
            &mut msg_ids,
        );
    }
    let mut rest = data;
    while let Some((&op, tail)) = rest.split_first() {
        let arg = |i: usize| tail.get(i).copied().unwrap_or(0);
        let ci = usize::from(arg(0)) % clients.len();
        match op % 4 {
            0 => {
                let len = usize::from(arg(1)).min(tail.len().saturating_sub(2));
                let bytes = tail.get(2..2 + len).unwrap_or_default().to_vec();
                rest = tail.get(2 + len..).unwrap_or_default();
                let t = clients[ci].check(bytes);
                let input = ServerInput::Transmissions {
                    client: clients[ci].id,
                    transmissions: vec![t],
                };
                run(
                    &mut server,
                    &clients,
                    at(now),
                    input,
                    &mut ids,
                    &mut msg_ids,
                );
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
                    transmissions: vec![t],
                };
                run(
                    &mut server,
                    &clients,
                    at(now),
                    input,
                    &mut ids,
                    &mut msg_ids,
                );
            }
            2 => {
                let old = clients[ci].id;
                run(
                    &mut server,
                    &clients,
                    at(now),
                    ServerInput::ClientClosed { client: old },
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
                };
                run(
                    &mut server,
                    &clients,
                    at(now),
                    input,
                    &mut ids,
                    &mut msg_ids,
                );
            }
            _ => {
                now += u64::from(arg(0)) * 3_600_000_000 * 24;
                let input = ServerInput::Timeout;
                run(
                    &mut server,
                    &clients,
                    at(now),
                    input,
                    &mut ids,
                    &mut msg_ids,
                );
            }
        }
        rest = tail.get(5..).unwrap_or_default();
    }
    let _ = server.handle_input(at(now), ServerInput::Shutdown);
    while !matches!(server.poll_output(), ServerOutput::Timeout(_)) {}
}

/// A trace file (`simplex_server::trace`): parsing must never panic; a version-2 header
/// re-encodes to the bytes it came from; a short trace made for the reference's test identity
/// replays (matching or not) without panicking.
pub fn trace(data: &[u8]) {
    use simplex_server::trace::{read_trace, replay, TraceWriter};

    let Ok((header, records)) = read_trace(data) else {
        return;
    };
    if data.get(8) == Some(&2) {
        let encoded = TraceWriter::new(&header).finish();
        assert!(data.starts_with(&encoded), "the header re-encodes");
    }
    if records.len() <= 64 {
        let _ = replay(data, crate::harness::identity());
    }
}

#[cfg(test)]
mod tests {
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
