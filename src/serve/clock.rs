//! [`ServerClock`]: the one place in racehound that reads the wall clock.
//!
//! `racehound serve` is a real server that real SDKs and real webhook verifiers talk to, so its
//! "now" must be close to theirs. Everything else in the crate uses simulated time.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::sync::Mutex;
use crate::time::{Clock, SimTime};

#[derive(Debug, Clone, Copy, Default)]
struct ClockState {
    /// `Some(ms)` while frozen at that time.
    frozen_at_ms: Option<u64>,
    /// Added to the wall clock while running (the sum of `advance` calls and frozen periods).
    offset_ms: u64,
    /// The latest time handed out: time never goes back.
    last_ms: u64,
}

/// The server's clock: the wall clock by default; can be frozen and advanced by hand.
#[derive(Debug, Default)]
pub struct ServerClock {
    state: Mutex<ClockState>,
}

/// What the clock admin endpoint reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockStatus {
    /// The server's "now", in milliseconds since the Unix epoch.
    pub now_ms: u64,
    /// Whether the clock is frozen.
    pub frozen: bool,
    /// How far ahead of the wall clock the server's clock runs, in milliseconds.
    pub offset_ms: u64,
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl ServerClock {
    /// A clock that follows the wall clock.
    pub fn real() -> Self {
        Self::default()
    }

    /// A clock frozen at the current wall-clock time.
    pub fn frozen() -> Self {
        let clock = Self::default();
        clock.set_frozen(true);
        clock
    }

    fn now_ms(state: &mut ClockState) -> u64 {
        let raw = match state.frozen_at_ms {
            Some(ms) => ms,
            None => wall_ms().saturating_add(state.offset_ms),
        };
        state.last_ms = state.last_ms.max(raw);
        state.last_ms
    }

    /// Freezes (`true`) or unfreezes (`false`) the clock; unfreezing resumes from the frozen time.
    pub fn set_frozen(&self, frozen: bool) -> ClockStatus {
        let mut state = self.state.lock();
        let now = Self::now_ms(&mut state);
        match (frozen, state.frozen_at_ms) {
            (true, None) => state.frozen_at_ms = Some(now),
            (false, Some(at)) => {
                state.frozen_at_ms = None;
                state.offset_ms = at.saturating_sub(wall_ms());
            }
            _ => {}
        }
        Self::status_of(&mut state)
    }

    /// Moves the clock forward by `by_ms` (frozen or not).
    pub fn advance_ms(&self, by_ms: u64) -> ClockStatus {
        let mut state = self.state.lock();
        match state.frozen_at_ms.as_mut() {
            Some(at) => *at = at.saturating_add(by_ms),
            None => state.offset_ms = state.offset_ms.saturating_add(by_ms),
        }
        Self::status_of(&mut state)
    }

    /// The wall clock, whatever the business clock says: what a webhook signature's timestamp
    /// uses, because the receiver's verifier checks it against its own current time (Stripe
    /// and Svix sign with the real now; a signature from an advanced or frozen clock would be
    /// refused as "too new" or "too old").
    pub fn signing_now(&self) -> SimTime {
        SimTime::from_unix_ms(wall_ms())
    }

    /// The current status.
    pub fn status(&self) -> ClockStatus {
        Self::status_of(&mut self.state.lock())
    }

    fn status_of(state: &mut ClockState) -> ClockStatus {
        let now_ms = Self::now_ms(state);
        ClockStatus {
            now_ms,
            frozen: state.frozen_at_ms.is_some(),
            offset_ms: now_ms.saturating_sub(wall_ms()),
        }
    }
}

impl Clock for ServerClock {
    fn now(&self) -> SimTime {
        SimTime::from_unix_ms(Self::now_ms(&mut self.state.lock()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frozen_clock_stands_still_until_advanced() {
        let clock = ServerClock::frozen();
        let a = clock.now();
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert_eq!(clock.now(), a);
        clock.advance_ms(60_000);
        assert_eq!(clock.now().unix_ms(), a.unix_ms() + 60_000);
        let status = clock.set_frozen(false);
        assert!(!status.frozen && status.now_ms >= a.unix_ms() + 60_000);
        assert!(
            clock.now().unix_ms() >= a.unix_ms() + 60_000,
            "time never goes back"
        );
    }

    /// FIDELITY "Webhooks (Svix)": a delivery is signed with a timestamp the receiver accepts
    /// whatever the business clock says.
    #[test]
    fn signing_time_is_the_wall_clock_after_an_advance_and_when_frozen() {
        let clock = ServerClock::frozen();
        clock.advance_ms(3_600_000);
        std::thread::sleep(std::time::Duration::from_millis(5));
        assert!(
            clock.now().unix_ms() >= wall_ms() + 3_590_000,
            "business time moved"
        );
        let diff = clock.signing_now().unix_ms().abs_diff(wall_ms());
        assert!(diff < 1_000, "signing time is the wall clock: {diff} ms off");
    }

    #[test]
    fn real_clock_is_near_the_wall_clock() {
        let clock = ServerClock::real();
        let diff = clock.now().unix_ms().abs_diff(wall_ms());
        assert!(diff < 1_000, "{diff}");
    }
}
