//! Test harness: a machine, a virtual clock, and clients talking through the byte path.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::keys::{SignKey, VerifyKey};
use simplex_core::crypto::{ed25519, ed448, x25519};
use simplex_core::encoding::{UnixTime, Version};
use simplex_core::protocol::{BrokerMsg, Command, CorrId, EntityId, MsgId};
use simplex_core::time::{Clock, Instant};
use simplex_server::testkit::{drain, TestClient};
use simplex_server::{ClientId, Server, ServerConfig, ServerInput, ServerOutput};

pub const T0: i64 = 1_660_000_000;

pub struct Harness {
    pub server: Server<ChaCha20Rng>,
    pub now: Instant,
    pub wall: UnixTime,
    pub clients: BTreeMap<ClientId, TestClient>,
    pub rng: ChaCha20Rng,
    next_client: u64,
    /// Every store-log line the server emitted, in order.
    pub persisted: Vec<String>,
    /// Every other non-transmission output (journal, stats, close...).
    pub other: Vec<ServerOutput>,
}

/// A decoded transmission addressed to a client.
#[derive(Debug, Clone)]
pub struct Got {
    pub to: ClientId,
    pub corr: CorrId,
    pub entity: EntityId,
    pub msg: BrokerMsg,
}

pub struct QueueInfo {
    pub rid: Vec<u8>,
    pub sid: Vec<u8>,
    pub rkey: SignKey,
    pub dh: CbKey,
}

pub fn sign_key(rng: &mut ChaCha20Rng, ed448: bool) -> SignKey {
    if ed448 {
        SignKey::Ed448(ed448::SigningKey::generate(rng))
    } else {
        SignKey::Ed25519(ed25519::SigningKey::generate(rng))
    }
}

impl Harness {
    pub fn new(config: ServerConfig) -> Self {
        Self::with_seed(config, 1)
    }

    pub fn with_seed(config: ServerConfig, seed: u64) -> Self {
        let wall = UnixTime::from_seconds(T0);
        Self {
            server: Server::new(
                config,
                ChaCha20Rng::seed_from_u64(seed),
                Clock {
                    now: Instant::ZERO,
                    wall_clock: wall,
                },
            ),
            now: Instant::ZERO,
            wall,
            clients: BTreeMap::new(),
            rng: ChaCha20Rng::seed_from_u64(seed + 1000),
            next_client: 1,
            persisted: Vec::new(),
            other: Vec::new(),
        }
    }

    pub fn connect(&mut self, version: Version) -> TestClient {
        let c = TestClient::new(self.next_client, version);
        self.next_client += 1;
        self.server
            .handle_input(
                self.clock(),
                ServerInput::ClientConnected {
                    client: c.id,
                    session_id: c.session_id.clone(),
                    version,
                },
            )
            .unwrap();
        assert!(drain(&mut self.server).is_empty());
        self.clients.insert(c.id, c.clone());
        c
    }

    pub fn decode(&self, outputs: Vec<ServerOutput>) -> Vec<Got> {
        let mut got = Vec::new();
        for o in outputs {
            if let ServerOutput::Transmit {
                client,
                transmissions,
            } = o
            {
                let c = &self.clients[&client];
                for t in transmissions {
                    let (corr, entity, msg) = c.read(&t).expect("server transmission decodes");
                    got.push(Got {
                        to: client,
                        corr,
                        entity,
                        msg,
                    });
                }
            }
        }
        got
    }

    /// The harness's clock: both readings as the test set them.
    pub fn clock(&self) -> Clock {
        Clock {
            now: self.now,
            wall_clock: self.wall,
        }
    }

    pub fn input(&mut self, input: ServerInput) -> Vec<ServerOutput> {
        self.server.handle_input(self.clock(), input).unwrap();
        let out = drain(&mut self.server);
        for o in &out {
            match o {
                ServerOutput::Persist(r) => self.persisted.push(r.to_line()),
                ServerOutput::Transmit { .. } => {}
                o => self.other.push(o.clone()),
            }
        }
        out
    }

    pub fn raw(&mut self, c: &TestClient, batch: Vec<Vec<u8>>) -> Vec<ServerOutput> {
        let transmissions = batch.into_iter().map(|b| c.check(b)).collect();
        self.input(ServerInput::Transmissions {
            client: c.id,
            transmissions,
        })
    }

