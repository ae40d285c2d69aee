//! The app under test: the traits its logic is written against, and the logic itself.
//!
//! Flow code sees only [`api::Env`] — a Stripe client, a Clerk client, a database, a clock and
//! the replica's process memory — and never knows which runtime (turmoil world, loom model,
//! real services) it runs in.

pub mod api;
pub mod clients;
pub mod kit;
pub mod reference;
pub mod strategies;
