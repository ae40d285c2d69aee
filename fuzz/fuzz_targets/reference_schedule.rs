//! Fuzz target `reference_schedule`: see `racehound::fuzz::reference_schedule`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzz::reference_schedule(data));
