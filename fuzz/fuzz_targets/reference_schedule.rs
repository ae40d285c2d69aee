//! Fuzz target `reference_schedule`: see `racehound::fuzzing::reference_schedule`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzzing::reference_schedule(data));
