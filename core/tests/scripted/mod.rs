//! A small scripted SMP server over `ServerConnection`, answering the commands the client
//! tests use the way the reference server does (NEW→IDS, SUB→OK/MSG, ACK→OK/MSG/ERR NO_MSG,
//! SEND→OK, GET→MSG/OK, PING→PONG, END to the old subscriber on takeover, ERR AUTH for unknown
//! queues or bad signatures). It stands in until the real server machine is available.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../support/mod.rs"]
pub mod support;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::Duration;

use bytes::Bytes;
use rand_chacha::rand_core::{RngCore, SeedableRng};
use simplex_core::address::{ServerAddress, TransportHost};
use simplex_core::crypto::cbox::{CbKey, CbNonce};
use simplex_core::crypto::hash::KeyHash;
use simplex_core::crypto::keys::VerifyKey;
use simplex_core::crypto::x25519;
use simplex_core::encoding::{Encode, NonEmpty, UnixTime};
use simplex_core::protocol::{
    encode_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId, ErrorType, MsgFlags,
    MsgId, RcvMessage, VerifiedTransmission, SMP_VERSION_RANGE,
};
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsSession};
use simplex_core::transport::{Input, Output, ServerConnection};

pub const HANDSHAKE: Duration = Duration::from_secs(10);

/// The test identity (Ed25519 certificates built in the test support).
pub fn identity(seed: u8) -> ServerIdentity {
    let (online, ca, key) = support::ed25519_identity(seed);
    ServerIdentity::from_der(online, ca, &key).unwrap()
}

/// An address for the identity with the given hosts.
pub fn address(key_hash: KeyHash, hosts: Vec<TransportHost>, port: &str) -> ServerAddress {
    ServerAddress {
        scheme: simplex_core::address::Scheme::Smp,
        hosts: NonEmpty::new(hosts).unwrap(),
        port: port.to_owned(),
        key_hash,
    }
}

struct Queue {
    recipient_key: VerifyKey,
    sender_id: Vec<u8>,
    body_key: CbKey,
    sender_key: Option<VerifyKey>,
    messages: VecDeque<(MsgId, MsgFlags, Bytes)>,
    delivered: Option<MsgId>,
}

/// The scripted server: a queue store and any number of connections.
pub struct ScriptedServer {
    identity: ServerIdentity,
    rng: rand_chacha::ChaCha20Rng,
    queues: HashMap<Vec<u8>, Queue>,
    senders: HashMap<Vec<u8>, Vec<u8>>,
    subscriber: HashMap<Vec<u8>, u64>,
    conns: BTreeMap<u64, ServerConnection>,
    pending_wire: HashMap<u64, Vec<Vec<u8>>>,
    /// Commands received, by tag, in order.
    pub received: Vec<&'static str>,
    /// When false, commands are received but never answered.
    pub answering: bool,
    /// Blocks received (all connections).
    pub blocks_received: usize,
    pub timestamp: i64,
}

impl ScriptedServer {
    pub fn new(seed: u64) -> Self {
        Self {
            identity: identity(seed as u8),
            rng: rand_chacha::ChaCha20Rng::seed_from_u64(seed),
            queues: HashMap::new(),
            senders: HashMap::new(),
            subscriber: HashMap::new(),
            conns: BTreeMap::new(),
            pending_wire: HashMap::new(),
            received: Vec::new(),
            answering: true,
            blocks_received: 0,
            timestamp: 1_660_000_000,
        }
    }

    pub fn key_hash(&self) -> KeyHash {
        self.identity.key_hash()
    }

    /// Opens the server end of connection `id`.
    pub fn accept(&mut self, id: u64, now: Instant) {
        let tls =
            TlsSession::server(&self.identity, support::rng(1000 + id), now, HANDSHAKE).unwrap();
        let conn =
            ServerConnection::server(tls, self.key_hash(), SMP_VERSION_RANGE, now, HANDSHAKE);
        self.conns.insert(id, conn);
    }

    /// Forgets connection `id` (the socket dropped).
    pub fn drop_conn(&mut self, id: u64) {
        self.conns.remove(&id);
        self.subscriber.retain(|_, c| *c != id);
    }

    pub fn has_conn(&self, id: u64) -> bool {
        self.conns.contains_key(&id)
    }

    /// Feeds bytes from the client on connection `id`; answers what arrived.
    pub fn receive(&mut self, id: u64, now: Instant, bytes: &[u8]) {
        self.blocks_received += bytes.len() / (16384 + 22);
        let mut rest = bytes;
        while !rest.is_empty() {
            let Some(conn) = self.conns.get_mut(&id) else {
                return;
            };
            let n = conn.handle_input(now, Input::Received(rest)).unwrap();
            rest = &rest[n..];
            self.process(id, now);
            if n == 0 {
                break;
            }
        }
        self.process(id, now);
    }

