//! Fuzz target `db_model`: see `racehound::fuzzing::db_model`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzzing::db_model(data));
