//! Server settings, with the reference's defaults (`Server/Env/STM.hs` and its INI file).

use simplex_core::encoding::VersionRange;
use simplex_core::protocol::SMP_VERSION_RANGE;

/// When an entity becomes old enough to remove, and how often that is checked (seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpirationConfig {
    /// Age after which the entity is removed, in seconds.
    pub ttl_secs: i64,
    /// How often the check runs, in seconds.
    pub check_interval_secs: u64,
}

impl ExpirationConfig {
    /// Messages: 30 days, checked every 12 hours.
    pub const MESSAGES: Self = Self {
        ttl_secs: 30 * 86_400,
        check_interval_secs: 43_200,
    };

    /// Inactive clients when enabled: 24 hours, checked every 12 hours.
    pub const INACTIVE_CLIENTS: Self = Self {
        ttl_secs: 86_400,
        check_interval_secs: 43_200,
    };
}

/// When the daily stats line is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatsConfig {
    /// Seconds between lines (the reference writes one a day).
    pub interval_secs: u64,
    /// Second of the UTC day at which the first line is written, so lines come at the same
    /// time of day whenever the server started.
    pub start_time_secs: u64,
}

impl Default for StatsConfig {
    fn default() -> Self {
        Self {
            interval_secs: 86_400,
            start_time_secs: 0,
        }
    }
}

/// Which part of the queue space this machine owns (see `spec/server.md`, "Multi-core").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This machine's shard, below `count`.
    pub index: u16,
    /// How many shards the server runs (at least 1).
    pub count: u16,
}

impl Default for Shard {
    fn default() -> Self {
        Self { index: 0, count: 1 }
    }
}

impl Shard {
    /// The shard a queue id (recipient, sender or notifier id of a queue this server created)
    /// belongs to. Ids of queues imported from a reference store log are routed through the
    /// table the shell builds at start instead ([`crate::ShardRouter`]).
    pub fn of(id: &[u8], count: u16) -> u16 {
        let count = u32::from(count.max(1));
        // Ids are uniformly random: two bytes are plenty to spread them.
        let v = id
            .iter()
            .take(2)
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        (v % count) as u16
    }

    /// Whether `id` belongs to this shard.
    pub fn owns(&self, id: &[u8]) -> bool {
        Self::of(id, self.count) == self.index
    }
}

/// Everything the server machine is configured with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Messages a queue holds before `SEND` is refused with `ERR QUOTA` (reference: 128).
    pub msg_queue_quota: usize,
    /// Whether `NEW` may create queues; when not, it is answered `ERR AUTH` as the reference.
    pub allow_new_queues: bool,
    /// Message time-to-live and its check interval (reference: 30 days, every 12 h).
    pub message_expiration: Option<ExpirationConfig>,
    /// Closing clients that sent and received nothing for a while (off by default, as in the
    /// reference's INI file; [`ExpirationConfig::INACTIVE_CLIENTS`] when enabled).
    pub inactive_client_expiration: Option<ExpirationConfig>,
    /// The daily stats line (off by default).
    pub log_stats: Option<StatsConfig>,
    /// Emit store-log records ([`crate::ServerOutput::Persist`]).
    pub store_log: bool,
    /// Durable messages: emit a journal record for every accepted and every removed message,
    /// before the answer, so a crash loses nothing answered `OK` ([`crate::durable`]).
    pub durable_messages: bool,
    /// The protocol versions accepted from clients.
    pub version_range: VersionRange,
    /// The part of the queue space this machine owns.
    pub shard: Shard,
    /// Deliberate bugs, for proving that the tests catch them. Always off outside those tests;
    /// no configuration file can set them.
    #[doc(hidden)]
    pub mutations: Mutations,
}

/// Deliberate bugs the machine can be built with, so tests can show their invariants catch
/// them (a "mutant" of the machine). All off by default.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Mutations {
    /// `ACK` also removes the message after the acknowledged one, undelivered.
    pub ack_drops_next: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            msg_queue_quota: 128,
            allow_new_queues: true,
            message_expiration: Some(ExpirationConfig::MESSAGES),
            inactive_client_expiration: None,
            log_stats: None,
            store_log: true,
            durable_messages: false,
            version_range: SMP_VERSION_RANGE,
            shard: Shard::default(),
            mutations: Mutations::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_split_ids_by_their_first_bytes() {
        assert_eq!(Shard::of(&[0, 3, 9], 2), 1);
        assert_eq!(Shard::of(&[0, 4], 2), 0);
        assert_eq!(Shard::of(&[], 3), 0);
        assert_eq!(Shard::of(&[1, 2], 0), 0, "a zero count is one shard");
        let s = Shard { index: 1, count: 2 };
        assert!(s.owns(&[0, 1]) && !s.owns(&[0, 2]));
    }
}
