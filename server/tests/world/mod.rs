//! What the driver tests share: the reference's test identity, a clock, and a `World` of one
//! server driver (or several workers) with real client connection machines, in memory.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../reference_data/mod.rs"]
mod reference_data;

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::keys::{Algorithm, PrivateKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::encoding::UnixTime;
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, SMP_VERSION_RANGE,
};
use simplex_core::time::Clock;
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsSession};
use simplex_core::transport::{ClientConnection, Framing, Input, Output};
use simplex_server::driver::{ConnId, DriverConfig, DriverInput, DriverOutput, ServerDriver};
use simplex_server::mail::Letter;
use simplex_server::{Server, ServerConfig, Shard, ShardRouter};
use std::time::Duration;

pub use reference_data::fixture;

pub fn identity() -> ServerIdentity {
    ServerIdentity::from_pem(
        &fixture("server.crt"),
        &fixture("ca.crt"),
        &fixture("server.key"),
    )
    .unwrap()
}

pub const WALL: i64 = 1_700_000_000;

pub fn clock(micros: u64) -> Clock {
    Clock {
        now: Instant::from_micros(micros),
        wall_clock: UnixTime::from_seconds(WALL + (micros / 1_000_000) as i64),
    }
}

pub struct World {
    /// One driver, or the workers of one server (client `conn` is held by `conn % n`).
    pub drivers: Vec<ServerDriver<ChaCha20Rng>>,
    pub clients: Vec<(ConnId, ClientConnection)>,
    pub received: Vec<Vec<BrokerMsg>>,
    pub persisted: usize,
    pub closed: Vec<ConnId>,
    pub micros: u64,
    /// Letters waiting for each driver, in the order posted.
    pub mail: Vec<Vec<Letter>>,
    /// Every store-log and journal record fails to commit (a full disk).
    pub records_fail: bool,
    /// Drains in which a record failed.
    pub failed_records: usize,
}

impl World {
    pub fn new(seed: u64) -> Self {
        Self::workers(seed, 1)
    }

    /// `n` drivers as the workers of one server (one: a lone driver with no post).
    pub fn workers(seed: u64, n: u16) -> Self {
        let router = std::sync::Arc::new(ShardRouter::new(n));
        let drivers = (0..n)
            .map(|index| {
                let config = ServerConfig {
                    shard: Shard { index, count: n },
                    ..ServerConfig::default()
                };
                let server = Server::new(
                    config,
                    ChaCha20Rng::seed_from_u64(seed + u64::from(index)),
                    clock(0),
                );
                let tls_seed = [seed as u8 + index as u8; 32];
                ServerDriver::sharded(
                    server,
                    identity(),
                    DriverConfig::default(),
                    tls_seed,
                    router.clone(),
                )
            })
            .collect();
        World {
            drivers,
            clients: vec![],
            received: vec![],
            persisted: 0,
            closed: vec![],
            micros: 0,
            mail: (0..n).map(|_| Vec::new()).collect(),
            records_fail: false,
            failed_records: 0,
        }
    }

    /// The only driver (or the first worker).
    pub fn driver(&mut self) -> &mut ServerDriver<ChaCha20Rng> {
        &mut self.drivers[0]
    }

    /// The driver holding socket `conn`.
    pub fn holder(&mut self, conn: ConnId) -> &mut ServerDriver<ChaCha20Rng> {
        let n = self.drivers.len() as ConnId;
        &mut self.drivers[(conn % n) as usize]
    }

    pub fn connect(&mut self, seed: u64) -> usize {
        // Sockets as the shells number them: 1, 2, 3… alone; worker `conn % n` of n.
        let n = self.drivers.len() as ConnId;
        let conn = self.clients.len() as ConnId + if n == 1 { 1 } else { n };
        let rng: simplex_core::tls::SessionRng = Box::new(ChaCha20Rng::seed_from_u64(seed));
        let tls = TlsSession::client(
            "localhost",
            self.drivers[0].key_hash(),
            rng,
            Instant::ZERO,
            Duration::from_secs(30),
        )
        .unwrap();
        let client = ClientConnection::client(
            tls,
            self.drivers[0].key_hash(),
            SMP_VERSION_RANGE,
            Instant::ZERO,
            Duration::from_secs(30),
        );
        let now = clock(self.micros);
        self.holder(conn)
            .handle_input(
                now,
                DriverInput::Accepted {
                    conn,
                    framing: Framing::Raw,
                },
            )
            .unwrap();
        self.clients.push((conn, client));
        self.received.push(vec![]);
        self.pump();
        assert!(self.clients.last().unwrap().1.is_established());
        self.clients.len() - 1
    }

