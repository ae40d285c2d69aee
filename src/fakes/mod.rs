//! The services the simulated app talks to, as pure deterministic state machines.
//!
//! Each fake is plain data plus functions of `(state, now, request) -> (state, response,
//! events)`: none of them knows about turmoil, loom, threads or the wall clock. The runtimes
//! wire them to the app and own the faults of the network around them.

pub mod clerk;
pub mod postgres;
pub mod stripe;
