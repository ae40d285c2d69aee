//! Simulated time: the only notion of "now" in racehound.
//!
//! No code in the crate reads the wall clock. The fakes receive `now` as an argument; the
//! runtimes (turmoil world, loom models) own a [`Clock`] and advance it.

use std::fmt;
use std::time::Duration;

use crate::sync::{AtomicU64, Ordering};

/// Milliseconds since the Unix epoch of the simulated world's start: 2026-01-01T00:00:00Z.
pub const EPOCH_UNIX_MS: u64 = 1_767_225_600_000;

/// A point in simulated time, in milliseconds since the Unix epoch.
#[derive(
    Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize, serde::Deserialize,
)]
pub struct SimTime {
    unix_ms: u64,
}

impl SimTime {
    /// The instant every simulation starts at ([`EPOCH_UNIX_MS`]).
    pub const EPOCH: SimTime = SimTime {
        unix_ms: EPOCH_UNIX_MS,
    };

    /// A time given in milliseconds since the Unix epoch.
    pub const fn from_unix_ms(unix_ms: u64) -> Self {
        Self { unix_ms }
    }

    /// A time given as an offset from [`SimTime::EPOCH`].
    pub fn from_epoch_offset(offset: Duration) -> Self {
        Self::EPOCH + offset
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_ms(self) -> u64 {
        self.unix_ms
    }

    /// Whole seconds since the Unix epoch (what Stripe and Svix put in signatures).
    pub const fn unix_secs(self) -> u64 {
        self.unix_ms / 1000
    }

    /// How long after [`SimTime::EPOCH`] this time is.
    pub fn since_epoch(self) -> Duration {
        Duration::from_millis(self.unix_ms.saturating_sub(EPOCH_UNIX_MS))
    }

    /// The duration from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_millis(self.unix_ms.saturating_sub(earlier.unix_ms))
    }
}

impl std::ops::Add<Duration> for SimTime {
    type Output = SimTime;
    fn add(self, rhs: Duration) -> SimTime {
        let rhs_ms = u64::try_from(rhs.as_millis()).unwrap_or(u64::MAX);
        SimTime {
            unix_ms: self.unix_ms.saturating_add(rhs_ms),
        }
    }
}

impl fmt::Debug for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

impl fmt::Display for SimTime {
    /// Shown as `+<seconds>.<millis>s` after the simulation epoch, the form traces use.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let offset_ms = self.unix_ms.saturating_sub(EPOCH_UNIX_MS);
        write!(f, "+{}.{:03}s", offset_ms / 1000, offset_ms % 1000)
    }
}

/// A source of simulated "now".
pub trait Clock: Send + Sync {
    /// The current simulated time.
    fn now(&self) -> SimTime;
}

/// A clock that only moves when told to; shared between threads through [`crate::sync`].
#[derive(Debug)]
pub struct ManualClock {
    unix_ms: AtomicU64,
}

impl ManualClock {
    /// A clock standing at `start`.
    pub fn new(start: SimTime) -> Self {
        Self {
            unix_ms: AtomicU64::new(start.unix_ms()),
        }
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let by_ms = u64::try_from(by.as_millis()).unwrap_or(u64::MAX);
        self.unix_ms.fetch_add(by_ms, Ordering::SeqCst);
    }

    /// Sets the clock to `to` if that is later than now (time never goes back).
    pub fn advance_to(&self, to: SimTime) {
        self.unix_ms.fetch_max(to.unix_ms(), Ordering::SeqCst);
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        Self::new(SimTime::EPOCH)
    }
}

impl Clock for ManualClock {
    fn now(&self) -> SimTime {
        SimTime::from_unix_ms(self.unix_ms.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_offset_from_epoch() {
        let t = SimTime::EPOCH + Duration::from_millis(12_345);
        assert_eq!(t.to_string(), "+12.345s");
        assert_eq!(t.unix_secs(), EPOCH_UNIX_MS / 1000 + 12);
    }

    #[test]
    fn manual_clock_never_goes_back() {
        let clock = ManualClock::default();
        clock.advance(Duration::from_secs(5));
        clock.advance_to(SimTime::EPOCH);
        assert_eq!(clock.now().since_epoch(), Duration::from_secs(5));
    }
}
