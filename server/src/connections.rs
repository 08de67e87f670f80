//! What the server driver (alone or as one of several workers) keeps per socket: the SMP
//! connection machine, the client id once its hello is done, and its deadline; and how a new
//! one is opened (its TLS randomness drawn from the driver's seeded generator).

use std::collections::BTreeMap;
use std::time::Duration;

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha20Rng;
use simplex_core::crypto::hash::KeyHash;
use simplex_core::encoding::VersionRange;
use simplex_core::time::Instant;
use simplex_core::tls::{ServerIdentity, TlsSession};
use simplex_core::transport::{Framing, ServerConnection};

use crate::driver::ConnId;
use crate::ClientId;

/// One accepted socket.
pub(crate) struct Conn {
    pub(crate) machine: ServerConnection,
    /// Set once the SMP hello completed and the server machine knows the client.
    pub(crate) client: Option<ClientId>,
    /// The connection machine's deadline, as of its last drain.
    pub(crate) deadline: Option<Instant>,
}

/// Opens connection machines for accepted sockets.
pub(crate) struct ConnectionFactory {
    identity: ServerIdentity,
    key_hash: KeyHash,
    version_range: VersionRange,
    handshake_timeout: Duration,
    seed_rng: ChaCha20Rng,
}

impl ConnectionFactory {
    pub(crate) fn new(
        identity: ServerIdentity,
        version_range: VersionRange,
        handshake_timeout: Duration,
        tls_seed: [u8; 32],
    ) -> Self {
        Self {
            key_hash: identity.key_hash(),
            identity,
            version_range,
            handshake_timeout,
            seed_rng: ChaCha20Rng::from_seed(tls_seed),
        }
    }

    pub(crate) fn key_hash(&self) -> KeyHash {
        self.key_hash
    }

    /// A fresh connection carrying blocks in `framing`; `None` when TLS cannot be set up with
    /// our identity (our fault, not the peer's: the socket is refused).
    pub(crate) fn open(&mut self, now: Instant, framing: Framing) -> Option<Conn> {
        let mut seed = [0u8; 32];
        self.seed_rng.fill_bytes(&mut seed);
        let rng: simplex_core::tls::SessionRng = Box::new(ChaCha20Rng::from_seed(seed));
        let timeout = self.handshake_timeout;
        let tls = TlsSession::server(&self.identity, rng, now, timeout).ok()?;
        let machine = ServerConnection::server_with_framing(
            tls,
            self.key_hash,
            self.version_range,
            now,
            timeout,
            framing,
        );
        Some(Conn {
            machine,
            client: None,
            deadline: None,
        })
    }
}

/// Connections whose deadline has passed (only those need a tick).
pub(crate) fn due(conns: &BTreeMap<ConnId, Conn>, now: Instant) -> Vec<ConnId> {
    conns
        .iter()
        .filter(|(_, c)| c.deadline.is_some_and(|d| d <= now))
        .map(|(id, _)| *id)
        .collect()
}

/// The earliest connection deadline.
pub(crate) fn earliest(conns: &BTreeMap<ConnId, Conn>) -> Option<Instant> {
    conns.values().filter_map(|c| c.deadline).min()
}
