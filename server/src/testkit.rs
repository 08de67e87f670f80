//! Client-side helpers for driving the machine through the real byte path: build a signed
//! transmission as a client would, check it as the transport does, and read the server's
//! transmissions back. Used by the tests, the fuzz target and the benchmark.

use bytes::Bytes;
use simplex_core::crypto::keys::SignKey;
use simplex_core::crypto::rng::CryptoRng;
use simplex_core::encoding::Version;
use simplex_core::protocol::{
    encode_transmission, parse_transmission, signed_part, BrokerMsg, Command, CorrId, EntityId,
    VerifiedTransmission,
};

use crate::machine::{ClientId, Server, ServerOutput};

/// One client connection as the tests see it.
#[derive(Debug, Clone)]
pub struct TestClient {
    /// The connection's id.
    pub id: ClientId,
    /// Its session id.
    pub session_id: Bytes,
    /// Its protocol version.
    pub version: Version,
}

impl TestClient {
    /// A client with a session id derived from its number.
    pub fn new(id: u64, version: Version) -> Self {
        let mut session = [0u8; 32];
        session[..8].copy_from_slice(&id.to_be_bytes());
        Self {
            id: ClientId(id),
            session_id: Bytes::copy_from_slice(&session),
            version,
        }
    }

    /// The encoded transmission of `cmd`, signed with `key` if given.
    pub fn encode(
        &self,
        key: Option<&SignKey>,
        corr: &[u8],
        entity: &[u8],
        cmd: &Command,
    ) -> Vec<u8> {
        let corr = CorrId::from_slice(corr).unwrap_or_default();
        let entity = EntityId::from_slice(entity).unwrap_or_default();
        let signed = signed_part(
            &self.session_id,
            &corr,
            &entity,
            &cmd.to_bytes(self.version),
        )
        .unwrap_or_default();
        let sig = key.map(|k| k.sign(&signed));
        encode_transmission(sig.as_ref(), &signed)
    }

    /// What the transport hands the machine for received `bytes`.
    pub fn check(&self, bytes: Vec<u8>) -> VerifiedTransmission<Command> {
        VerifiedTransmission::check(
            parse_transmission(Bytes::from(bytes)),
            &self.session_id,
            self.version,
        )
    }

    /// `encode` then `check`.
    pub fn transmission(
        &self,
        key: Option<&SignKey>,
        corr: &[u8],
        entity: &[u8],
        cmd: &Command,
    ) -> VerifiedTransmission<Command> {
        self.check(self.encode(key, corr, entity, cmd))
    }

    /// Reads a server transmission sent to this client: (corr id, entity id, message).
    pub fn read(&self, bytes: &[u8]) -> Option<(CorrId, EntityId, BrokerMsg)> {
        let t = VerifiedTransmission::<BrokerMsg>::check(
            parse_transmission(Bytes::copy_from_slice(bytes)),
            &self.session_id,
            self.version,
        );
        if t.signature.is_some() {
            return None;
        }
        Some((t.corr_id, t.entity_id, t.message.ok()?))
    }
}

/// Drains the machine's outputs up to (without) the final `Timeout`.
pub fn drain<R: CryptoRng>(server: &mut Server<R>) -> Vec<ServerOutput> {
    let mut out = Vec::new();
    loop {
        match server.poll_output() {
            ServerOutput::Timeout(_) => return out,
            o => out.push(o),
        }
    }
}
