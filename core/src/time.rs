//! Time as an input.
//!
//! Machines never read a clock: every input comes with a [`Clock`], read by the shell (or set by
//! a test or the simulator): `now`, an [`Instant`] counted in microseconds from an arbitrary
//! origin that tests start at zero, and the wall clock. Shells map their own clocks onto it.

use core::time::Duration;

use crate::encoding::UnixTime;

/// The two clocks, read once per input by whoever drives a machine. One type for every machine,
/// driver and shell, so that time reaches them all the same way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Clock {
    /// Monotonic time (timers, deadlines), from an origin the shell picked.
    pub now: Instant,
    /// Wall-clock (Unix) time (message timestamps, stats, certificate validity).
    pub wall_clock: UnixTime,
}

/// A point on a monotonic clock, in microseconds from an arbitrary origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Instant(u64);

impl Instant {
    /// The origin of the clock (tests start here).
    pub const ZERO: Instant = Instant(0);

    /// The instant `micros` microseconds after the origin.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// This instant moved `d` later, saturating at the end of the clock.
    pub fn saturating_add(self, d: Duration) -> Self {
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        Instant(self.0.saturating_add(micros))
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.0.saturating_sub(earlier.0))
    }
}

impl core::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        self.saturating_add(d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_micros(5);
        assert_eq!((t + Duration::from_micros(7)).as_micros(), 12);
        assert_eq!(Instant::ZERO.saturating_duration_since(t), Duration::ZERO);
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_secs(1),
            Instant::from_micros(u64::MAX)
        );
    }
}
