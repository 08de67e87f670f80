//! The SMP server machine (simplexmq v3.2.0 behaviour): queues, delivery, subscriptions,
//! notifications, limits, persistence formats and stats, as a pure deterministic state machine.
//!
//! The model (details in `spec/server.md`):
//! - [`Server`] is driven by [`ServerInput`]s (client connected, transmissions received, client
//!   closed, timeout, shutdown) and answers with [`ServerOutput`]s (transmissions to a client,
//!   close a client, store-log and journal records, stats lines, saved messages, the next
//!   timeout). After each input, drain [`Server::poll_output`] until it returns
//!   [`ServerOutput::Timeout`]. Randomness is injected; both clocks are inputs.
//! - Protocol failures are protocol answers (`ERR ...`); [`ServerError`] is for caller bugs.
//! - Multi-core: a `Server` owns one shard of the queue space ([`Shard`]); a server with N
//!   shards runs N drivers, each with its own sockets and one shard, which route each
//!   transmission by its entity id ([`ShardRouter`]) and hand what belongs elsewhere out as
//!   [`mail`]; the host runs each on a shell loop of its own thread ([`workers`]) and the
//!   simulator runs them all on one.
//!   Signature checks and crypto_box run inside the shard that owns the queue, so no lock is
//!   shared by all queues, and a command crosses threads only when its queue lives elsewhere.
//! - Persistence: [`store_log`] (queue records, the reference's text format), [`msg_log`]
//!   (messages saved at a graceful stop), [`durable`] (optional message journal), [`stats`].

mod auth;
pub mod certs;
pub mod config;
mod connections;
pub mod driver;
pub mod durable;
#[cfg(feature = "host")]
pub mod files;
#[cfg(feature = "host")]
pub mod host;
pub mod ini;
mod machine;
pub mod mail;
mod message;
pub mod msg_log;
pub mod ntf;
pub mod queue;
mod queue_store;
pub mod stats;
pub mod store_log;
pub mod testkit;
pub mod trace;
#[cfg(feature = "host")]
pub mod workers;

use std::collections::BTreeMap;

pub use config::{ExpirationConfig, Mutations, ServerConfig, Shard, StatsConfig};
pub use machine::{
    encode_server_transmission, encrypt_message, ClientId, RestoreReport, RestoreStatsError,
    Server, ServerError, ServerInput, ServerOutput, ID_LEN, NMSG_META_PADDED_LEN,
    RCV_MSG_PADDED_LEN, RCV_MSG_PADDED_LEN_V1,
};

use simplex_core::protocol::{Command, EntityId};

/// Routes transmissions to the shard owning their queue.
///
/// Queues this server creates get ids that hash to the creating shard ([`Shard::of`]); queues
/// read from a store log written elsewhere (e.g. by the reference server) keep their ids, so
/// the router is built at start with a table for those. The table is fixed after start: later
/// queues never need it.
#[derive(Debug, Clone, Default)]
pub struct ShardRouter {
    count: u16,
    imported: BTreeMap<EntityId, u16>,
}

impl ShardRouter {
    /// A router over `count` shards with no imported queues.
    pub fn new(count: u16) -> Self {
        Self {
            count: count.max(1),
            imported: BTreeMap::new(),
        }
    }

    /// Places the queues of a store log: a queue goes to the shard its recipient id hashes
    /// to, and its sender and notifier ids are recorded when they hash elsewhere. Returns the
    /// queues per shard, ready for [`Server::restore_queues`].
    pub fn place(
        &mut self,
        queues: impl IntoIterator<Item = queue::QueueRec>,
    ) -> Vec<Vec<queue::QueueRec>> {
        let mut shards = vec![Vec::new(); usize::from(self.count)];
        for q in queues {
            let shard = Shard::of(q.recipient_id.as_bytes(), self.count);
            let mut ids = vec![q.sender_id.clone()];
            if let Some(n) = &q.notifier {
                ids.push(n.notifier_id.clone());
            }
            for id in ids {
                if Shard::of(id.as_bytes(), self.count) != shard {
                    self.imported.insert(id, shard);
                }
            }
            if let Some(s) = shards.get_mut(usize::from(shard)) {
                s.push(q);
            }
        }
        shards
    }

    /// The shard for a transmission from `client`: by entity id; `NEW` and `PING` (no entity)
    /// go to the client's home shard. A notifier id replaced by `NKEY` after start hashes to
    /// its own shard, as every new id does.
    pub fn route(
        &self,
        client: machine::ClientId,
        entity: &EntityId,
        cmd: Option<&Command>,
    ) -> u16 {
        let home = (client.0 % u64::from(self.count)) as u16;
        match cmd {
            Some(Command::New { .. }) | Some(Command::Ping) => home,
            _ if entity.is_empty() => home,
            _ => self
                .imported
                .get(entity)
                .copied()
                .unwrap_or_else(|| Shard::of(entity.as_bytes(), self.count)),
        }
    }
}
