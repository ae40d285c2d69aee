//! Fuzz target `webhook_signature`: see `racehound::fuzzing::webhook_signature`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| racehound::fuzzing::webhook_signature(data));
