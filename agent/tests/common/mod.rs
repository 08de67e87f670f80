//! Two parties in memory for the pipeline tests: the keys each side of a v2 duplex handshake
//! holds, generated from a seeded generator as the reference's `joinConn` and
//! `allowConnection` generate them.

// Test helpers: a failed unwrap is a failed test.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use simplex_agent::integrity::{RcvIntegrity, SndIntegrity};
use simplex_agent::pipeline::{self, Opened, RcvQueueBox, SndQueueBox};
use simplex_agent::protocol::{ConnectionRequest, SmpQueueInfo};
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::{ed25519, x25519, x448};
use simplex_core::encoding::string::StrDecode;
use simplex_core::encoding::Decode;
use simplex_core::ratchet::{generate_e2e_params, E2eRatchetParams, Ratchet};

/// The reference vectors of this repository.
pub fn vectors(file: &str) -> Vec<Value> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../spec/vectors/reference")
        .join(file);
    let text = std::fs::read_to_string(&path).expect("read vectors");
    let json: Value = serde_json::from_str(&text).expect("vectors are JSON");
    json["cases"].as_array().expect("cases").clone()
}

pub fn case(cases: &[Value], name: &str) -> Value {
    cases
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no case {name}"))
        .clone()
}

pub fn hex_of(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("hex string")).expect("hex")
}

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

/// A queue address (from the reference vectors) whose recipient key is `dh`'s.
pub fn queue_info(dh: &x25519::PrivateKey) -> SmpQueueInfo {
    let c = case(&vectors("agent.json"), "queue_info_v2");
    let mut info = SmpQueueInfo::decode_slice(&hex_of(&c["outputs"]["encoded_hex"])).unwrap();
    info.address.dh_public = dh.public_key();
    info
}

/// A one-time invitation link from the reference vectors.
pub fn invitation_link() -> ConnectionRequest {
    let c = case(&vectors("agent.json"), "conn_req_invitation_simplex_scheme");
    ConnectionRequest::str_decode(c["outputs"]["uri_text"].as_str().unwrap().as_bytes()).unwrap()
}

/// One side of a connection: the queue it receives on and the queue it sends to.
pub struct Party {
    /// Our key of the queue we receive on, and the secret once the sender is known.
    pub rcv_dh: x25519::PrivateKey,
    pub rcv_secret: Option<x25519::SharedSecret>,
    /// The box for the queue we send to (once known).
    pub snd: Option<SndQueueBox>,
    pub ratchet: Option<Ratchet>,
    pub snd_ids: SndIntegrity,
    pub rcv_ids: RcvIntegrity,
    /// The agent version of the connection (2 unless a test says otherwise).
    pub agent_version: u16,
    pub rng: ChaCha20Rng,
}

impl Party {
    pub fn new(seed: u64) -> Self {
        let mut rng = rng(seed);
        Self {
            rcv_dh: x25519::PrivateKey::generate(&mut rng),
            rcv_secret: None,
            snd: None,
            ratchet: None,
            snd_ids: SndIntegrity::default(),
            rcv_ids: RcvIntegrity::default(),
            agent_version: 2,
            rng,
        }
    }

    /// Our receiving queue's address, as the peer learns it.
    pub fn queue(&self) -> SmpQueueInfo {
        queue_info(&self.rcv_dh)
    }

    /// Starts sending to `queue` with fresh queue keys (the reference's `newSndQueue`).
    pub fn send_to(&mut self, queue: &SmpQueueInfo) {
        let dh = x25519::PrivateKey::generate(&mut self.rng);
        let sign = SignKey::Ed25519(ed25519::SigningKey::generate(&mut self.rng));
        self.snd = Some(SndQueueBox::new(queue, &dh, sign.verify_key()).unwrap());
    }

    pub fn nonce(&mut self) -> CbNonce {
        CbNonce::random(&mut self.rng)
    }

    pub fn rcv_box(&self) -> RcvQueueBox<'_> {
        RcvQueueBox {
            dh_private: &self.rcv_dh,
            dh_secret: self.rcv_secret.as_ref(),
        }
    }

    /// Opens a `MSG` body on our receiving queue.
    pub fn open(&self, body: &[u8]) -> Result<Opened, pipeline::ReceiveError> {
        pipeline::open(
            self.rcv_box(),
            &pipeline::Versions::default().smp_client,
            body,
        )
    }
}

/// The initiator's invitation: its X3DH keys and their public halves.
pub struct Invitation {
    pub key1: x448::PrivateKey,
    pub key2: x448::PrivateKey,
    pub params: E2eRatchetParams,
}

impl Invitation {
    pub fn new(party: &mut Party) -> Self {
        let (key1, key2, params) = generate_e2e_params(&mut party.rng, 1);
        Self { key1, key2, params }
    }
}
