//! What the server driver (alone or as one of several workers) keeps per socket: the SMP
//! connection machine, the client id once its hello is done, and its deadline; and how a new
//! one is opened (its TLS randomness drawn from the driver's seeded generator).

use std::collections::{BTreeMap, BTreeSet, HashMap};
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
        })
    }
}

/// The open connections by id, with their deadlines indexed by time: each turn asks for the
/// earliest deadline and each tick for those that passed, and both must cost the same with ten
/// thousand idle connections as with ten (a scan of every connection per input made each
/// relayed message slower in proportion to the idle ones).
#[derive(Default)]
pub(crate) struct Conns {
    by_id: BTreeMap<ConnId, Conn>,
    deadlines: DeadlineIndex,
}

impl Conns {
    pub(crate) fn len(&self) -> usize {
        self.by_id.len()
    }

    pub(crate) fn contains(&self, conn: ConnId) -> bool {
        self.by_id.contains_key(&conn)
    }

    pub(crate) fn get_mut(&mut self, conn: ConnId) -> Option<&mut Conn> {
        self.by_id.get_mut(&conn)
    }

    /// Adds a new connection, with no deadline until its machine is first drained.
    pub(crate) fn insert(&mut self, conn: ConnId, c: Conn) {
        self.by_id.insert(conn, c);
        self.deadlines.set(conn, None);
    }

    pub(crate) fn remove(&mut self, conn: ConnId) -> Option<Conn> {
        self.deadlines.set(conn, None);
        self.by_id.remove(&conn)
    }

    /// Records a connection machine's deadline, as of its last drain.
    pub(crate) fn set_deadline(&mut self, conn: ConnId, deadline: Option<Instant>) {
        if self.by_id.contains_key(&conn) {
            self.deadlines.set(conn, deadline);
        }
    }

    /// Every connection id, in order.
    pub(crate) fn ids(&self) -> Vec<ConnId> {
        self.by_id.keys().copied().collect()
    }

    /// Connections whose deadline has passed (only those need a tick).
    pub(crate) fn due(&self, now: Instant) -> Vec<ConnId> {
        self.deadlines.due(now)
    }

    /// The earliest connection deadline.
    pub(crate) fn earliest(&self) -> Option<Instant> {
        self.deadlines.earliest()
    }
}

/// Deadlines by connection, also ordered by time.
#[derive(Default)]
struct DeadlineIndex {
    by_conn: HashMap<ConnId, Instant>,
    by_time: BTreeSet<(Instant, ConnId)>,
}

impl DeadlineIndex {
    /// Sets (or with `None` clears) a connection's deadline.
    fn set(&mut self, conn: ConnId, deadline: Option<Instant>) {
        let old = match deadline {
            Some(d) => self.by_conn.insert(conn, d),
            None => self.by_conn.remove(&conn),
        };
        if old == deadline {
            return;
        }
        if let Some(old) = old {
            self.by_time.remove(&(old, conn));
        }
        if let Some(d) = deadline {
            self.by_time.insert((d, conn));
        }
    }

    fn due(&self, now: Instant) -> Vec<ConnId> {
        self.by_time
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, conn)| *conn)
            .collect()
    }

    fn earliest(&self) -> Option<Instant> {
        self.by_time.first().map(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Step {
        Set(ConnId, Option<u64>),
        Ask(u64),
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (0u64..8, proptest::option::of(0u64..50)).prop_map(|(c, d)| Step::Set(c, d)),
            (0u64..60).prop_map(Step::Ask),
        ]
    }

    proptest! {
        /// The index answers as a scan of every connection's deadline would.
        #[test]
        fn index_answers_as_a_scan(steps in proptest::collection::vec(step(), 0..80)) {
            let mut index = DeadlineIndex::default();
            let mut model: BTreeMap<ConnId, Instant> = BTreeMap::new();
            let at = |ms| Instant::ZERO + Duration::from_millis(ms);
            for s in steps {
                match s {
                    Step::Set(conn, d) => {
                        index.set(conn, d.map(at));
                        match d {
                            Some(d) => model.insert(conn, at(d)),
                            None => model.remove(&conn),
                        };
                    }
                    Step::Ask(now) => {
                        let mut due = index.due(at(now));
                        due.sort_unstable();
                        let expected: Vec<ConnId> = model
                            .iter()
                            .filter(|(_, d)| **d <= at(now))
                            .map(|(c, _)| *c)
                            .collect();
                        prop_assert_eq!(due, expected);
                    }
                }
                prop_assert_eq!(index.earliest(), model.values().min().copied());
                prop_assert_eq!(index.by_time.len(), model.len());
            }
        }
    }
}
