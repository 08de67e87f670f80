//! The benchmark fixture shared by `machine` and `scaling`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::{ed25519, ed448, x25519};
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{BrokerMsg, Command, EntityId, MsgFlags};
use simplex_core::time::{Clock, Instant};
use simplex_server::testkit::{drain, TestClient};
use simplex_server::{Server, ServerConfig, ServerInput, ServerOutput, Shard};

const WALL: i64 = 1_660_000_000;

fn key(rng: &mut ChaCha20Rng, ed448: bool) -> SignKey {
    if ed448 {
        SignKey::Ed448(ed448::SigningKey::generate(rng))
    } else {
        SignKey::Ed25519(ed25519::SigningKey::generate(rng))
    }
}

/// The benchmarks' fixed clock: time does not pass in them.
pub fn clock() -> Clock {
    Clock {
        now: Instant::ZERO,
        wall_clock: UnixTime::from_seconds(WALL),
    }
}

fn input(c: &TestClient, t: Vec<u8>) -> ServerInput {
    ServerInput::Transmissions {
        client: c.id,
        transmissions: vec![c.check(t)],
    }
}

fn transmits(out: &[ServerOutput]) -> Vec<(simplex_server::ClientId, Vec<u8>)> {
    out.iter()
        .flat_map(|o| match o {
            ServerOutput::Transmit {
                client,
                transmissions,
            } => transmissions.iter().map(|t| (*client, t.clone())).collect(),
            _ => Vec::new(),
        })
        .collect()
}

/// A machine with one secured, subscribed queue, and `cycles` SEND+ACK inputs for it.
/// A machine with one secured, subscribed queue, and `cycles` SEND+ACK inputs.
pub fn fixture(
    seed: u64,
    ed448: bool,
    shard: Shard,
    cycles: usize,
    durable: bool,
) -> (Server<ChaCha20Rng>, Vec<ServerInput>) {
    let config = ServerConfig {
        shard,
        store_log: false,
        durable_messages: durable,
        ..ServerConfig::default()
    };
    let mk = || Server::new(config.clone(), ChaCha20Rng::seed_from_u64(seed), clock());
    let (mut twin, mut real) = (mk(), mk());
    let mut rng = ChaCha20Rng::seed_from_u64(seed + 100);
    let r = TestClient::new(2 * seed, 4);
    let s = TestClient::new(2 * seed + 1, 4);
    let rkey = key(&mut rng, ed448);
    let skey = key(&mut rng, ed448);
    let dh = x25519::PrivateKey::generate(&mut rng).public_key();
    let mut setup = Vec::new();
    for c in [&r, &s] {
        setup.push(ServerInput::ClientConnected {
            client: c.id,
            session_id: c.session_id.clone(),
            version: 4,
        });
    }
    let new = Command::New {
        recipient_key: rkey.verify_key(),
        dh_key: dh,
    };
    setup.push(input(&r, r.encode(Some(&rkey), b"n", b"", &new)));
    let mut ids = None;
    for i in setup.iter().cloned() {
        twin.handle_input(clock(), i).unwrap();
        for (_, t) in transmits(&drain(&mut twin)) {
            if let Some((
                _,
                _,
                BrokerMsg::Ids {
                    recipient_id,
                    sender_id,
                    ..
                },
            )) = r.read(&t)
            {
                ids = Some((recipient_id, sender_id));
            }
        }
    }
    let (rid, sid): (EntityId, EntityId) = ids.unwrap();
    let secure = input(
        &r,
        r.encode(
            Some(&rkey),
            b"k",
            rid.as_bytes(),
            &Command::Key(skey.verify_key()),
        ),
    );
    twin.handle_input(clock(), secure.clone()).unwrap();
    drain(&mut twin);
    setup.push(secure);
    for i in setup {
        real.handle_input(clock(), i).unwrap();
        drain(&mut real);
    }
    let body = Bytes::from(vec![b'm'; 1000]);
    let send = input(
        &s,
        s.encode(
            Some(&skey),
            b"s",
            sid.as_bytes(),
            &Command::Send {
                flags: MsgFlags::default(),
                body,
            },
        ),
    );
    let mut inputs = Vec::with_capacity(2 * cycles);
    for _ in 0..cycles {
        twin.handle_input(clock(), send.clone()).unwrap();
        let msg_id = transmits(&drain(&mut twin))
            .into_iter()
            .find_map(|(to, t)| match r.read(&t) {
                Some((_, _, BrokerMsg::Msg(m))) if to == r.id => Some(m.msg_id),
                _ => None,
            })
            .expect("delivered");
        let ack = input(
            &r,
            r.encode(Some(&rkey), b"a", rid.as_bytes(), &Command::Ack(msg_id)),
        );
        twin.handle_input(clock(), ack.clone()).unwrap();
        drain(&mut twin);
        inputs.push(send.clone());
        inputs.push(ack);
    }
    (real, inputs)
}

/// Feeds the inputs, draining the outputs.
pub fn run(server: &mut Server<ChaCha20Rng>, inputs: Vec<ServerInput>) {
    for i in inputs {
        server.handle_input(clock(), i).unwrap();
        while !matches!(server.poll_output(), ServerOutput::Timeout(_)) {}
    }
}