    /// Moves bytes both ways, and mail between workers, until quiet.
    pub fn pump(&mut self) {
        // Mail posted in one round is read in the next: quiet means two rounds with nothing.
        let mut quiet_rounds = 0;
        while quiet_rounds < 2 {
            let mut moved = false;
            for i in 0..self.clients.len() {
                loop {
                    match self.clients[i].1.poll_output() {
                        // The socket is gone (the client's own close_notify, say).
                        Output::Transmit(_) if self.closed.contains(&self.clients[i].0) => {}
                        Output::Transmit(bytes) => {
                            let conn = self.clients[i].0;
                            let now = clock(self.micros);
                            self.holder(conn)
                                .handle_input(
                                    now,
                                    DriverInput::Received {
                                        conn,
                                        bytes: &bytes,
                                    },
                                )
                                .unwrap();
                            moved = true;
                        }
                        Output::Received(t) => self.received[i].push(t.message.unwrap()),
                        Output::Timeout(_) => break,
                        _ => {}
                    }
                }
            }
            for d in 0..self.drivers.len() {
                let letters = std::mem::take(&mut self.mail[d]);
                if !letters.is_empty() {
                    // What a host does when another worker wakes it: the mail is read.
                    self.drivers[d]
                        .handle_input(clock(self.micros), DriverInput::Mail(letters))
                        .unwrap();
                    moved = true;
                }
                // One drain, as a host takes it: the records are committed (here: fail, when
                // the disk is "full") before the rest is carried out.
                let mut outputs = Vec::new();
                loop {
                    match self.drivers[d].poll_output() {
                        DriverOutput::Timeout(_) => break,
                        other => outputs.push(other),
                    }
                }
                if self.records_fail {
                    let first_record = outputs.iter().position(|o| {
                        matches!(o, DriverOutput::Persist(_) | DriverOutput::Journal(_))
                    });
                    if let Some(at) = first_record {
                        let rest = outputs.split_off(at);
                        let now = clock(self.micros);
                        outputs.extend(self.drivers[d].withhold_uncommitted(now, rest, 0));
                        self.failed_records += 1;
                    }
                }
                for output in outputs {
                    match output {
                        DriverOutput::Write { conn, bytes } => {
                            let (_, client) =
                                self.clients.iter_mut().find(|(c, _)| *c == conn).unwrap();
                            let mut rest = &bytes[..];
                            while !rest.is_empty() {
                                let n = client
                                    .handle_input(
                                        Instant::from_micros(self.micros),
                                        Input::Received(rest),
                                    )
                                    .unwrap();
                                rest = &rest[n..];
                            }
                            moved = true;
                        }
                        DriverOutput::Persist(_) => self.persisted += 1,
                        DriverOutput::CloseSocket { conn } => self.closed.push(conn),
                        DriverOutput::Mail { to, letter } => {
                            self.mail[usize::from(to)].push(letter);
                            moved = true;
                        }
                        _ => {}
                    }
                }
            }
            quiet_rounds = if moved { 0 } else { quiet_rounds + 1 };
        }
    }

    pub fn send(
        &mut self,
        i: usize,
        corr: &str,
        entity: &[u8],
        command: Command,
        key: Option<&SignKey>,
    ) {
        let client = &mut self.clients[i].1;
        let signed = signed_part(
            client.session_id().unwrap(),
            &CorrId::from_slice(corr.as_bytes()).unwrap(),
            &EntityId::from_slice(entity).unwrap(),
            &command.to_bytes(client.version().unwrap()),
        )
        .unwrap();
        let sig = key.map(|k| k.sign(&signed));
        client
            .handle_input(
                Instant::from_micros(self.micros),
                Input::Send(vec![encode_transmission(sig.as_ref(), &signed)]),
            )
            .unwrap();
        self.pump();
    }
}

impl World {
    /// `NEW` from client `i`, signed by `rkey`, with `dh` for delivered bodies; the `IDS`
    /// answer: recipient id, sender id, the server's DH key.
    pub fn create_queue(
        &mut self,
        i: usize,
        rkey: &SignKey,
        dh: &x25519::PrivateKey,
    ) -> (EntityId, EntityId, x25519::PublicKey) {
        let new = Command::New {
            recipient_key: rkey.verify_key(),
            dh_key: dh.public_key(),
        };
        self.send(i, "n", &[], new, Some(rkey));
        match self.received[i].last().cloned() {
            Some(BrokerMsg::Ids {
                recipient_id,
                sender_id,
                server_dh_key,
            }) => (recipient_id, sender_id, server_dh_key),
            _ => panic!("NEW answered {:?}", self.received[i]),
        }
    }
}

pub fn ed25519(seed: u8) -> SignKey {
    SignKey::try_from(PrivateKey::from_raw(Algorithm::Ed25519, &[seed; 32]).unwrap()).unwrap()
}
