//! The simulated world on turmoil: hosts, HTTP transport, DB protocol, webhooks, faults, trace.

pub mod dbhost;
pub mod faults;
pub mod input;
pub mod net;
pub mod timers;
pub mod trace;
pub mod world;

#[cfg(test)]
mod tests;