    /// Sends one command; returns every transmission the server produced, in order.
    pub fn cmd(
        &mut self,
        c: &TestClient,
        key: Option<&SignKey>,
        corr: &str,
        entity: &[u8],
        cmd: Command,
    ) -> Vec<Got> {
        let bytes = c.encode(key, corr.as_bytes(), entity, &cmd);
        let out = self.raw(c, vec![bytes]);
        self.decode(out)
    }

    /// Sends one command and expects exactly one answer to the sender with that corr id.
    pub fn ask(
        &mut self,
        c: &TestClient,
        key: Option<&SignKey>,
        corr: &str,
        entity: &[u8],
        cmd: Command,
    ) -> BrokerMsg {
        let got = self.cmd(c, key, corr, entity, cmd);
        let mine: Vec<_> = got
            .iter()
            .filter(|g| g.to == c.id && g.corr.as_bytes() == corr.as_bytes())
            .collect();
        assert_eq!(mine.len(), 1, "one answer expected, got {got:?}");
        mine[0].msg.clone()
    }

    pub fn close(&mut self, c: &TestClient) -> Vec<ServerOutput> {
        self.input(ServerInput::ClientClosed { client: c.id })
    }

    pub fn advance(&mut self, secs: u64) -> Vec<ServerOutput> {
        self.now = self.now + core::time::Duration::from_secs(secs);
        self.wall = UnixTime::from_seconds(self.wall.seconds + secs as i64);
        self.input(ServerInput::Timeout)
    }

    pub fn create_queue(&mut self, c: &TestClient, ed448: bool) -> QueueInfo {
        let rkey = sign_key(&mut self.rng, ed448);
        let dh_priv = x25519::PrivateKey::generate(&mut self.rng);
        let answer = self.ask(
            c,
            Some(&rkey),
            "new",
            b"",
            Command::New {
                recipient_key: rkey.verify_key(),
                dh_key: dh_priv.public_key(),
            },
        );
        let BrokerMsg::Ids {
            recipient_id,
            sender_id,
            server_dh_key,
        } = answer
        else {
            panic!("expected IDS, got {answer:?}")
        };
        let secret = dh_priv.diffie_hellman(&server_dh_key).unwrap();
        QueueInfo {
            rid: recipient_id.as_bytes().to_vec(),
            sid: sender_id.as_bytes().to_vec(),
            rkey,
            dh: CbKey::new(&secret),
        }
    }

    pub fn secure(&mut self, c: &TestClient, q: &QueueInfo, ed448: bool) -> SignKey {
        let skey = sign_key(&mut self.rng, ed448);
        let answer = self.ask(
            c,
            Some(&q.rkey),
            "key",
            &q.rid,
            Command::Key(skey.verify_key()),
        );
        assert_eq!(answer, BrokerMsg::Ok);
        skey
    }
}

pub fn send_cmd(body: &[u8]) -> Command {
    Command::Send {
        flags: Default::default(),
        body: Bytes::copy_from_slice(body),
    }
}

pub fn send_ntf(body: &[u8]) -> Command {
    Command::Send {
        flags: simplex_core::protocol::MsgFlags { notification: true },
        body: Bytes::copy_from_slice(body),
    }
}

pub fn ack(id: &MsgId) -> Command {
    Command::Ack(id.clone())
}

/// Decrypts a delivered message: (msg id, body).
pub fn open(q: &QueueInfo, version: Version, msg: &BrokerMsg) -> (MsgId, Vec<u8>) {
    let BrokerMsg::Msg(m) = msg else {
        panic!("expected MSG, got {msg:?}")
    };
    let nonce = CbNonce::from_slice_padded(m.msg_id.as_bytes());
    let plain =
        q.dh.decrypt(&nonce, &m.encrypted_body)
            .expect("MSG decrypts");
    let body = if version <= 2 {
        plain
    } else {
        assert_eq!(plain[9], b' ');
        plain[10..].to_vec()
    };
    (m.msg_id.clone(), body)
}

pub fn verify_key_of(k: &SignKey) -> VerifyKey {
    k.verify_key()
}

pub fn store_lines(outputs: &[ServerOutput]) -> Vec<String> {
    outputs
        .iter()
        .filter_map(|o| match o {
            ServerOutput::Persist(r) => Some(r.to_line()),
            _ => None,
        })
        .collect()
}
