//! Fuzz target `scenario_file`: see `racehound::fuzzing::scenario_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzzing::scenario_file(data));
