//! Fuzz harnesses: each takes arbitrary bytes and checks the properties of one parser or fake.
//!
//! The cargo-fuzz targets in `fuzz/fuzz_targets/` call these functions, and
//! `tests/fuzz_corpus.rs` runs them over every file in `fuzz/corpus/<target>/`, so each corpus
//! file (including every crash found and copied there) is a regression test under `cargo test`.
//! See `docs/fuzzing.md`.
//!
//! A harness panics when a property fails: that is how libFuzzer and `cargo test` see a
//! finding. The fakes and the parser themselves must never panic on any input.
//!
//! - [`scenario_file()`]: bytes as a scenario file; errors render as the CLI shows them.
//! - [`stripe_wire()`]: a sequence of requests into the fake Stripe's wire layer; every
//!   rejection is a Stripe-shaped 4xx, no 5xx unless a fault was injected.
//! - [`webhook_signature()`]: the Stripe and Svix verifiers accept exactly the correct signatures.
//! - [`db_model()`]: statements from 2–3 sessions on the simulated PostgreSQL; unique keys hold
//!   and a rolled-back transaction leaves no trace.
//! - [`reference_schedule()`]: actors, a fault plan and a seed against the `reference` strategy
//!   in the simulated world, one simulation per input; every invariant holds.
//!
//! One file per target; this module keeps the list of targets and the byte reader they share.

mod db_model;
mod reference_schedule;
mod scenario_file;
mod stripe_wire;
mod webhook_signature;

pub use db_model::db_model;
pub use reference_schedule::{
    check_schedule, describe_schedule, events_outlived_by_jumps, keys_crossed_by_a_jump, reference_schedule,
    reference_schedule_input, SCHEDULE_FLOWS, SCHEDULE_SCENARIO, SCHEDULE_STRATEGY,
};
pub use scenario_file::scenario_file;
pub use stripe_wire::stripe_wire;
pub use webhook_signature::webhook_signature;

/// The fuzz targets, by name (the directories under `fuzz/corpus/`).
pub const TARGETS: &[&str] = &[
    "scenario_file",
    "stripe_wire",
    "webhook_signature",
    "db_model",
    "reference_schedule",
];

/// Runs the harness named `target` on `data`; `false` if there is no such target.
pub fn run_target(target: &str, data: &[u8]) -> bool {
    match target {
        "scenario_file" => scenario_file(data),
        "stripe_wire" => stripe_wire(data),
        "webhook_signature" => webhook_signature(data),
        "db_model" => db_model(data),
        "reference_schedule" => reference_schedule(data),
        _ => return false,
    }
    true
}

/// Reads fuzz input as a stream of choices; past the end every read gives zeros.
struct Bytes<'a> {
    data: &'a [u8],
}

impl<'a> Bytes<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { data }
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((first, rest)) => {
                self.data = rest;
                *first
            }
            None => 0,
        }
    }

    fn below(&mut self, n: usize) -> usize {
        usize::from(self.byte()) % n.max(1)
    }

    fn bool(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// A length-prefixed slice of at most `max` bytes.
    fn slice(&mut self, max: usize) -> &'a [u8] {
        let len = self.below(max + 1).min(self.data.len());
        let (head, rest) = self.data.split_at(len);
        self.data = rest;
        head
    }

    fn text(&mut self, max: usize) -> String {
        String::from_utf8_lossy(self.slice(max)).into_owned()
    }

    fn pick<'b>(&mut self, options: &[&'b str]) -> &'b str {
        options.get(self.below(options.len())).copied().unwrap_or("")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_target_runs_on_empty_and_small_inputs() {
        for target in TARGETS {
            for data in [&b""[..], b"\x00", b"\xff\xff\xff\xff", b"hello = 1\n[world]"] {
                assert!(run_target(target, data), "{target} is not a target");
            }
        }
        assert!(!run_target("nope", b""));
    }
}
