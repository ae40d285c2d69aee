//! Svix's delivery schedule, as Clerk's webhooks follow it; the signature scheme itself is in
//! [`crate::wire::svix`] (re-exported here), shared with the app's client.

pub use crate::wire::svix::*;

/// Svix's documented attempt schedule, in seconds: the first attempt immediately, then each
/// next one 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h after the previous attempt failed.
pub const RETRY_SCHEDULE_SECS: [u64; 8] = [0, 5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/// The delay before attempt number `attempt` (0 = the first delivery, immediate), counted
/// from the failure of the previous attempt; `None` once Svix gives up (after 8 attempts).
pub fn attempt_delay(attempt: usize) -> Option<std::time::Duration> {
    RETRY_SCHEDULE_SECS
        .get(attempt)
        .map(|secs| std::time::Duration::from_secs(*secs))
}
