//! The manager's per-server state in a deterministic order, with deadlines indexed by time.
//!
//! Servers are numbered in the order they are first named ([`ServerKey`]); every walk over
//! them goes in that order, so two managers fed the same inputs produce the same outputs (a
//! hash map gave them in an order that changed from run to run). Each server's next deadline
//! is kept in a [`DeadlineIndex`], so an input asks only the servers that are due, and the next
//! timeout is the first entry, whatever the number of idle servers.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::address::ServerAddress;
use crate::time::Instant;

/// A server's number: the order it was first named in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(super) struct ServerKey(u64);

/// Values by server, walked in the order servers were first named.
#[derive(Debug)]
pub(super) struct Servers<T> {
    /// Lookup only: never walked, so its order does not matter.
    keys: HashMap<ServerAddress, ServerKey>,
    slots: BTreeMap<ServerKey, (ServerAddress, T)>,
    next: u64,
}

impl<T> Default for Servers<T> {
    fn default() -> Self {
        Self {
            keys: HashMap::new(),
            slots: BTreeMap::new(),
            next: 0,
        }
    }
}

impl<T> Servers<T> {
    /// The server's number, giving it the next one if it has none.
    pub(super) fn key(&mut self, server: &ServerAddress) -> ServerKey {
        if let Some(key) = self.keys.get(server) {
            return *key;
        }
        let key = ServerKey(self.next);
        self.next += 1;
        self.keys.insert(server.clone(), key);
        key
    }

    /// The server a number stands for, while it has a value.
    pub(super) fn address(&self, key: ServerKey) -> Option<&ServerAddress> {
        self.slots.get(&key).map(|(server, _)| server)
    }

    pub(super) fn get(&self, server: &ServerAddress) -> Option<&T> {
        let key = self.keys.get(server)?;
        self.slots.get(key).map(|(_, v)| v)
    }

    pub(super) fn get_mut(&mut self, server: &ServerAddress) -> Option<&mut T> {
        let key = self.keys.get(server)?;
        self.slots.get_mut(key).map(|(_, v)| v)
    }

    /// The server's value, made with `make` if it has none.
    pub(super) fn get_or_insert_with(
        &mut self,
        server: &ServerAddress,
        make: impl FnOnce() -> T,
    ) -> &mut T {
        let key = self.key(server);
        &mut self
            .slots
            .entry(key)
            .or_insert_with(|| (server.clone(), make()))
            .1
    }

    /// Takes the value out; the server keeps its number, so putting it back keeps its place.
    pub(super) fn remove(&mut self, server: &ServerAddress) -> Option<T> {
        let key = self.keys.get(server)?;
        self.slots.remove(key).map(|(_, v)| v)
    }

    pub(super) fn insert(&mut self, server: &ServerAddress, value: T) {
        let key = self.key(server);
        self.slots.insert(key, (server.clone(), value));
    }

    pub(super) fn len(&self) -> usize {
        self.slots.len()
    }

    /// The values, in the order their servers were first named.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut T> {
        self.slots.values_mut().map(|(_, v)| v)
    }

    /// Forgets every value (the numbers stay, so a server named again keeps its place).
    pub(super) fn clear(&mut self) {
        self.slots.clear();
    }
}

/// Deadlines by server, also ordered by time.
#[derive(Debug, Default)]
pub(super) struct DeadlineIndex {
    by_server: BTreeMap<ServerKey, Instant>,
    by_time: BTreeSet<(Instant, ServerKey)>,
}

impl DeadlineIndex {
    /// Sets (or with `None` clears) a server's deadline.
    pub(super) fn set(&mut self, server: ServerKey, deadline: Option<Instant>) {
        let old = match deadline {
            Some(d) => self.by_server.insert(server, d),
            None => self.by_server.remove(&server),
        };
        if old == deadline {
            return;
        }
        if let Some(old) = old {
            self.by_time.remove(&(old, server));
        }
        if let Some(d) = deadline {
            self.by_time.insert((d, server));
        }
    }

    /// Servers whose deadline has passed, earliest first (then in naming order).
    pub(super) fn due(&self, now: Instant) -> Vec<ServerKey> {
        self.by_time
            .iter()
            .take_while(|(d, _)| *d <= now)
            .map(|(_, s)| *s)
            .collect()
    }

    /// The earliest deadline.
    pub(super) fn earliest(&self) -> Option<Instant> {
        self.by_time.first().map(|(d, _)| *d)
    }

    /// Forgets every deadline.
    pub(super) fn clear(&mut self) {
        self.by_server.clear();
        self.by_time.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_answers_as_a_scan() {
        let mut index = DeadlineIndex::default();
        let mut model: BTreeMap<ServerKey, Instant> = BTreeMap::new();
        // A fixed pseudo-random walk of sets and clears.
        let mut x: u64 = 7;
        for _ in 0..500 {
            x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            let server = ServerKey((x >> 33) % 8);
            let at = (x >> 40) % 60;
            let deadline = (at < 50).then(|| Instant::from_micros(at));
            index.set(server, deadline);
            match deadline {
                Some(d) => model.insert(server, d),
                None => model.remove(&server),
            };
            let now = Instant::from_micros((x >> 20) % 60);
            let mut due: Vec<(Instant, ServerKey)> = model
                .iter()
                .filter(|(_, d)| **d <= now)
                .map(|(s, d)| (*d, *s))
                .collect();
            due.sort();
            let due: Vec<ServerKey> = due.into_iter().map(|(_, s)| s).collect();
            assert_eq!(index.due(now), due);
            assert_eq!(index.earliest(), model.values().min().copied());
        }
    }
}
