//! Mail between the shards of one server: what one shard's driver asks another to do.
//!
//! A server on N cores runs N [`crate::driver::ServerDriver`]s, one per shard of the queue
//! space ([`crate::Shard`]). A driver holds the connections its shell gave it; a command for a
//! queue of another shard, and a shard's answer to a client held by another driver, travel as
//! [`Letter`]s. The driver only says where a letter goes
//! ([`crate::driver::DriverOutput::Mail`]) and takes the letters that came
//! ([`crate::driver::DriverInput::Mail`]); moving them is the host's business (threads and
//! channels in production, `crate::workers`; the simulator's seeded order in tests), so the
//! driver stays a pure machine.
//!
//! Whoever moves letters must deliver those from one shard to another in the order they were
//! posted: a client's connection is announced before its first command and its close after
//! its last. Letters from different shards may interleave in any order.
//!
//! Which shard holds a client: each driver numbers the clients it holds itself, shard `i` of
//! `N` giving ids `i + N`, `i + 2N`, … ([`holder`]), so any shard can tell from a client's id
//! where to send its answers, whatever ids the shells give their sockets. That is also the
//! client's home shard, where `NEW` and `PING` go ([`crate::ShardRouter::route`]): a queue
//! lives with the connection that created it. Every shard learns of every client
//! (`ClientConnected` and `ClientClosed` go to all): a shard answers a client only while it
//! knows it.

use bytes::Bytes;
use simplex_core::encoding::Version;
use simplex_core::protocol::{Command, VerifiedTransmission};

use crate::ClientId;

/// What one shard sends another.
#[derive(Debug, Clone, PartialEq)]
pub enum Letter {
    /// A client of the sender connected: the receiver's shard should know it.
    ClientConnected {
        /// The client.
        client: ClientId,
        /// Its TLS session binding.
        session_id: Bytes,
        /// Its protocol version.
        version: Version,
    },
    /// Transmissions from a client of the sender for queues of the receiver's shard, in the
    /// order they came.
    Transmissions {
        /// The client.
        client: ClientId,
        /// The transmissions.
        transmissions: Vec<VerifiedTransmission<Command>>,
    },
    /// A client of the sender closed.
    ClientClosed {
        /// The client.
        client: ClientId,
    },
    /// The sender's shard has transmissions for a client the receiver holds.
    Transmit {
        /// The client.
        client: ClientId,
        /// Encoded server transmissions.
        transmissions: Vec<Vec<u8>>,
    },
    /// The sender's shard closes a client the receiver holds.
    Close {
        /// The client.
        client: ClientId,
    },
}

/// The shard (of `count`) holding `client`.
pub fn holder(client: ClientId, count: u16) -> u16 {
    // Below `count`, so the conversion never fails.
    u16::try_from(client.0 % u64::from(count.max(1))).unwrap_or(0)
}

/// Numbers the clients one shard holds: `index + count·k` for k = 1, 2, …
#[derive(Debug, Clone)]
pub(crate) struct ClientNumbers {
    next: u64,
    step: u64,
}

impl ClientNumbers {
    pub(crate) fn new(index: u16, count: u16) -> Self {
        let step = u64::from(count.max(1));
        Self {
            next: u64::from(index) + step,
            step,
        }
    }

    /// A fresh client id (never one given before: 2^64 ids outlast any server).
    pub(crate) fn next(&mut self) -> ClientId {
        let id = ClientId(self.next);
        self.next = self.next.wrapping_add(self.step);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_numbers_clients_it_holds() {
        let mut n = ClientNumbers::new(1, 3);
        let ids: Vec<u64> = (0..3).map(|_| n.next().0).collect();
        assert_eq!(ids, vec![4, 7, 10]);
        assert!(ids.iter().all(|&id| holder(ClientId(id), 3) == 1));
        let mut alone = ClientNumbers::new(0, 1);
        assert_eq!(alone.next().0, 1);
        assert_eq!(alone.next().0, 2);
    }
}
