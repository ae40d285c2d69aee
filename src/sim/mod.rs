//! The simulated world on turmoil: hosts, HTTP transport, DB protocol, webhooks, faults, trace.

pub mod actors;
pub mod apps;
mod chaos;
pub mod dbhost;
pub mod dispatch;
pub mod env;
pub mod faults;
pub mod input;
pub mod net;
mod services;
mod shared;
pub mod timers;
pub use crate::trace;
pub mod world;

#[cfg(test)]
mod tests;
