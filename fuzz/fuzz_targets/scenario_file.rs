//! Fuzz target `scenario_file`: see `racehound::fuzz::scenario_file`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzz::scenario_file(data));
