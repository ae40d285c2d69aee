//! racehound: a deterministic concurrency simulator and test harness for the signup,
//! checkout, coupon and webhook races that duplicate Stripe customers and Clerk
//! organizations.
//!
//! See `README.md` for the two commands to start with and `ARCHITECTURE.md` for the map.

pub mod app;
#[cfg(not(racehound_loom))]
pub mod bench;
#[cfg(not(racehound_loom))]
pub mod explore;
pub mod fakes;
pub mod fuzzing;
pub mod http;
pub mod ids;
pub mod inproc;
pub mod oracle;
#[cfg(not(racehound_loom))]
pub mod pg;
#[cfg(not(racehound_loom))]
pub mod report;
pub mod rng;
pub mod scenario;
#[cfg(not(racehound_loom))]
pub mod serve;
pub mod setup;
#[cfg(not(racehound_loom))]
pub mod sim;
pub mod sync;
pub mod time;