    /// Bytes for the client on connection `id`.
    pub fn transmit(&mut self, id: u64, now: Instant) -> Vec<Vec<u8>> {
        self.process(id, now);
        self.pending_wire.remove(&id).unwrap_or_default()
    }

    /// Sends `END` for a recipient id to its subscriber (as on a takeover).
    pub fn send_end(&mut self, recipient_id: &[u8], now: Instant) {
        if let Some(cid) = self.subscriber.remove(recipient_id) {
            let t = self.server_transmission(cid, &CorrId::empty(), recipient_id, &BrokerMsg::End);
            self.send(cid, now, vec![t]);
        }
    }

    /// Sends any server message with the given correlation and entity ids on connection `cid`.
    pub fn send_raw(
        &mut self,
        cid: u64,
        now: Instant,
        corr: &[u8],
        entity: &[u8],
        msg: &BrokerMsg,
    ) {
        let corr = CorrId::from_slice(corr).unwrap();
        let t = self.server_transmission(cid, &corr, entity, msg);
        self.send(cid, now, vec![t]);
    }

    /// How many queues exist.
    pub fn queue_count(&self) -> usize {
        self.queues.len()
    }

    fn send(&mut self, cid: u64, now: Instant, ts: Vec<Vec<u8>>) {
        if let Some(conn) = self.conns.get_mut(&cid) {
            if conn.is_established() && !ts.is_empty() {
                conn.handle_input(now, Input::Send(ts)).unwrap();
            }
        }
        self.process(cid, now);
    }

    fn process(&mut self, id: u64, now: Instant) {
        loop {
            let mut received = Vec::new();
            let mut wire = Vec::new();
            if let Some(conn) = self.conns.get_mut(&id) {
                loop {
                    match conn.poll_output() {
                        Output::Transmit(b) => wire.push(b),
                        Output::Received(t) => received.push(t),
                        Output::Timeout(_) => break,
                        _ => {}
                    }
                }
            }
            self.pending_wire.entry(id).or_default().extend(wire);
            if received.is_empty() {
                return;
            }
            let mut replies: BTreeMap<u64, Vec<Vec<u8>>> = BTreeMap::new();
            for t in received {
                self.answer(id, t, &mut replies);
            }
            for (cid, ts) in replies {
                if let Some(conn) = self.conns.get_mut(&cid) {
                    if conn.is_established() && !ts.is_empty() {
                        conn.handle_input(now, Input::Send(ts)).unwrap();
                    }
                }
                if cid != id {
                    self.process(cid, now);
                }
            }
        }
    }

    fn version(&self, cid: u64) -> u16 {
        self.conns[&cid].version().unwrap()
    }

    fn server_transmission(
        &self,
        cid: u64,
        corr: &CorrId,
        entity: &[u8],
        msg: &BrokerMsg,
    ) -> Vec<u8> {
        let conn = &self.conns[&cid];
        let signed = signed_part(
            conn.session_id().unwrap(),
            corr,
            &EntityId::from_slice(entity).unwrap(),
            &msg.to_bytes(conn.version().unwrap()),
        )
        .unwrap();
        encode_transmission(None, &signed)
    }

    fn random_id(&mut self) -> Vec<u8> {
        let mut id = vec![0u8; 24];
        self.rng.fill_bytes(&mut id);
        id
    }

    /// The `MSG` for the queue's first message, marking it delivered.
    fn deliver(&mut self, cid: u64, rid: &[u8]) -> Option<BrokerMsg> {
        let version = self.version(cid);
        let ts = self.timestamp;
        let q = self.queues.get_mut(rid)?;
        let (msg_id, flags, body) = q.messages.front()?.clone();
        q.delivered = Some(msg_id.clone());
        let nonce = CbNonce::from_slice_padded(msg_id.as_bytes());
        let encrypted = if version >= 3 {
            let mut plain = Vec::new();
            UnixTime::from_seconds(ts).encode(&mut plain);
            flags.encode(&mut plain);
            plain.push(b' ');
            plain.extend_from_slice(&body);
            q.body_key.encrypt(&nonce, &plain, 16106).unwrap()
        } else {
            q.body_key.encrypt(&nonce, &body, 16090).unwrap()
        };
        Some(BrokerMsg::Msg(RcvMessage {
            msg_id,
            timestamp: UnixTime::from_seconds(ts),
            flags,
            encrypted_body: Bytes::from(encrypted),
        }))
    }

