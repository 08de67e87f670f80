//! The reconnect schedule (the reference's `RetryInterval`), and the per-connection random
//! streams derived from the manager's one injected RNG.

use std::time::Duration;

use salsa20::cipher::{KeyIvInit, StreamCipher};
use zeroize::Zeroize;

use crate::crypto::rng::CryptoRng;

/// How long to wait between connection attempts: `initial` until `increase_after` has passed
/// in total, then each wait is 1.5 times the previous one, up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryInterval {
    /// The first waits.
    pub initial: Duration,
    /// Total waiting after which the waits grow.
    pub increase_after: Duration,
    /// The longest wait.
    pub max: Duration,
}

impl RetryInterval {
    /// The reference agent's reconnect schedule: 2 s, growing after 10 s, at most 3 minutes.
    pub const AGENT: Self = Self {
        initial: Duration::from_secs(2),
        increase_after: Duration::from_secs(10),
        max: Duration::from_secs(180),
    };

    /// The reference's `SMPClientAgent` schedule (used by servers that are SMP clients):
    /// 1 s, growing after 10 s, at most 10 s.
    pub const CLIENT_AGENT: Self = Self {
        initial: Duration::from_secs(1),
        increase_after: Duration::from_secs(10),
        max: Duration::from_secs(10),
    };
}

impl Default for RetryInterval {
    fn default() -> Self {
        Self::AGENT
    }
}

/// Where a run of retries stands (the reference's `withRetryInterval` loop state: the time
/// waited so far and the next wait).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    elapsed: Duration,
    delay: Duration,
}

impl Backoff {
    /// A run that has not waited yet.
    pub fn new(interval: &RetryInterval) -> Self {
        Self {
            elapsed: Duration::ZERO,
            delay: interval.initial,
        }
    }

    /// The wait before the next attempt; advances the schedule.
    pub fn next_delay(&mut self, interval: &RetryInterval) -> Duration {
        let delay = self.delay;
        if self.elapsed >= interval.increase_after && self.delay != interval.max {
            self.delay = (self.delay * 3 / 2).min(interval.max);
        }
        self.elapsed += delay;
        delay
    }
}

/// A random stream seeded from the root RNG (a Salsa20 key stream): each connection gets its
/// own, so the manager stays deterministic given one seed.
pub(crate) struct ChildRng(salsa20::Salsa20);

impl ChildRng {
    pub(crate) fn derive(root: &mut (impl CryptoRng + ?Sized)) -> Self {
        let mut key = [0u8; 32];
        root.fill_bytes(&mut key);
        let cipher = salsa20::Salsa20::new(&key.into(), &[0u8; 8].into());
        key.zeroize();
        Self(cipher)
    }
}

impl rand_core::RngCore for ChildRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        dest.fill(0);
        self.0.apply_keystream(dest);
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for ChildRng {}

#[cfg(test)]
mod tests {
    use super::*;

    fn waits(interval: RetryInterval, n: usize) -> Vec<u64> {
        let mut backoff = Backoff::new(&interval);
        (0..n)
            .map(|_| backoff.next_delay(&interval).as_millis() as u64)
            .collect()
    }

    #[test]
    fn schedules_match_the_reference() {
        assert_eq!(
            waits(RetryInterval::AGENT, 10),
            vec![2000, 2000, 2000, 2000, 2000, 2000, 3000, 4500, 6750, 10125]
        );
        assert_eq!(
            waits(RetryInterval::CLIENT_AGENT, 14),
            vec![1000; 11]
                .into_iter()
                .chain([1500, 2250, 3375])
                .collect::<Vec<_>>()
        );
        let long = waits(RetryInterval::AGENT, 40);
        assert_eq!(long.last(), Some(&180_000));
    }

    #[test]
    fn child_streams_are_deterministic_and_distinct() {
        use rand_core::RngCore;
        struct Counter(u8);
        impl RngCore for Counter {
            fn next_u32(&mut self) -> u32 {
                0
            }
            fn next_u64(&mut self) -> u64 {
                0
            }
            fn fill_bytes(&mut self, dest: &mut [u8]) {
                self.0 = self.0.wrapping_add(1);
                dest.fill(self.0);
            }
            fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
                self.fill_bytes(dest);
                Ok(())
            }
        }
        impl rand_core::CryptoRng for Counter {}
        let draw = |seed| {
            let mut root = Counter(seed);
            let (mut a, mut b) = (ChildRng::derive(&mut root), ChildRng::derive(&mut root));
            (a.next_u64(), b.next_u64())
        };
        assert_eq!(draw(0), draw(0));
        assert_ne!(draw(0).0, draw(0).1);
    }
}
