//! Fuzz target `db_model`: see `racehound::fuzz::db_model`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzz::db_model(data));