    fn answer(
        &mut self,
        cid: u64,
        t: VerifiedTransmission<Command>,
        replies: &mut BTreeMap<u64, Vec<Vec<u8>>>,
    ) {
        let entity = t.entity_id.as_bytes().to_vec();
        let corr = t.corr_id.clone();
        let tag = t.message.as_ref().map(|c| c.tag()).unwrap_or("?");
        self.received.push(tag);
        if !self.answering {
            return;
        }
        let verified = |key: &VerifyKey| {
            t.signature
                .as_ref()
                .is_some_and(|sig| key.verify(&t.signed, sig))
        };
        let mut extra: Vec<(u64, Vec<u8>)> = Vec::new();
        let reply = match t.message.clone() {
            Err(e) => BrokerMsg::Err(e),
            Ok(Command::Ping) => BrokerMsg::Pong,
            Ok(Command::New {
                recipient_key,
                dh_key,
            }) => {
                if !verified(&recipient_key) {
                    BrokerMsg::Err(ErrorType::Auth)
                } else {
                    let rid = self.random_id();
                    let sid = self.random_id();
                    let mut seed = [0u8; 32];
                    self.rng.fill_bytes(&mut seed);
                    let server_dh = x25519::PrivateKey::from_bytes(&seed);
                    let body_key = CbKey::new(&server_dh.diffie_hellman(&dh_key).unwrap());
                    self.queues.insert(
                        rid.clone(),
                        Queue {
                            recipient_key,
                            sender_id: sid.clone(),
                            body_key,
                            sender_key: None,
                            messages: VecDeque::new(),
                            delivered: None,
                        },
                    );
                    self.senders.insert(sid.clone(), rid.clone());
                    BrokerMsg::Ids {
                        recipient_id: EntityId::from_slice(&rid).unwrap(),
                        sender_id: EntityId::from_slice(&sid).unwrap(),
                        server_dh_key: server_dh.public_key(),
                    }
                }
            }
            Ok(Command::Send { flags, body }) => match self.senders.get(&entity).cloned() {
                None => BrokerMsg::Err(ErrorType::Auth),
                Some(rid) => {
                    let msg_id = MsgId::from_slice(&self.random_id()).unwrap();
                    let q = self.queues.get_mut(&rid).unwrap();
                    let was_empty = q.messages.is_empty();
                    q.messages.push_back((msg_id, flags, body));
                    if was_empty {
                        if let Some(&sub) = self.subscriber.get(&rid) {
                            if let Some(m) = self.deliver(sub, &rid) {
                                let t = self.server_transmission(sub, &CorrId::empty(), &rid, &m);
                                extra.push((sub, t));
                            }
                        }
                    }
                    BrokerMsg::Ok
                }
            },
            Ok(cmd) => match self.queues.get(&entity) {
                Some(q) if verified(&q.recipient_key) => match cmd {
                    Command::Sub => {
                        if let Some(old) = self.subscriber.insert(entity.clone(), cid) {
                            if old != cid && self.conns.contains_key(&old) {
                                let t = self.server_transmission(
                                    old,
                                    &CorrId::empty(),
                                    &entity,
                                    &BrokerMsg::End,
                                );
                                extra.push((old, t));
                            }
                        }
                        self.deliver(cid, &entity).unwrap_or(BrokerMsg::Ok)
                    }
                    Command::Get => self.deliver(cid, &entity).unwrap_or(BrokerMsg::Ok),
                    Command::Ack(msg_id) => {
                        let q = self.queues.get_mut(&entity).unwrap();
                        if q.delivered.as_ref() == Some(&msg_id) {
                            q.messages.pop_front();
                            q.delivered = None;
                            self.deliver(cid, &entity).unwrap_or(BrokerMsg::Ok)
                        } else {
                            BrokerMsg::Err(ErrorType::NoMsg)
                        }
                    }
                    Command::Key(key) => {
                        self.queues.get_mut(&entity).unwrap().sender_key = Some(key);
                        BrokerMsg::Ok
                    }
                    Command::Off | Command::Del => BrokerMsg::Ok,
                    _ => BrokerMsg::Err(ErrorType::Auth),
                },
                _ => BrokerMsg::Err(ErrorType::Auth),
            },
        };
        let t = self.server_transmission(cid, &corr, &entity, &reply);
        replies.entry(cid).or_default().push(t);
        for (c, t) in extra {
            replies.entry(c).or_default().push(t);
        }
    }
}
