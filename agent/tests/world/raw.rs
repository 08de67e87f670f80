//! A party's next messages built with the pipeline directly, beside the agents.

use bytes::Bytes;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use simplex_agent::integrity::SndIntegrity;
use simplex_agent::pipeline::{self, SndQueueBox};
use simplex_agent::protocol::AMessage;
use simplex_agent::store::ConnectionRecord;
use simplex_core::client::Request;
use simplex_core::crypto::cbox::CbNonce;
use simplex_core::crypto::keys::{DhPublicKey, SignKey};
use simplex_core::crypto::x25519;
use simplex_core::protocol::{EntityId, MsgFlags};
use simplex_core::ratchet::Ratchet;

/// A party's next messages, built from a copy of its stored connection with the pipeline
/// directly (for tests of receiving that do not depend on the agent's own sending).
pub struct RawSender {
    ratchet: Ratchet,
    integrity: SndIntegrity,
    snd_box: SndQueueBox,
    sign_key: SignKey,
    snd_id: EntityId,
    agent_version: u16,
    rng: ChaCha20Rng,
}

impl RawSender {
    /// The sender of `conn`'s send queue, from where its store left it.
    pub fn of(conn: &ConnectionRecord, seed: u64) -> Self {
        let sq = conn.snd_queue.as_ref().expect("a send queue");
        let secret: [u8; 32] = sq.e2e_dh_secret.expose().try_into().unwrap();
        let Some(Ok(DhPublicKey::X25519(dh_public))) =
            sq.e2e_pub_key.as_deref().map(DhPublicKey::from_der)
        else {
            panic!("stored X25519 key")
        };
        let sign_key = SignKey::from_der(sq.snd_private_key.expose()).unwrap();
        Self {
            ratchet: Ratchet::from_bytes(conn.ratchet.as_ref().unwrap().expose()).unwrap(),
            integrity: SndIntegrity {
                last_snd_id: i64::try_from(conn.counters.last_internal_snd_msg_id).unwrap(),
                last_hash: conn.counters.last_snd_msg_hash.as_slice().try_into().ok(),
            },
            snd_box: SndQueueBox {
                client_version: sq.smp_client_version,
                dh_secret: x25519::SharedSecret::from_bytes(&secret),
                dh_public,
                sender_key: sign_key.verify_key(),
            },
            sign_key,
            snd_id: sq.snd_id.clone(),
            agent_version: conn.agent_version,
            rng: ChaCha20Rng::seed_from_u64(seed),
        }
    }

    /// The signed `SEND` of the next user message with `body`.
    pub fn message(&mut self, body: &[u8]) -> Request {
        let prepared = pipeline::prepare_message(
            &self.ratchet,
            &self.integrity,
            self.agent_version,
            AMessage::UserMessage(Bytes::copy_from_slice(body)),
        )
        .unwrap();
        self.ratchet = prepared.ratchet;
        self.integrity = prepared.integrity;
        let nonce = CbNonce::random(&mut self.rng);
        let sealed = self
            .snd_box
            .seal_message(nonce, &prepared.envelope)
            .unwrap();
        Request::send(
            self.snd_id.clone(),
            Some(&self.sign_key),
            MsgFlags { notification: true },
            Bytes::from(sealed),
        )
    }

    /// Skips the next id (the message is built and dropped), so the peer sees a gap.
    pub fn skip_one(&mut self) {
        let _ = self.message(b"never sent");
    }
}
